//! `edgefn package`: one `.wasm` into a deployable bundle for a platform (the packagers are in
//! [`crate::package`]); prints what it wrote and the command that deploys it.

use crate::package::aws_lambda::LambdaSettings;
use crate::package::cloudflare_workers::WorkersSettings;
use crate::package::{Arch, PackageRequest, Target};
use crate::progress::step;
use crate::runtime::spec::FunctionSpec;
use std::path::PathBuf;

/// Options of `edgefn package`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Platform to package for.
    #[arg(long, value_enum)]
    pub target: Target,
    /// The function's module.
    pub wasm: PathBuf,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Function name [default: the module's file stem].
    #[arg(long)]
    pub name: Option<String>,
    /// Architecture the package runs on (AWS Lambda: x86_64 or arm64) [default: this machine's].
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,
    /// AWS Lambda: the guest's memory limit in MiB (the manifest's limits.memory_mb); the
    /// function's memory size is 48 MiB more [default: 128].
    #[arg(long, value_name = "MIB")]
    pub memory_mb: Option<u64>,
    /// AWS Lambda: the guest's deadline per invocation in milliseconds (the manifest's
    /// limits.deadline_ms); the function's timeout is a second more [default: 10000].
    #[arg(long, value_name = "MS")]
    pub deadline_ms: Option<u64>,
    /// AWS Lambda and Cloudflare Workers: a variable of the function's environment, NAME=VALUE
    /// (repeatable): the guest's own, or a runtime setting such as EDGEFN_OUTBOUND_ALLOWED_HOSTS or
    /// EDGEFN_KV_STORES (on Workers, a KV namespace binding per store in wrangler.toml).
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_variable)]
    pub env: Vec<(String, String)>,
}

/// `NAME=VALUE`, split at the first `=`.
fn parse_variable(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

/// Packages the module and prints the deploy command.
pub(crate) fn run(mut args: Args) -> anyhow::Result<()> {
    let name = match args.name {
        Some(name) => name,
        None => FunctionSpec::from_wasm_path(&args.wasm)?.name().to_owned(),
    };
    let arch = match args.arch.or_else(Arch::native) {
        Some(arch) => arch,
        None => anyhow::bail!(
            "this machine's architecture ({}) is not one the platforms run: pass --arch x86_64 or --arch arm64",
            std::env::consts::ARCH
        ),
    };
    let mut workers = None;
    if args.target == Target::CloudflareWorkers {
        workers = Some(WorkersSettings::new(std::mem::take(&mut args.env))?);
    }
    let lambda_flags =
        args.memory_mb.is_some() || args.deadline_ms.is_some() || !args.env.is_empty();
    let lambda = if args.target == Target::AwsLambda {
        let defaults = LambdaSettings::default();
        Some(LambdaSettings::new(
            args.memory_mb.unwrap_or(defaults.memory_mb()),
            args.deadline_ms.unwrap_or(defaults.deadline_ms()),
            args.env,
        )?)
    } else if lambda_flags {
        anyhow::bail!(
            "--memory-mb and --deadline-ms apply to --target aws-lambda only, --env to aws-lambda and cloudflare-workers: on Azure Functions set app settings, on Cloudflare Workers EDGEFN_DEADLINE_MS with --env (see the deploy guides)"
        );
    } else {
        None
    };
    let request = PackageRequest {
        arch,
        wasm: args.wasm,
        out: args.out,
        name,
    };
    let target = clap::ValueEnum::to_possible_value(&args.target).map(|v| v.get_name().to_owned());
    step(format!(
        "packaging {} ({}) for {}",
        request.name,
        request.wasm.display(),
        target.unwrap_or_default()
    ));
    let report = match (&lambda, &workers) {
        (Some(settings), _) => crate::package::aws_lambda::package_with(&request, settings)?,
        (None, Some(settings)) => {
            std::fs::create_dir_all(&request.out)?;
            crate::package::cloudflare_workers::package_with(&request, settings)?
        }
        (None, None) => crate::package::package(args.target, &request)?,
    };
    println!(
        "packaged {} ({} bytes)",
        report.artifact.display(),
        report.size_bytes
    );
    for warning in &report.warnings {
        println!("warning: {warning}");
    }
    println!("deploy with:\n  {}", report.deploy_command);
    Ok(())
}

//! `edgefn package`: one `.wasm`, or the functions of a manifest with the settings they were
//! tested with, into deployable bundles for a platform (the packagers are in [`crate::package`]);
//! prints what it wrote and the command that deploys it.

use crate::deploy::manifest::{Manifest, is_manifest_path};
use crate::package::aws_lambda::LambdaSettings;
use crate::package::cloudflare_workers::WorkersSettings;
use crate::package::manifest::Prepared;
use crate::package::{Arch, PackageReport, PackageRequest, Target};
use crate::progress::step;
use crate::runtime::spec::FunctionSpec;
use anyhow::{Context as _, bail};
use std::path::PathBuf;

/// Options of `edgefn package`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Platform to package for.
    #[arg(long, value_enum)]
    pub target: Target,
    /// The function's module (`.wasm`), or a manifest (`.toml`): each of its functions with its
    /// env, limits, outbound and kv, into OUT/NAME/.
    #[arg(value_name = "FILE")]
    pub wasm: PathBuf,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Function name [default: the module's file stem]; with a manifest, the one function to
    /// package [default: all].
    #[arg(long)]
    pub name: Option<String>,
    /// Architecture the package runs on (AWS Lambda: x86_64 or arm64) [default: this machine's].
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,
    /// With a .wasm, AWS Lambda: the guest's memory limit in MiB (the manifest's
    /// limits.memory_mb); the function's memory size is 48 MiB more [default: 128].
    #[arg(long, value_name = "MIB")]
    pub memory_mb: Option<u64>,
    /// With a .wasm, AWS Lambda: the guest's deadline per invocation in milliseconds (the
    /// manifest's limits.deadline_ms); the function's timeout is a second more [default: 10000].
    #[arg(long, value_name = "MS")]
    pub deadline_ms: Option<u64>,
    /// With a .wasm, AWS Lambda and Cloudflare Workers: a variable of the function's environment,
    /// NAME=VALUE (repeatable): the guest's own, or a runtime setting such as
    /// EDGEFN_OUTBOUND_ALLOWED_HOSTS or EDGEFN_KV_STORES (on Workers, a KV namespace binding per
    /// store in wrangler.toml).
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

/// Packages the module, or each function of the manifest, and prints the deploy commands.
pub(crate) fn run(mut args: Args) -> anyhow::Result<()> {
    let arch = match args.arch.or_else(Arch::native) {
        Some(arch) => arch,
        None => anyhow::bail!(
            "this machine's architecture ({}) is not one the platforms run: pass --arch x86_64 or --arch arm64",
            std::env::consts::ARCH
        ),
    };
    if is_manifest_path(&args.wasm) {
        return run_manifest(args, arch);
    }
    let name = match args.name {
        Some(name) => name,
        None => FunctionSpec::from_wasm_path(&args.wasm)?.name().to_owned(),
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
    step(format!(
        "packaging {} ({}) for {}",
        request.name,
        request.wasm.display(),
        target_name(args.target)
    ));
    let report = match (&lambda, &workers) {
        (Some(settings), _) => crate::package::aws_lambda::package_with(&request, settings)?,
        (None, Some(settings)) => {
            std::fs::create_dir_all(&request.out)?;
            crate::package::cloudflare_workers::package_with(&request, settings)?
        }
        (None, None) => crate::package::package(args.target, &request)?,
    };
    print_report(&report);
    Ok(())
}

/// Packages the manifest's functions (or the one `--name` picks), each into `OUT/<name>/`, with
/// the env, limits, outbound and kv the manifest gives it. Every module is checked before any is
/// packaged, so a manifest with a missing module leaves no half-written output.
fn run_manifest(args: Args, arch: Arch) -> anyhow::Result<()> {
    let path = &args.wasm;
    if args.memory_mb.is_some() || args.deadline_ms.is_some() || !args.env.is_empty() {
        bail!(
            "--memory-mb, --deadline-ms and --env cannot be given with a manifest: the package takes each function's limits and env from {}, so it runs as `edgefn serve` ran it; change them there (or package a .wasm with the flags)",
            path.display()
        );
    }
    let manifest = Manifest::load(path)?;
    let functions = match &args.name {
        Some(name) => vec![manifest.function(path, name)?],
        None => manifest.functions.iter().collect(),
    };
    for spec in &functions {
        if !spec.wasm().is_file() {
            bail!(
                "function {:?} of {}: its module {} does not exist: build it (edgefn build) or fix its wasm path in the manifest",
                spec.name(),
                path.display(),
                spec.wasm().display()
            );
        }
    }
    let prepared = functions
        .into_iter()
        .map(|spec| Prepared::new(args.target, spec))
        .collect::<anyhow::Result<Vec<_>>>()
        .with_context(|| format!("nothing was packaged from {}", path.display()))?;
    for function in &prepared {
        let spec = function.spec();
        let out = args.out.join(spec.name());
        step(format!(
            "packaging {} ({}) for {} into {}",
            spec.name(),
            spec.wasm().display(),
            target_name(args.target),
            out.display()
        ));
        print_report(&function.package(&out, arch)?);
    }
    Ok(())
}

/// The target as `--target` spells it.
fn target_name(target: Target) -> String {
    clap::ValueEnum::to_possible_value(&target)
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

/// What was written, the warnings and the deploy command.
fn print_report(report: &PackageReport) {
    println!(
        "packaged {} ({} bytes)",
        report.artifact.display(),
        report.size_bytes
    );
    for warning in &report.warnings {
        println!("warning: {warning}");
    }
    println!("deploy with:\n  {}", report.deploy_command);
}

//! `edgefn package`: one `.wasm` into a deployable bundle for a platform (the packagers are in
//! [`crate::package`]); prints what it wrote and the command that deploys it.

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
}

/// Packages the module and prints the deploy command.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
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
    let report = crate::package::package(args.target, &request)?;
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

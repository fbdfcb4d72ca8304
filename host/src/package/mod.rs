//! `edgefn package`: turns one `.wasm` into a deployable bundle for a platform. One module per
//! target; each writes its files into the output folder and reports what it wrote and how to deploy.

use crate::deploy::host::HostBuilder;
use crate::progress::step;
use crate::runtime::artifact::ARTIFACTS_DIR;
use crate::runtime::spec::FunctionSpec;
use std::path::{Path, PathBuf};

pub(crate) mod aws_lambda;
pub(crate) mod azure_functions;
pub mod cloudflare_workers;

/// Platforms `edgefn package` can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// AWS Lambda, custom runtime `provided.al2023` (a zip with `bootstrap`).
    AwsLambda,
    /// Azure Functions custom handler (a function app folder).
    AzureFunctions,
    /// Cloudflare Workers (an ES-module Worker bundle, runnable in workerd).
    CloudflareWorkers,
}

/// What to package.
#[derive(Debug, Clone)]
pub struct PackageRequest {
    /// The function's module.
    pub wasm: PathBuf,
    /// Output folder (created if missing).
    pub out: PathBuf,
    /// Function name [default: the module's file stem].
    pub name: String,
}

/// What a packager wrote.
#[derive(Debug, Clone, Default)]
pub struct PackageReport {
    /// The main deployable file or folder.
    pub artifact: PathBuf,
    /// Its size in bytes (compressed size where the platform counts that).
    pub size_bytes: u64,
    /// The command that deploys it.
    pub deploy_command: String,
    /// Things the user should know (size limits approached, ...).
    pub warnings: Vec<String>,
}

/// Packages `request` for `target`.
pub fn package(target: Target, request: &PackageRequest) -> anyhow::Result<PackageReport> {
    std::fs::create_dir_all(&request.out)?;
    match target {
        Target::AwsLambda => aws_lambda::package(request),
        Target::AzureFunctions => azure_functions::package(request),
        Target::CloudflareWorkers => cloudflare_workers::package(request),
    }
}

/// Strips an executable in place with binutils' `strip`, passing `flag` (`--strip-all` for the
/// smallest file, `--strip-debug` to keep symbol names). `Err` says why it did not happen, for the
/// caller to turn into a warning: an unstripped binary still works, it is only larger.
pub fn strip_executable(path: &Path, flag: &str) -> Result<(), String> {
    const STRIP_TOOL: &str = "strip";
    match std::process::Command::new(STRIP_TOOL)
        .arg(flag)
        .arg(path)
        .output()
    {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!(
            "`{STRIP_TOOL}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(error) => Err(format!("`{STRIP_TOOL}` could not be run: {error}")),
    }
}

/// Precompiles `wasm` into `dir/artifacts/` with the same engine settings `edgefn` runs with (and
/// pre-initialized, when the module exports an init), so the packaged runtime loads it instead of
/// compiling.
pub fn precompile_into(request: &PackageRequest, wasm: &[u8], dir: &Path) -> anyhow::Result<()> {
    let spec = FunctionSpec::new(request.name.as_str(), &request.wasm)?;
    step("precompiling the module, so the packaged runtime loads it without compiling");
    HostBuilder::new(dir.join(ARTIFACTS_DIR)).precompile(spec, wasm.to_vec())?;
    Ok(())
}

//! `edgefn package`: turns one `.wasm` into a deployable bundle for a platform. One module per
//! target; each writes its files into the output folder and reports what it wrote and how to deploy.
//! `manifest` packages a manifest's functions with the settings they were tested with.

use crate::deploy::host::HostBuilder;
use crate::progress::step;
use crate::runtime::artifact::ARTIFACTS_DIR;
use crate::runtime::spec::FunctionSpec;
use anyhow::Context as _;
use std::path::{Path, PathBuf};

pub(crate) mod aws_lambda;
pub(crate) mod azure_functions;
pub mod cloudflare_workers;
pub(crate) mod manifest;

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

/// The processor architecture a package runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    /// x86-64 (Lambda's `x86_64`).
    #[value(name = "x86_64")]
    X86_64,
    /// 64-bit Arm (Lambda's `arm64`, Graviton).
    #[value(name = "arm64")]
    Arm64,
}

impl Arch {
    /// This machine's architecture, when it is one a platform runs.
    pub fn native() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// Its name in Rust's target triples and in artifact fingerprints (`x86_64`, `aarch64`).
    pub fn rust_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "aarch64",
        }
    }

    /// Its name at AWS Lambda (`x86_64`, `arm64`).
    pub fn lambda_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The Linux target triple its packages are compiled for.
    pub fn linux_triple(self) -> String {
        format!("{}-unknown-linux-gnu", self.rust_name())
    }
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
    /// Architecture the package runs on.
    pub arch: Arch,
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

/// `text` as one POSIX shell word, for the commands a report prints.
pub(crate) fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Name of the runtime-only executable (package `edgefn-runtime`) that packages ship.
pub(crate) const RUNTIME_EXECUTABLE: &str = "edgefn-runtime";

/// Whether `path` is an `edgefn-runtime` build (stripped by its profile).
pub(crate) fn is_runtime_executable(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(RUNTIME_EXECUTABLE))
}

/// The executable a package runs: `edgefn-runtime` from beside this `edgefn` (or, for a build tree,
/// from `target/runtime/`, where `make runtime` puts it), which has no compiler and is about a
/// quarter of the size. When it is missing, this very executable, with a warning that says how to
/// build the small one.
///
/// For another architecture than this machine's it is `edgefn-runtime-<arch>` beside this
/// executable, or `target/<triple>/runtime/edgefn-runtime` of a build tree (`make runtime-arm64`);
/// there is no fallback then, since this executable cannot run there.
pub(crate) fn runtime_executable(
    arch: Arch,
    warnings: &mut Vec<String>,
) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate the running edgefn executable")?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    if Arch::native() != Some(arch) {
        let triple = arch.linux_triple();
        let candidates = [
            dir.join(format!("{RUNTIME_EXECUTABLE}-{}", arch.rust_name())),
            dir.join("..")
                .join(&triple)
                .join("runtime")
                .join(RUNTIME_EXECUTABLE),
        ];
        return candidates.iter().find(|p| p.is_file()).cloned().with_context(|| {
            format!(
                "the {} runtime ({RUNTIME_EXECUTABLE}-{}) is not beside {} nor in target/{triple}/runtime/: build it with `make runtime-{}` (cross-compiled with the {triple} Rust target and Debian's gcc-aarch64-linux-gnu)",
                arch.lambda_name(),
                arch.rust_name(),
                exe.display(),
                arch.lambda_name(),
            )
        });
    }
    // In a build tree the `runtime` profile's output comes first: an `edgefn-runtime` in
    // `target/release/` was built together with the host and has its compiler linked in.
    let candidates = [
        dir.join("..").join("runtime").join(RUNTIME_EXECUTABLE),
        dir.join(RUNTIME_EXECUTABLE),
    ];
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    warnings.push(format!(
        "{RUNTIME_EXECUTABLE} was not found beside {} (nor in target/runtime/), so the package runs the whole edgefn, compiler included (about 14 MB more); build the runtime-only one with `make runtime` (`cargo build --profile runtime -p edgefn-runtime` on its own)",
        exe.display()
    ));
    Ok(exe)
}

/// Precompiles `wasm` into `dir/artifacts/` with the same engine settings `edgefn` runs with (and
/// pre-initialized, when the module exports an init), so the packaged runtime loads it instead of
/// compiling.
pub fn precompile_into(request: &PackageRequest, wasm: &[u8], dir: &Path) -> anyhow::Result<()> {
    let spec = FunctionSpec::new(request.name.as_str(), &request.wasm)?;
    step("precompiling the module, so the packaged runtime loads it without compiling");
    // For the baseline of the architecture (no CPU extensions beyond it), so an artifact made on a
    // developer's machine runs on whatever CPU the platform gives the function.
    HostBuilder::new(dir.join(ARTIFACTS_DIR)).precompile_for(
        spec,
        wasm.to_vec(),
        &request.arch.linux_triple(),
        request.arch.rust_name(),
    )?;
    Ok(())
}

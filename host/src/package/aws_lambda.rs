//! `edgefn package --target aws-lambda`: a deployment zip for the `provided.al2023` runtime.
//!
//! The zip holds `bootstrap` (`edgefn-runtime`, the runtime-only build: no compiler, it runs as the
//! Lambda runtime when started without arguments), the module, and `artifacts/` with the module
//! precompiled with the engine settings the runtime uses, for the baseline of the architecture, so
//! a cold start loads native code and never compiles. The copy is stripped when `strip` is
//! available.

use super::{PackageReport, PackageRequest, precompile_into};
use crate::runtime::artifact::ARTIFACTS_DIR;
use anyhow::Context as _;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

/// The executable Lambda runs for a custom runtime.
pub(crate) const BOOTSTRAP: &str = "bootstrap";
/// Lambda's limit for a zip uploaded directly (larger ones go through S3).
pub(crate) const DIRECT_UPLOAD_LIMIT_BYTES: u64 = 50 << 20;
/// Lambda's limit for the unzipped package.
pub(crate) const UNZIPPED_LIMIT_BYTES: u64 = 250 << 20;
/// Packages the function with the runtime-only `edgefn-runtime` as its `bootstrap`.
pub(crate) fn package(request: &PackageRequest) -> anyhow::Result<PackageReport> {
    let mut warnings = Vec::new();
    let executable = super::runtime_executable(request.arch, &mut warnings)?;
    let mut report = package_with_bootstrap(request, &executable)?;
    report.warnings.splice(0..0, warnings);
    Ok(report)
}

/// Packages the function with `bootstrap` (an `edgefn` executable built for Lambda's Linux) as
/// its runtime.
pub(crate) fn package_with_bootstrap(
    request: &PackageRequest,
    bootstrap: &Path,
) -> anyhow::Result<PackageReport> {
    let wasm = std::fs::read(&request.wasm)
        .with_context(|| format!("cannot read {}", request.wasm.display()))?;
    let module_file = request
        .wasm
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .with_context(|| format!("{} has no usable file name", request.wasm.display()))?
        .to_owned();
    let mut warnings = Vec::new();
    let staging = request
        .out
        .join(format!(".{}-aws-lambda.staging", request.name));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let zip_path = request.out.join(format!("{}-aws-lambda.zip", request.name));
    let result = (|| {
        precompile_into(request, &wasm, &staging)
            .with_context(|| format!("cannot precompile {}", request.wasm.display()))?;
        let bootstrap_copy = staging.join(BOOTSTRAP);
        std::fs::copy(bootstrap, &bootstrap_copy)
            .with_context(|| format!("cannot copy {} into the package", bootstrap.display()))?;
        let original = file_size(&bootstrap_copy);
        // The runtime-only build is stripped by its profile (and may be for another architecture
        // than this machine's `strip` reads); only the full edgefn needs it.
        if super::is_runtime_executable(bootstrap) {
            // Stripped by its build profile already.
        } else if let Err(why) = super::strip_executable(&bootstrap_copy, "--strip-all") {
            warnings.push(format!(
                "the bootstrap was not stripped ({why}), so the zip carries its debug info; install binutils (`strip`) to make it several times smaller"
            ));
        }
        let stripped = file_size(&bootstrap_copy);
        tracing::info!(
            original_bytes = original,
            bootstrap_bytes = stripped,
            "bootstrap is {:.1} MiB (the executable is {:.1} MiB)",
            stripped as f64 / (1 << 20) as f64,
            original as f64 / (1 << 20) as f64
        );
        let entries = zip_entries(&staging, &module_file, &wasm)?;
        let unzipped: u64 = entries.iter().map(|e| e.bytes.len() as u64).sum();
        if unzipped > UNZIPPED_LIMIT_BYTES {
            warnings.push(format!(
                "the package unzips to {unzipped} bytes, over Lambda's limit of {UNZIPPED_LIMIT_BYTES}"
            ));
        }
        write_zip(&zip_path, &entries)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result?;

    let size_bytes = file_size(&zip_path);
    if size_bytes > DIRECT_UPLOAD_LIMIT_BYTES {
        warnings.push(format!(
            "the zip is {size_bytes} bytes, over the {DIRECT_UPLOAD_LIMIT_BYTES}-byte limit for a direct upload: upload it to S3 and deploy with --code S3Bucket=...,S3Key=..."
        ));
    }
    let architecture = request.arch.lambda_name();
    let deploy_command = format!(
        "aws lambda create-function --function-name {name} --runtime provided.al2023 --handler {module_file} --architectures {architecture} --memory-size 128 --timeout 10 --role arn:aws:iam::<account-id>:role/<execution-role> --zip-file fileb://{zip}",
        name = request.name,
        zip = zip_path.display(),
    );
    Ok(PackageReport {
        artifact: zip_path,
        size_bytes,
        deploy_command,
        warnings,
    })
}

/// One file of the zip.
struct Entry {
    name: String,
    bytes: Vec<u8>,
    executable: bool,
}

/// `bootstrap`, the module, and every file under `staging/artifacts`, in a stable order.
fn zip_entries(staging: &Path, module_file: &str, wasm: &[u8]) -> anyhow::Result<Vec<Entry>> {
    let mut entries = vec![
        Entry {
            name: BOOTSTRAP.into(),
            bytes: std::fs::read(staging.join(BOOTSTRAP))?,
            executable: true,
        },
        Entry {
            name: module_file.into(),
            bytes: wasm.to_vec(),
            executable: false,
        },
    ];
    let artifacts = staging.join(ARTIFACTS_DIR);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&artifacts)
        .with_context(|| format!("cannot list {}", artifacts.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for path in names {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        entries.push(Entry {
            name: format!("{ARTIFACTS_DIR}/{name}"),
            bytes: std::fs::read(&path)?,
            executable: false,
        });
    }
    Ok(entries)
}

fn write_zip(path: &Path, entries: &[Entry]) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    let deflated = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9));
    for entry in entries {
        // Lambda runs `bootstrap` only if the zip records it as executable.
        let mode = if entry.executable { 0o755 } else { 0o644 };
        zip.start_file(entry.name.as_str(), deflated.unix_permissions(mode))?;
        zip.write_all(&entry.bytes)?;
    }
    zip.finish()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

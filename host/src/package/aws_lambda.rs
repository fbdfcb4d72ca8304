//! `edgefn package --target aws-lambda`: a deployment zip for the `provided.al2023` runtime, and
//! a CloudFormation template beside it that deploys the zip as a function with a Function URL
//! (`template.rs`).
//!
//! The zip holds `bootstrap` (`edgefn-runtime`, the runtime-only build: no compiler, it runs as the
//! Lambda runtime when started without arguments), the module, and `artifacts/` with the module
//! precompiled with the engine settings the runtime uses, for the baseline of the architecture, so
//! a cold start loads native code and never compiles. The copy is stripped when `strip` is
//! available.

mod template;

use super::{PackageReport, PackageRequest, precompile_into, shell_quoted};
use crate::platform::aws_lambda::{RUNTIME_MEMORY_HEADROOM_MB, is_runtime_variable};
use crate::runtime::artifact::ARTIFACTS_DIR;
use crate::runtime::capabilities::outbound_http::policy::{
    ALLOW_PRIVATE_NETWORKS_VAR, ALLOWED_HOSTS_VAR, MAX_REQUESTS_VAR, MAX_RESPONSE_BYTES_VAR,
    OutboundPolicy, TIMEOUT_MS_VAR,
};
use crate::runtime::limits::{DEFAULT_DEADLINE, DEFAULT_MEMORY_BYTES, MAX_MEMORY_BYTES};
use anyhow::{Context as _, bail};
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
/// Lambda's smallest memory size, MB.
const LAMBDA_MIN_MEMORY_MB: u64 = 128;
/// Lambda's longest timeout, seconds.
const LAMBDA_MAX_TIMEOUT_S: u64 = 900;
/// The longest guest deadline a package can have: its timeout is a second past the deadline.
pub(crate) const MAX_DEADLINE_MS: u64 = (LAMBDA_MAX_TIMEOUT_S - 1) * 1000;
/// Lambda's limit on a function's environment: all keys and values together, bytes.
const LAMBDA_ENVIRONMENT_LIMIT_BYTES: usize = 4096;
/// The runtime's variable for the guest's deadline (its `--deadline-ms`).
const DEADLINE_VAR: &str = "EDGEFN_DEADLINE_MS";
/// The runtime's variable for the guest's memory limit (its `--memory-mb`).
const MEMORY_VAR: &str = "EDGEFN_MEMORY_MB";
/// The outbound HTTP variables of docs/manifest.md, the only `EDGEFN_OUTBOUND_*` names there are.
const OUTBOUND_VARS: [&str; 5] = [
    ALLOWED_HOSTS_VAR,
    ALLOW_PRIVATE_NETWORKS_VAR,
    TIMEOUT_MS_VAR,
    MAX_REQUESTS_VAR,
    MAX_RESPONSE_BYTES_VAR,
];

/// How the function runs on Lambda beyond its module: the guest's limits (the manifest's
/// `limits.memory_mb` and `limits.deadline_ms`) and the function's environment (its variables,
/// and the runtime's `EDGEFN_*` settings such as outbound HTTP). The Lambda memory size and timeout
/// follow from the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LambdaSettings {
    memory_mb: u64,
    deadline_ms: u64,
    env: Vec<(String, String)>,
}

impl Default for LambdaSettings {
    /// The host's default limits and no variables.
    fn default() -> Self {
        LambdaSettings {
            memory_mb: DEFAULT_MEMORY_BYTES >> 20,
            deadline_ms: DEFAULT_DEADLINE.as_millis() as u64,
            env: Vec::new(),
        }
    }
}

impl LambdaSettings {
    /// Checks the settings the way Lambda and the runtime will, so a package never holds a
    /// function that fails at deploy or at its first start: the memory limit within the host's
    /// ceiling, a deadline Lambda's timeout can cover, variable names Lambda accepts that are
    /// neither Lambda's own nor ones the runtime would not read, and outbound settings the
    /// runtime accepts.
    pub(crate) fn new(
        memory_mb: u64,
        deadline_ms: u64,
        env: Vec<(String, String)>,
    ) -> anyhow::Result<LambdaSettings> {
        let max_memory_mb = MAX_MEMORY_BYTES >> 20;
        if !(1..=max_memory_mb).contains(&memory_mb) {
            bail!("--memory-mb {memory_mb} is out of range: give 1 to {max_memory_mb} (MiB)");
        }
        // The timeout is the deadline rounded up to a second, plus one.
        let max_deadline_ms = MAX_DEADLINE_MS;
        if !(1..=max_deadline_ms).contains(&deadline_ms) {
            bail!(
                "--deadline-ms {deadline_ms} is out of range: give 1 to {max_deadline_ms} (Lambda's timeout is at most {LAMBDA_MAX_TIMEOUT_S} s, and the package sets it a second past the deadline)"
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for (name, _) in &env {
            check_variable_name(name)?;
            if !seen.insert(name.as_str()) {
                bail!("--env {name} is given twice");
            }
        }
        let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        OutboundPolicy::from_variables(lookup)
            .context("the outbound HTTP settings given with --env are invalid")?;
        let settings = LambdaSettings {
            memory_mb,
            deadline_ms,
            env,
        };
        let size: usize = settings
            .environment()
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum();
        if size > LAMBDA_ENVIRONMENT_LIMIT_BYTES {
            bail!(
                "the function's environment is {size} bytes, over Lambda's limit of {LAMBDA_ENVIRONMENT_LIMIT_BYTES} for all variables together: shorten the --env values"
            );
        }
        Ok(settings)
    }

    /// The guest's memory limit, MiB.
    pub(crate) fn memory_mb(&self) -> u64 {
        self.memory_mb
    }

    /// The guest's deadline per invocation, milliseconds.
    pub(crate) fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    /// The Lambda memory size: the guest's memory and the runtime's headroom, at least Lambda's
    /// minimum.
    pub(crate) fn lambda_memory_mb(&self) -> u64 {
        (self.memory_mb + RUNTIME_MEMORY_HEADROOM_MB).max(LAMBDA_MIN_MEMORY_MB)
    }

    /// The Lambda timeout: a second past the guest's deadline, so the runtime stops a slow guest
    /// (and reports `edgefn.Timeout`) before Lambda ends the environment.
    pub(crate) fn lambda_timeout_s(&self) -> u64 {
        self.deadline_ms.div_ceil(1000) + 1
    }

    /// The function's environment variables: the guest's limits for the runtime, then the
    /// `--env` ones in the order given.
    pub(crate) fn environment(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            (DEADLINE_VAR.to_owned(), self.deadline_ms.to_string()),
            (MEMORY_VAR.to_owned(), self.memory_mb.to_string()),
        ];
        vars.extend(self.env.iter().cloned());
        vars
    }
}

/// A variable `--env` may set: a name Lambda accepts, not one Lambda sets itself or the guest
/// never sees without the runtime reading it, and not one that has its own flag.
fn check_variable_name(name: &str) -> anyhow::Result<()> {
    let lambda_key = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !lambda_key {
        bail!(
            "--env {name:?}: Lambda's variable names are ASCII letters, digits and '_', starting with a letter"
        );
    }
    if name == DEADLINE_VAR || name == MEMORY_VAR {
        let flag = if name == DEADLINE_VAR {
            "--deadline-ms"
        } else {
            "--memory-mb"
        };
        bail!(
            "--env {name}: give it as {flag}, which also sets the Lambda timeout and memory size"
        );
    }
    if name.starts_with("EDGEFN_OUTBOUND_") && !OUTBOUND_VARS.contains(&name) {
        bail!(
            "--env {name} is not an outbound HTTP setting; they are {}",
            OUTBOUND_VARS.join(", ")
        );
    }
    // The runtime's own settings (EDGEFN_*, RUST_LOG) are fine; the rest of the names the guest
    // never sees are Lambda's (AWS_*, LAMBDA_*, _HANDLER, ...) or the system's.
    if is_runtime_variable(name) && !name.starts_with("EDGEFN_") && !name.starts_with("RUST_") {
        bail!("--env {name}: Lambda or the system sets this variable, and the guest never sees it");
    }
    Ok(())
}

/// Packages the function with the runtime-only `edgefn-runtime` as its `bootstrap`, and the
/// host's default limits.
pub(crate) fn package(request: &PackageRequest) -> anyhow::Result<PackageReport> {
    package_with(request, &LambdaSettings::default())
}

/// Packages the function with `settings`, `edgefn-runtime` as its `bootstrap`.
pub(crate) fn package_with(
    request: &PackageRequest,
    settings: &LambdaSettings,
) -> anyhow::Result<PackageReport> {
    std::fs::create_dir_all(&request.out)
        .with_context(|| format!("cannot create {}", request.out.display()))?;
    let mut warnings = Vec::new();
    let executable = super::runtime_executable(request.arch, &mut warnings)?;
    let mut report = package_with_bootstrap(request, settings, &executable)?;
    report.warnings.splice(0..0, warnings);
    Ok(report)
}

/// Packages the function with `bootstrap` (an `edgefn` executable built for Lambda's Linux) as
/// its runtime.
fn package_with_bootstrap(
    request: &PackageRequest,
    settings: &LambdaSettings,
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
    let zip_file = zip_path
        .file_name()
        .and_then(|n| n.to_str())
        .context("the zip's name is not UTF-8")?;
    let template_path = request
        .out
        .join(format!("{}-aws-lambda.{TEMPLATE_EXTENSION}", request.name));
    let template = template::Template {
        function_name: &request.name,
        zip_file,
        module_file: &module_file,
        architecture,
        settings,
    };
    std::fs::write(&template_path, template.render())
        .with_context(|| format!("cannot write {}", template_path.display()))?;
    let deploy_command = format!(
        "sam deploy --template-file {template} --stack-name {stack} --resolve-s3 --capabilities CAPABILITY_IAM\n  \
         or without a stack: aws lambda create-function --function-name {name} --runtime provided.al2023 --handler {module_file} --architectures {architecture} --memory-size {memory} --timeout {timeout} --environment {environment} --role arn:aws:iam::<account-id>:role/<execution-role> --zip-file fileb://{zip}",
        template = template_path.display(),
        stack = template::stack_name(&request.name),
        name = request.name,
        memory = settings.lambda_memory_mb(),
        timeout = settings.lambda_timeout_s(),
        environment = shell_quoted(&environment_json(settings)),
        zip = zip_path.display(),
    );
    Ok(PackageReport {
        artifact: zip_path,
        size_bytes,
        deploy_command,
        warnings,
    })
}

/// The template's file extension: YAML, which keeps the template's comments.
pub(crate) const TEMPLATE_EXTENSION: &str = "yaml";

/// `--environment` of `aws lambda create-function`, in its JSON form (the shorthand form cannot
/// hold the commas of a list of allowed hosts).
fn environment_json(settings: &LambdaSettings) -> String {
    let variables: serde_json::Map<String, serde_json::Value> = settings
        .environment()
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    serde_json::json!({ "Variables": variables }).to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn refused(memory_mb: u64, deadline_ms: u64, pairs: &[(&str, &str)]) -> String {
        let error = LambdaSettings::new(memory_mb, deadline_ms, env(pairs)).unwrap_err();
        format!("{error:#}")
    }

    #[test]
    fn memory_size_and_timeout_follow_the_limits() {
        let defaults = LambdaSettings::default();
        assert_eq!(defaults.lambda_memory_mb(), 176);
        assert_eq!(defaults.lambda_timeout_s(), 11);
        let small = LambdaSettings::new(16, 1, Vec::new()).unwrap();
        assert_eq!(small.lambda_memory_mb(), 128, "Lambda's minimum");
        assert_eq!(small.lambda_timeout_s(), 2);
        let largest = LambdaSettings::new(4096, 899_000, Vec::new()).unwrap();
        assert_eq!(largest.lambda_timeout_s(), 900);
        assert_eq!(largest.lambda_memory_mb(), 4144);
        assert_eq!(
            LambdaSettings::new(32, 2000, env(&[("GREETING", "hi")]))
                .unwrap()
                .environment(),
            env(&[
                ("EDGEFN_DEADLINE_MS", "2000"),
                ("EDGEFN_MEMORY_MB", "32"),
                ("GREETING", "hi")
            ])
        );
    }

    #[test]
    fn settings_lambda_or_the_runtime_would_refuse_are_refused_when_packaging() {
        assert!(refused(0, 1000, &[]).contains("--memory-mb 0"));
        assert!(refused(4097, 1000, &[]).contains("1 to 4096"));
        assert!(refused(128, 0, &[]).contains("--deadline-ms 0"));
        assert!(refused(128, 899_001, &[]).contains("at most 900 s"));
        assert!(refused(128, 1000, &[("1ST", "x")]).contains("starting with a letter"));
        assert!(refused(128, 1000, &[("A-B", "x")]).contains("letters, digits and '_'"));
        assert!(refused(128, 1000, &[("A", "1"), ("A", "2")]).contains("twice"));
        assert!(refused(128, 1000, &[("EDGEFN_DEADLINE_MS", "5")]).contains("--deadline-ms"));
        assert!(refused(128, 1000, &[("EDGEFN_MEMORY_MB", "5")]).contains("--memory-mb"));
        assert!(refused(128, 1000, &[("AWS_REGION", "x")]).contains("never sees it"));
        assert!(refused(128, 1000, &[("LAMBDA_TASK_ROOT", "x")]).contains("never sees it"));
        let typo = refused(
            128,
            1000,
            &[("EDGEFN_OUTBOUND_ALLOWED_HOST", "https://a.test")],
        );
        assert!(typo.contains("EDGEFN_OUTBOUND_ALLOWED_HOSTS"), "{typo}");
        let bad = refused(
            128,
            1000,
            &[("EDGEFN_OUTBOUND_ALLOWED_HOSTS", "https://a.test/path")],
        );
        assert!(bad.contains("EDGEFN_OUTBOUND_ALLOWED_HOSTS"), "{bad}");
        let big = "x".repeat(4096);
        assert!(refused(128, 1000, &[("BIG", &big)]).contains("4096"));
        // The runtime's own settings and the guest's variables pass.
        LambdaSettings::new(
            128,
            1000,
            env(&[
                (
                    "EDGEFN_OUTBOUND_ALLOWED_HOSTS",
                    "https://a.test,https://*.b.test",
                ),
                ("EDGEFN_OUTBOUND_TIMEOUT_MS", "1500"),
                ("EDGEFN_LOG_FORMAT", "json"),
                ("RUST_LOG", "debug"),
                ("GREETING", "Hej"),
            ]),
        )
        .unwrap();
    }

    #[test]
    fn the_printed_environment_is_one_shell_word_of_json() {
        let settings = LambdaSettings::new(128, 1000, env(&[("QUOTE", "it's \"here\"")])).unwrap();
        assert_eq!(
            shell_quoted(&environment_json(&settings)),
            r#"'{"Variables":{"EDGEFN_DEADLINE_MS":"1000","EDGEFN_MEMORY_MB":"128","QUOTE":"it'\''s \"here\""}}'"#
        );
    }
}

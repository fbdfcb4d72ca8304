//! `edgefn build [PATH]`: compiles a function project to `wasm32-wasip1`, checks the module the way
//! `edgefn serve` will (ABI v1 exports, imports, memory), and precompiles it into the artifact
//! cache, so the first `serve` or `invoke` loads it instead of compiling.

use super::project::Project;
use super::{display_path, human_bytes, self_command, step};
use crate::deploy::host::HostBuilder;
use crate::runtime::artifact::{CacheOutcome, default_cache_dir};
use crate::runtime::spec::FunctionSpec;
use anyhow::Context as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `edgefn build`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The project folder (with a Cargo.toml or a go.mod).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Artifact cache folder [default: $EDGEFN_CACHE_DIR, else ~/.cache/edgefn].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub(crate) struct BuildReport {
    /// The module.
    pub wasm: PathBuf,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// Its gzip-compressed size (what Workers counts against its bundle limit).
    pub gzip_bytes: u64,
    /// The precompiled artifact in the cache.
    pub artifact: PathBuf,
    /// True when the artifact was already in the cache (the module did not change).
    pub artifact_was_cached: bool,
}

/// Builds, checks and precompiles; prints where everything went.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let project = Project::open(&args.path)?;
    let cache_dir = args.cache_dir.unwrap_or_else(default_cache_dir);
    let report = build_and_precompile(&project, &cache_dir)?;
    let wasm = display_path(&report.wasm);
    println!(
        "built {} ({}) in {:.1} s",
        project.name,
        project.language.as_str(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "  module    {wasm}  ({}, {} gzipped)",
        human_bytes(report.size_bytes),
        human_bytes(report.gzip_bytes)
    );
    println!(
        "  artifact  {}  ({})",
        report.artifact.display(),
        if report.artifact_was_cached {
            "unchanged, already cached"
        } else {
            "precompiled now; serve and invoke load it without compiling"
        }
    );
    let edgefn = self_command();
    println!("next:");
    println!(
        "  {edgefn} invoke {wasm} '/{}'   # one request, no server",
        project.name
    );
    println!(
        "  {edgefn} serve {}   # http://127.0.0.1:8080/{}",
        project
            .manifest()
            .map(|m| display_path(&m))
            .unwrap_or(wasm.clone()),
        project.name
    );
    println!("  {edgefn} package --target aws-lambda {wasm} --out dist/aws-lambda");
    Ok(())
}

/// Builds `project`, then loads its module the way `serve` does and stores the artifact in
/// `cache_dir`.
pub(crate) fn build_and_precompile(
    project: &Project,
    cache_dir: &Path,
) -> anyhow::Result<BuildReport> {
    let wasm = project.build()?;
    let bytes = std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    step(format!(
        "checking and precompiling {} ({})",
        display_path(&wasm),
        human_bytes(bytes.len() as u64)
    ));
    // No instance pool: this engine only compiles, and code settings do not depend on the pool,
    // so the artifact is the one `serve` loads.
    let spec = FunctionSpec::new(project.name.as_str(), &wasm)?;
    let (size_bytes, gzip_bytes) = (bytes.len() as u64, gzip_len(&bytes));
    let (_, outcome, artifact) = HostBuilder::new(cache_dir).precompile(spec, bytes).with_context(|| {
        format!(
            "{} built, but edgefn cannot run it: make sure it exports a handler with edgefn::export! (Rust) or edgefn.Handle (Go)",
            display_path(&wasm)
        )
    })?;
    Ok(BuildReport {
        size_bytes,
        gzip_bytes,
        artifact,
        artifact_was_cached: outcome == CacheOutcome::Hit,
        wasm,
    })
}

fn gzip_len(bytes: &[u8]) -> u64 {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = encoder.write_all(bytes);
    encoder.finish().map(|v| v.len() as u64).unwrap_or(0)
}

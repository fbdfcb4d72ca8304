//! [`HostBuilder`]: engine + artifact cache + registry, set up one way for every front end (the
//! local server, the platform runtimes, `edgefn invoke`, `edgefn build`, the packagers).

use super::invoker::{FunctionInvoker, Invoker};
#[cfg(feature = "compiler")]
use super::registry::Deployed;
use super::registry::Registry;
use crate::runtime::artifact::ArtifactCache;
#[cfg(feature = "compiler")]
use crate::runtime::artifact::CacheOutcome;
use crate::runtime::capabilities::Backends;
use crate::runtime::engine::{EngineOptions, HostEngine};
#[cfg(feature = "compiler")]
use crate::runtime::preinit::Snapshot;
use crate::runtime::spec::FunctionSpec;
use crate::runtime::traces::TraceConfig;
use edgefn_abi::Platform;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to set up a host.
#[derive(Debug, Clone)]
pub struct HostBuilder {
    cache_dir: PathBuf,
    engine: EngineOptions,
    max_loaded: usize,
    scratch_cache: Option<PathBuf>,
    traces: Option<TraceConfig>,
}

impl HostBuilder {
    /// A host caching artifacts in `cache_dir`, with the default engine and one loaded function.
    pub fn new(cache_dir: impl Into<PathBuf>) -> HostBuilder {
        HostBuilder {
            cache_dir: cache_dir.into(),
            engine: EngineOptions::default(),
            max_loaded: 1,
            scratch_cache: None,
            traces: None,
        }
    }

    /// Engine settings (pool size, memory reset).
    pub fn engine(mut self, options: EngineOptions) -> HostBuilder {
        self.engine = options;
        self
    }

    /// Instance pool slots; 0 selects on-demand allocation (for tools that compile, not serve).
    pub fn pool_slots(mut self, slots: u32) -> HostBuilder {
        self.engine.pool_slots = slots;
        self
    }

    /// Compiles for `triple` instead of this machine (its baseline CPU features only).
    #[cfg(feature = "compiler")]
    pub fn target(mut self, triple: impl Into<String>) -> HostBuilder {
        self.engine.target = Some(triple.into());
        self
    }

    /// Functions kept loaded at once (the LRU's size).
    pub fn max_loaded(mut self, max_loaded: usize) -> HostBuilder {
        self.max_loaded = max_loaded;
        self
    }

    /// When the cache directory cannot be opened (a read-only app folder without shipped
    /// artifacts), compile into `dir` instead, with a warning, rather than failing.
    pub fn scratch_cache_on_failure(mut self, dir: impl Into<PathBuf>) -> HostBuilder {
        self.scratch_cache = Some(dir.into());
        self
    }

    /// Exports a span per invocation and per outbound call (OTLP/HTTP) as `config` says; `None`
    /// exports none.
    pub fn traces(mut self, config: Option<TraceConfig>) -> HostBuilder {
        self.traces = config;
        self
    }

    /// The registry, its engine started (and, when pooling, announced in the log).
    pub fn registry(self, backends: Backends) -> anyhow::Result<Arc<Registry>> {
        let engine = HostEngine::new(&self.engine)?;
        if self.engine.pool_slots > 0 {
            tracing::info!(allocator = engine.allocator.as_str(), "engine ready");
        }
        let cache = match (ArtifactCache::open(&self.cache_dir), &self.scratch_cache) {
            (Ok(cache), _) => cache,
            (Err(error), Some(scratch)) => {
                tracing::warn!(
                    artifacts = %self.cache_dir.display(),
                    scratch = %scratch.display(),
                    "{error:#}; compiling into a scratch cache instead"
                );
                ArtifactCache::open(scratch)?
            }
            (Err(error), None) => return Err(error),
        };
        let mut registry = Registry::new(engine, cache, self.max_loaded, backends)?;
        if let Some(config) = self.traces {
            registry.export_traces(config)?;
        }
        Ok(Arc::new(registry))
    }

    /// One function deployed (compiled, or loaded from the cache) and ready to invoke on
    /// `platform`: what the single-function front ends run.
    pub fn single(
        self,
        spec: FunctionSpec,
        platform: Platform,
        backends: Backends,
    ) -> anyhow::Result<FunctionInvoker> {
        let registry = self.max_loaded(1).registry(backends)?;
        let deployed = registry.prepare(spec)?;
        Ok(FunctionInvoker::new(
            Invoker::new(registry, platform),
            deployed,
        ))
    }

    /// Compiles (or finds) `wasm` and checks it as a deploy would, without keeping a host: what
    /// `edgefn build` and the packagers do. Returns the deployment, how its artifact was found and
    /// where it lies.
    #[cfg(feature = "compiler")]
    pub fn precompile(
        self,
        spec: FunctionSpec,
        wasm: Vec<u8>,
    ) -> anyhow::Result<(Arc<Deployed>, CacheOutcome, PathBuf)> {
        // Compiling needs no backend, and no instance of this registry serves a request (only a
        // pre-initialization run, which capabilities refuse), so none is connected.
        let registry = self.pool_slots(0).registry(compiling_only())?;
        let (deployed, outcome) = registry.prepare_bytes(spec, wasm)?;
        let path = registry.cache().artifact_path(&deployed.artifact_key());
        Ok((deployed, outcome, path))
    }

    /// [`HostBuilder::precompile`] for `triple` (architecture `arch`, as artifact names spell it),
    /// at that architecture's baseline CPU features: what packages ship. For another architecture
    /// than this machine's the module is checked (and pre-initialized) here first, since its init
    /// must run on this machine, and only the result is compiled for the target. Returns where the
    /// artifact lies.
    #[cfg(feature = "compiler")]
    pub fn precompile_for(
        self,
        spec: FunctionSpec,
        wasm: Vec<u8>,
        triple: &str,
        arch: &str,
    ) -> anyhow::Result<PathBuf> {
        if arch == std::env::consts::ARCH {
            return Ok(self.target(triple).precompile(spec, wasm)?.2);
        }
        let checking = self
            .cache_dir
            .join(format!(".check-{}", std::process::id()));
        let result = (|| {
            let native = HostBuilder::new(&checking)
                .pool_slots(0)
                .registry(compiling_only())?;
            // Loaded here first, so a module this machine refuses is refused before compiling it
            // for another; the code it compiled (a snapshot, if pre-initialized) is reused.
            let (deployed, code) = native.prepare_keeping_code(spec, wasm)?;
            let engine = HostEngine::new(&EngineOptions {
                pool_slots: 0,
                target: Some(triple.to_owned()),
                ..self.engine.clone()
            })?;
            let artifact =
                crate::runtime::artifact::precompile(&engine.engine, deployed.kind, &code)?;
            let cache = ArtifactCache::open_for(&self.cache_dir, arch)?;
            let key = deployed.artifact_key();
            cache.store(&key, &artifact)?;
            Ok(cache.artifact_path(&key))
        })();
        let _ = std::fs::remove_dir_all(&checking);
        result
    }

    /// `wasm` pre-initialized as a deploy would (its init run once and snapshotted, unless it
    /// declined), for a package that ships the module rather than an artifact; `None` when it is
    /// not pre-initialized. Nothing is compiled or cached.
    #[cfg(feature = "compiler")]
    pub(crate) fn initialized_module(
        self,
        spec: &FunctionSpec,
        wasm: &[u8],
    ) -> anyhow::Result<Option<Snapshot>> {
        self.pool_slots(0)
            .registry(compiling_only())?
            .initialized_module(spec, wasm)
    }

    /// The cache directory it was given.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }
}

/// The backends of a registry that only compiles: no instance of it serves a request (only a
/// pre-initialization run, which capabilities refuse), so nothing is connected.
#[cfg(feature = "compiler")]
fn compiling_only() -> Backends {
    Backends {
        kv: Arc::new(crate::runtime::capabilities::kv::Unconfigured::new(
            "a compile-only registry serves no request",
        )),
    }
}

//! Deployed functions: what is routed where, and a bounded LRU of the ones loaded in memory.
//!
//! Deploying a function compiles it (or finds its artifact), checks its ABI and links it, so a bad
//! module is refused before it is routed. Far more functions can be deployed than kept loaded: an
//! evicted function is reloaded from its verified artifact on its next request.

pub use super::deployed::{Deployed, InFlight};
use super::routes::Routes;
use crate::runtime::artifact::{ArtifactCache, CacheOutcome, module_hash};
use crate::runtime::capabilities::{self, Backends};
use crate::runtime::engine::HostEngine;
use crate::runtime::guest::checks::{check_sections, guest_kind};
use crate::runtime::guest::{Code, GuestKind, Linkers, LoadedFunction, wasi_http};
use crate::runtime::metrics::Metrics;
#[cfg(feature = "compiler")]
use crate::runtime::preinit;
use crate::runtime::spec::FunctionSpec;
use crate::runtime::traces::{TraceConfig, Tracer};
use anyhow::Context as _;
use edgefn_abi::INIT_EXPORT;
use lru::LruCache;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use wasmtime::Linker;
use wasmtime::component::Component;

/// Functions kept loaded (instantiable without touching disk) at once.
pub const DEFAULT_MAX_LOADED: usize = 1000;

fn read_module(spec: &FunctionSpec) -> anyhow::Result<Vec<u8>> {
    std::fs::read(spec.wasm()).with_context(|| {
        format!(
            "function {:?}: cannot read {}",
            spec.name(),
            spec.wasm().display()
        )
    })
}

/// What a [`Registry::redeploy`] did, by function name.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ReloadReport {
    /// New or changed, now serving the new version.
    pub deployed: Vec<String>,
    /// Same configuration and module: left alone.
    pub unchanged: Vec<String>,
    /// No longer listed: no longer routed.
    pub removed: Vec<String>,
    /// Refused, with the reason; the previous version (if any) keeps serving.
    pub failed: Vec<(String, String)>,
}

/// A loaded function plus whether it has served its first request (cold start).
pub struct Resident {
    /// The ready-to-instantiate function.
    pub function: LoadedFunction,
    served: AtomicBool,
}

impl Resident {
    /// True exactly once: for the first invocation after the module was loaded.
    pub fn take_cold_start(&self) -> bool {
        !self.served.swap(true, Ordering::AcqRel)
    }
}

/// The set of deployed functions and the loaded-module LRU.
pub struct Registry {
    engine: HostEngine,
    cache: ArtifactCache,
    linkers: Linkers,
    routes: RwLock<Routes>,
    loaded: Mutex<LruCache<u64, Arc<Resident>>>,
    next_id: AtomicU64,
    /// One redeploy at a time (`POST /reload`, `serve --watch`): a second waits rather than
    /// interleaving with the first.
    redeploying: Mutex<()>,
    /// Names the last deploy or redeploy was asked for: what [`Registry::missing`] checks.
    wanted: Mutex<Vec<String>>,
    /// What the platform backs each capability with.
    backends: Arc<Backends>,
    /// Metrics of every function and of the registry itself.
    pub metrics: Arc<Metrics>,
    /// Where invocation and outbound spans go, when traces are exported.
    tracer: Option<Arc<Tracer>>,
}

impl Registry {
    /// A registry with no functions, compiling into and loading from `cache` (opened for
    /// `engine`). [`crate::deploy::host::HostBuilder`] sets one up.
    pub fn new(
        engine: HostEngine,
        cache: ArtifactCache,
        max_loaded: usize,
        backends: Backends,
    ) -> anyhow::Result<Registry> {
        let mut linker = Linker::new(&engine.engine);
        capabilities::link_all(&mut linker)?;
        let linkers = Linkers {
            core: linker,
            component: wasi_http::linker(&engine.engine)?,
        };
        let capacity =
            NonZeroUsize::new(max_loaded).context("max loaded functions must be at least 1")?;
        Ok(Registry {
            engine,
            cache,
            linkers,
            routes: RwLock::default(),
            loaded: Mutex::new(LruCache::new(capacity)),
            next_id: AtomicU64::new(1),
            redeploying: Mutex::new(()),
            wanted: Mutex::default(),
            backends: Arc::new(backends),
            metrics: Arc::new(Metrics::default()),
            tracer: None,
        })
    }

    /// Exports a span per invocation and per outbound call as `config` says, from now on.
    pub fn export_traces(&mut self, config: TraceConfig) -> anyhow::Result<()> {
        self.tracer = Some(config.start(&self.metrics)?);
        Ok(())
    }

    /// Where spans go, if traces are exported.
    pub fn tracer(&self) -> Option<&Arc<Tracer>> {
        self.tracer.as_ref()
    }

    /// The engine in use.
    pub fn engine(&self) -> &HostEngine {
        &self.engine
    }

    /// The artifact cache in use.
    pub fn cache(&self) -> &ArtifactCache {
        &self.cache
    }

    /// What the platform backs each capability with.
    pub fn backends(&self) -> &Arc<Backends> {
        &self.backends
    }

    /// Compiles (or finds), checks and links a function without routing it. Errors name the
    /// function, the file and the reason.
    pub fn prepare(&self, spec: FunctionSpec) -> anyhow::Result<Arc<Deployed>> {
        let wasm = read_module(&spec)?;
        Ok(self.prepare_bytes(spec, wasm)?.0)
    }

    /// [`Registry::prepare`] for a module already in memory (`spec.wasm` only names it), also
    /// saying whether its artifact came from the cache.
    pub fn prepare_bytes(
        &self,
        spec: FunctionSpec,
        wasm: Vec<u8>,
    ) -> anyhow::Result<(Arc<Deployed>, CacheOutcome)> {
        let hash = module_hash(&wasm);
        self.prepare_module(spec, wasm, hash, None)
    }

    /// [`Registry::prepare_bytes`] on a registry with an empty cache, also returning the code it
    /// compiled (the snapshot, for a pre-initialized function): what another machine's compiler
    /// is given, without running the init a second time.
    #[cfg(feature = "compiler")]
    pub(crate) fn prepare_keeping_code(
        &self,
        spec: FunctionSpec,
        wasm: Vec<u8>,
    ) -> anyhow::Result<(Arc<Deployed>, Vec<u8>)> {
        let hash = module_hash(&wasm);
        let mut code = None;
        let (deployed, _) = self.prepare_module(spec, wasm, hash, Some(&mut code))?;
        let code = code.with_context(|| {
            format!(
                "function {:?} was found in a cache that should have been empty: its code was not compiled here",
                deployed.spec.name()
            )
        })?;
        Ok((deployed, code))
    }

    /// [`Registry::prepare_bytes`] for a module already hashed; `compiled` receives the code
    /// compiled, if it is compiled here (a cache miss).
    fn prepare_module(
        &self,
        spec: FunctionSpec,
        wasm: Vec<u8>,
        hash: String,
        compiled: Option<&mut Option<Vec<u8>>>,
    ) -> anyhow::Result<(Arc<Deployed>, CacheOutcome)> {
        let kind = guest_kind(&wasm).with_context(|| {
            format!(
                "function {:?} ({}) was refused",
                spec.name(),
                spec.wasm().display()
            )
        })?;
        // Components are checked by wasmtime as a whole, and their world at `guest_kind`; the
        // section checks are of core modules.
        let facts = match kind {
            GuestKind::AbiV1 => check_sections(spec.name(), &wasm)?,
            GuestKind::WasiHttp => Default::default(),
        };
        let deployed = Arc::new(Deployed {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            kind,
            preinit: facts.exports_init && spec.preinit(),
            snapshot_not_taken: AtomicBool::new(false),
            spec: Arc::new(spec),
            module_hash: hash,
            in_flight: AtomicUsize::new(0),
        });
        let (resident, outcome) =
            self.load(&deployed, Some(wasm), compiled)
                .with_context(|| {
                    format!(
                        "function {:?} ({}) was refused",
                        deployed.spec.name(),
                        deployed.spec.wasm().display()
                    )
                })?;
        self.insert_loaded(deployed.id, resident);
        Ok((deployed, outcome))
    }

    /// The module a package ships for `spec` when the package runs the module itself (a Worker):
    /// its snapshot when it is pre-initialized (it exports an init and `preinit` is on), else
    /// `None`.
    #[cfg(feature = "compiler")]
    pub(crate) fn initialized_module(
        &self,
        spec: &FunctionSpec,
        wasm: &[u8],
    ) -> anyhow::Result<Option<preinit::Snapshot>> {
        if !(check_sections(spec.name(), wasm)?.exports_init && spec.preinit()) {
            return Ok(None);
        }
        preinit::snapshot(
            &self.linkers.core,
            spec.name(),
            wasm,
            spec.limits().memory_bytes,
        )
        .map(Some)
    }

    /// What is compiled for `deployed`: its module, or the snapshot of its initialized state when
    /// it is pre-initialized (and its init did not decline). Used on a cache miss; a package for
    /// another machine gets it from that miss (`prepare_keeping_code`).
    pub(crate) fn code_to_compile(
        &self,
        deployed: &Deployed,
        wasm: Vec<u8>,
    ) -> anyhow::Result<Vec<u8>> {
        if !deployed.preinit {
            return Ok(wasm);
        }
        let spec = &deployed.spec;
        #[cfg(feature = "compiler")]
        return Ok(preinit::snapshot(
            &self.linkers.core,
            spec.name(),
            &wasm,
            spec.limits().memory_bytes,
        )?
        .or_original(wasm));
        #[cfg(not(feature = "compiler"))]
        anyhow::bail!(
            "function {:?} is pre-initialized and its snapshot is not among the artifacts; this runtime cannot make one",
            spec.name()
        )
    }

    /// Routes prepared functions, replacing any deployed under the same names. Requests already
    /// running keep the version they started with.
    pub fn publish(&self, functions: impl IntoIterator<Item = Arc<Deployed>>) {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        for deployed in functions {
            routes.insert(deployed);
        }
        self.metrics.deployed.set(routes.len() as i64);
    }

    /// Removes functions from routing. Requests already running finish normally.
    pub fn unpublish(&self, names: &[String]) {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        for name in names {
            routes.remove(name);
        }
        self.metrics.deployed.set(routes.len() as i64);
    }

    /// Brings the deployment in line with `specs`: new or changed functions (configuration or
    /// module bytes) are prepared and swapped in atomically, unchanged ones are left alone, and
    /// functions no longer listed are removed. A function whose new version is refused keeps
    /// serving its old version. Requests in flight finish on the version they started with.
    /// Redeploys run one at a time.
    pub fn redeploy(&self, specs: Vec<FunctionSpec>) -> ReloadReport {
        let _one_at_a_time = self.redeploying.lock().unwrap_or_else(|p| p.into_inner());
        let current: HashMap<String, Arc<Deployed>> = self
            .deployed()
            .into_iter()
            .map(|d| (d.spec.name().to_owned(), d))
            .collect();
        let mut report = ReloadReport::default();
        let mut ready = Vec::new();
        let listed: Vec<String> = specs.iter().map(|s| s.name().to_owned()).collect();
        for spec in specs {
            let name = spec.name().to_owned();
            let wasm = match read_module(&spec) {
                Ok(wasm) => wasm,
                Err(error) => {
                    report.failed.push((name, format!("{error:#}")));
                    continue;
                }
            };
            let hash = module_hash(&wasm);
            if let Some(old) = current.get(&name)
                && *old.spec == spec
                && old.module_hash == hash
            {
                report.unchanged.push(name);
                continue;
            }
            match self.prepare_module(spec, wasm, hash, None) {
                Ok((deployed, _)) => {
                    ready.push(deployed);
                    report.deployed.push(name);
                }
                Err(error) => {
                    tracing::error!(function = %name, "new version refused, the old one keeps serving: {error:#}");
                    report.failed.push((name, format!("{error:#}")));
                }
            }
        }
        report.removed = current
            .keys()
            .filter(|n| !listed.contains(n))
            .cloned()
            .collect();
        report.removed.sort();
        // Under the `wanted` lock, so `missing` never sees the routes half-changed.
        let mut wanted = self.wanted.lock().unwrap_or_else(|p| p.into_inner());
        self.publish(ready);
        self.unpublish(&report.removed);
        *wanted = listed;
        drop(wanted);
        tracing::info!(
            deployed = report.deployed.len(),
            unchanged = report.unchanged.len(),
            removed = report.removed.len(),
            failed = report.failed.len(),
            "redeploy finished"
        );
        report
    }

    /// Prepares and publishes every function, logging progress. Returns the failures; the
    /// functions that passed are served either way.
    pub fn deploy_all(&self, specs: Vec<FunctionSpec>) -> Vec<anyhow::Error> {
        let total = specs.len();
        let started = Instant::now();
        let mut failures = Vec::new();
        let mut ready = Vec::with_capacity(total);
        let names = specs.iter().map(|s| s.name().to_owned()).collect();
        for (index, spec) in specs.into_iter().enumerate() {
            let name = spec.name().to_owned();
            match self.prepare(spec) {
                Ok(deployed) => ready.push(deployed),
                Err(error) => {
                    tracing::error!(function = %name, "{error:#}");
                    failures.push(error);
                }
            }
            let done = index + 1;
            if total > 20 && (done % (total / 10).max(1) == 0 || done == total) {
                tracing::info!(
                    done,
                    total,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "deploying functions"
                );
            }
        }
        let mut wanted = self.wanted.lock().unwrap_or_else(|p| p.into_inner());
        self.publish(ready);
        *wanted = names;
        drop(wanted);
        failures
    }

    /// Functions the last deploy or redeploy listed that have no version serving: refused at
    /// their first deploy and not fixed since. A refused new version of a serving function is not
    /// missing (the old one serves). Empty when everything asked for is routed.
    pub fn missing(&self) -> Vec<String> {
        let wanted = self.wanted.lock().unwrap_or_else(|p| p.into_inner());
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        wanted
            .iter()
            .filter(|name| routes.by_name(name).is_none())
            .cloned()
            .collect()
    }

    /// The function routed at `path`: the longest route that equals `path` or is a prefix of it
    /// ending at a `/`.
    pub fn resolve(&self, path: &str) -> Option<Arc<Deployed>> {
        self.routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .resolve(path)
    }

    /// The deployed function with this name.
    pub fn by_name(&self, name: &str) -> Option<Arc<Deployed>> {
        self.routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_name(name)
    }

    /// All deployed functions, sorted by name.
    pub fn deployed(&self) -> Vec<Arc<Deployed>> {
        self.routes.read().unwrap_or_else(|p| p.into_inner()).all()
    }

    /// Functions currently loaded in memory.
    pub fn loaded_count(&self) -> usize {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The loaded form of a deployed function, loading it from its artifact if it was evicted.
    pub async fn resident(
        self: &Arc<Self>,
        deployed: &Arc<Deployed>,
    ) -> anyhow::Result<Arc<Resident>> {
        if let Some(hit) = self.cached(deployed) {
            return Ok(hit);
        }
        // Loading maps an artifact (or compiles): keep it off the request threads.
        let registry = self.clone();
        let deployed = deployed.clone();
        tokio::task::spawn_blocking(move || registry.load_and_insert(&deployed))
            .await
            .context("loading the function panicked")?
    }

    /// Loads synchronously (for callers outside a runtime, such as `edgefn invoke`).
    pub fn resident_blocking(&self, deployed: &Arc<Deployed>) -> anyhow::Result<Arc<Resident>> {
        match self.cached(deployed) {
            Some(hit) => Ok(hit),
            None => self.load_and_insert(deployed),
        }
    }

    fn cached(&self, deployed: &Deployed) -> Option<Arc<Resident>> {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&deployed.id)
            .cloned()
    }

    fn load_and_insert(&self, deployed: &Deployed) -> anyhow::Result<Arc<Resident>> {
        let (resident, _) = self.load(deployed, None, None)?;
        Ok(self.insert_loaded(deployed.id, resident))
    }

    fn insert_loaded(&self, id: u64, resident: Resident) -> Arc<Resident> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = loaded.get(&id) {
            return existing.clone();
        }
        let resident = Arc::new(resident);
        if let Some((evicted, _)) = loaded.push(id, resident.clone())
            && evicted != id
        {
            self.metrics.evicted.inc();
        }
        self.metrics.loaded.set(loaded.len() as i64);
        resident
    }

    fn load(
        &self,
        deployed: &Deployed,
        wasm: Option<Vec<u8>>,
        compiled: Option<&mut Option<Vec<u8>>>,
    ) -> anyhow::Result<(Resident, CacheOutcome)> {
        let spec = &deployed.spec;
        let started = Instant::now();
        // Only a cache miss needs the module's bytes (and, for a pre-initialized function, its
        // init run): a warm cache never reads the `.wasm` file.
        let source = || -> anyhow::Result<Vec<u8>> {
            let wasm = match wasm {
                Some(bytes) => bytes,
                None => std::fs::read(spec.wasm())
                    .with_context(|| format!("cannot read {}", spec.wasm().display()))?,
            };
            let actual = module_hash(&wasm);
            anyhow::ensure!(
                actual == deployed.module_hash,
                "the module changed on disk since it was deployed (hash {actual}, expected {}); deploy it again",
                deployed.module_hash
            );
            let code = self.code_to_compile(deployed, wasm)?;
            if let Some(compiled) = compiled {
                *compiled = Some(code.clone());
            }
            Ok(code)
        };
        let (engine, key) = (&self.engine.engine, deployed.artifact_key());
        let (code, outcome) = match deployed.kind {
            GuestKind::AbiV1 => {
                let (module, outcome) = self
                    .cache
                    .load_or_compile::<wasmtime::Module>(engine, &key, source)?;
                // An artifact made without a snapshot keeps the init export. The warning with
                // the reason was logged when it was made; later loads (restarts, Lambda cold
                // starts) say so once more, quietly.
                if deployed.preinit && module.get_export(INIT_EXPORT).is_some() {
                    deployed.snapshot_not_taken.store(true, Ordering::Relaxed);
                    if outcome == CacheOutcome::Hit {
                        tracing::info!(
                            function = %spec.name(),
                            "not pre-initialized: no snapshot could be taken when its artifact was made (that deploy's warning says why); every instance runs the init"
                        );
                    }
                }
                (Code::Module(module), outcome)
            }
            GuestKind::WasiHttp => {
                let (component, outcome) = self
                    .cache
                    .load_or_compile::<Component>(engine, &key, source)?;
                (Code::Component(component), outcome)
            }
        };
        self.metrics.record_cache(outcome.as_str());
        let function = LoadedFunction::new(
            deployed.kind,
            spec.clone(),
            &code,
            &self.linkers,
            self.metrics.function(spec.name()),
            &self.backends,
        )?;
        tracing::info!(
            function = %spec.name(),
            artifact = outcome.as_str(),
            elapsed_ms = format_args!("{:.2}", started.elapsed().as_secs_f64() * 1e3),
            "{}",
            match outcome {
                CacheOutcome::Hit => "loaded precompiled artifact from cache",
                CacheOutcome::Compiled => "compiled module and cached its artifact",
                CacheOutcome::Rebuilt { .. } => "recompiled module: cached artifact failed verification",
            }
        );
        let resident = Resident {
            function,
            served: AtomicBool::new(false),
        };
        Ok((resident, outcome))
    }
}

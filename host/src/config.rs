//! Function configuration: the manifest format, per-function limits and their defaults.

use anyhow::{Context as _, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Wall-clock time a single invocation may run before it is stopped with 504.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);
/// Linear memory a single instance may grow to before growth fails (then 500).
pub const DEFAULT_MEMORY_BYTES: u64 = 128 << 20;
/// Largest request body accepted (413 beyond). Matches Lambda's synchronous payload limit.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 6 << 20;
/// Largest response body a guest may return (500 beyond).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 << 20;
/// Invocations of one function running at once (503 with `Retry-After` beyond).
pub const DEFAULT_MAX_CONCURRENCY: usize = 256;
/// Guest stdout+stderr kept per invocation for the log; the rest is counted and dropped.
pub const DEFAULT_MAX_LOG_BYTES: usize = 64 << 10;
/// Warm mode: live instances kept per function for reuse.
pub const DEFAULT_WARM_MAX_INSTANCES: usize = 4;
/// Warm mode: invocations one instance serves before it is retired.
pub const DEFAULT_WARM_MAX_USES: u32 = 10_000;
/// Warm mode: an instance idle this long is retired instead of reused.
pub const DEFAULT_WARM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Hard ceiling on any function's memory limit: the pooling allocator reserves this per slot.
pub const MAX_MEMORY_BYTES: u64 = 4 << 30;

/// Per-function resource limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock deadline per invocation.
    pub deadline: Duration,
    /// Linear memory cap per instance, in bytes.
    pub memory_bytes: u64,
    /// Request body cap, in bytes.
    pub max_request_bytes: usize,
    /// Response body cap, in bytes.
    pub max_response_bytes: usize,
    /// Concurrent invocations cap.
    pub max_concurrency: usize,
    /// Guest log bytes kept per invocation.
    pub max_log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: DEFAULT_DEADLINE,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
        }
    }
}

/// Opt-in reuse of live instances (Lambda-style warm instances). Each instance still serves one
/// request at a time, but keeps its memory between requests, so a function that caches its
/// expensive initialisation pays for it once. Fresh instances per request stay the default because
/// they guarantee that nothing leaks from one request to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmConfig {
    /// Live instances kept at most.
    pub max_instances: usize,
    /// Invocations per instance before it is retired.
    pub max_uses: u32,
    /// Idle time after which an instance is retired.
    pub idle_timeout: Duration,
}

impl Default for WarmConfig {
    fn default() -> Self {
        WarmConfig {
            max_instances: DEFAULT_WARM_MAX_INSTANCES,
            max_uses: DEFAULT_WARM_MAX_USES,
            idle_timeout: DEFAULT_WARM_IDLE_TIMEOUT,
        }
    }
}

/// A directory the guest may read, and where it appears inside the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOnlyDir {
    /// Directory on the host.
    pub host: PathBuf,
    /// Path the guest opens it by, e.g. `/static`.
    pub guest: String,
}

/// Everything needed to deploy one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    /// Unique name; shown in logs and passed to the guest.
    pub name: String,
    /// Path of the `.wasm` module.
    pub wasm: PathBuf,
    /// URL path prefixes routed to this function (`/echo` serves `/echo` and `/echo/...`).
    pub routes: Vec<String>,
    /// The guest's whole environment.
    pub env: Vec<(String, String)>,
    /// Resource limits.
    pub limits: Limits,
    /// Read-only directory grant, if any.
    pub dir: Option<ReadOnlyDir>,
    /// Warm instance reuse, if opted in.
    pub warm: Option<WarmConfig>,
    /// Run the module's `edgefn_v1_init` once at deploy and serve the snapshot (when it exports
    /// one); `false` runs the init in every new instance instead.
    pub preinit: bool,
}

impl FunctionSpec {
    /// A function from a bare `.wasm` path: named after the file stem, routed at `/<stem>`.
    pub fn from_wasm_path(path: &Path) -> anyhow::Result<FunctionSpec> {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .with_context(|| format!("cannot name a function after {}", path.display()))?
            .to_owned();
        validate_name(&name)?;
        Ok(FunctionSpec::new(name, path))
    }

    /// A function with default settings, routed at `/<name>`.
    pub fn new(name: String, wasm: &Path) -> FunctionSpec {
        FunctionSpec {
            routes: vec![format!("/{name}")],
            name,
            wasm: wasm.to_owned(),
            env: Vec::new(),
            limits: Limits::default(),
            dir: None,
            warm: None,
            preinit: true,
        }
    }
}

/// Checks a function name: 1 to 64 ASCII letters, digits, `-` or `_`.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        bail!("function name {name:?} is invalid: use 1 to 64 ASCII letters, digits, '-' or '_'");
    }
    Ok(())
}

fn validate_route(function: &str, route: &str) -> anyhow::Result<String> {
    if !route.starts_with('/') || route.contains(['?', '#']) || route.contains("//") {
        bail!(
            "function {function:?}: route {route:?} must be a path starting with '/' with no query, fragment or empty segment"
        );
    }
    Ok(if route.len() > 1 {
        route.trim_end_matches('/').to_owned()
    } else {
        route.to_owned()
    })
}

/// Limits as written in a manifest; every field optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsToml {
    deadline_ms: Option<u64>,
    memory_mb: Option<u64>,
    max_request_bytes: Option<usize>,
    max_response_bytes: Option<usize>,
    max_concurrency: Option<usize>,
    max_log_bytes: Option<usize>,
}

impl LimitsToml {
    fn apply(&self, base: &Limits, who: &str) -> anyhow::Result<Limits> {
        let mut limits = base.clone();
        if let Some(ms) = self.deadline_ms {
            if ms == 0 {
                bail!("{who}: deadline_ms must be at least 1");
            }
            limits.deadline = Duration::from_millis(ms);
        }
        if let Some(mb) = self.memory_mb {
            let bytes = mb.saturating_mul(1 << 20);
            if mb == 0 || bytes > MAX_MEMORY_BYTES {
                bail!(
                    "{who}: memory_mb must be between 1 and {}",
                    MAX_MEMORY_BYTES >> 20
                );
            }
            limits.memory_bytes = bytes;
        }
        if let Some(n) = self.max_request_bytes {
            limits.max_request_bytes = n;
        }
        if let Some(n) = self.max_response_bytes {
            limits.max_response_bytes = n;
        }
        if let Some(n) = self.max_concurrency {
            if n == 0 {
                bail!("{who}: max_concurrency must be at least 1");
            }
            limits.max_concurrency = n;
        }
        if let Some(n) = self.max_log_bytes {
            limits.max_log_bytes = n;
        }
        Ok(limits)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WarmToml {
    max_instances: Option<usize>,
    max_uses: Option<u32>,
    idle_timeout_ms: Option<u64>,
}

impl WarmToml {
    fn resolve(self, who: &str) -> anyhow::Result<WarmConfig> {
        let defaults = WarmConfig::default();
        let warm = WarmConfig {
            max_instances: self.max_instances.unwrap_or(defaults.max_instances),
            max_uses: self.max_uses.unwrap_or(defaults.max_uses),
            idle_timeout: self
                .idle_timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(defaults.idle_timeout),
        };
        if warm.max_instances == 0 || warm.max_uses == 0 {
            bail!(
                "{who}: warm.max_instances and warm.max_uses must be at least 1 (leave out [warm] for fresh instances)"
            );
        }
        Ok(warm)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirToml {
    host: PathBuf,
    guest: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionToml {
    name: String,
    wasm: PathBuf,
    #[serde(default)]
    routes: Option<Vec<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    limits: LimitsToml,
    dir: Option<DirToml>,
    warm: Option<WarmToml>,
    #[serde(default = "default_preinit")]
    preinit: bool,
}

fn default_preinit() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestToml {
    #[serde(default)]
    defaults: LimitsToml,
    #[serde(default, rename = "function")]
    functions: Vec<FunctionToml>,
}

/// Where a host's functions come from; re-read on every reload.
#[derive(Debug, Clone)]
pub enum FunctionSource {
    /// A manifest file.
    Manifest(PathBuf),
    /// Plain `.wasm` files, each routed at `/<file stem>`.
    WasmFiles(Vec<PathBuf>),
}

impl FunctionSource {
    /// Reads the current function specs.
    pub fn load(&self) -> anyhow::Result<Vec<FunctionSpec>> {
        match self {
            FunctionSource::Manifest(path) => Ok(Manifest::load(path)?.functions),
            FunctionSource::WasmFiles(paths) => {
                let specs = paths
                    .iter()
                    .map(|p| FunctionSpec::from_wasm_path(p))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                for (i, spec) in specs.iter().enumerate() {
                    if specs[..i].iter().any(|s| s.name == spec.name) {
                        bail!(
                            "two files are named {:?}: rename one, or use a manifest to give them distinct names",
                            spec.name
                        );
                    }
                }
                Ok(specs)
            }
        }
    }

    /// The files whose changes should trigger a reload (for `serve --watch`).
    pub fn watched_files(&self) -> Vec<PathBuf> {
        match self {
            FunctionSource::Manifest(path) => {
                let mut files = vec![path.clone()];
                if let Ok(manifest) = Manifest::load(path) {
                    files.extend(manifest.functions.into_iter().map(|f| f.wasm));
                }
                files
            }
            FunctionSource::WasmFiles(paths) => paths.clone(),
        }
    }
}

/// A parsed manifest: the functions to deploy, with paths resolved against the manifest's folder.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Functions in manifest order.
    pub functions: Vec<FunctionSpec>,
}

impl Manifest {
    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Manifest::parse(&text, base).with_context(|| format!("invalid manifest {}", path.display()))
    }

    /// Parses manifest text; relative paths are taken from `base`.
    pub fn parse(text: &str, base: &Path) -> anyhow::Result<Manifest> {
        let raw: ManifestToml = toml::from_str(text)?;
        let defaults = raw.defaults.apply(&Limits::default(), "[defaults]")?;
        let mut functions = Vec::with_capacity(raw.functions.len());
        let mut seen_routes = BTreeMap::new();
        for f in raw.functions {
            validate_name(&f.name)?;
            let who = format!("function {:?}", f.name);
            if functions.iter().any(|g: &FunctionSpec| g.name == f.name) {
                bail!("{who} is defined twice");
            }
            let routes = f.routes.unwrap_or_else(|| vec![format!("/{}", f.name)]);
            let routes = routes
                .iter()
                .map(|r| validate_route(&f.name, r))
                .collect::<anyhow::Result<Vec<_>>>()?;
            for route in &routes {
                if let Some(other) = seen_routes.insert(route.clone(), f.name.clone()) {
                    bail!(
                        "route {route:?} is claimed by both {other:?} and {:?}",
                        f.name
                    );
                }
            }
            let dir = match f.dir {
                Some(d) if !d.guest.starts_with('/') => {
                    bail!(
                        "{who}: dir.guest {:?} must be an absolute guest path like \"/static\"",
                        d.guest
                    )
                }
                Some(d) => Some(ReadOnlyDir {
                    host: base.join(d.host),
                    guest: d.guest,
                }),
                None => None,
            };
            let warm = f.warm.map(|w| w.resolve(&who)).transpose()?;
            functions.push(FunctionSpec {
                warm,
                limits: f.limits.apply(&defaults, &who)?,
                name: f.name,
                wasm: base.join(f.wasm),
                routes,
                env: f.env.into_iter().collect(),
                dir,
                preinit: f.preinit,
            });
        }
        if functions.is_empty() {
            bail!("the manifest defines no [[function]]");
        }
        Ok(Manifest { functions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_applies_defaults_then_function_limits() {
        let m = Manifest::parse(
            r#"
            [defaults]
            deadline_ms = 2000
            [[function]]
            name = "a"
            wasm = "a.wasm"
            env = { K = "v" }
            limits = { memory_mb = 16 }
            [[function]]
            name = "b"
            wasm = "/abs/b.wasm"
            routes = ["/b/", "/other"]
            "#,
            Path::new("/base"),
        )
        .unwrap();
        let a = &m.functions[0];
        assert_eq!(a.wasm, Path::new("/base/a.wasm"));
        assert_eq!(a.routes, ["/a"]);
        assert_eq!(a.limits.deadline, Duration::from_secs(2));
        assert_eq!(a.limits.memory_bytes, 16 << 20);
        assert_eq!(a.env, [("K".to_owned(), "v".to_owned())]);
        assert_eq!(m.functions[1].wasm, Path::new("/abs/b.wasm"));
        assert_eq!(m.functions[1].routes, ["/b", "/other"]);
    }

    #[test]
    fn manifest_errors_name_the_problem() {
        let err = |text: &str| format!("{:#}", Manifest::parse(text, Path::new(".")).unwrap_err());
        assert!(err("[[function]]\nname='a b'\nwasm='x'").contains("invalid"));
        assert!(
            err("[[function]]\nname='a'\nwasm='x'\nroutes=['x']").contains("starting with '/'")
        );
        assert!(err("[[function]]\nname='a'\nwasm='x'\nbogus=1").contains("bogus"));
        assert!(
            err(
                "[[function]]\nname='a'\nwasm='x'\n[[function]]\nname='b'\nwasm='y'\nroutes=['/a']"
            )
            .contains("claimed by both")
        );
        assert!(
            err("[[function]]\nname='a'\nwasm='x'\nlimits={memory_mb=0}").contains("memory_mb")
        );
        assert!(err("").contains("no [[function]]"));
    }
}

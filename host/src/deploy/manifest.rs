//! The manifest (`edgefn.toml`): TOML mirror structs with unknown keys refused, turned into
//! validated [`FunctionSpec`]s, and the [`FunctionSource`] a host re-reads on every reload.

use crate::runtime::limits::{Limits, ReadOnlyDir, WarmConfig};
use crate::runtime::spec::{FunctionSpec, KvGrant, OutboundPolicy};
use anyhow::{Context as _, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
            limits.deadline = Duration::from_millis(ms);
        }
        if let Some(mb) = self.memory_mb {
            limits.memory_bytes = mb.saturating_mul(1 << 20);
        }
        if let Some(n) = self.max_request_bytes {
            limits.max_request_bytes = n;
        }
        if let Some(n) = self.max_response_bytes {
            limits.max_response_bytes = n;
        }
        if let Some(n) = self.max_concurrency {
            limits.max_concurrency = n;
        }
        if let Some(n) = self.max_log_bytes {
            limits.max_log_bytes = n;
        }
        limits.check(who)?;
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
        warm.check(who)?;
        Ok(warm)
    }
}

/// `outbound = { ... }` as written; every field optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboundToml {
    #[serde(default)]
    allowed_hosts: Vec<String>,
    allow_private_networks: Option<bool>,
    timeout_ms: Option<u64>,
    max_requests: Option<u32>,
    max_response_bytes: Option<usize>,
}

impl OutboundToml {
    fn resolve(self, who: &str) -> anyhow::Result<OutboundPolicy> {
        let mut policy = OutboundPolicy::default()
            .with_allowed_hosts(&self.allowed_hosts)
            .with_context(|| who.to_owned())?;
        if let Some(allow) = self.allow_private_networks {
            policy.allow_private_networks = allow;
        }
        if let Some(ms) = self.timeout_ms {
            policy.timeout = Duration::from_millis(ms);
        }
        if let Some(n) = self.max_requests {
            policy.max_requests = n;
        }
        if let Some(n) = self.max_response_bytes {
            policy.max_response_bytes = n;
        }
        Ok(policy)
    }
}

/// `kv = { ... }` as written; every field optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KvToml {
    #[serde(default)]
    stores: Vec<String>,
    max_operations: Option<u32>,
}

impl KvToml {
    fn resolve(self, who: &str) -> anyhow::Result<KvGrant> {
        let mut grant = KvGrant::default()
            .with_stores(&self.stores)
            .with_context(|| who.to_owned())?;
        if let Some(n) = self.max_operations {
            grant.max_operations = n;
        }
        Ok(grant)
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
    outbound: Option<OutboundToml>,
    kv: Option<KvToml>,
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
                    if specs[..i].iter().any(|s| s.name() == spec.name()) {
                        bail!(
                            "two files are named {:?}: rename one, or use a manifest to give them distinct names",
                            spec.name()
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
                    files.extend(manifest.functions.iter().map(|f| f.wasm().to_owned()));
                }
                files
            }
            FunctionSource::WasmFiles(paths) => paths.clone(),
        }
    }
}

/// Whether `path` names a manifest rather than a module: a `.toml` file, as `serve`, `invoke` and
/// `package` take one.
pub fn is_manifest_path(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "toml")
}

/// A parsed manifest: the functions to deploy, with paths resolved against the manifest's folder.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Functions in manifest order.
    pub functions: Vec<FunctionSpec>,
}

impl Manifest {
    /// The function named `name`, or an error naming the manifest (read from `path`) and listing
    /// the functions it has.
    pub fn function(&self, path: &Path, name: &str) -> anyhow::Result<&FunctionSpec> {
        self.functions
            .iter()
            .find(|f| f.name() == name)
            .with_context(|| {
                format!(
                    "{} has no function {name:?}; it has: {} (pick one with --name)",
                    path.display(),
                    self.names()
                )
            })
    }

    /// The functions' names, comma-separated, for messages.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.functions.iter().map(|f| f.name()).collect();
        names.join(", ")
    }

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
            let who = format!("function {:?}", f.name);
            if functions.iter().any(|g: &FunctionSpec| g.name() == f.name) {
                bail!("{who} is defined twice");
            }
            let routes = f.routes.unwrap_or_else(|| vec![format!("/{}", f.name)]);
            let dir = f.dir.map(|d| ReadOnlyDir {
                host: base.join(d.host),
                guest: d.guest,
            });
            let warm = f.warm.map(|w| w.resolve(&who)).transpose()?;
            let outbound = match f.outbound {
                Some(outbound) => outbound.resolve(&who)?,
                None => OutboundPolicy::default(),
            };
            let kv = match f.kv {
                Some(kv) => kv.resolve(&who)?,
                None => KvGrant::default(),
            };
            let spec = FunctionSpec::new(f.name, base.join(f.wasm))?
                .with_routes(routes)?
                .with_limits(f.limits.apply(&defaults, &who)?)?
                .with_env(f.env.into_iter().collect())
                .with_dir(dir)?
                .with_warm(warm)?
                .with_outbound(outbound)?
                .with_kv(kv)?
                .with_preinit(f.preinit);
            for route in spec.routes() {
                if let Some(other) = seen_routes.insert(route.clone(), spec.name().to_owned()) {
                    bail!(
                        "route {route:?} is claimed by both {other:?} and {:?}",
                        spec.name()
                    );
                }
            }
            functions.push(spec);
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
        assert_eq!(a.wasm(), Path::new("/base/a.wasm"));
        assert_eq!(a.routes(), ["/a"]);
        assert_eq!(a.limits().deadline, Duration::from_secs(2));
        assert_eq!(a.limits().memory_bytes, 16 << 20);
        assert_eq!(a.env(), [("K".to_owned(), "v".to_owned())]);
        assert_eq!(m.functions[1].wasm(), Path::new("/abs/b.wasm"));
        assert_eq!(m.functions[1].routes(), ["/b", "/other"]);
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

    #[test]
    fn outbound_is_read_and_checked() {
        let m = Manifest::parse(
            r#"
            [[function]]
            name = "a"
            wasm = "a.wasm"
            outbound = { allowed_hosts = ["https://api.example.com", "http://127.0.0.1:*"], allow_private_networks = true, timeout_ms = 250, max_requests = 3, max_response_bytes = 100 }
            [[function]]
            name = "b"
            wasm = "b.wasm"
            "#,
            Path::new("."),
        )
        .unwrap();
        let a = m.functions[0].outbound();
        assert_eq!(
            a.allowed_hosts().collect::<Vec<_>>(),
            ["https://api.example.com", "http://127.0.0.1:*"]
        );
        assert!(a.allow_private_networks);
        assert_eq!(a.timeout, Duration::from_millis(250));
        assert_eq!((a.max_requests, a.max_response_bytes), (3, 100));
        assert_eq!(m.functions[1].outbound(), &OutboundPolicy::default());

        let err = |outbound: &str| {
            let text = format!("[[function]]\nname='a'\nwasm='x'\noutbound = {outbound}");
            format!("{:#}", Manifest::parse(&text, Path::new(".")).unwrap_err())
        };
        let bad_pattern = err("{ allowed_hosts = ['api.example.com'] }");
        assert!(bad_pattern.contains("\"api.example.com\""), "{bad_pattern}");
        assert!(bad_pattern.contains("scheme"), "{bad_pattern}");
        assert!(bad_pattern.contains("function \"a\""), "{bad_pattern}");
        assert!(err("{ allowed_host = [] }").contains("allowed_host"));
        assert!(err("{ timeout_ms = 0 }").contains("timeout_ms"));
        assert!(err("{ max_requests = 0 }").contains("max_requests"));
    }

    #[test]
    fn kv_is_read_and_checked() {
        let m = Manifest::parse(
            "[[function]]\nname='a'\nwasm='a.wasm'\nkv = { stores = ['default', 'sessions'], max_operations = 7 }\n[[function]]\nname='b'\nwasm='b.wasm'",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(m.functions[0].kv().stores(), ["default", "sessions"]);
        assert_eq!(m.functions[0].kv().max_operations, 7);
        assert_eq!(m.functions[1].kv(), &KvGrant::default());
        let err = |kv: &str| {
            let text = format!("[[function]]\nname='a'\nwasm='x'\nkv = {kv}");
            format!("{:#}", Manifest::parse(&text, Path::new(".")).unwrap_err())
        };
        let bad = err("{ stores = ['Sessions'] }");
        assert!(
            bad.contains("\"Sessions\"") && bad.contains("function \"a\""),
            "{bad}"
        );
        assert!(err("{ store = [] }").contains("store"));
        assert!(err("{ max_operations = 0 }").contains("max_operations"));
    }
}

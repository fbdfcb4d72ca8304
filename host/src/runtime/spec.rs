//! A function's validated configuration. Every way of making one (a manifest, a bare `.wasm`, a
//! platform's environment) goes through these constructors, so a name, route or limit that passed
//! nowhere's validation cannot reach the runtime.

pub use super::capabilities::kv::KvGrant;
pub use super::capabilities::outbound_http::policy::OutboundPolicy;
use super::limits::{Limits, ReadOnlyDir, WarmConfig};
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};

/// Everything needed to deploy one function. Fields are read through accessors and set through
/// the validating `with_*` methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    name: String,
    wasm: PathBuf,
    routes: Vec<String>,
    env: Vec<(String, String)>,
    limits: Limits,
    dir: Option<ReadOnlyDir>,
    warm: Option<WarmConfig>,
    preinit: bool,
    outbound: OutboundPolicy,
    kv: KvGrant,
}

impl FunctionSpec {
    /// A function with default settings, routed at `/<name>`. Refuses an invalid name.
    pub fn new(name: impl Into<String>, wasm: impl Into<PathBuf>) -> anyhow::Result<FunctionSpec> {
        let name = name.into();
        validate_name(&name)?;
        Ok(FunctionSpec {
            routes: vec![format!("/{name}")],
            name,
            wasm: wasm.into(),
            env: Vec::new(),
            limits: Limits::default(),
            dir: None,
            warm: None,
            preinit: true,
            outbound: OutboundPolicy::default(),
            kv: KvGrant::default(),
        })
    }

    /// A function from a bare `.wasm` path: named after the file stem, routed at `/<stem>`.
    pub fn from_wasm_path(path: &Path) -> anyhow::Result<FunctionSpec> {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .with_context(|| format!("cannot name a function after {}", path.display()))?;
        FunctionSpec::new(name, path)
    }

    /// Routes it at these path prefixes instead (each a path starting with `/`, no query,
    /// fragment or empty segment; a trailing `/` is dropped).
    pub fn with_routes(
        mut self,
        routes: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> anyhow::Result<FunctionSpec> {
        self.routes = routes
            .into_iter()
            .map(|route| validate_route(&self.name, route.as_ref()))
            .collect::<anyhow::Result<_>>()?;
        Ok(self)
    }

    /// Gives the guest exactly this environment.
    pub fn with_env(mut self, env: Vec<(String, String)>) -> FunctionSpec {
        self.env = env;
        self
    }

    /// Runs it under these limits (refused when out of range).
    pub fn with_limits(mut self, limits: Limits) -> anyhow::Result<FunctionSpec> {
        limits.check(&format!("function {:?}", self.name))?;
        self.limits = limits;
        Ok(self)
    }

    /// Grants (or, with `None`, withholds) a read-only directory; the guest path must be absolute.
    pub fn with_dir(mut self, dir: Option<ReadOnlyDir>) -> anyhow::Result<FunctionSpec> {
        if let Some(dir) = &dir
            && !dir.guest.starts_with('/')
        {
            bail!(
                "function {:?}: dir.guest {:?} must be an absolute guest path like \"/static\"",
                self.name,
                dir.guest
            );
        }
        self.dir = dir;
        Ok(self)
    }

    /// Reuses live instances under `warm` (or, with `None`, keeps fresh instances per request).
    pub fn with_warm(mut self, warm: Option<WarmConfig>) -> anyhow::Result<FunctionSpec> {
        if let Some(warm) = &warm {
            warm.check(&format!("function {:?}", self.name))?;
        }
        self.warm = warm;
        Ok(self)
    }

    /// Whether to pre-initialize it at deploy when its module exports an init (the default).
    pub fn with_preinit(mut self, preinit: bool) -> FunctionSpec {
        self.preinit = preinit;
        self
    }

    /// Lets the guest call out over HTTP as `outbound` allows (refused when out of range). The
    /// default allows no host.
    pub fn with_outbound(mut self, outbound: OutboundPolicy) -> anyhow::Result<FunctionSpec> {
        outbound.check(&format!("function {:?}", self.name))?;
        self.outbound = outbound;
        Ok(self)
    }

    /// Lets the guest use the key-value stores `kv` grants (refused when out of range). The
    /// default grants no store.
    pub fn with_kv(mut self, kv: KvGrant) -> anyhow::Result<FunctionSpec> {
        kv.check(&format!("function {:?}", self.name))?;
        self.kv = kv;
        Ok(self)
    }

    /// Unique name; shown in logs and passed to the guest.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Path of the `.wasm` module.
    pub fn wasm(&self) -> &Path {
        &self.wasm
    }

    /// URL path prefixes routed to it (`/echo` serves `/echo` and `/echo/...`).
    pub fn routes(&self) -> &[String] {
        &self.routes
    }

    /// The guest's whole environment.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Resource limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Read-only directory grant, if any.
    pub fn dir(&self) -> Option<&ReadOnlyDir> {
        self.dir.as_ref()
    }

    /// Warm instance reuse, if opted in.
    pub fn warm(&self) -> Option<&WarmConfig> {
        self.warm.as_ref()
    }

    /// Run the module's `edgefn_v1_init` once at deploy and serve the snapshot (when it exports
    /// one); `false` runs the init in every new instance instead.
    pub fn preinit(&self) -> bool {
        self.preinit
    }

    /// What the guest may call with `edgefn_v1.http_send`.
    pub fn outbound(&self) -> &OutboundPolicy {
        &self.outbound
    }

    /// What it may do with the key-value stores.
    pub fn kv(&self) -> &KvGrant {
        &self.kv
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_refuse_what_validation_refuses() {
        assert!(FunctionSpec::new("a b", "x.wasm").is_err());
        let spec = FunctionSpec::new("a", "x.wasm").unwrap();
        assert_eq!(spec.routes(), ["/a"]);
        assert!(spec.clone().with_routes(["x"]).is_err());
        assert_eq!(
            spec.clone().with_routes(["/b/", "/"]).unwrap().routes(),
            ["/b", "/"]
        );
        let no_memory = Limits {
            memory_bytes: 0,
            ..Limits::default()
        };
        assert!(spec.clone().with_limits(no_memory).is_err());
        let relative = ReadOnlyDir {
            host: "static".into(),
            guest: "static".into(),
        };
        assert!(spec.clone().with_dir(Some(relative)).is_err());
        let mut no_calls = OutboundPolicy::default();
        no_calls.max_requests = 0;
        assert!(spec.with_outbound(no_calls).is_err());
    }
}

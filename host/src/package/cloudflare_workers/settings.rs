//! What a Worker bundle is configured with beyond its module: the `--env` variables, which become
//! text bindings (`[vars]` in `wrangler.toml`, `text` bindings in `config.capnp`), and the
//! key-value stores they grant (`EDGEFN_KV_STORES`), each a KV namespace binding
//! `EDGEFN_KV_<STORE>`. Checked the way the Worker's adapter reads them
//! (`workers/src/capabilities/*_config.js`), so a bundle never answers 500 for a setting given here.

use crate::runtime::capabilities::kv::{KvGrant, MAX_OPERATIONS_VAR, STORES_VAR};
use crate::runtime::capabilities::outbound_http::policy::OutboundPolicy;
use anyhow::{Context as _, bail};

use super::PRIVATE_NETWORK_BINDING;

/// The prefix of a store's KV namespace binding (`NAMESPACE_BINDING_PREFIX` in
/// `workers/src/capabilities/kv_config.js`).
pub const KV_BINDING_PREFIX: &str = "EDGEFN_KV_";

/// The KV namespace binding that backs `store`: `default` is `EDGEFN_KV_DEFAULT`.
pub fn kv_binding(store: &str) -> String {
    format!("{KV_BINDING_PREFIX}{}", store.to_ascii_uppercase())
}

/// The `--env` variables of a Worker and the stores they grant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkersSettings {
    vars: Vec<(String, String)>,
    stores: Vec<String>,
    cpu_ms: Option<u64>,
    init_per_instance: bool,
}

impl WorkersSettings {
    /// Checks `env` (`--env NAME=VALUE`, in order): binding names the Worker can read, each once,
    /// no name the bundle binds to something else, and outbound and key-value settings the adapter
    /// accepts.
    pub fn new(env: Vec<(String, String)>) -> anyhow::Result<WorkersSettings> {
        let mut seen = std::collections::BTreeSet::new();
        for (name, _) in &env {
            check_name(name)?;
            if !seen.insert(name.as_str()) {
                bail!("--env {name} is given twice");
            }
        }
        let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        OutboundPolicy::from_variables(lookup)
            .context("the outbound HTTP settings given with --env are invalid")?;
        let grant = KvGrant::from_variables(lookup)
            .context("the key-value settings given with --env are invalid")?;
        for store in grant.stores() {
            let binding = kv_binding(store);
            if binding == STORES_VAR || binding == MAX_OPERATIONS_VAR {
                bail!(
                    "--env {STORES_VAR}: store {store:?} cannot be served on Workers: its KV binding would be {binding}, the name of an edgefn setting; rename the store"
                );
            }
        }
        Ok(WorkersSettings {
            vars: env,
            stores: grant.stores().to_vec(),
            cpu_ms: None,
            init_per_instance: false,
        })
    }

    /// Ships the module as built, so each request's instance runs its init (a manifest's
    /// `preinit = false`), instead of its deploy-time snapshot.
    pub fn with_init_per_instance(mut self) -> WorkersSettings {
        self.init_per_instance = true;
        self
    }

    /// Whether each instance runs the module's init instead of starting from its snapshot.
    pub fn init_per_instance(&self) -> bool {
        self.init_per_instance
    }

    /// Sets `[limits] cpu_ms` in `wrangler.toml` (a manifest's deadline does; `--env` never).
    pub fn with_cpu_ms(mut self, cpu_ms: u64) -> WorkersSettings {
        self.cpu_ms = Some(cpu_ms);
        self
    }

    /// `[limits] cpu_ms`, when set.
    pub fn cpu_ms(&self) -> Option<u64> {
        self.cpu_ms
    }

    /// The text bindings, in the order given.
    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    /// The granted stores, each a KV namespace binding.
    pub fn stores(&self) -> &[String] {
        &self.stores
    }
}

/// A name `--env` may bind: one the adapter reads from its `env` as it is, not one that is a
/// service or KV namespace binding of the bundle.
fn check_name(name: &str) -> anyhow::Result<()> {
    let identifier = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !identifier {
        bail!(
            "--env {name:?}: a Worker's variable names are ASCII letters, digits and '_', not starting with a digit"
        );
    }
    if name == PRIVATE_NETWORK_BINDING {
        bail!(
            "--env {name}: this is the service binding to workerd's private network, which config.capnp declares; allow private networks with EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS=true"
        );
    }
    if name.starts_with(KV_BINDING_PREFIX) && name != STORES_VAR && name != MAX_OPERATIONS_VAR {
        bail!(
            "--env {name}: {KV_BINDING_PREFIX}<STORE> names the KV namespace binding of a store, which wrangler.toml declares; grant stores with --env {STORES_VAR}=<names> (the key-value settings are {STORES_VAR} and {MAX_OPERATIONS_VAR})"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn refused(pairs: &[(&str, &str)]) -> String {
        format!("{:#}", WorkersSettings::new(env(pairs)).unwrap_err())
    }

    #[test]
    fn stores_come_from_edgefn_kv_stores_each_once() {
        let settings = WorkersSettings::new(env(&[
            ("GREETING", "hi"),
            (STORES_VAR, "default, sessions default"),
            (MAX_OPERATIONS_VAR, "10"),
        ]))
        .unwrap();
        assert_eq!(settings.stores(), ["default", "sessions"]);
        assert_eq!(settings.vars().len(), 3);
        assert_eq!(kv_binding("sessions"), "EDGEFN_KV_SESSIONS");
        assert!(WorkersSettings::default().stores().is_empty());
    }

    #[test]
    fn bad_settings_are_refused_naming_them() {
        for (pairs, needle) in [
            (&[(STORES_VAR, "Bad-Name")][..], STORES_VAR),
            (&[(STORES_VAR, "stores")][..], "rename the store"),
            (&[(MAX_OPERATIONS_VAR, "0")][..], "max_operations"),
            (&[("EDGEFN_KV_DEFAULT", "x")][..], "wrangler.toml declares"),
            (
                &[("EDGEFN_OUTBOUND_TIMEOUT_MS", "soon")][..],
                "EDGEFN_OUTBOUND_TIMEOUT_MS",
            ),
            (&[(PRIVATE_NETWORK_BINDING, "x")][..], "service binding"),
            (&[("1ABC", "x")][..], "letters, digits"),
            (&[("A", "1"), ("A", "2")][..], "twice"),
        ] {
            let message = refused(pairs);
            assert!(message.contains(needle), "{needle:?} in {message}");
        }
    }
}

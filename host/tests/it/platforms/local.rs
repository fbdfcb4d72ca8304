//! The local host (`edgefn serve`) as a [`Target`]: the reference the other platforms are compared
//! with, and a platform in its own right.

use super::{
    Case, Comparable, PER_RUN_HEADERS, Target, assert_names_the_invocation, split_settings,
};
use crate::common::{Host, Reply};

/// `edgefn serve` with one function, at its default route `/<guest>`.
pub struct Local {
    pub host: Host,
}

impl Target for Local {
    const PLATFORM: &'static str = "local";

    /// Variables are the manifest's `env`; platform settings (`EDGEFN_OUTBOUND_*`,
    /// `EDGEFN_KV_*`) are the manifest keys docs/manifest.md maps them to.
    fn start(guest: &str, env: &[(&str, &str)]) -> Local {
        let (settings, vars) = split_settings(env);
        let vars: Vec<String> = vars.iter().map(|(k, v)| format!("{k} = {v:?}")).collect();
        let (kv, outbound): (Vec<_>, Vec<_>) = settings
            .iter()
            .partition(|(name, _)| name.starts_with("EDGEFN_KV_"));
        let table = |name: &str, keys: Vec<String>| {
            if keys.is_empty() {
                String::new()
            } else {
                format!("{name} = {{ {} }}\n", keys.join(", "))
            }
        };
        let outbound = table(
            "outbound",
            outbound.iter().map(|(n, v)| outbound_key(n, v)).collect(),
        ) + &table("kv", kv.iter().map(|(n, v)| kv_key(n, v)).collect());
        Local {
            host: Host::with_manifest(&format!(
                "[[function]]\nname = {guest:?}\nwasm = \"{{guests}}/{guest}.wasm\"\nenv = {{ {} }}\n{outbound}",
                vars.join(", ")
            )),
        }
    }

    fn send(&self, case: &Case) -> Reply {
        case.send_to(self.host.addr, &case.path)
    }

    /// Everything but what differs per run, framing included.
    fn comparable(&self, reply: &Reply) -> Comparable {
        Comparable::of(reply, PER_RUN_HEADERS, false)
    }

    /// The host names the invocation.
    fn check(&self, case: &Case, _expected: &Reply, reply: &Reply) {
        assert_names_the_invocation(case, reply);
    }

    fn assert_running(&mut self) {
        assert!(self.host.is_running(), "edgefn exited: {}", self.log());
    }

    fn log(&self) -> String {
        self.host.log()
    }
}

/// The manifest's `outbound` key for one `EDGEFN_OUTBOUND_*` platform variable (the table in
/// docs/manifest.md, "outbound").
fn outbound_key(name: &str, value: &str) -> String {
    let key = name
        .strip_prefix("EDGEFN_OUTBOUND_")
        .unwrap_or_else(|| panic!("{name} is not a setting the local host maps"))
        .to_ascii_lowercase();
    match key.as_str() {
        "allowed_hosts" => {
            let patterns: Vec<String> = value
                .split([',', ' '])
                .filter(|p| !p.is_empty())
                .map(|p| format!("{p:?}"))
                .collect();
            format!("allowed_hosts = [{}]", patterns.join(", "))
        }
        "allow_private_networks" | "timeout_ms" | "max_requests" | "max_response_bytes" => {
            format!("{key} = {value}")
        }
        other => panic!("no manifest key for EDGEFN_OUTBOUND_{other}"),
    }
}

/// The manifest's `kv` key for one `EDGEFN_KV_*` platform variable (docs/manifest.md, "kv").
fn kv_key(name: &str, value: &str) -> String {
    match name {
        "EDGEFN_KV_STORES" => {
            let stores: Vec<String> = value
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(|s| format!("{s:?}"))
                .collect();
            format!("stores = [{}]", stores.join(", "))
        }
        "EDGEFN_KV_MAX_OPERATIONS" => format!("max_operations = {value}"),
        other => panic!("no manifest key for {other}"),
    }
}

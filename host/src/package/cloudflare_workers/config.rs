//! The two configurations of a bundle: `wrangler.toml` for deploying with wrangler, and
//! `config.capnp` for running the very same files locally with `workerd serve`.

use super::settings::kv_binding;
use std::fmt::Write as _;

/// Address `workerd serve config.capnp` listens on (override with `--socket-addr http=HOST:PORT`).
pub const LOCAL_ADDRESS: &str = "127.0.0.1:8787";
/// Name of the socket in `config.capnp` (the `http` in `--socket-addr http=...`).
pub const SOCKET_NAME: &str = "http";
/// Line of `config.capnp` under which a user adds variables (and the tests add theirs).
pub const CAPNP_VARS_MARKER: &str = "# Your variables (as in wrangler.toml's [vars]), e.g. (name = \"GREETING\", text = \"hello\"),";
/// `config.capnp`'s network for the Worker's `globalOutbound`: public addresses only, like
/// Cloudflare's fetch, so a function's outbound calls behave locally as deployed.
pub const PUBLIC_NETWORK_SERVICE: &str = "public-network";
/// `config.capnp`'s network that also reaches private and loopback addresses. The Worker reaches it
/// only through [`PRIVATE_NETWORK_BINDING`], which the adapter uses only when the function allows
/// private networks (`EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS = "true"`): a text binding cannot
/// change the static `globalOutbound`, a service binding beside it can be chosen per call.
pub const PRIVATE_NETWORK_SERVICE: &str = "private-network";
/// The service binding to [`PRIVATE_NETWORK_SERVICE`] (`BINDING.PRIVATE_NETWORK` in
/// `workers/src/capabilities/outbound_config.js`). Only local workerd has it; Cloudflare's fetch
/// cannot reach a private network.
pub const PRIVATE_NETWORK_BINDING: &str = "EDGEFN_OUTBOUND_PRIVATE_NETWORK";
/// The outbound variables (`docs/manifest.md`, "outbound"), shown commented out in both files.
const OUTBOUND_VAR_EXAMPLES: &[(&str, &str)] = &[
    (
        "EDGEFN_OUTBOUND_ALLOWED_HOSTS",
        "https://api.example.com, https://*.example.org",
    ),
    ("EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "false"),
    ("EDGEFN_OUTBOUND_TIMEOUT_MS", "10000"),
    ("EDGEFN_OUTBOUND_MAX_REQUESTS", "50"),
    ("EDGEFN_OUTBOUND_MAX_RESPONSE_BYTES", "16777216"),
];
/// The key-value variables (`docs/manifest.md`, "kv"), shown commented out when none is set.
const KV_VAR_EXAMPLES: &[(&str, &str)] = &[
    ("EDGEFN_KV_STORES", "default"),
    ("EDGEFN_KV_MAX_OPERATIONS", "1000"),
];
/// The `id` written for a store's namespace until the user puts the real one there.
pub(super) const KV_NAMESPACE_ID_PLACEHOLDER: &str =
    "<id printed by: npx wrangler kv namespace create>";

/// What both configurations describe.
#[derive(Debug, Clone)]
pub(super) struct WorkerConfig<'a> {
    /// Worker name for wrangler (lower-case letters, digits and dashes).
    pub worker_name: &'a str,
    /// Entry module path.
    pub main: &'a str,
    /// ES modules after the entry, in order.
    pub modules: Vec<&'a str>,
    /// The function's core modules: `function.wasm`, or a transpiled component's.
    pub wasm: Vec<&'a str>,
    /// `compatibility_date`.
    pub compatibility_date: &'a str,
    /// Text bindings (the adapter's settings), in order.
    pub vars: Vec<(&'a str, String)>,
    /// The key-value stores granted (`EDGEFN_KV_STORES`), each a KV namespace binding.
    pub kv_stores: Vec<&'a str>,
    /// `[limits] cpu_ms`, when a manifest's deadline sets it; otherwise the section is shown
    /// commented out.
    pub cpu_ms: Option<u64>,
}

impl WorkerConfig<'_> {
    /// Whether the vars set `name`.
    fn sets(&self, name: &str) -> bool {
        self.vars.iter().any(|(k, _)| *k == name)
    }
}

/// A Worker name wrangler accepts, from a function name: lower-case ASCII letters, digits and
/// dashes, at most 63 characters, never empty.
pub fn worker_name(function: &str) -> String {
    let mut name: String = function
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(63);
    let name = name.trim_matches('-');
    if name.is_empty() {
        "edgefn-function".to_owned()
    } else {
        name.to_owned()
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Cap'n Proto text string literal (same escapes as C).
fn capnp_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `wrangler.toml`.
pub(super) fn wrangler_toml(config: &WorkerConfig<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Generated by `edgefn package --target cloudflare-workers`. Deploy: npx wrangler deploy"
    );
    let _ = writeln!(out, "name = {}", toml_string(config.worker_name));
    let _ = writeln!(out, "main = {}", toml_string(config.main));
    let _ = writeln!(
        out,
        "compatibility_date = {}",
        toml_string(config.compatibility_date)
    );
    out.push_str(
        r#"
# The entry imports the function's core modules as WebAssembly.Modules: Workers compile them at
# deploy time and forbid compiling WebAssembly while a request runs.
[[rules]]
type = "CompiledWasm"
globs = ["**/*.wasm"]
fallthrough = false

# Text bindings. The EDGEFN_ ones configure the adapter; every other one (and every secret) becomes
# the function's environment. Add your variables here.
[vars]
"#,
    );
    for (name, value) in &config.vars {
        let _ = writeln!(out, "{name} = {}", toml_string(value));
    }
    out.push_str(
        "# Outbound HTTP: the function calls nothing until allowed (docs/manifest.md, \"outbound\").\n",
    );
    for (name, value) in OUTBOUND_VAR_EXAMPLES {
        if !config.sets(name) {
            let _ = writeln!(out, "# {name} = {}", toml_string(value));
        }
    }
    out.push_str(
        "# Key-value stores: the function reaches none until granted (docs/kv.md), each then a KV namespace below.\n",
    );
    for (name, value) in KV_VAR_EXAMPLES {
        if !config.sets(name) {
            let _ = writeln!(out, "# {name} = {}", toml_string(value));
        }
    }
    out.push_str(
        r#"
# One KV namespace per key-value store, bound as EDGEFN_KV_<STORE>. Create each once with
# `npx wrangler kv namespace create <store>` and put the id it prints here; functions that share a
# store name share its namespace (the same id). Workers KV is eventually consistent.
"#,
    );
    if config.kv_stores.is_empty() {
        out.push_str("# [[kv_namespaces]]\n# binding = \"EDGEFN_KV_DEFAULT\"\n# id = \"...\"\n");
    }
    for store in &config.kv_stores {
        let _ = writeln!(
            out,
            "[[kv_namespaces]]\nbinding = {}\nid = {}",
            toml_string(&kv_binding(store)),
            toml_string(KV_NAMESPACE_ID_PLACEHOLDER)
        );
    }
    match config.cpu_ms {
        Some(cpu_ms) => {
            let _ = write!(
                out,
                r#"
# Paid plan only (remove the section on the Free plan): the CPU time a request may use, from the
# manifest's limits.deadline_ms. This limit, not EDGEFN_DEADLINE_MS, is what stops a guest that
# never returns; keep the two in step.
[limits]
cpu_ms = {cpu_ms}
"#
            );
        }
        None => out.push_str(
            r#"
# Paid plan only: the CPU time a request may use (default 30 000 ms, at most 300 000). This limit,
# not EDGEFN_DEADLINE_MS, is what stops a guest that never returns; keep the two in step.
# [limits]
# cpu_ms = 30000
"#,
        ),
    }
    out
}

/// `config.capnp` for `workerd serve`.
pub(super) fn workerd_capnp(config: &WorkerConfig<'_>) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"# Generated by `edgefn package --target cloudflare-workers`: runs this bundle locally with
#   workerd serve config.capnp                 (listens on http://{LOCAL_ADDRESS})
#   workerd serve config.capnp --socket-addr {SOCKET_NAME}=127.0.0.1:9000
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    # The function's outbound HTTP. The Worker's globalOutbound: public addresses only, as on
    # Cloudflare.
    (name = {public}, network = (allow = ["public"], tlsOptions = (trustBrowserCas = true))),
    # Public, private and loopback addresses, for calling a local upstream. The Worker reaches it
    # through the {binding} binding only, which the adapter uses only when
    # EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS is "true" (add it below).
    (name = {private}, network = (allow = ["public", "private", "local"], tlsOptions = (trustBrowserCas = true))),
  ],
  sockets = [(name = {socket}, address = {address}, http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [
"#,
        socket = capnp_string(SOCKET_NAME),
        address = capnp_string(LOCAL_ADDRESS),
        public = capnp_string(PUBLIC_NETWORK_SERVICE),
        private = capnp_string(PRIVATE_NETWORK_SERVICE),
        binding = PRIVATE_NETWORK_BINDING,
    );
    for module in std::iter::once(&config.main).chain(&config.modules) {
        let path = capnp_string(module);
        let _ = writeln!(out, "    (name = {path}, esModule = embed {path}),");
    }
    for wasm in &config.wasm {
        let wasm = capnp_string(wasm);
        let _ = writeln!(out, "    (name = {wasm}, wasm = embed {wasm}),");
    }
    out.push_str("  ],\n  bindings = [\n");
    for (name, value) in &config.vars {
        let _ = writeln!(
            out,
            "    (name = {}, text = {}),",
            capnp_string(name),
            capnp_string(value)
        );
    }
    let _ = writeln!(
        out,
        "    (name = {}, service = {}),",
        capnp_string(PRIVATE_NETWORK_BINDING),
        capnp_string(PRIVATE_NETWORK_SERVICE)
    );
    out.push_str(
        "    # Outbound HTTP: the function calls nothing until allowed (docs/manifest.md, \"outbound\").\n",
    );
    for (name, value) in OUTBOUND_VAR_EXAMPLES {
        if !config.sets(name) {
            let _ = writeln!(
                out,
                "    # (name = {}, text = {}),",
                capnp_string(name),
                capnp_string(value)
            );
        }
    }
    // workerd has no KV of its own: a kvNamespace binding names a service that answers Workers
    // KV's protocol (`npx wrangler dev` brings one). Without it the store answers "unavailable".
    for store in &config.kv_stores {
        let _ = writeln!(
            out,
            "    # Store {store:?}: bind a service speaking Workers KV's protocol, or use `npx wrangler dev`:\n    # (name = {}, kvNamespace = \"my-kv-service\"),",
            capnp_string(&kv_binding(store))
        );
    }
    let _ = writeln!(out, "    {CAPNP_VARS_MARKER}");
    let _ = write!(
        out,
        "  ],\n  globalOutbound = {},\n  compatibilityDate = {},\n);\n",
        capnp_string(PUBLIC_NETWORK_SERVICE),
        capnp_string(config.compatibility_date)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_names_are_what_wrangler_accepts() {
        assert_eq!(worker_name("hello"), "hello");
        assert_eq!(worker_name("Big_Response"), "big-response");
        assert_eq!(worker_name("__"), "edgefn-function");
        assert_eq!(worker_name(&"x".repeat(80)).len(), 63);
    }

    fn settings() -> WorkerConfig<'static> {
        WorkerConfig {
            worker_name: "fetcher",
            main: "worker.js",
            modules: vec!["handler.js"],
            wasm: vec!["function.wasm"],
            compatibility_date: "2026-11-01",
            vars: vec![("EDGEFN_FUNCTION_NAME", "fetcher".to_owned())],
            kv_stores: Vec::new(),
            cpu_ms: None,
        }
    }

    #[test]
    fn wrangler_toml_binds_a_kv_namespace_per_granted_store() {
        let mut config = settings();
        config
            .vars
            .push(("EDGEFN_KV_STORES", "default sessions".to_owned()));
        config.kv_stores = vec!["default", "sessions"];
        let wrangler = wrangler_toml(&config);
        let parsed: toml::Value = toml::from_str(&wrangler).unwrap();
        assert_eq!(
            parsed["vars"]["EDGEFN_KV_STORES"].as_str(),
            Some("default sessions")
        );
        let namespaces = parsed["kv_namespaces"].as_array().unwrap();
        let bindings: Vec<&str> = namespaces
            .iter()
            .map(|n| n["binding"].as_str().unwrap())
            .collect();
        assert_eq!(bindings, ["EDGEFN_KV_DEFAULT", "EDGEFN_KV_SESSIONS"]);
        assert!(
            namespaces
                .iter()
                .all(|n| n["id"].as_str() == Some(KV_NAMESPACE_ID_PLACEHOLDER))
        );
        assert!(
            wrangler.contains("npx wrangler kv namespace create"),
            "{wrangler}"
        );
        assert!(
            !wrangler.contains("# EDGEFN_KV_STORES"),
            "set, not an example"
        );
        let capnp = workerd_capnp(&config);
        assert!(
            capnp.contains(r#"(name = "EDGEFN_KV_STORES", text = "default sessions"),"#),
            "{capnp}"
        );
        assert!(
            capnp.contains(r#"# (name = "EDGEFN_KV_SESSIONS", kvNamespace = "#),
            "{capnp}"
        );

        let none = wrangler_toml(&settings());
        let parsed: toml::Value = toml::from_str(&none).unwrap();
        assert!(parsed.get("kv_namespaces").is_none(), "{none}");
        assert!(none.contains("# EDGEFN_KV_STORES = \"default\""), "{none}");
    }

    #[test]
    fn config_capnp_is_public_only_by_default_with_a_private_network_beside_it() {
        let capnp = workerd_capnp(&settings());
        assert!(
            capnp.contains(r#"globalOutbound = "public-network","#),
            "{capnp}"
        );
        assert!(
            capnp.contains(r#"(name = "public-network", network = (allow = ["public"],"#),
            "{capnp}"
        );
        assert!(
            capnp.contains(
                r#"(name = "private-network", network = (allow = ["public", "private", "local"],"#
            ),
            "{capnp}"
        );
        assert!(
            capnp.contains(
                r#"(name = "EDGEFN_OUTBOUND_PRIVATE_NETWORK", service = "private-network"),"#
            ),
            "{capnp}"
        );
        // The marker stays the last line of the bindings, so what is added there is a binding.
        let marker = capnp.find(CAPNP_VARS_MARKER).unwrap();
        assert!(
            capnp[marker..]
                .trim_start_matches(CAPNP_VARS_MARKER)
                .trim_start()
                .starts_with("],")
        );
    }

    #[test]
    fn both_files_show_the_outbound_variables_commented_out() {
        let wrangler = wrangler_toml(&settings());
        let parsed: toml::Value = toml::from_str(&wrangler).unwrap();
        let capnp = workerd_capnp(&settings());
        for (name, _) in OUTBOUND_VAR_EXAMPLES {
            assert!(wrangler.contains(&format!("# {name} = ")), "{wrangler}");
            assert!(
                parsed["vars"].get(name).is_none(),
                "{name} is only an example"
            );
            assert!(
                capnp.contains(&format!("# (name = \"{name}\", text = ")),
                "{capnp}"
            );
        }
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(capnp_string("a\"b\\c\n"), r#""a\"b\\c\n""#);
        for value in ["a\"b", "it's", "back\\slash", "line\nbreak"] {
            let parsed: toml::Value =
                toml::from_str(&format!("k = {}", toml_string(value))).unwrap();
            assert_eq!(parsed["k"].as_str(), Some(value));
        }
    }
}

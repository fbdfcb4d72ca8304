//! `README.md` of a bundle: what the folder is and the few things a user does with it (run it in
//! workerd, add variables, let the function call out, deploy), so the bundle explains itself away
//! from this repository. wrangler uploads only the modules, never this file.

use super::config::{CAPNP_VARS_MARKER, LOCAL_ADDRESS, PRIVATE_NETWORK_BINDING};

/// The README for the Worker `worker_name` of function `function`.
pub(super) fn readme(function: &str, worker_name: &str) -> String {
    format!(
        r#"# {function} as a Cloudflare Worker

Written by `edgefn package --target cloudflare-workers`: the edgefn function `{function}`
(`function.wasm`) inside the edgefn adapter (the `.js` files), ready for `wrangler` and for `workerd`.
The full guide is `docs/deploy-cloudflare-workers.md` in the edgefn repository.

## Run it locally

    npx workerd serve config.capnp            # http://{LOCAL_ADDRESS}

## Variables

Add each one twice: under `[vars]` in `wrangler.toml` (deployed), and in `config.capnp` (workerd)
below the line `{CAPNP_VARS_MARKER}`. Every text variable and secret is the
function's environment, except the `EDGEFN_` ones, which configure the adapter.

## Outbound HTTP

The function may call nothing until allowed: set `EDGEFN_OUTBOUND_ALLOWED_HOSTS` (patterns such as
`https://api.example.com, https://*.example.org`), and optionally `EDGEFN_OUTBOUND_TIMEOUT_MS`,
`EDGEFN_OUTBOUND_MAX_REQUESTS` and `EDGEFN_OUTBOUND_MAX_RESPONSE_BYTES`; both files list them,
commented out. A value that is not valid makes every request answer 500, and the log names it.

workerd reaches public addresses only (`globalOutbound`), as Cloudflare does. To call a server on
this machine, add `EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS = "true"` to `config.capnp`: the adapter
then sends through the `{PRIVATE_NETWORK_BINDING}` network, which also reaches private and
loopback addresses. On Cloudflare that variable cannot reach a private network.

## Key-value stores

A store the function is granted (`EDGEFN_KV_STORES`, or `--env EDGEFN_KV_STORES=...` when
packaging) is a Workers KV namespace bound as `EDGEFN_KV_<STORE>`: create it once with
`npx wrangler kv namespace create <store>` and put the id it prints in its `[[kv_namespaces]]`
entry of `wrangler.toml`. `npx wrangler dev` serves the namespaces locally; workerd needs a
service speaking Workers KV's protocol bound in `config.capnp`, else the store answers
"unavailable".

## Deploy

    npx wrangler deploy                       # Worker "{worker_name}"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_function_the_worker_and_what_to_set() {
        let text = readme("fetch-json", "fetch-json");
        for needle in [
            "# fetch-json as a Cloudflare Worker",
            "Worker \"fetch-json\"",
            CAPNP_VARS_MARKER,
            "EDGEFN_OUTBOUND_ALLOWED_HOSTS",
            "EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS = \"true\"",
            PRIVATE_NETWORK_BINDING,
            "workerd serve config.capnp",
            "npx wrangler kv namespace create",
            "EDGEFN_KV_STORES",
        ] {
            assert!(text.contains(needle), "{needle:?} in:\n{text}");
        }
    }
}

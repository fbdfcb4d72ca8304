//! Host capabilities: every import a guest can reach, one module each, linked from one list.
//!
//! A capability is a module here with a `link` function (its host functions, added to the linker),
//! an entry in [`link_all`] and [`IMPORT_MODULES`], a field of `crate::runtime::sandbox::HostState`
//! when it keeps per-instance state, and a field of [`Backends`] when each platform backs it with
//! its own service. The Workers shim mirrors the list in `workers/src/capabilities/`.
//!
//! Two import modules: WASI preview 1 (`wasi.rs`), and `edgefn_v1` (`docs/abi.md`, "Host
//! imports"): `http_send` (`outbound_http/`), the `kv_*` calls (`kv/`), `result_read`
//! (`pending.rs`) and `snapshot_decline` (`snapshot_decline.rs`), with their per-instance state in
//! `state.rs`.

pub mod kv;
pub mod outbound_http;
pub(crate) mod pending;
pub(crate) mod snapshot_decline;
pub(crate) mod state;
pub(crate) mod wasi;

use super::sandbox::HostState;
use edgefn_abi::imports;
use wasmtime::Linker;

/// Import modules a guest may import from, across all capabilities.
pub const IMPORT_MODULES: &[&str] = &[wasi::IMPORT_MODULE, imports::MODULE];

/// The `edgefn_v1` names this host links; a module importing another is refused at load.
pub const EDGEFN_V1_IMPORTS: &[&str] = &[
    imports::HTTP_SEND,
    imports::RESULT_READ,
    imports::KV_GET,
    imports::KV_SET,
    imports::KV_DELETE,
    imports::KV_EXISTS,
    imports::KV_LIST,
    imports::SNAPSHOT_DECLINE,
];

/// Links every capability into `linker`: the complete list of what a guest can import.
pub fn link_all(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    wasi::link(linker)?;
    pending::link(linker)?;
    outbound_http::link(linker)?;
    kv::imports::link(linker)?;
    snapshot_decline::link(linker)?;
    Ok(())
}

/// What the platform provides behind each capability that needs a service of its own (a
/// key-value store, an HTTP client with the platform's egress): one field per such capability.
///
/// Deliberately without `Default` or a constructor: every platform builds it with a struct literal
/// (`local::backends`, `platform::aws_lambda::backends`, `platform::azure_functions::backends`), so
/// a capability added here does not compile until each platform says what backs it. Neither WASI
/// nor outbound HTTP needs one (every platform running this host reaches the network the same
/// way, through `outbound_http`'s client).
#[derive(Debug, Clone)]
pub struct Backends {
    /// The key-value store behind `kv_*`: one per host, shared by every function and worker
    /// thread, and kept across redeploys.
    pub kv: std::sync::Arc<dyn kv::KvBackend>,
}

/// A readable list of the import modules, for error messages.
pub fn import_modules_listed() -> String {
    IMPORT_MODULES.join(", ")
}

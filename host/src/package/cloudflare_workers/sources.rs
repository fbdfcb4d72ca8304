//! The Worker's JavaScript, compiled into `edgefn` from `workers/src/` so a packaged bundle never
//! depends on a checkout or on npm. It is read through `host/workers-src`, a symlink to it inside
//! the crate, so the published crate carries the files too. The WASI shims are the vendored copies of
//! `@bjorn3/browser_wasi_shim` and `@bytecodealliance/preview2-shim` (`workers/src/vendor/`), with
//! their licences.

/// A file of the bundle: its path inside the bundle (the same as under `workers/src/`) and contents.
#[derive(Debug, Clone, Copy)]
pub(super) struct BundleFile {
    /// Path relative to the bundle folder, `/`-separated; also the module name workerd resolves.
    pub path: &'static str,
    /// File contents.
    pub contents: &'static str,
}

macro_rules! worker_file {
    ($path:literal) => {
        BundleFile {
            path: $path,
            contents: include_str!(concat!("../../../workers-src/", $path)),
        }
    };
}

/// The entry module: imports `function.wasm` and hands each request to the handler.
pub(super) const ENTRY: BundleFile = worker_file!("worker.js");

/// The entry of a `wasi:http/proxy` component's bundle: instantiates the transpiled component
/// (`component/`, written by `component::transpile`) for each request.
pub(super) const COMPONENT_ENTRY: BundleFile = worker_file!("component.js");

/// ES modules a component's entry imports besides [`MODULES`]: its outbound HTTP and the vendored
/// preview2-shim (browser build).
pub(super) const COMPONENT_MODULES: &[BundleFile] = &[
    worker_file!("capabilities/wasi_http_outbound.js"),
    worker_file!("vendor/preview2-shim/index.js"),
    worker_file!("vendor/preview2-shim/cli.js"),
    worker_file!("vendor/preview2-shim/clocks.js"),
    worker_file!("vendor/preview2-shim/common.js"),
    worker_file!("vendor/preview2-shim/config.js"),
    worker_file!("vendor/preview2-shim/environment.js"),
    worker_file!("vendor/preview2-shim/filesystem.js"),
    worker_file!("vendor/preview2-shim/in-memory-filesystem.js"),
    worker_file!("vendor/preview2-shim/opfs-filesystem.js"),
    worker_file!("vendor/preview2-shim/http.js"),
    worker_file!("vendor/preview2-shim/in-memory-http.js"),
    worker_file!("vendor/preview2-shim/io.js"),
    worker_file!("vendor/preview2-shim/random.js"),
    worker_file!("vendor/preview2-shim/sockets.js"),
    worker_file!("vendor/preview2-shim/in-memory-sockets.js"),
];

/// ES modules the entry imports, directly or not (listed for workerd, which resolves nothing itself).
pub(super) const MODULES: &[BundleFile] = &[
    worker_file!("handler.js"),
    worker_file!("guest.js"),
    worker_file!("abi.js"),
    worker_file!("logs.js"),
    worker_file!("capabilities/index.js"),
    worker_file!("capabilities/wasi.js"),
    worker_file!("capabilities/edgefn_v1.js"),
    worker_file!("capabilities/outbound_http.js"),
    worker_file!("capabilities/outbound_config.js"),
    worker_file!("capabilities/outbound_policy.js"),
    worker_file!("capabilities/kv.js"),
    worker_file!("capabilities/kv_config.js"),
    worker_file!("capabilities/kv_contract.js"),
    worker_file!("vendor/browser_wasi_shim/wasi.js"),
    worker_file!("vendor/browser_wasi_shim/wasi_defs.js"),
    worker_file!("vendor/browser_wasi_shim/debug.js"),
    worker_file!("vendor/browser_wasi_shim/fd.js"),
    worker_file!("vendor/browser_wasi_shim/fs_mem.js"),
];

/// Files shipped beside the modules: the shim's licences require them to travel with its code.
pub(super) const NOTICES: &[BundleFile] = &[
    worker_file!("vendor/browser_wasi_shim/LICENSE-MIT"),
    worker_file!("vendor/browser_wasi_shim/LICENSE-APACHE"),
    worker_file!("vendor/README.md"),
];

/// Notices a component's bundle ships besides [`NOTICES`].
pub(super) const COMPONENT_NOTICES: &[BundleFile] = &[worker_file!("vendor/preview2-shim/LICENSE")];

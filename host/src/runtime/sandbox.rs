//! The sandbox of one instance: its host state (one field per capability), and the store built
//! around it: memory capped, stopped at its deadline by the epoch ticker (yielding on every tick
//! so other requests on the thread progress), guest output captured. The only place a store is
//! made, for requests and for pre-initialization alike.

use super::capabilities::kv::imports::FunctionKv;
use super::capabilities::outbound_http::client::FunctionClient;
use super::capabilities::state::ImportState;
use super::error::InvokeError;
use super::guest_log::LogCapture;
use super::limits::{GuestLimiter, ReadOnlyDir};
use super::spec::FunctionSpec;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Store, StoreContextMut, Trap, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// Per-store host data: one field per capability with per-instance state, plus the limiter,
/// deadline and output capture every instance has.
pub struct HostState {
    wasi: WasiP1Ctx,
    /// The `edgefn_v1` imports' state: outbound client, invocation scope, pending result.
    pub(crate) imports: ImportState,
    pub(crate) limiter: GuestLimiter,
    pub(crate) deadline: Instant,
    pub(crate) stdout: LogCapture,
    pub(crate) stderr: LogCapture,
}

impl HostState {
    /// The WASI context (for the linker).
    pub fn wasi(&mut self) -> &mut WasiP1Ctx {
        &mut self.wasi
    }
}

/// What an instance is granted: the guest's environment and directory, its `argv[0]`, and the
/// function's outbound HTTP and key-value stores.
pub(crate) struct Grants<'a> {
    name: &'a str,
    env: &'a [(String, String)],
    dir: Option<&'a ReadOnlyDir>,
    outbound: Option<&'a Arc<FunctionClient>>,
    kv: Option<&'a Arc<FunctionKv>>,
}

impl<'a> Grants<'a> {
    /// Everything the function's configuration grants, calling out through `outbound` (the
    /// client made for its policy) and reaching its stores through `kv`.
    pub(crate) fn of(
        spec: &'a FunctionSpec,
        outbound: &'a Arc<FunctionClient>,
        kv: &'a Arc<FunctionKv>,
    ) -> Grants<'a> {
        Grants {
            name: spec.name(),
            env: spec.env(),
            dir: spec.dir(),
            outbound: Some(outbound),
            kv: Some(kv),
        }
    }

    /// What a component is granted: the function's environment and directory; its outbound
    /// calls go through wasi:http's hook, and it has no key-value interface.
    pub(crate) fn of_component(spec: &'a FunctionSpec) -> Grants<'a> {
        Grants {
            name: spec.name(),
            env: spec.env(),
            dir: spec.dir(),
            outbound: None,
            kv: None,
        }
    }

    /// Nothing but a name: what an init run at deploy gets, so its snapshot depends on the module
    /// alone (and its outbound calls are `unsupported`).
    #[cfg(feature = "compiler")]
    pub(crate) fn none(name: &'a str) -> Grants<'a> {
        Grants {
            name,
            env: &[],
            dir: None,
            outbound: None,
            kv: None,
        }
    }
}

/// Where the store's output goes, what it may use, and until when.
pub(crate) struct Bounds<'a> {
    pub(crate) memory_cap: u64,
    pub(crate) deadline: Instant,
    pub(crate) stdout: &'a LogCapture,
    pub(crate) stderr: &'a LogCapture,
}

/// A store for one instance.
pub(crate) fn new_store(
    engine: &wasmtime::Engine,
    grants: &Grants<'_>,
    bounds: &Bounds<'_>,
) -> Result<Store<HostState>, InvokeError> {
    let mut wasi = wasi_builder(grants, bounds)?;
    let state = HostState {
        wasi: wasi.build_p1(),
        imports: ImportState::new(grants.outbound.cloned(), grants.kv.cloned()),
        limiter: GuestLimiter::new(bounds.memory_cap),
        deadline: bounds.deadline,
        stdout: bounds.stdout.clone(),
        stderr: bounds.stderr.clone(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store.epoch_deadline_callback(on_epoch_tick);
    store.set_epoch_deadline(1);
    Ok(store)
}

/// The WASI context of an instance of either kind: output captured, `argv[0]` the function's
/// name, its environment, its read-only directory if it has one, nothing else.
pub(crate) fn wasi_builder(
    grants: &Grants<'_>,
    bounds: &Bounds<'_>,
) -> Result<WasiCtxBuilder, InvokeError> {
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdout(bounds.stdout.clone())
        .stderr(bounds.stderr.clone())
        .arg(grants.name);
    for (key, value) in grants.env {
        wasi.env(key, value);
    }
    if let Some(dir) = grants.dir {
        wasi.preopened_dir(&dir.host, &dir.guest, FsPerms::ReadOnly)
            .map_err(|e| {
                InvokeError::Instantiate(format!("cannot open {}: {e}", dir.host.display()))
            })?;
    }
    Ok(wasi)
}

/// Prepares a reused instance's store for its next invocation.
pub(crate) fn rearm(store: &mut Store<HostState>, deadline: Instant) {
    let state = store.data_mut();
    state.deadline = deadline;
    state.limiter.rearm();
    store.set_epoch_deadline(1);
}

/// What the sandbox reads from a store's data, for core modules and components alike: when the
/// running invocation must stop ([`on_epoch_tick`]) and its memory limiter ([`classify_error`]).
pub(crate) trait Sandboxed {
    /// When the running invocation must stop.
    fn deadline(&self) -> Instant;
    /// The limiter capping the instance's memory.
    fn limiter(&self) -> &GuestLimiter;
}

impl Sandboxed for HostState {
    fn deadline(&self) -> Instant {
        self.deadline
    }

    fn limiter(&self) -> &GuestLimiter {
        &self.limiter
    }
}

/// Each epoch tick while a guest runs: past the deadline, stop it; otherwise yield so other
/// requests on this thread make progress, then continue.
pub(crate) fn on_epoch_tick<T: Sandboxed>(
    store: StoreContextMut<'_, T>,
) -> wasmtime::Result<UpdateDeadline> {
    if Instant::now() >= store.data().deadline() {
        Ok(UpdateDeadline::Interrupt)
    } else {
        Ok(UpdateDeadline::Yield(1))
    }
}

/// What a wasmtime error from inside the sandbox means for the caller.
pub(crate) fn classify_error<T: Sandboxed>(
    store: &Store<T>,
    error: wasmtime::Error,
    budget: Duration,
    memory_cap: u64,
) -> InvokeError {
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return InvokeError::Timeout(budget);
    }
    if store.data().limiter().denied_memory() {
        return InvokeError::MemoryLimit(memory_cap);
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return InvokeError::Trap(format!("the guest called exit({})", exit.0));
    }
    InvokeError::Trap(format!("{error:#}"))
}

/// Calls a guest function that takes and returns nothing (`_initialize`, `edgefn_v1_init`), its
/// failures classified like the handler's.
pub(crate) async fn call_constructor(
    store: &mut Store<HostState>,
    func: wasmtime::Func,
    budget: Duration,
    memory_cap: u64,
) -> Result<(), InvokeError> {
    let func = func
        .typed::<(), ()>(&*store)
        .map_err(|e| InvokeError::Instantiate(e.to_string()))?;
    func.call_async(&mut *store, ())
        .await
        .map_err(|e| classify_error(store, e, budget, memory_cap))
}

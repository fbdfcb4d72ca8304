//! Pre-initialization: runs a guest's `edgefn_v1_init` once, at deploy, and snapshots the
//! initialized memory and globals into a new module (with `wasmtime-wizer`), so every fresh
//! instance starts from the initialized state instead of redoing the work.
//!
//! The init runs without the function's configuration (no environment, no directory, no request):
//! the snapshot depends on the module alone, so it is cached by the module's hash. Clocks and
//! random work, but their values are frozen into the snapshot. A module whose state must not be
//! frozen says so from its init (`edgefn_v1.snapshot_decline`): then no snapshot is made, and the
//! module runs its init in every instance.

mod data_segments;

use super::capabilities::snapshot_decline::SnapshotRun;
use super::error::InvokeError;
use super::guest_log::LogCapture;
use super::sandbox::{self, Bounds, Grants, HostState, call_constructor, classify_error};
use anyhow::{Context as _, anyhow, bail};
use edgefn_abi::INIT_EXPORT;
use std::time::{Duration, Instant};
use wasmtime::{Extern, ExternType, Instance, Linker, Module, Store, Val};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

/// How long a guest's init may run at deploy before the deploy is refused.
pub(crate) const PREINIT_TIME_LIMIT: Duration = Duration::from_secs(10);

/// Guest output kept from an init run (it is logged, tagged `preinit`).
const PREINIT_LOG_BYTES: usize = 64 << 10;

/// What pre-initializing a module made.
#[derive(Debug)]
pub(crate) enum Snapshot {
    /// A module whose memory and globals start where the init left off, without either export.
    Taken(Vec<u8>),
    /// No snapshot, for this reason (the init declined it, or its state cannot be captured): the
    /// module runs as it is, its init in every instance, as with `preinit = false`.
    NotTaken(String),
}

impl Snapshot {
    /// The module to compile: the snapshot, or `original` when none was taken.
    pub(crate) fn or_original(self, original: Vec<u8>) -> Vec<u8> {
        match self {
            Snapshot::Taken(snapshot) => snapshot,
            Snapshot::NotTaken(_) => original,
        }
    }
}

/// Runs `wasm`'s `_initialize` and `edgefn_v1_init` under `memory_cap` and
/// [`PREINIT_TIME_LIMIT`], and snapshots the result. When no snapshot can be taken (the init
/// declined, or wizer cannot capture the module's state) that is logged as a warning and the module
/// is to run its init per instance; an init that fails is an error, which names the function and
/// says how to opt out.
pub(crate) fn snapshot(
    linker: &Linker<HostState>,
    function: &str,
    wasm: &[u8],
    memory_cap: u64,
) -> anyhow::Result<Snapshot> {
    let outcome = take_snapshot(linker, function, wasm, memory_cap)?;
    if let Snapshot::NotTaken(why) = &outcome {
        // Also where `preinit = false` is not applied (Lambda and Azure packages), so no advice
        // to set it: the function works, each instance pays for its init within its deadline.
        tracing::warn!(
            function,
            why = why.as_str(),
            "not pre-initialized: every instance runs the init, within its request's deadline, as with `preinit = false`"
        );
    }
    Ok(outcome)
}

fn take_snapshot(
    linker: &Linker<HostState>,
    function: &str,
    wasm: &[u8],
    memory_cap: u64,
) -> anyhow::Result<Snapshot> {
    let opt_out = "or set `preinit = false` for this function in the manifest to run the init in every instance instead";
    let mut wizer = Wizer::new();
    wizer.init_func(INIT_EXPORT);
    let (module_context, instrumented) = match wizer.instrument(wasm) {
        Ok(instrumented) => instrumented,
        // The init is not run here, so one that would fail is found by the first request, as
        // with `preinit = false`.
        Err(e) => {
            return Ok(Snapshot::NotTaken(format!(
                "its state cannot be snapshotted: {e:#}"
            )));
        }
    };
    let module = Module::new(linker.engine(), &instrumented).map_err(|e| {
        anyhow!("function {function:?}: cannot compile it for pre-initialization: {e}")
    })?;
    match module.get_export(INIT_EXPORT) {
        Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 0 => {}
        _ => bail!(
            "function {function:?}: {INIT_EXPORT} must be a function that takes and returns nothing"
        ),
    }
    // Wasmtime's async calls need an executor, and callers may or may not be inside a runtime
    // already: run the init on a thread of its own.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .context("cannot start a runtime for the init")?;
                runtime.block_on(async {
                    let started = Instant::now();
                    let stdout = LogCapture::new(PREINIT_LOG_BYTES);
                    let stderr = stdout.sibling();
                    let result =
                        run_init(linker, &module, function, memory_cap, &stdout, &stderr).await;
                    let _ = stdout.emit(function, "preinit", "stdout");
                    let _ = stderr.emit(function, "preinit", "stderr");
                    let (mut store, instance) = result
                        .map_err(|e| anyhow!("function {function:?}: its {INIT_EXPORT} failed at deploy: {e}; fix the init, {opt_out}"))?;
                    if let SnapshotRun::Declined(reason) = &store.data().imports.snapshot {
                        let init_ms = started.elapsed().as_secs_f64() * 1e3;
                        return Ok(Snapshot::NotTaken(format!("its init declined a snapshot ({init_ms:.1} ms of init at deploy): {reason}")));
                    }
                    let snapshot = match wizer
                        .snapshot(&module_context, &mut Snapshotted { store: &mut store, instance })
                        .await
                    {
                        Ok(snapshot) => snapshot,
                        Err(e) => return Ok(Snapshot::NotTaken(format!("its initialized state cannot be snapshotted: {e:#}"))),
                    };
                    let (snapshot, coalesced) = match data_segments::coalesce(&snapshot) {
                        Ok(Some((merged, what))) => (merged, Some(what)),
                        Ok(None) => (snapshot, None),
                        // Only slower to instantiate: the segments as wizer wrote them are valid.
                        Err(e) => {
                            tracing::warn!(function, error = format_args!("{e:#}"), "cannot merge the snapshot's data segments; keeping them as they are");
                            (snapshot, None)
                        }
                    };
                    tracing::info!(
                        function,
                        init_ms = format_args!("{:.2}", started.elapsed().as_secs_f64() * 1e3),
                        snapshot_bytes = snapshot.len(),
                        data_segments = ?coalesced,
                        "pre-initialized: ran {INIT_EXPORT} once and snapshotted the result"
                    );
                    Ok(Snapshot::Taken(snapshot))
                })
            })
            .join()
            .unwrap_or_else(|_| Err(anyhow!("function {function:?}: pre-initialization panicked")))
    })
}

async fn run_init(
    linker: &Linker<HostState>,
    module: &Module,
    function: &str,
    memory_cap: u64,
    stdout: &LogCapture,
    stderr: &LogCapture,
) -> Result<(Store<HostState>, Instance), InvokeError> {
    let bounds = Bounds {
        memory_cap,
        deadline: Instant::now() + PREINIT_TIME_LIMIT,
        stdout,
        stderr,
    };
    let mut store = sandbox::new_store(module.engine(), &Grants::none(function), &bounds)?;
    store.data_mut().imports.snapshot = SnapshotRun::Taking;
    let instance = linker
        .instantiate_async(&mut store, module)
        .await
        .map_err(|e| classify_error(&store, e, PREINIT_TIME_LIMIT, memory_cap))?;
    for export in ["_initialize", INIT_EXPORT] {
        if let Some(func) = instance.get_func(&mut store, export) {
            call_constructor(&mut store, func, PREINIT_TIME_LIMIT, memory_cap).await?;
        }
    }
    Ok((store, instance))
}

/// The instance's state as wizer reads it for the snapshot.
struct Snapshotted<'a> {
    store: &'a mut Store<HostState>,
    instance: Instance,
}

impl InstanceState for Snapshotted<'_> {
    async fn global_get(&mut self, name: &str, _type_hint: ValType) -> SnapshotVal {
        // Wizer only asks for globals it exported while instrumenting, so they exist.
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .expect("wizer asks only for globals it exported");
        match global.get(&mut *self.store) {
            Val::I32(x) => SnapshotVal::I32(x),
            Val::I64(x) => SnapshotVal::I64(x),
            Val::F32(x) => SnapshotVal::F32(x),
            Val::F64(x) => SnapshotVal::F64(x),
            Val::V128(x) => SnapshotVal::V128(x.as_u128()),
            other => unreachable!("wizer refuses reference-typed mutable globals, got {other:?}"),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        let memory = match self.instance.get_export(&mut *self.store, name) {
            Some(Extern::Memory(memory)) => memory,
            _ => unreachable!("wizer asks only for memories it exported"),
        };
        contents(memory.data(&*self.store))
    }
}

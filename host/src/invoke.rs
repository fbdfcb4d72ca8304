//! One invocation: a fresh store and instance (or, for functions that opted into warm mode, a
//! reused one), the request envelope written into guest memory, the handler called under its
//! deadline and memory cap, the response envelope read back and checked. By default nothing
//! survives the call, so no state leaks between requests.

use crate::function::LoadedFunction;
use crate::guest_log::LogCapture;
use bytes::Bytes;
use edgefn_abi::{RequestEnvelope, ResponseEnvelope, context_key, unpack_ptr_len};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wasmtime::{
    Extern, Instance, Memory, ResourceLimiter, Store, StoreContextMut, Trap, TypedFunc,
    UpdateDeadline,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// Table elements a guest may grow its function table to.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Per-store host data.
pub struct HostState {
    wasi: WasiP1Ctx,
    limiter: GuestLimiter,
    deadline: Instant,
    stdout: LogCapture,
    stderr: LogCapture,
}

impl HostState {
    /// The WASI context (for the linker).
    pub fn wasi(&mut self) -> &mut WasiP1Ctx {
        &mut self.wasi
    }
}

/// Caps linear memory and tables, and remembers whether it had to refuse growth so a resulting
/// trap can be reported as "memory limit" rather than a generic crash.
struct GuestLimiter {
    memory_cap: usize,
    denied_memory: bool,
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_cap;
        self.denied_memory |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// Who is invoking and under what terms; the same fields reach the guest on every platform.
#[derive(Debug, Clone)]
pub struct InvocationContext<'a> {
    /// Unique id of the invocation.
    pub request_id: &'a str,
    /// Platform name as on the wire (`local`, `aws-lambda`, ...).
    pub platform: &'a str,
    /// The platform's own deadline, if it has one; the function's limit applies regardless.
    pub platform_deadline: Option<SystemTime>,
    /// First invocation of this execution environment.
    pub cold_start: bool,
    /// W3C `traceparent`, if the request had one.
    pub traceparent: Option<&'a str>,
}

/// Why an invocation produced no response. Each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The deadline passed while the guest ran.
    #[error("function ran past its deadline of {0:?} and was stopped")]
    Timeout(Duration),
    /// The guest needed more memory than its limit.
    #[error("function exceeded its memory limit of {} MiB", .0 >> 20)]
    MemoryLimit(u64),
    /// The guest trapped (a panic, stack overflow, out-of-bounds access, ...).
    #[error("function crashed: {0}")]
    Trap(String),
    /// The guest answered something that is not a valid response envelope.
    #[error("function returned an invalid response: {0}")]
    BadResponse(String),
    /// The response body is larger than the function's limit.
    #[error("function returned {size} bytes, more than its limit of {limit} bytes")]
    ResponseTooLarge {
        /// Bytes returned.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Every instance slot of the host is busy.
    #[error("no instance slot is free: {0}")]
    Overloaded(String),
    /// The instance could not be created or initialised.
    #[error("function could not start: {0}")]
    Instantiate(String),
}

impl InvokeError {
    /// The HTTP status a client sees.
    pub fn status(&self) -> StatusCode {
        match self {
            InvokeError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            InvokeError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Short, stable name of the failure kind, for metrics and platform error types.
    pub fn kind(&self) -> &'static str {
        match self {
            InvokeError::Timeout(_) => "timeout",
            InvokeError::MemoryLimit(_) => "memory",
            InvokeError::Trap(_) => "trap",
            InvokeError::BadResponse(_) => "bad-response",
            InvokeError::ResponseTooLarge { .. } => "response-too-large",
            InvokeError::Overloaded(_) => "overload",
            InvokeError::Instantiate(_) => "instantiate",
        }
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs one invocation of `func` and returns the guest's response: on a fresh instance, or on a
/// reused one when the function opted into warm mode. Guest output is logged, tagged with the
/// function and request id, whatever the outcome.
pub async fn invoke(
    func: &LoadedFunction,
    request: &Request<Bytes>,
    cx: &InvocationContext<'_>,
) -> Result<Response<Bytes>, InvokeError> {
    invoke_observed(func, request, cx, |_, _| {}).await
}

/// [`invoke`], handing the captured guest stdout and stderr to `observe` before they are logged,
/// for platforms that return guest output with the response (Azure Functions' `Logs`).
pub async fn invoke_observed(
    func: &LoadedFunction,
    request: &Request<Bytes>,
    cx: &InvocationContext<'_>,
    observe: impl FnOnce(&LogCapture, &LogCapture),
) -> Result<Response<Bytes>, InvokeError> {
    let spec = &func.spec;
    let now = SystemTime::now();
    let mut budget = spec.limits.deadline;
    if let Some(platform_deadline) = cx.platform_deadline {
        budget = budget.min(
            platform_deadline
                .duration_since(now)
                .unwrap_or(Duration::ZERO),
        );
    }
    let started = Instant::now();
    let deadline = started + budget;
    let result = invoke_on_instance(func, request, cx, now, budget, deadline, observe).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(error) => error.kind(),
    };
    func.metrics.record(outcome, started.elapsed());
    result
}

async fn invoke_on_instance(
    func: &LoadedFunction,
    request: &Request<Bytes>,
    cx: &InvocationContext<'_>,
    now: SystemTime,
    budget: Duration,
    deadline: Instant,
    observe: impl FnOnce(&LogCapture, &LogCapture),
) -> Result<Response<Bytes>, InvokeError> {
    let spec = &func.spec;
    let mut live = match func.warm.take() {
        Some(mut live) => {
            live.rearm(deadline);
            live
        }
        None => {
            let stdout = LogCapture::new(spec.limits.max_log_bytes);
            let stderr = stdout.sibling();
            let starting = Instant::now();
            match LiveInstance::start(func, deadline, budget, &stdout, &stderr).await {
                Ok(live) => {
                    func.metrics.record_instantiation(starting.elapsed());
                    live
                }
                Err(error) => {
                    finish_logs(spec.name.as_str(), cx.request_id, &stdout, &stderr, observe);
                    return Err(error);
                }
            }
        }
    };
    let result = live.call(func, request, cx, now, budget).await;
    let (stdout, stderr) = (
        live.store.data().stdout.clone(),
        live.store.data().stderr.clone(),
    );
    finish_logs(spec.name.as_str(), cx.request_id, &stdout, &stderr, observe);
    // A trap, timeout or bad response may have left the instance in any state: retire it.
    if result.is_ok() {
        func.warm.put(live);
    }
    result
}

fn finish_logs(
    function: &str,
    request_id: &str,
    stdout: &LogCapture,
    stderr: &LogCapture,
    observe: impl FnOnce(&LogCapture, &LogCapture),
) {
    observe(stdout, stderr);
    stdout.emit(function, request_id, "stdout");
    stderr.emit(function, request_id, "stderr");
}

/// An instance with its ABI entry points resolved, ready to serve calls.
pub struct LiveInstance {
    store: Store<HostState>,
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    handle: TypedFunc<(u32, u32), u64>,
    /// Invocations served so far.
    pub uses: u32,
    /// When it last finished an invocation.
    pub last_used: Instant,
}

impl LiveInstance {
    /// Creates an instance from the function's `InstancePre` and runs its `_initialize`, all
    /// within the invocation's deadline.
    async fn start(
        func: &LoadedFunction,
        deadline: Instant,
        budget: Duration,
        stdout: &LogCapture,
        stderr: &LogCapture,
    ) -> Result<LiveInstance, InvokeError> {
        let spec = &func.spec;
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .arg(&spec.name);
        for (key, value) in &spec.env {
            wasi.env(key, value);
        }
        if let Some(dir) = &spec.dir {
            wasi.preopened_dir(&dir.host, &dir.guest, FsPerms::ReadOnly)
                .map_err(|e| {
                    InvokeError::Instantiate(format!("cannot open {}: {e}", dir.host.display()))
                })?;
        }
        let mut store = bounded_store(
            func.pre.module().engine(),
            wasi,
            spec.limits.memory_bytes,
            deadline,
            stdout,
            stderr,
        );
        let memory_cap = spec.limits.memory_bytes;

        let instance = func.pre.instantiate_async(&mut store).await.map_err(|e| {
            if e.is::<wasmtime::PoolConcurrencyLimitError>() {
                InvokeError::Overloaded(e.to_string())
            } else {
                match classify_error(&store, e, budget, memory_cap) {
                    InvokeError::Trap(detail) => InvokeError::Instantiate(detail),
                    other => other,
                }
            }
        })?;
        let exports = &func.exports;
        let (memory, alloc, handle) = entry_points(&mut store, &instance, exports)
            .map_err(|e| InvokeError::Instantiate(e.to_string()))?;
        // The reactor constructor, then (unless a snapshot already holds its result) the guest's
        // own init, as ABI v1 orders them.
        for (export, what) in [
            (&exports.initialize, "_initialize"),
            (&exports.init, edgefn_abi::INIT_EXPORT),
        ] {
            let Some(export) = export else { continue };
            let init = instance
                .get_module_export(&mut store, export)
                .and_then(Extern::into_func)
                .ok_or_else(|| InvokeError::Instantiate(format!("{what} is not a function")))?;
            call_constructor(&mut store, init, budget, memory_cap).await?;
        }
        Ok(LiveInstance {
            store,
            memory,
            alloc,
            handle,
            uses: 0,
            last_used: Instant::now(),
        })
    }

    /// Prepares a reused instance for its next invocation.
    fn rearm(&mut self, deadline: Instant) {
        let state = self.store.data_mut();
        state.deadline = deadline;
        state.limiter.denied_memory = false;
        self.store.set_epoch_deadline(1);
    }

    /// One request through the ABI: alloc, write the envelope, handle, read the response.
    async fn call(
        &mut self,
        func: &LoadedFunction,
        request: &Request<Bytes>,
        cx: &InvocationContext<'_>,
        now: SystemTime,
        budget: Duration,
    ) -> Result<Response<Bytes>, InvokeError> {
        let spec = &func.spec;
        let memory_cap = spec.limits.memory_bytes;
        self.uses += 1;
        let deadline_ms = unix_ms(now + budget).to_string();
        let mut context = vec![
            (context_key::REQUEST_ID, cx.request_id),
            (context_key::FUNCTION_NAME, spec.name.as_str()),
            (context_key::PLATFORM, cx.platform),
            (context_key::DEADLINE_MS, deadline_ms.as_str()),
            (
                context_key::COLD_START,
                if cx.cold_start { "true" } else { "false" },
            ),
        ];
        if let Some(traceparent) = cx.traceparent {
            context.push((context_key::TRACEPARENT, traceparent));
        }
        let uri = request
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/");
        let envelope = RequestEnvelope {
            context,
            method: request.method().as_str(),
            uri,
            headers: request
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_bytes()))
                .collect(),
            body: request.body(),
        };
        let len = envelope.encoded_len();
        let len32 = u32::try_from(len).map_err(|_| {
            InvokeError::Instantiate(format!(
                "request of {len} bytes does not fit a 32-bit guest"
            ))
        })?;
        let store = &mut self.store;
        let ptr = self
            .alloc
            .call_async(&mut *store, len32)
            .await
            .map_err(|e| classify_error(store, e, budget, memory_cap))?;
        if ptr == 0 {
            return Err(if store.data().limiter.denied_memory {
                InvokeError::MemoryLimit(memory_cap)
            } else {
                InvokeError::BadResponse(format!(
                    "{} could not allocate {len} bytes",
                    edgefn_abi::ALLOC_EXPORT
                ))
            });
        }
        let target = self
            .memory
            .data_mut(&mut *store)
            .get_mut(ptr as usize..ptr as usize + len)
            .ok_or_else(|| {
                InvokeError::BadResponse(format!(
                    "{} returned an out-of-bounds pointer",
                    edgefn_abi::ALLOC_EXPORT
                ))
            })?;
        envelope.encode_into(target);
        drop(envelope);

        let packed = self
            .handle
            .call_async(&mut *store, (ptr, len32))
            .await
            .map_err(|e| classify_error(store, e, budget, memory_cap))?;
        let (out_ptr, out_len) = unpack_ptr_len(packed);
        let (out_ptr, out_len) = (out_ptr as usize, out_len as usize);
        // Envelope overhead aside, the body cannot exceed the envelope, so this bounds the copy.
        let envelope_limit = spec.limits.max_response_bytes.saturating_add(1 << 20);
        if out_len > envelope_limit {
            return Err(InvokeError::ResponseTooLarge {
                size: out_len,
                limit: spec.limits.max_response_bytes,
            });
        }
        let bytes = self
            .memory
            .data(&*store)
            .get(out_ptr..out_ptr.saturating_add(out_len))
            .ok_or_else(|| {
                InvokeError::BadResponse("response envelope lies outside guest memory".into())
            })?;
        let decoded =
            ResponseEnvelope::decode(bytes).map_err(|e| InvokeError::BadResponse(e.to_string()))?;
        if decoded.body.len() > spec.limits.max_response_bytes {
            return Err(InvokeError::ResponseTooLarge {
                size: decoded.body.len(),
                limit: spec.limits.max_response_bytes,
            });
        }
        let response = to_http_response(&decoded);
        self.last_used = Instant::now();
        response
    }
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

/// A store for one instance: WASI as given, memory capped, stopped at `deadline` by the epoch
/// ticker, guest output captured.
pub(crate) fn bounded_store(
    engine: &wasmtime::Engine,
    mut wasi: WasiCtxBuilder,
    memory_cap: u64,
    deadline: Instant,
    stdout: &LogCapture,
    stderr: &LogCapture,
) -> Store<HostState> {
    let state = HostState {
        wasi: wasi.build_p1(),
        limiter: GuestLimiter {
            memory_cap: memory_cap as usize,
            denied_memory: false,
        },
        deadline,
        stdout: stdout.clone(),
        stderr: stderr.clone(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store.epoch_deadline_callback(on_epoch_tick);
    store.set_epoch_deadline(1);
    store
}

type EntryPoints = (Memory, TypedFunc<u32, u32>, TypedFunc<(u32, u32), u64>);

fn entry_points(
    store: &mut Store<HostState>,
    instance: &Instance,
    exports: &crate::function::AbiExports,
) -> wasmtime::Result<EntryPoints> {
    let missing = || wasmtime::Error::msg("an ABI export disappeared after load");
    let memory = instance
        .get_module_export(&mut *store, &exports.memory)
        .and_then(Extern::into_memory)
        .ok_or_else(missing)?;
    let alloc = instance
        .get_module_export(&mut *store, &exports.alloc)
        .and_then(Extern::into_func)
        .ok_or_else(missing)?
        .typed(&*store)?;
    let handle = instance
        .get_module_export(&mut *store, &exports.handle)
        .and_then(Extern::into_func)
        .ok_or_else(missing)?
        .typed(&*store)?;
    Ok((memory, alloc, handle))
}

/// Each epoch tick while a guest runs: past the deadline, stop it; otherwise yield so other
/// requests on this thread make progress, then continue.
fn on_epoch_tick(store: StoreContextMut<'_, HostState>) -> wasmtime::Result<UpdateDeadline> {
    if Instant::now() >= store.data().deadline {
        Ok(UpdateDeadline::Interrupt)
    } else {
        Ok(UpdateDeadline::Yield(1))
    }
}

pub(crate) fn classify_error(
    store: &Store<HostState>,
    error: wasmtime::Error,
    budget: Duration,
    memory_cap: u64,
) -> InvokeError {
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return InvokeError::Timeout(budget);
    }
    if store.data().limiter.denied_memory {
        return InvokeError::MemoryLimit(memory_cap);
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return InvokeError::Trap(format!("the guest called exit({})", exit.0));
    }
    InvokeError::Trap(format!("{error:#}"))
}

fn to_http_response(envelope: &ResponseEnvelope<'_>) -> Result<Response<Bytes>, InvokeError> {
    let status = StatusCode::from_u16(envelope.status)
        .map_err(|_| InvokeError::BadResponse(format!("status {}", envelope.status)))?;
    let mut response = Response::new(Bytes::copy_from_slice(envelope.body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.reserve(envelope.headers.len());
    for (name, value) in &envelope.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| InvokeError::BadResponse(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::from_bytes(value)
            .map_err(|_| InvokeError::BadResponse(format!("invalid value for header {name}")))?;
        headers.append(name, value);
    }
    Ok(response)
}

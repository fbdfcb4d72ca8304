//! Guest kinds and the one invocation seam every front end calls: [`invoke`] on an
//! `http::Request<Bytes>`, whatever kind of guest answers it.
//!
//! A loaded function is a `LoadedGuest`, by kind: `abi_v1` core modules built on the edgefn
//! SDKs, and `wasi_http` components of the standard `wasi:http/proxy` world. Each kind is one file
//! here, one variant of [`GuestKind`] and `LoadedGuest`, and its arm in the dispatches below; no
//! front end changes.

pub(crate) mod abi_v1;
pub(crate) mod abi_v1_exports;
pub(crate) mod checks;
pub(crate) mod response_stream;
pub(crate) mod warm;
pub(crate) mod wasi_http;

pub use response_stream::ResponseStream;

use super::capabilities::Backends;
use super::error::InvokeError;
use super::guest_log::LogCapture;
use super::metrics::FunctionMetrics;
use super::sandbox::HostState;
use super::spec::FunctionSpec;
use bytes::Bytes;
use edgefn_abi::Platform;
use http::{Request, Response};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use wasmtime::component::Component;
use wasmtime::{Linker, Module};

/// What kind of guest a binary is, detected from its bytes at deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GuestKind {
    /// A core module implementing edgefn ABI v1 (`edgefn_v1_handle`).
    AbiV1,
    /// A WASI 0.2 component of the `wasi:http/proxy` world.
    WasiHttp,
}

impl GuestKind {
    /// Its name in logs, the admin API and artifact keys.
    pub fn as_str(self) -> &'static str {
        match self {
            GuestKind::AbiV1 => "abi-v1",
            GuestKind::WasiHttp => "wasi-http",
        }
    }
}

/// A function's compiled code: a core module or a component, as its kind needs.
pub enum Code {
    /// A core module (ABI v1).
    Module(Module),
    /// A component (`wasi:http/proxy`).
    Component(Component),
}

/// What the code of each kind is linked against, made once per registry.
pub(crate) struct Linkers {
    /// Core modules: WASI preview 1 and the `edgefn_v1` imports.
    pub(crate) core: Linker<HostState>,
    /// Components: WASI 0.2 and `wasi:http`.
    pub(crate) component: wasmtime::component::Linker<wasi_http::ComponentState>,
}

/// A deployed function's code, ready for instances, by kind.
pub(crate) enum LoadedGuest {
    /// An ABI v1 core module.
    AbiV1(abi_v1::AbiV1Function),
    /// A `wasi:http/proxy` component.
    WasiHttp(wasi_http::WasiHttpFunction),
}

/// A deployed function, loaded: its configuration, its code, where it is counted.
pub struct LoadedFunction {
    /// The function's configuration.
    pub spec: Arc<FunctionSpec>,
    /// Its code, by kind.
    pub(crate) guest: LoadedGuest,
    /// Where its invocations are counted.
    pub metrics: Arc<FunctionMetrics>,
}

impl LoadedFunction {
    /// Checks the compiled code against what its kind requires and links it. Unknown imports are
    /// refused here, at load, with the import named, never at the first request.
    pub(crate) fn new(
        kind: GuestKind,
        spec: Arc<FunctionSpec>,
        code: &Code,
        linkers: &Linkers,
        metrics: Arc<FunctionMetrics>,
        backends: &Backends,
    ) -> anyhow::Result<LoadedFunction> {
        let guest = match (kind, code) {
            (GuestKind::AbiV1, Code::Module(module)) => {
                LoadedGuest::AbiV1(abi_v1::AbiV1Function::new(
                    &spec,
                    module,
                    &linkers.core,
                    metrics.clone(),
                    backends,
                )?)
            }
            (GuestKind::WasiHttp, Code::Component(component)) => {
                LoadedGuest::WasiHttp(wasi_http::WasiHttpFunction::new(
                    &spec,
                    component,
                    &linkers.component,
                    metrics.clone(),
                )?)
            }
            (kind, _) => anyhow::bail!(
                "function {:?}: its artifact is not of its kind ({}); deploy it again",
                spec.name(),
                kind.as_str()
            ),
        };
        Ok(LoadedFunction {
            spec,
            guest,
            metrics,
        })
    }

    /// Idle warm instances held now (0 unless the function opted into warm mode).
    pub fn idle_instances(&self) -> usize {
        match &self.guest {
            LoadedGuest::AbiV1(function) => function.warm.idle_count(),
            // Components never keep an instance (fresh per request, always).
            LoadedGuest::WasiHttp(_) => 0,
        }
    }
}

/// Who is invoking and under what terms; the same fields reach the guest on every platform.
#[derive(Debug, Clone)]
pub struct InvocationContext<'a> {
    /// Unique id of the invocation.
    pub request_id: &'a str,
    /// The platform serving it.
    pub platform: Platform,
    /// The platform's own deadline, if it has one; the function's limit applies regardless.
    pub platform_deadline: Option<SystemTime>,
    /// First invocation of this execution environment.
    pub cold_start: bool,
    /// W3C `traceparent`, if the request had one.
    pub traceparent: Option<&'a str>,
    /// The invocation's span, when traces are exported (and the trace is sampled): outbound
    /// calls record theirs under it and pass its trace on.
    pub trace: Option<&'a super::traces::ActiveSpan>,
}

/// What the guest wrote to stdout and stderr during one invocation, as it was logged (tagged with
/// function and request id); platforms that return guest output with the response (Azure
/// Functions' `Logs`, `edgefn invoke`) read it from here.
#[derive(Debug, Clone, Default)]
pub struct GuestOutput {
    /// Standard output, within the function's log budget.
    pub stdout: Vec<u8>,
    /// Standard error, within the same budget.
    pub stderr: Vec<u8>,
}

/// The streams an instance writes to while it runs.
#[derive(Clone)]
pub(crate) struct Captures {
    pub(crate) stdout: LogCapture,
    pub(crate) stderr: LogCapture,
}

impl Captures {
    pub(crate) fn new(max_log_bytes: usize) -> Captures {
        let stdout = LogCapture::new(max_log_bytes);
        let stderr = stdout.sibling();
        Captures { stdout, stderr }
    }

    /// Logs what was captured and hands it back.
    fn emit(&self, function: &str, request_id: &str) -> GuestOutput {
        GuestOutput {
            stdout: self.stdout.emit(function, request_id, "stdout"),
            stderr: self.stderr.emit(function, request_id, "stderr"),
        }
    }
}

/// One invocation's result and the guest output it produced.
pub struct Invocation {
    /// The guest's response, or why there is none.
    pub result: Result<Response<Bytes>, InvokeError>,
    /// What the guest wrote.
    pub output: GuestOutput,
}

/// The time an invocation may take and when it ends.
pub(crate) struct Budget {
    /// When it started, by the wall clock (the guest's deadline is reported in Unix time).
    pub(crate) now: SystemTime,
    /// How long it may run: the function's limit or the platform's deadline, whichever is first.
    pub(crate) budget: Duration,
    /// When it must stop.
    pub(crate) deadline: Instant,
}

/// Runs one invocation of `func` and returns the guest's response: on a fresh instance, or on a
/// reused one when the function opted into warm mode. Guest output is logged, tagged with the
/// function and request id, whatever the outcome.
pub async fn invoke(
    func: &LoadedFunction,
    request: &Request<Bytes>,
    cx: &InvocationContext<'_>,
) -> Result<Response<Bytes>, InvokeError> {
    invoke_capturing(func, request, cx).await.result
}

/// [`invoke`], also returning the guest's output.
pub async fn invoke_capturing(
    func: &LoadedFunction,
    request: &Request<Bytes>,
    cx: &InvocationContext<'_>,
) -> Invocation {
    let (budget, started) = budget_of(func, cx);
    let (result, captures) = match &func.guest {
        LoadedGuest::AbiV1(guest) => guest.invoke(func, request, cx, &budget).await,
        LoadedGuest::WasiHttp(guest) => guest.invoke(func, request, cx, &budget).await,
    };
    let output = account(func, cx, &captures, result.as_ref().err(), started);
    Invocation { result, output }
}

/// Logs what the guest wrote and counts the invocation, now that it has ended.
fn account(
    func: &LoadedFunction,
    cx: &InvocationContext<'_>,
    captures: &Captures,
    failure: Option<&InvokeError>,
    started: Instant,
) -> GuestOutput {
    let output = captures.emit(func.spec.name(), cx.request_id);
    func.metrics
        .record(failure.map(InvokeError::kind), started.elapsed());
    output
}

/// A response body as the guest produced it.
pub enum ResponseBody {
    /// All of it (every ABI v1 response, and a component's that was done before it waited).
    Whole(Bytes),
    /// A component's body, still being written.
    Streaming(Box<ResponseStream>),
}

/// [`invoke`] for a front end that can stream (the local server): a component that waits on
/// something while it writes its body, or writes a large one, has its head answered at once and
/// its body streamed. The invocation is logged and counted when the body ends.
pub async fn invoke_streaming(
    func: &LoadedFunction,
    request: &Request<Bytes>,
    cx: &InvocationContext<'_>,
) -> Result<Response<ResponseBody>, InvokeError> {
    let (budget, started) = budget_of(func, cx);
    let (result, captures) = match &func.guest {
        LoadedGuest::AbiV1(guest) => {
            let (result, captures) = guest.invoke(func, request, cx, &budget).await;
            (result.map(|r| r.map(ResponseBody::Whole)), captures)
        }
        LoadedGuest::WasiHttp(guest) => guest.invoke_streaming(func, request, cx, &budget).await,
    };
    let mut result = result;
    if let Ok(response) = &mut result
        && let ResponseBody::Streaming(stream) = response.body_mut()
    {
        let metrics = func.metrics.clone();
        stream.account(captures, func.spec.name(), cx.request_id, metrics, started);
    } else {
        account(func, cx, &captures, result.as_ref().err(), started);
    }
    result
}

/// The invocation's time budget: the function's limit or the platform's deadline, whichever is
/// first; and when it started.
fn budget_of(func: &LoadedFunction, cx: &InvocationContext<'_>) -> (Budget, Instant) {
    let now = SystemTime::now();
    let mut budget = func.spec.limits().deadline;
    if let Some(platform_deadline) = cx.platform_deadline {
        budget = budget.min(
            platform_deadline
                .duration_since(now)
                .unwrap_or(Duration::ZERO),
        );
    }
    let started = Instant::now();
    let budget = Budget {
        now,
        budget,
        deadline: started + budget,
    };
    (budget, started)
}

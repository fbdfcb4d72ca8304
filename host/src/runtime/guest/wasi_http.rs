//! Guests of the standard `wasi:http/proxy` world (WASI 0.2): components built for
//! `wasm32-wasip2`, `jco componentize` and the like, unchanged. One invocation: a fresh instance
//! from the function's pre-instantiated `ProxyPre` (never reused: a P2 guest may assume it serves
//! one request), the request handed to `wasi:http/incoming-handler.handle`, the response read back
//! while the guest writes it, under the same deadline, memory cap, body caps and log capture as
//! ABI v1 guests. Outbound requests go through `WasiHttpHooks::send_request`, under the function's
//! outbound policy and client, as `edgefn_v1.http_send` does. No sockets, and no filesystem but
//! the function's read-only `dir` when it has one.

use super::response_stream::{Driver, Pump, ResponseStream, aborted_body, too_large};
use super::{Budget, Captures, InvocationContext, LoadedFunction, ResponseBody};
use crate::runtime::capabilities::outbound_http::client::{CallError, FunctionClient};
use crate::runtime::capabilities::outbound_http::policy::Refusal;
use crate::runtime::engine::{MAX_COMPONENT_MEMORIES, MAX_COMPONENT_TABLES};
use crate::runtime::error::InvokeError;
use crate::runtime::limits::GuestLimiter;
use crate::runtime::metrics::FunctionMetrics;
use crate::runtime::sandbox::{self, Bounds, Grants, Sandboxed, classify_error, on_epoch_tick};
use crate::runtime::spec::FunctionSpec;
use bytes::Bytes;
use edgefn_abi::ImportError;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

/// The world a component must export, and the interface that stands for it.
pub(crate) const PROXY_WORLD: &str = "wasi:http/proxy";
/// The export of [`PROXY_WORLD`] the host calls (any 0.2.x version).
pub(crate) const INCOMING_HANDLER: &str = "wasi:http/incoming-handler@0.2";

/// Bytes a component may write, without waiting on anything, before its response head is sent
/// and the body streams. Below it a response is sent whole, so a guest that fails before it is
/// done answers a clean 500; past it, or once the guest waits, a failure cuts the body off.
pub(crate) const STREAM_AFTER: usize = 64 << 10;

/// One step of reading a component's response while it runs.
enum Step {
    /// The guest returned from `handle`, or failed.
    GuestDone(Result<(), InvokeError>),
    /// The body failed (too large, aborted by the guest).
    Failed(InvokeError),
    /// More of the body was read, under [`STREAM_AFTER`]: read on.
    Again,
    /// The guest returned and its body is read: answer whole.
    Whole,
    /// The guest waits on something, or wrote past [`STREAM_AFTER`]: stream the rest.
    Stream,
}

/// Per-store host data of a component instance.
pub(crate) struct ComponentState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    outgoing: Outgoing,
    limiter: GuestLimiter,
    deadline: Instant,
}

impl Sandboxed for ComponentState {
    fn deadline(&self) -> Instant {
        self.deadline
    }

    fn limiter(&self) -> &GuestLimiter {
        &self.limiter
    }
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ComponentState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outgoing,
        }
    }
}

/// The linker every component is linked against: WASI 0.2 (its filesystem with nothing
/// preopened, its sockets denied) and `wasi:http`.
pub(crate) fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<ComponentState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .map_err(|e| anyhow::anyhow!("cannot link WASI 0.2 for components: {e}"))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(|e| anyhow::anyhow!("cannot link wasi:http for components: {e}"))?;
    Ok(linker)
}

/// Refuses a component with more memories or tables than one instance slot holds, on every
/// allocator alike, so the same `.wasm` loads or is refused the same way on every platform
/// (rather than failing each request where the pool is small, as on Lambda). The core instances'
/// bound ([`MAX_COMPONENT_CORE_INSTANCES`](crate::runtime::engine::MAX_COMPONENT_CORE_INSTANCES))
/// is wasmtime's, checked when the pooling allocator loads the component.
fn check_fits_a_slot(name: &str, component: &Component) -> anyhow::Result<()> {
    // `None` is a component that instantiates imported modules, which no linker here provides
    // (linking refuses it next, by name).
    let Some(needs) = component.resources_required() else {
        return Ok(());
    };
    for (what, count, bound, usual) in [
        (
            "linear memories",
            needs.num_memories,
            MAX_COMPONENT_MEMORIES,
            "a component built by one toolchain has one; a composition has one per part",
        ),
        (
            "tables",
            needs.num_tables,
            MAX_COMPONENT_TABLES,
            "a component built by one toolchain has one or two; a composition has more per part",
        ),
    ] {
        if count > bound {
            anyhow::bail!(
                "function {name:?} is a component with {count} {what}; an instance may have at most {bound} ({usual}): compose fewer parts into it"
            );
        }
    }
    Ok(())
}

/// A `wasi:http/proxy` component, pre-instantiated for fresh instances.
pub(crate) struct WasiHttpFunction {
    pre: ProxyPre<ComponentState>,
    /// Its outbound HTTP client, shared by its instances (pooled connections included).
    outbound: Arc<FunctionClient>,
}

impl WasiHttpFunction {
    /// Links the component; an import the host does not provide is named here, at load.
    pub(crate) fn new(
        spec: &FunctionSpec,
        component: &Component,
        linker: &Linker<ComponentState>,
        metrics: Arc<FunctionMetrics>,
    ) -> anyhow::Result<WasiHttpFunction> {
        let name = spec.name();
        // What a component cannot be given (yet) is refused at load, not ignored.
        if spec.warm().is_some() {
            anyhow::bail!(
                "function {name:?} is a {PROXY_WORLD} component and asks for [warm] instances: components get a fresh instance per request (reusing one is unsafe for guests that assume one request per instance); remove [warm]"
            );
        }
        if !spec.kv().stores().is_empty() {
            anyhow::bail!(
                "function {name:?} is a {PROXY_WORLD} component and is granted key-value stores ({}): components have no key-value interface yet; remove kv.stores",
                spec.kv().stores().join(", ")
            );
        }
        check_fits_a_slot(name, component)?;
        let instance_pre = linker.instantiate_pre(component).map_err(|e| {
            anyhow::anyhow!(
                "function {:?} cannot be linked: {e:#} (components get WASI 0.2 and wasi:http only)",
                spec.name()
            )
        })?;
        let pre = ProxyPre::new(instance_pre).map_err(|e| {
            anyhow::anyhow!(
                "function {:?} does not implement {PROXY_WORLD}: {e:#}",
                spec.name()
            )
        })?;
        Ok(WasiHttpFunction {
            pre,
            outbound: Arc::new(FunctionClient::new(
                spec.name(),
                spec.outbound().clone(),
                spec.limits().max_request_bytes,
                metrics,
            )),
        })
    }

    /// One invocation on a fresh instance, its response read whole (the platforms that buffer:
    /// Lambda, Azure Functions, `edgefn invoke`).
    pub(crate) async fn invoke(
        &self,
        func: &LoadedFunction,
        request: &Request<Bytes>,
        cx: &InvocationContext<'_>,
        budget: &Budget,
    ) -> (Result<Response<Bytes>, InvokeError>, Captures) {
        let captures = Captures::new(func.spec.limits().max_log_bytes);
        let result = async {
            let (parts, body) = self
                .answer(func, request, cx, budget, &captures)
                .await?
                .into_parts();
            let bytes = match body {
                ResponseBody::Whole(bytes) => bytes,
                ResponseBody::Streaming(stream) => stream.read_whole().await?,
            };
            Ok(Response::from_parts(parts, bytes))
        }
        .await;
        (result, captures)
    }

    /// One invocation on a fresh instance, its body streamed once the guest waits on something
    /// or has written [`STREAM_AFTER`] bytes (the local host).
    pub(crate) async fn invoke_streaming(
        &self,
        func: &LoadedFunction,
        request: &Request<Bytes>,
        cx: &InvocationContext<'_>,
        budget: &Budget,
    ) -> (Result<Response<ResponseBody>, InvokeError>, Captures) {
        let captures = Captures::new(func.spec.limits().max_log_bytes);
        let result = self.answer(func, request, cx, budget, &captures).await;
        (result, captures)
    }

    /// Runs the guest until its answer is known: whole when the guest finishes (or fails) without
    /// waiting on anything and within [`STREAM_AFTER`] bytes, so a failure then is a clean 500;
    /// otherwise the head and what is written so far, the rest to stream.
    async fn answer(
        &self,
        func: &LoadedFunction,
        request: &Request<Bytes>,
        cx: &InvocationContext<'_>,
        budget: &Budget,
        captures: &Captures,
    ) -> Result<Response<ResponseBody>, InvokeError> {
        let spec = &func.spec;
        let limits = spec.limits();
        let mut store = self.new_store(spec, cx, budget, captures)?;
        let starting = Instant::now();
        let proxy = self.pre.instantiate_async(&mut store).await.map_err(|e| {
            if e.is::<wasmtime::PoolConcurrencyLimitError>() {
                InvokeError::Overloaded(e.to_string())
            } else {
                match classify_error(&store, e, budget.budget, limits.memory_bytes) {
                    InvokeError::Trap(detail) => InvokeError::Instantiate(detail),
                    other => other,
                }
            }
        })?;
        func.metrics.record_instantiation(starting.elapsed());

        let (sender, mut head) = tokio::sync::oneshot::channel();
        let (incoming, outparam) = {
            let mut view = store.data_mut().http();
            let incoming = view
                .new_incoming_request(Scheme::Http, incoming_request(request))
                .map_err(|e| {
                    InvokeError::BadResponse(format!(
                        "the request cannot be passed to the component: {e:#}"
                    ))
                })?;
            let outparam = view
                .new_response_outparam(sender)
                .map_err(|e| InvokeError::Instantiate(format!("{e:#}")))?;
            (incoming, outparam)
        };
        // The guest runs in its own future, which owns the store: the response body can then
        // outlive this call and keep the guest running while the client reads it. The deadline
        // covers waits in host calls too, which epoch ticks do not interrupt.
        let deadline = tokio::time::Instant::from_std(budget.deadline);
        let (allowed, memory_cap) = (budget.budget, limits.memory_bytes);
        let mut driver: Driver = Box::pin(async move {
            let handler = proxy.wasi_http_incoming_handler();
            let called = tokio::time::timeout_at(
                deadline,
                handler.call_handle(&mut store, incoming, outparam),
            )
            .await;
            match called {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(classify_error(&store, error, allowed, memory_cap)),
                Err(_) => Err(InvokeError::Timeout(allowed)),
            }
        });
        let limit = limits.max_response_bytes;

        let (mut guest_done, head) = tokio::select! {
            biased;
            outcome = &mut driver => {
                outcome?;
                (true, head.try_recv().ok())
            }
            received = &mut head => (false, received.ok()),
        };
        let (parts, mut frames) = match head {
            Some(Ok(response)) => response.into_parts(),
            Some(Err(code)) => {
                return Err(InvokeError::BadResponse(format!(
                    "the component answered with the error {code:?} instead of a response"
                )));
            }
            None => {
                return Err(InvokeError::BadResponse(
                    "the component returned without setting a response (response-outparam.set was never called)".into(),
                ));
            }
        };

        // A body declared over the cap is refused before anything is sent.
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
        if let Some(size) = declared.filter(|&size| size > limit) {
            return Err(too_large(size, limit));
        }

        // The head is set: read what the guest writes while it keeps running without waiting.
        let mut written = Vec::new();
        let mut frames_ended = false;
        loop {
            let step = std::future::poll_fn(|task| {
                if !guest_done && let Poll::Ready(outcome) = driver.as_mut().poll(task) {
                    return Poll::Ready(Step::GuestDone(outcome));
                }
                let mut progressed = false;
                while !frames_ended && written.len() < STREAM_AFTER {
                    match Pin::new(&mut frames).poll_frame(task) {
                        Poll::Ready(Some(Ok(frame))) => {
                            progressed = true;
                            if let Ok(data) = frame.into_data() {
                                if written.len() + data.len() > limit {
                                    return Poll::Ready(Step::Failed(too_large(
                                        written.len() + data.len(),
                                        limit,
                                    )));
                                }
                                written.extend_from_slice(&data);
                            }
                        }
                        Poll::Ready(Some(Err(_))) => {
                            return Poll::Ready(Step::Failed(aborted_body()));
                        }
                        Poll::Ready(None) => frames_ended = true,
                        Poll::Pending => break,
                    }
                }
                if guest_done && frames_ended {
                    Poll::Ready(Step::Whole)
                } else if written.len() >= STREAM_AFTER {
                    Poll::Ready(Step::Stream)
                } else if progressed {
                    Poll::Ready(Step::Again)
                } else if guest_done {
                    // The guest is done and the rest of its body is on its way: wait for it (the
                    // body's waker is registered). Reading again at once would spin, and when
                    // tokio's cooperative budget runs out the body answers `Pending` until this
                    // task yields, so it would spin for ever, deferring a waker each time.
                    Poll::Pending
                } else {
                    Poll::Ready(Step::Stream)
                }
            });
            let Ok(step) = tokio::time::timeout_at(deadline, step).await else {
                return Err(InvokeError::Timeout(budget.budget));
            };
            match step {
                Step::GuestDone(Err(error)) | Step::Failed(error) => return Err(error),
                Step::GuestDone(Ok(())) => guest_done = true,
                Step::Again => {}
                Step::Whole => {
                    let body = ResponseBody::Whole(Bytes::from(written));
                    return Ok(Response::from_parts(parts, body));
                }
                Step::Stream => {
                    let pump = Pump::new(
                        (!guest_done).then_some(driver),
                        frames,
                        frames_ended,
                        written.len(),
                        limit,
                        budget.deadline,
                        budget.budget,
                    );
                    let stream = ResponseStream::new(Bytes::from(written), pump);
                    return Ok(Response::from_parts(
                        parts,
                        ResponseBody::Streaming(Box::new(stream)),
                    ));
                }
            }
        }
    }

    fn new_store(
        &self,
        spec: &FunctionSpec,
        cx: &InvocationContext<'_>,
        budget: &Budget,
        captures: &Captures,
    ) -> Result<Store<ComponentState>, InvokeError> {
        let bounds = Bounds {
            memory_cap: spec.limits().memory_bytes,
            deadline: budget.deadline,
            stdout: &captures.stdout,
            stderr: &captures.stderr,
        };
        let mut wasi = sandbox::wasi_builder(&Grants::of_component(spec), &bounds)?;
        // Sockets would go around the outbound policy: a component's network is wasi:http.
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let state = ComponentState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            outgoing: Outgoing {
                client: self.outbound.clone(),
                request_id: cx.request_id.to_owned(),
                deadline: budget.deadline,
                sent: 0,
            },
            limiter: GuestLimiter::new(spec.limits().memory_bytes),
            deadline: budget.deadline,
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_callback(on_epoch_tick);
        store.set_epoch_deadline(1);
        Ok(store)
    }
}

/// The request as the component sees it: the body already read (within `max_request_bytes`).
fn incoming_request(request: &Request<Bytes>) -> hyper::Request<Full<Bytes>> {
    let mut incoming = hyper::Request::new(Full::new(request.body().clone()));
    *incoming.method_mut() = request.method().clone();
    *incoming.uri_mut() = request.uri().clone();
    *incoming.headers_mut() = request.headers().clone();
    if !incoming.headers().contains_key(http::header::HOST) && incoming.uri().host().is_none() {
        // wasi:http wants an authority; a request that came without one names the host.
        incoming.headers_mut().insert(
            http::header::HOST,
            http::HeaderValue::from_static("localhost"),
        );
    }
    incoming
}

/// wasi:http's outgoing hook: every request a component sends, under the function's policy.
struct Outgoing {
    client: Arc<FunctionClient>,
    request_id: String,
    deadline: Instant,
    /// Requests sent in this invocation (refused ones do not count).
    sent: u32,
}

impl WasiHttpHooks for Outgoing {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        drop(fut);
        let checked = self.check(&request);
        let client = self.client.clone();
        let request_id = self.request_id.clone();
        let timeout = call_timeout(&client, options.as_ref(), self.deadline);
        if checked.is_ok() {
            self.sent += 1;
        }
        Box::new(async move {
            let started = Instant::now();
            let method = request.method().to_string();
            let host = request.uri().host().unwrap_or_default().to_owned();
            let result = match checked {
                Ok(uri) => send(&client, request, uri, started, timeout).await,
                Err(error) => Err(error),
            };
            let duration_ms = format_args!("{:.2}", started.elapsed().as_secs_f64() * 1e3);
            client
                .metrics
                .record_outbound(result.as_ref().err().map(|e| e.kind));
            match &result {
                Ok(response) => tracing::info!(
                    function = %client.function,
                    request_id,
                    method,
                    host,
                    status = response.status().as_u16(),
                    duration_ms = %duration_ms,
                    "outbound request"
                ),
                Err(error) => tracing::info!(
                    function = %client.function,
                    request_id,
                    method,
                    host,
                    outcome = error.kind.as_str(),
                    error = %error.message,
                    duration_ms = %duration_ms,
                    "outbound request failed"
                ),
            }
            let response = result.map_err(|error| error_code(&error))?;
            let response = response.map(|body| {
                Full::new(body)
                    .map_err(|never| match never {})
                    .boxed_unsync()
            });
            let io: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, io))
        })
    }
}

impl Outgoing {
    /// The policy's verdict on a request, before anything is sent: its URL against the
    /// allow-list, and the invocation's request budget.
    fn check(&self, request: &http::Request<WasiBody>) -> Result<http::Uri, CallError> {
        let url = self
            .client
            .policy
            .check_url(&request.uri().to_string())
            .map_err(|refusal| match refusal {
                Refusal::Invalid(message) => CallError::new(ImportError::Invalid, message),
                Refusal::Denied(message) => CallError::new(ImportError::Denied, message),
            })?;
        if self.sent >= self.client.policy.max_requests {
            return Err(CallError::new(
                ImportError::Limit,
                format!(
                    "this invocation already sent outbound.max_requests ({}) requests",
                    self.client.policy.max_requests
                ),
            ));
        }
        url.as_str().parse().map_err(|e| {
            CallError::new(ImportError::Invalid, format!("the URL cannot be sent: {e}"))
        })
    }
}

/// One call's timeout: the guest's `first-byte-timeout` or `connect-timeout`, else the function's
/// `outbound.timeout_ms`, and never past the invocation's deadline.
fn call_timeout(
    client: &FunctionClient,
    options: Option<&RequestOptions>,
    deadline: Instant,
) -> Duration {
    let wanted = options
        .and_then(|o| o.first_byte_timeout.or(o.connect_timeout))
        .unwrap_or(client.policy.timeout);
    wanted.min(deadline.saturating_duration_since(Instant::now()))
}

/// Reads the guest's request body (within `max_request_bytes`) and sends the request through the
/// function's client: vetted addresses only, no redirects followed, the response capped.
async fn send(
    client: &FunctionClient,
    request: http::Request<WasiBody>,
    uri: http::Uri,
    started: Instant,
    timeout: Duration,
) -> Result<Response<Bytes>, CallError> {
    let (mut parts, body) = request.into_parts();
    let body = Limited::new(body, client.max_request_bytes)
        .collect()
        .await
        .map_err(|e| {
            CallError::new(
                ImportError::Limit,
                format!(
                    "the request body could not be read within the function's max_request_bytes ({}): {e}",
                    client.max_request_bytes
                ),
            )
        })?
        .to_bytes();
    parts.uri = uri;
    // The client sets host from the URL and frames the body itself.
    parts.headers.remove(http::header::HOST);
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    let request = Request::from_parts(parts, Full::new(body));
    client
        .send(request, started, timeout, "outbound.timeout_ms")
        .await
}

/// The wasi:http error code a failed call stands for.
fn error_code(error: &CallError) -> wasmtime_wasi_http::Error {
    use wasmtime_wasi_http::Error;
    match error.kind {
        ImportError::Denied => Error::HttpRequestDenied,
        ImportError::Invalid => Error::HttpRequestUriInvalid,
        ImportError::Timeout => Error::ConnectionTimeout,
        ImportError::Limit => Error::HttpResponseBodySize(None),
        _ => Error::InternalError(Some(error.message.clone())),
    }
}

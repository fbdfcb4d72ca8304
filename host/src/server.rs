//! The HTTP front end: one current-thread runtime per worker thread accepting on a shared
//! listener, routing each request to its function, enforcing the request-side limits and mapping
//! invocation failures to statuses. Invocations run on the accepting thread, so a request never
//! crosses threads; a long-running guest yields at every epoch tick.

use crate::invoke::{InvocationContext, InvokeError, invoke};
use crate::registry::Registry;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// Time a client has to send its request headers (slowloris protection).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has to send its whole request body.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes of request line plus headers accepted.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 << 10;
/// Open connections across all workers; beyond this new connections are closed at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// How long shutdown waits for in-flight requests before giving up on them.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Header carrying the invocation's request id on every response.
pub const REQUEST_ID_HEADER: &str = "x-edgefn-request-id";

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Worker threads, each with its own runtime.
    pub workers: usize,
    /// See [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`DEFAULT_BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// See [`DEFAULT_MAX_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// See [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// See [`DEFAULT_SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

type Body = Full<Bytes>;

/// What every worker of one listening server shares.
struct Listening<H> {
    handler: H,
    options: ServerOptions,
    connections: AtomicUsize,
}

/// The local host's request handler: routes to deployed functions.
struct Router {
    registry: Arc<Registry>,
    body_read_timeout: Duration,
}

/// Binds a listening socket with `SO_REUSEPORT`, so each worker can open its own socket on the
/// same address and the kernel spreads connections across them. (A single shared socket lets one
/// worker win nearly every accept and leaves the other cores idle.)
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Pending connections the kernel queues per worker socket.
pub const LISTEN_BACKLOG: i32 = 1024;

/// Serves until `shutdown` turns true, then stops accepting, lets in-flight requests finish (up to
/// the grace period) and returns. Blocks the calling thread.
pub fn serve(
    registry: Arc<Registry>,
    listener: std::net::TcpListener,
    options: ServerOptions,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let router = Arc::new(Router {
        registry,
        body_read_timeout: options.body_read_timeout,
    });
    serve_http(listener, options, shutdown, move |req, peer| {
        let router = router.clone();
        async move { handle(&router, req, peer).await }
    })
}

/// Serves `handler` over HTTP/1.1 until `shutdown` turns true, then stops accepting, lets in-flight
/// requests finish (up to the grace period) and returns. One current-thread runtime per worker
/// thread, each accepting on its own `SO_REUSEPORT` socket (`listener` must come from [`bind`]),
/// so a request never crosses threads. Enforces the header timeout, header size and connection
/// cap from `options`. Blocks the calling thread. Used by the local host and the Azure Functions
/// handler.
pub fn serve_http<H, Fut>(
    listener: std::net::TcpListener,
    options: ServerOptions,
    shutdown: watch::Receiver<bool>,
    handler: H,
) -> anyhow::Result<()>
where
    H: Fn(Request<Incoming>, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    listener.set_nonblocking(true)?;
    let shared = Arc::new(Listening {
        handler,
        options: options.clone(),
        connections: AtomicUsize::new(0),
    });
    let mut threads = Vec::new();
    let addr = listener.local_addr()?;
    let mut listener = Some(listener);
    for worker in 0..options.workers.max(1) {
        // The first worker takes the socket the caller bound; the others bind their own on the
        // same address (requires the caller's socket to come from [`bind`]).
        let listener = match listener.take() {
            Some(first) => first,
            None => bind(addr)?,
        };
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("edgefn-worker-{worker}"))
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(worker_loop(shared, listener, shutdown))
                })?,
        );
    }
    let mut result = Ok(());
    for thread in threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => result = Err(error),
            Err(_) => result = Err(anyhow::anyhow!("a worker thread panicked")),
        }
    }
    result
}

async fn worker_loop<H, Fut>(
    shared: Arc<Listening<H>>,
    listener: std::net::TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()>
where
    H: Fn(Request<Incoming>, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(shared.options.header_read_timeout)
        .max_buf_size(shared.options.max_header_bytes.max(8192));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(error) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        if shared.connections.fetch_add(1, Ordering::AcqRel) >= shared.options.max_connections {
            shared.connections.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!(%peer, limit = shared.options.max_connections, "connection limit reached; closing new connection");
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let conn_shared = shared.clone();
        let service = service_fn(move |req| {
            let shared = conn_shared.clone();
            async move { Ok::<_, Infallible>((shared.handler)(req, peer).await) }
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            shared.connections.fetch_sub(1, Ordering::AcqRel);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(shared.options.shutdown_grace) => {
            tracing::warn!("shutdown grace period passed with requests still in flight");
        }
    }
    Ok(())
}

fn text(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(format!(
        "{} {}: {message}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    ))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Turns true on SIGTERM or SIGINT: the shutdown signal for [`serve`] and [`serve_http`]. Watches
/// from a thread of its own, so it works before and outside any runtime.
pub fn stop_on_signal() -> std::io::Result<watch::Receiver<bool>> {
    let (stop, stopped) = watch::channel(false);
    std::thread::Builder::new()
        .name("edgefn-signals".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let mut term = signal(SignalKind::terminate())?;
                let mut int = signal(SignalKind::interrupt())?;
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                std::io::Result::Ok(())
            })?;
            tracing::info!("shutting down: no new connections, finishing in-flight requests");
            let _ = stop.send(true);
            std::io::Result::Ok(())
        })?;
    Ok(stopped)
}

/// A request id: random, unguessable enough for correlation, cheap (no syscall).
pub fn new_request_id() -> String {
    // A UUIDv4 layout written by hand: `format!` with five padded hex fields cost ~3k
    // instructions per request, more than the rest of the routing.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bits = (u128::from(fastrand::u64(..)) << 64) | u128::from(fastrand::u64(..));
    bits = (bits & !(0xf << 76)) | (0x4 << 76); // version 4
    bits = (bits & !(0x3 << 62)) | (0x2 << 62); // RFC 4122 variant
    let mut out = [0u8; 36];
    let mut nibble = 32;
    for (i, slot) in out.iter_mut().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            *slot = b'-';
        } else {
            nibble -= 1;
            *slot = HEX[((bits >> (nibble * 4)) & 0xf) as usize];
        }
    }
    String::from_utf8(out.to_vec()).expect("ASCII")
}

async fn handle(router: &Router, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let request_id = new_request_id();
    // Every log line of the request (guest output, failures) carries these; `function` is
    // recorded once the route is resolved.
    let traceparent = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    // A span costs ~3k instructions per request, so it is only opened when there is a trace to
    // join; guest output and failure logs carry function and request id as fields regardless.
    let span = match traceparent {
        Some(traceparent) => tracing::info_span!(
            "request",
            request_id,
            function = tracing::field::Empty,
            traceparent
        ),
        None => tracing::Span::none(),
    };
    let mut response = tracing::Instrument::instrument(route(router, req, &request_id), span).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    tracing::debug!(%peer, request_id, status = response.status().as_u16(), "request served");
    response
}

async fn route(router: &Router, req: Request<Incoming>, request_id: &str) -> Response<Body> {
    let Some(deployed) = router.registry.resolve(req.uri().path()) else {
        return text(
            StatusCode::NOT_FOUND,
            &format!("no function is routed at {}", req.uri().path()),
        );
    };
    tracing::Span::current().record("function", deployed.spec.name.as_str());
    let limits = &deployed.spec.limits;
    let Some(_slot) = deployed.try_acquire() else {
        router.registry.metrics.record_refused(&deployed.spec.name);
        let mut response = text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "function {} is at its concurrency limit; retry shortly",
                deployed.spec.name
            ),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_request_bytes as u64) {
        return too_large(limits.max_request_bytes);
    }
    // Most requests (GET, HEAD) carry no body: skip the timer and the collector for them.
    let collected = if body.is_end_stream() {
        Ok(Ok(http_body_util::Collected::default()))
    } else {
        tokio::time::timeout(
            router.body_read_timeout,
            Limited::new(body, limits.max_request_bytes).collect(),
        )
        .await
    };
    let body = match collected {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            return too_large(limits.max_request_bytes);
        }
        Ok(Err(error)) => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("could not read the request body: {error}"),
            );
        }
        Err(_) => {
            return text(
                StatusCode::REQUEST_TIMEOUT,
                "the request body arrived too slowly",
            );
        }
    };
    let resident = match router.registry.resident(&deployed).await {
        Ok(resident) => resident,
        Err(error) => {
            tracing::error!(function = %deployed.spec.name, request_id, "cannot load function: {error:#}");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the function could not be loaded",
            );
        }
    };
    let request = Request::from_parts(parts, body);
    let traceparent = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    let cx = InvocationContext {
        request_id,
        platform: crate::runner::platform::LOCAL,
        platform_deadline: None,
        cold_start: resident.take_cold_start(),
        traceparent,
    };
    match invoke(&resident.function, &request, &cx).await {
        Ok(response) => response.map(Full::new),
        Err(error) => failure_response(&deployed.spec.name, request_id, &error),
    }
}

fn too_large(limit: usize) -> Response<Body> {
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the request body is larger than this function's limit of {limit} bytes"),
    )
}

/// Logs an invocation failure in full and answers the client without internals.
pub fn failure_response(function: &str, request_id: &str, error: &InvokeError) -> Response<Body> {
    tracing::warn!(
        function,
        request_id,
        kind = error.kind(),
        "invocation failed: {error}"
    );
    let message = match error {
        InvokeError::Timeout(limit) => format!(
            "the function did not answer within its deadline of {} ms",
            limit.as_millis()
        ),
        InvokeError::Overloaded(_) => "the host is at capacity; retry shortly".to_owned(),
        _ => format!("the function failed (request id {request_id})"),
    };
    let mut response = text(error.status(), &message);
    if matches!(error, InvokeError::Overloaded(_)) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_v4_and_distinct() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'), "{a}");
        assert!(
            matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
            "{a}"
        );
        assert!(a.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()));
    }
}

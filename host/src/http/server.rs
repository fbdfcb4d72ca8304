//! A multi-worker HTTP/1.1 server: one current-thread runtime per worker thread, each accepting
//! on its own `SO_REUSEPORT` socket, with the header timeout, header size, connection cap and
//! framing rules (`strict`) every listener of the host needs; and the shutdown signal. Used by the local host, its admin listener
//! and the Azure Functions handler.

use super::framing_watch::WatchedStream;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// Time a client has to send its request headers (slowloris protection).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes of request line plus headers accepted.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 << 10;
/// Open connections across all workers; beyond this new connections are closed at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// How long shutdown waits for in-flight requests before giving up on them.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Task polls each worker makes between two looks at its sockets (new connections, readable
/// requests): tokio's `event_interval`. Its default (61) lets guests that run for long, each
/// polled once per epoch tick (1 ms), hold back every other request on their thread by ~61 ms
/// (measured: a hello's p50 went from 0.2 ms to 80 ms beside four busy guests). At 1 a new
/// request waits at most about one tick per busy guest on its thread; see `bench/README.md`
/// ("Noisy neighbours") for what it costs and buys.
pub const DEFAULT_IO_POLL_INTERVAL: u32 = 1;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Worker threads, each with its own runtime.
    pub workers: usize,
    /// See [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See `crate::http::body::DEFAULT_BODY_READ_TIMEOUT`.
    pub body_read_timeout: Duration,
    /// See [`DEFAULT_MAX_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// See [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// See [`DEFAULT_SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
    /// See [`DEFAULT_IO_POLL_INTERVAL`].
    pub io_poll_interval: u32,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            workers: default_workers(),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: crate::http::body::DEFAULT_BODY_READ_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            io_poll_interval: DEFAULT_IO_POLL_INTERVAL,
        }
    }
}

pub use super::respond::Body;

/// Worker threads by default: one per CPU.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// What every worker of one listening server shares.
struct Listening<H> {
    handler: H,
    options: ServerOptions,
    connections: AtomicUsize,
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
                        .event_interval(shared.options.io_poll_interval.max(1))
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
        let (stream, ambiguous) =
            WatchedStream::new(stream, shared.options.max_header_bytes.max(8192));
        let requests_seen = AtomicU64::new(0);
        let service = service_fn(move |req: Request<Incoming>| {
            let shared = conn_shared.clone();
            // hyper serves a connection's requests one after another, so this is the request's
            // index on it, the one the framing watch reports.
            let index = requests_seen.fetch_add(1, Ordering::Relaxed);
            let both_framings = ambiguous.is(index);
            async move {
                let violation = match both_framings {
                    true => Some(super::strict::BOTH_FRAMINGS),
                    false => super::strict::violation(&req),
                };
                if let Some(reason) = violation {
                    tracing::debug!(%peer, reason, "refused a request that breaks HTTP/1.1 framing rules");
                    return Ok::<_, Infallible>(super::strict::refusal(reason));
                }
                Ok((shared.handler)(req, peer).await)
            }
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

/// Turns true on SIGTERM or SIGINT: the shutdown signal for [`serve_http`] and `crate::local::router::serve`. Watches
/// from a thread of its own, so it works before and outside any runtime.
pub fn stop_on_signal() -> std::io::Result<watch::Receiver<bool>> {
    stop_on_signal_after(Duration::ZERO, || {})
}

/// [`stop_on_signal`] in two steps, for a host behind a load balancer: on the signal `draining`
/// runs at once (the host stops answering ready), and the returned signal turns true only `delay`
/// later, so balancers stop routing here while the listener still accepts, and no request is sent
/// to a closed port.
pub fn stop_on_signal_after(
    delay: Duration,
    draining: impl FnOnce() + Send + 'static,
) -> std::io::Result<watch::Receiver<bool>> {
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
            draining();
            if !delay.is_zero() {
                tracing::info!(
                    delay_ms = delay.as_millis() as u64,
                    "shutting down: not ready, still serving until the delay passes"
                );
                std::thread::sleep(delay);
            }
            tracing::info!("shutting down: no new connections, finishing in-flight requests");
            let _ = stop.send(true);
            std::io::Result::Ok(())
        })?;
    Ok(stopped)
}

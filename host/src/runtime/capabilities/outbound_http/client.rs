//! The HTTP client behind `edgefn_v1.http_send`, one per function (its private-network setting is
//! the function's): hyper's HTTP/1.1 and HTTP/2 connections, kept in the function's pools
//! (`pool.rs`), over a connector that resolves the name once, drops the addresses a guest may not
//! reach, and connects only to those left, with rustls for `https`. A pooled connection was
//! vetted when it was made, so reuse never skips the check, and there is no second resolution for
//! a rebinding name to race. Redirects are never followed; the response body is read within the
//! cap while it streams, and the whole call within its timeout.

use super::address::is_public;
use super::policy::OutboundPolicy;
use super::pool::{Http1, Origin, Pools, Taken, TimedOut};
use crate::http::client_io::{self, BodyError, Conn, error_chain};
use crate::runtime::metrics::FunctionMetrics;
use bytes::Bytes;
use edgefn_abi::ImportError;
use http::uri::PathAndQuery;
use http::{HeaderName, HeaderValue, Request, Response, Uri};
use http_body_util::Full;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// One address's connection attempt; the next address (if any) is tried after it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle pooled connection is kept for the function's next call.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle pooled connections kept per origin on each worker thread: as many as a function may have
/// calls in flight by default, so a burst's connections are all reused afterwards. With 8, 16 concurrent callers
/// opened a new connection for half their calls, which cost more CPU than the call itself.
const POOL_MAX_IDLE_PER_HOST: usize = crate::runtime::limits::DEFAULT_MAX_CONCURRENCY;

/// Response headers about the connection rather than the message, left out of what the guest gets.
/// (`keep-alive` has no constant in `http`; a name from a `&str` is parsed on every use.)
const FRAMING_HEADERS: [HeaderName; 3] = [
    http::header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    http::header::TRANSFER_ENCODING,
];

/// Why a call produced no response: the import's error code and a message for the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallError {
    pub(crate) kind: ImportError,
    pub(crate) message: String,
}

impl CallError {
    pub(crate) fn new(kind: ImportError, message: impl Into<String>) -> CallError {
        CallError {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for CallError {}

/// A function's outbound HTTP: its policy, its connections, where its calls are counted.
pub(crate) struct FunctionClient {
    /// The function's name, for logs.
    pub(crate) function: String,
    /// What it may call.
    pub(crate) policy: OutboundPolicy,
    /// Largest request body it may send (its `max_request_bytes`).
    pub(crate) max_request_bytes: usize,
    /// Where its calls are counted.
    pub(crate) metrics: Arc<FunctionMetrics>,
    /// Its open connections, per worker thread: a connection's I/O is registered with the runtime
    /// that opened it, whose thread a call from another thread would have to wake for every read
    /// and write.
    pools: Pools,
}

impl FunctionClient {
    /// A client for `function` under `policy`; nothing connects until the first call.
    pub(crate) fn new(
        function: &str,
        policy: OutboundPolicy,
        max_request_bytes: usize,
        metrics: Arc<FunctionMetrics>,
    ) -> FunctionClient {
        FunctionClient {
            function: function.to_owned(),
            policy,
            max_request_bytes,
            metrics,
            pools: Pools::new(POOL_IDLE_TIMEOUT, POOL_MAX_IDLE_PER_HOST),
        }
    }

    /// Sends `request` (an absolute URI, vetted by the policy) and reads the whole response
    /// within `timeout` of `started`, when the call began. `why_timeout` says where the timeout
    /// came from, for the message.
    ///
    /// The exchange runs on a pooled connection, or on a new one. An idle connection the server
    /// has closed is passed over, and a request it refused unsent is sent again on another:
    /// hyper's pooling client retries that case too. A request once written is never sent twice.
    /// `started` stands for now in the pool's idle times: the call's few µs or ms do not matter
    /// against its idle timeout, and reading the clock again would.
    ///
    /// A guest's call boxes this future with the rest of the call, so its size is paid on every
    /// call: connecting and HTTP/2, whose steps each hold a timer, are boxed on their own, and
    /// the HTTP/1.1 steps are pinned here and driven by reference, so each is held once.
    pub(crate) async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
        started: Instant,
        timeout: Duration,
        why_timeout: &str,
    ) -> Result<Response<Bytes>, CallError> {
        // A tunnel is not a request with a response (Workers' `fetch` refuses it too), and
        // HTTP/1.1 would need the authority form for it.
        if request.method() == http::Method::CONNECT {
            return Err(CallError::new(
                ImportError::Invalid,
                "CONNECT opens a tunnel, which outbound HTTP does not offer: send the request itself",
            ));
        }
        let absolute = request.uri().clone();
        let host = absolute.host().unwrap_or_default();
        let deadline = Deadline {
            at: tokio::time::Instant::from_std(started + timeout),
            timeout,
            why: why_timeout,
            host,
        };
        let cap = self.policy.max_response_bytes;
        let origin = Origin::of(&absolute);
        loop {
            let (taken, pooled) = match self.pools.take(origin, started) {
                Some(taken) => (taken, true),
                None => (
                    Box::pin(deadline.bound(self.open(origin, &absolute, started, &deadline)))
                        .await??,
                    false,
                ),
            };
            let mut conn = match taken {
                Taken::Http2(shared) => {
                    let attempt = Box::pin(
                        self.http2_exchange(shared, request, &absolute, pooled, &deadline),
                    );
                    match attempt.await? {
                        Attempt::Answered(response) => return Ok(response),
                        Attempt::Again(unsent) => {
                            request = unsent;
                            continue;
                        }
                    }
                }
                Taken::Http1(conn) => conn,
            };
            conn.due_by(deadline.at);
            // A pooled connection was ready when it was put back and open when it was taken, so
            // it is not waited on: waiting polls its driver with this task's waker, which the
            // request going in then wakes, for one more turn of the task (and of the guest's
            // fiber) for nothing. Should it have closed since, it gives the request back unsent,
            // to go out on another connection below.
            if !(pooled && conn.sender.is_ready())
                && let Err(e) = conn.ready().await.map_err(|TimedOut| deadline.missed())?
            {
                pass_over(&e, pooled, host)?;
                continue;
            }
            to_origin_form(&mut request, &absolute);
            let sent = conn.sender.try_send_request(request);
            let outcome = {
                let sent = pin!(sent);
                conn.driving(sent).await
            };
            let response = match outcome.map_err(|TimedOut| deadline.missed())? {
                Ok(response) => response,
                Err(refused) => {
                    request = send_again(refused, pooled, host)?;
                    continue;
                }
            };
            let body = client_io::read_capped(response, cap);
            let read = {
                let body = pin!(body);
                conn.driving(body).await
            };
            let response = read
                .map_err(|TimedOut| deadline.missed())?
                .map_err(|e| body_error(e, cap, host))?;
            self.pools.put(origin, conn, started);
            return Ok(without_framing(response));
        }
    }

    /// One exchange on the origin's shared HTTP/2 connection, or the request back to send on
    /// another when this one, taken from the pool, turned out closed or refused it unsent.
    async fn http2_exchange(
        &self,
        mut shared: http2::SendRequest<Full<Bytes>>,
        mut request: Request<Full<Bytes>>,
        absolute: &Uri,
        pooled: bool,
        deadline: &Deadline<'_>,
    ) -> Result<Attempt, CallError> {
        let (cap, host) = (self.policy.max_response_bytes, deadline.host);
        if let Err(e) = deadline.bound(shared.ready()).await? {
            pass_over(&e, pooled, host)?;
            return Ok(Attempt::Again(request));
        }
        // HTTP/2 names the target in pseudo-headers, from the absolute URI.
        *request.uri_mut() = absolute.clone();
        request.headers_mut().remove(http::header::HOST);
        let response = match deadline.bound(shared.try_send_request(request)).await? {
            Ok(response) => response,
            Err(refused) => return Ok(Attempt::Again(send_again(refused, pooled, host)?)),
        };
        let response = deadline
            .bound(client_io::read_capped(response, cap))
            .await?
            .map_err(|e| body_error(e, cap, host))?;
        Ok(Attempt::Answered(without_framing(response)))
    }

    /// A new connection to `origin`: HTTP/2 (shared with this thread's later calls) when TLS
    /// negotiated it, else HTTP/1.1.
    async fn open(
        &self,
        origin: Origin<'_>,
        uri: &Uri,
        started: Instant,
        deadline: &Deadline<'_>,
    ) -> Result<Taken, CallError> {
        let host = deadline.host;
        let io = connect(uri, self.policy.allow_private_networks).await?;
        if !io.is_h2() {
            let conn = Http1::handshake(io, deadline.at)
                .await
                .map_err(|e| broke_off(host, &e))?;
            return Ok(Taken::Http1(conn));
        }
        let (shared, driver) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(io)
            .await
            .map_err(|e| {
                CallError::new(
                    ImportError::Unavailable,
                    format!(
                        "the HTTP/2 handshake with {host} failed: {}",
                        error_chain(&e)
                    ),
                )
            })?;
        tokio::spawn(async move {
            if let Err(e) = driver.await {
                tracing::debug!(error = %error_chain(&e), "outbound HTTP/2 connection ended");
            }
        });
        self.pools.share_http2(origin, shared.clone(), started);
        Ok(Taken::Http2(shared))
    }
}

/// When a call must be answered by, and what its timeout says when it is not.
struct Deadline<'a> {
    at: tokio::time::Instant,
    timeout: Duration,
    /// Where the timeout came from.
    why: &'a str,
    host: &'a str,
}

impl Deadline<'_> {
    /// `work`, unless the deadline passes first.
    async fn bound<F: Future>(&self, work: F) -> Result<F::Output, CallError> {
        tokio::time::timeout_at(self.at, work)
            .await
            .map_err(|_| self.missed())
    }

    fn missed(&self) -> CallError {
        CallError::new(
            ImportError::Timeout,
            format!(
                "no complete answer from {} within {} ms ({})",
                self.host,
                self.timeout.as_millis(),
                self.why
            ),
        )
    }
}

/// How an exchange on an HTTP/2 connection ended.
enum Attempt {
    Answered(Response<Bytes>),
    /// The connection could not take the request; here it is, to send on another.
    Again(Request<Full<Bytes>>),
}

/// The request line HTTP/1.1 sends to an origin server: the path and query, with the URL's
/// authority (no credentials, default port left out: the policy normalized it) in `host`.
fn to_origin_form(request: &mut Request<Full<Bytes>>, absolute: &Uri) {
    if let Some(authority) = absolute.authority()
        && let Ok(value) = HeaderValue::from_str(authority.as_str())
    {
        request.headers_mut().insert(http::header::HOST, value);
    }
    let path = absolute
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    *request.uri_mut() = Uri::from(path);
}

/// Whether to try another connection after this one failed before taking the request: only
/// when it came from the pool (the server may have closed it while idle); else the error.
fn pass_over(error: &hyper::Error, pooled: bool, host: &str) -> Result<(), CallError> {
    if pooled {
        Ok(())
    } else {
        Err(broke_off(host, error))
    }
}

/// The request to send again after a connection refused it: only one it gave back unsent, and
/// only from a pooled connection (the server may have closed it while idle); else the error.
fn send_again(
    mut refused: hyper::client::conn::TrySendError<Request<Full<Bytes>>>,
    pooled: bool,
    host: &str,
) -> Result<Request<Full<Bytes>>, CallError> {
    match refused.take_message() {
        Some(unsent) if pooled => Ok(unsent),
        _ => Err(broke_off(host, refused.error())),
    }
}

/// A broken exchange: the connection failed or the response was malformed.
fn broke_off(host: &str, error: &hyper::Error) -> CallError {
    CallError::new(
        ImportError::Unavailable,
        format!("the exchange with {host} broke off: {}", error_chain(error)),
    )
}

/// Why a response body could not be read whole: `limit` past `cap`, else `unavailable`.
fn body_error(error: BodyError, cap: usize, host: &str) -> CallError {
    match error {
        BodyError::TooLarge => CallError::new(
            ImportError::Limit,
            format!(
                "the response from {host} is larger than outbound.max_response_bytes ({cap} bytes)"
            ),
        ),
        BodyError::Broken(detail) => CallError::new(
            ImportError::Unavailable,
            format!("the response from {host} broke off: {detail}"),
        ),
    }
}

/// The response as the guest gets it: without the headers about the connection.
fn without_framing(mut response: Response<Bytes>) -> Response<Bytes> {
    let headers = response.headers_mut();
    for name in FRAMING_HEADERS {
        headers.remove(name);
    }
    response
}

/// Resolves, vets and connects: the only way a guest's call reaches the network.
async fn connect(uri: &Uri, allow_private_networks: bool) -> Result<Conn, CallError> {
    let tls = uri.scheme_str() == Some("https");
    // `Uri` keeps an IPv6 host's brackets; resolution and TLS want the address alone.
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let addresses = vetted_addresses(&host, port, allow_private_networks).await?;
    let stream = connect_first(&host, &addresses).await?;
    let _ = stream.set_nodelay(true);
    if !tls {
        return Ok(Conn::plain(stream));
    }
    let config = tls_config().map_err(|e| CallError::new(ImportError::Unavailable, e))?;
    let server_name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|_| {
        CallError::new(
            ImportError::Invalid,
            format!("{host:?} cannot be checked against a TLS certificate"),
        )
    })?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(server_name, stream)
        .await
        .map_err(|e| {
            CallError::new(
                ImportError::Unavailable,
                format!("the TLS handshake with {host} failed: {e}"),
            )
        })?;
    Ok(Conn::tls(stream))
}

/// The addresses `host` may be reached at: an IP literal as it is, a name resolved once; those
/// that are not public left out unless the function allows private networks.
async fn vetted_addresses(
    host: &str,
    port: u16,
    allow_private_networks: bool,
) -> Result<Vec<SocketAddr>, CallError> {
    let resolved: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| {
                CallError::new(
                    ImportError::Unavailable,
                    format!("cannot resolve {host}: {e}"),
                )
            })?
            .collect(),
    };
    if resolved.is_empty() {
        return Err(CallError::new(
            ImportError::Unavailable,
            format!("{host} resolves to no address"),
        ));
    }
    if allow_private_networks {
        return Ok(resolved);
    }
    let (public, private): (Vec<SocketAddr>, Vec<SocketAddr>) =
        resolved.into_iter().partition(|a| is_public(a.ip()));
    if public.is_empty() {
        let listed: Vec<String> = private.iter().map(|a| a.ip().to_string()).collect();
        let what = if host.parse::<IpAddr>().is_ok() {
            format!("{host} is not a public address")
        } else {
            format!(
                "{host} resolves only to addresses that are not public ({})",
                listed.join(", ")
            )
        };
        return Err(CallError::new(
            ImportError::Denied,
            format!(
                "{what}; this function may reach public addresses only (outbound.allow_private_networks = true allows the others, for local development)"
            ),
        ));
    }
    if !private.is_empty() {
        tracing::debug!(
            host,
            dropped = private.len(),
            "left out addresses that are not public"
        );
    }
    Ok(public)
}

async fn connect_first(host: &str, addresses: &[SocketAddr]) -> Result<TcpStream, CallError> {
    let mut failures = Vec::new();
    for address in addresses {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => failures.push(format!("{address}: {e}")),
            Err(_) => failures.push(format!(
                "{address}: no answer within {} ms",
                CONNECT_TIMEOUT.as_millis()
            )),
        }
    }
    Err(CallError::new(
        ImportError::Unavailable,
        format!("cannot connect to {host} ({})", failures.join("; ")),
    ))
}

/// The TLS settings every call shares, made on the first `https` call: ring, the Mozilla roots
/// compiled in, ALPN for HTTP/2 and HTTP/1.1.
pub(crate) fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("cannot set up TLS: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::metrics::Metrics;
    use std::future::poll_fn;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Poll;

    /// How the test upstream ends each answer.
    #[derive(Clone, Copy)]
    enum Ending {
        /// Keeps the connection for the next request.
        KeepAlive,
        /// Says `connection: close` and closes.
        ConnectionClose,
        /// Closes without saying so (as a server whose keep-alive timeout passed).
        SilentClose,
        /// Announces more body than it sends, then closes.
        Truncated,
        /// Sends `hello world` chunked, in three writes apart in time (three body frames).
        Chunked,
        /// Answers 413 on reading the head, keeps the connection and reads no body.
        EarlyAnswer,
        /// Answers the first request on a connection at once and each later one after 2 s.
        SlowAfterFirst,
    }

    /// An HTTP/1.1 upstream on loopback answering every request with `hello`; counts the
    /// connections it accepted.
    fn upstream(ending: Ending) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                counter.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    for answered in 0.. {
                        let mut line = String::new();
                        // The request head (a GET: no body).
                        loop {
                            line.clear();
                            match reader.read_line(&mut line) {
                                Ok(0) | Err(_) => return,
                                Ok(_) if line == "\r\n" => break,
                                Ok(_) => {}
                            }
                        }
                        if matches!(ending, Ending::EarlyAnswer) {
                            let answer =
                                b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n";
                            if stream.write_all(answer).is_ok() {
                                std::thread::sleep(Duration::from_secs(30));
                            }
                            return;
                        }
                        if matches!(ending, Ending::Chunked) {
                            let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
                            for part in [
                                head,
                                "5\r\nhello\r\n",
                                "1\r\n \r\n",
                                "5\r\nworld\r\n0\r\n\r\n",
                            ] {
                                if stream.write_all(part.as_bytes()).is_err() {
                                    return;
                                }
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            continue;
                        }
                        if matches!(ending, Ending::SlowAfterFirst) && answered > 0 {
                            std::thread::sleep(Duration::from_secs(2));
                        }
                        let answer: &[u8] = match ending {
                            Ending::KeepAlive | Ending::SilentClose | Ending::SlowAfterFirst => {
                                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"
                            }
                            Ending::ConnectionClose => {
                                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello"
                            }
                            Ending::Truncated => b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\nhel",
                            Ending::Chunked | Ending::EarlyAnswer => {
                                unreachable!("answered above")
                            }
                        };
                        if stream.write_all(answer).is_err() {
                            return;
                        }
                        if !matches!(ending, Ending::KeepAlive | Ending::SlowAfterFirst) {
                            return;
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    fn client(addr: SocketAddr, idle_timeout: Duration, max_idle: usize) -> FunctionClient {
        let mut policy = OutboundPolicy::default()
            .with_allowed_hosts([format!("http://{addr}")])
            .unwrap();
        policy.allow_private_networks = true;
        FunctionClient {
            function: "f".into(),
            policy,
            max_request_bytes: 1 << 20,
            metrics: Metrics::default().function("f"),
            pools: Pools::new(idle_timeout, max_idle),
        }
    }

    fn get(addr: SocketAddr) -> Request<Full<Bytes>> {
        Request::get(format!("http://{addr}/path?q=1"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    async fn call(client: &FunctionClient, addr: SocketAddr) -> Result<Response<Bytes>, CallError> {
        client
            .send(get(addr), Instant::now(), Duration::from_secs(5), "test")
            .await
    }

    #[test]
    fn calls_one_after_another_share_one_connection() {
        let (addr, accepted) = upstream(Ending::KeepAlive);
        let client = client(addr, POOL_IDLE_TIMEOUT, 4);
        runtime().block_on(async {
            for _ in 0..5 {
                let response = call(&client, addr).await.unwrap();
                assert_eq!(response.body().as_ref(), b"hello");
            }
        });
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(client.pools.idle_count(), 1);
    }

    #[test]
    fn a_reused_connections_timer_moves_later_for_a_call_with_more_time() {
        // The first call's deadline passes while the connection is idle; the second must not
        // time out on it.
        let (addr, accepted) = upstream(Ending::SlowAfterFirst);
        let client = client(addr, POOL_IDLE_TIMEOUT, 4);
        runtime().block_on(async {
            let first = client.send(
                get(addr),
                Instant::now(),
                Duration::from_millis(300),
                "test",
            );
            assert_eq!(first.await.unwrap().body().as_ref(), b"hello");
            tokio::time::sleep(Duration::from_millis(400)).await;
            let second = client.send(get(addr), Instant::now(), Duration::from_secs(5), "test");
            assert_eq!(second.await.unwrap().body().as_ref(), b"hello");
        });
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "the second call reused the connection"
        );
    }

    #[test]
    fn a_reused_connections_timer_moves_earlier_for_a_call_with_less_time() {
        let (addr, accepted) = upstream(Ending::SlowAfterFirst);
        let client = client(addr, POOL_IDLE_TIMEOUT, 4);
        runtime().block_on(async {
            let first = client.send(get(addr), Instant::now(), Duration::from_secs(5), "test");
            assert_eq!(first.await.unwrap().body().as_ref(), b"hello");
            let started = Instant::now();
            let second = client.send(get(addr), started, Duration::from_millis(200), "test");
            let error = second.await.unwrap_err();
            assert_eq!(error.kind, ImportError::Timeout, "{}", error.message);
            assert!(
                started.elapsed() < Duration::from_millis(1500),
                "timed out after {:?}, not at its own 200 ms",
                started.elapsed()
            );
        });
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "the second call reused the connection"
        );
    }

    #[test]
    fn a_connection_the_server_closed_is_not_used_again() {
        for ending in [Ending::ConnectionClose, Ending::SilentClose] {
            let (addr, accepted) = upstream(ending);
            let client = client(addr, POOL_IDLE_TIMEOUT, 4);
            runtime().block_on(async {
                for _ in 0..3 {
                    let response = call(&client, addr).await.unwrap();
                    assert_eq!(response.body().as_ref(), b"hello");
                    // Time for the server's end of file to arrive, as between two invocations.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
            assert_eq!(accepted.load(Ordering::SeqCst), 3);
        }
    }

    #[test]
    fn an_idle_connection_past_its_timeout_is_closed_not_used() {
        let (addr, accepted) = upstream(Ending::KeepAlive);
        let client = client(addr, Duration::from_millis(100), 4);
        runtime().block_on(async {
            call(&client, addr).await.unwrap();
            tokio::time::sleep(Duration::from_millis(150)).await;
            call(&client, addr).await.unwrap();
            assert_eq!(accepted.load(Ordering::SeqCst), 2);
            // The sweep closes the idle one once it times out, with no call to notice.
            assert_eq!(client.pools.idle_count(), 1);
            tokio::time::sleep(Duration::from_millis(350)).await;
            assert_eq!(client.pools.idle_count(), 0);
        });
    }

    #[test]
    fn idle_connections_are_kept_up_to_the_bound() {
        let (addr, accepted) = upstream(Ending::KeepAlive);
        let client = client(addr, POOL_IDLE_TIMEOUT, 3);
        runtime().block_on(async {
            let mut calls: Vec<_> = (0..8)
                .map(|_| Some(Box::pin(call(&client, addr))))
                .collect();
            // Polled together, each call opens its own connection.
            poll_fn(|cx| {
                for slot in calls.iter_mut() {
                    if let Some(c) = slot
                        && let Poll::Ready(result) = c.as_mut().poll(cx)
                    {
                        result.unwrap();
                        *slot = None;
                    }
                }
                if calls.iter().all(Option::is_none) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
        });
        assert_eq!(accepted.load(Ordering::SeqCst), 8);
        assert_eq!(client.pools.idle_count(), 3);
    }

    #[test]
    fn a_response_that_breaks_off_is_unavailable_and_its_connection_dropped() {
        let (addr, _) = upstream(Ending::Truncated);
        let client = client(addr, POOL_IDLE_TIMEOUT, 4);
        let error = runtime().block_on(call(&client, addr)).unwrap_err();
        assert_eq!(error.kind, ImportError::Unavailable, "{error}");
        assert!(error.message.contains("broke off"), "{error}");
        assert_eq!(client.pools.idle_count(), 0);
    }

    #[test]
    fn a_body_in_several_frames_comes_back_whole_and_within_the_cap() {
        let (addr, accepted) = upstream(Ending::Chunked);
        let mut client = client(addr, POOL_IDLE_TIMEOUT, 4);
        let response = runtime().block_on(call(&client, addr)).unwrap();
        assert_eq!(response.body().as_ref(), b"hello world");
        client.policy.max_response_bytes = 10;
        let error = runtime().block_on(call(&client, addr)).unwrap_err();
        assert_eq!(error.kind, ImportError::Limit, "{error}");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_connection_answered_before_its_request_body_was_sent_is_not_pooled() {
        let (addr, accepted) = upstream(Ending::EarlyAnswer);
        let client = client(addr, POOL_IDLE_TIMEOUT, 4);
        runtime().block_on(async {
            // More than the sockets buffer: most of it is unwritten when the answer comes.
            let post = Request::post(format!("http://{addr}/upload"))
                .body(Full::new(Bytes::from(vec![7u8; 16 << 20])))
                .unwrap();
            let early = client
                .send(post, Instant::now(), Duration::from_secs(5), "test")
                .await
                .unwrap();
            assert_eq!(early.status(), 413);
            assert_eq!(client.pools.idle_count(), 0);
            // The next call does not wait behind the rest of that body: a connection of its own.
            let next = call(&client, addr).await.unwrap();
            assert_eq!(next.status(), 413);
        });
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn connect_is_refused_as_invalid_before_anything_is_sent() {
        let (addr, accepted) = upstream(Ending::KeepAlive);
        let client = client(addr, POOL_IDLE_TIMEOUT, 4);
        let connect = Request::connect(format!("http://{addr}/"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let error = runtime()
            .block_on(client.send(connect, Instant::now(), Duration::from_secs(5), "test"))
            .unwrap_err();
        assert_eq!(error.kind, ImportError::Invalid, "{error}");
        assert_eq!(accepted.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_request_goes_out_in_origin_form_with_its_host() {
        let mut request = get("127.0.0.1:8080".parse().unwrap());
        let absolute = request.uri().clone();
        to_origin_form(&mut request, &absolute);
        assert_eq!(request.uri().to_string(), "/path?q=1");
        assert_eq!(request.headers()["host"], "127.0.0.1:8080");
    }
}

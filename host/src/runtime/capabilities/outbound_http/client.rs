//! The HTTP client behind `edgefn_v1.http_send`, one per function (its private-network setting is
//! the function's): hyper's pooling client over a connector that resolves the name once, drops
//! the addresses a guest may not reach, and connects only to those left, with rustls for `https`.
//! A pooled connection was vetted when it was made, so reuse never skips the check, and there is
//! no second resolution for a rebinding name to race. Redirects are never followed; the response
//! body is read within the cap while it streams, and the whole call within its timeout.

use super::address::is_public;
use super::policy::OutboundPolicy;
use crate::http::client_io::{self, BodyError, Conn, error_chain};
use crate::runtime::metrics::FunctionMetrics;
use bytes::Bytes;
use edgefn_abi::ImportError;
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;

/// One address's connection attempt; the next address (if any) is tried after it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle pooled connection is kept for the function's next call.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle pooled connections kept per origin: as many as a function may have calls in flight by
/// default, so a burst's connections are all reused afterwards. With 8, 16 concurrent callers
/// opened a new connection for half their calls, which cost more CPU than the call itself.
const POOL_MAX_IDLE_PER_HOST: usize = crate::runtime::limits::DEFAULT_MAX_CONCURRENCY;

/// Response headers about the connection rather than the message, left out of what the guest gets.
const FRAMING_HEADERS: [&str; 3] = ["connection", "keep-alive", "transfer-encoding"];

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

/// A function's outbound HTTP: its policy, its client, where its calls are counted.
pub(crate) struct FunctionClient {
    /// The function's name, for logs.
    pub(crate) function: String,
    /// What it may call.
    pub(crate) policy: OutboundPolicy,
    /// Largest request body it may send (its `max_request_bytes`).
    pub(crate) max_request_bytes: usize,
    /// Where its calls are counted.
    pub(crate) metrics: Arc<FunctionMetrics>,
    connector: VettedConnector,
    /// One pooling client per worker thread: a pooled connection is driven by a task on the
    /// runtime that opened it, so sharing one pool across the per-core runtimes made most calls
    /// wake another thread twice (request out, response back).
    clients: thread_local::ThreadLocal<Client<VettedConnector, Full<Bytes>>>,
}

impl FunctionClient {
    /// A client for `function` under `policy`; nothing connects until the first call.
    pub(crate) fn new(
        function: &str,
        policy: OutboundPolicy,
        max_request_bytes: usize,
        metrics: Arc<FunctionMetrics>,
    ) -> FunctionClient {
        let connector = VettedConnector {
            allow_private_networks: policy.allow_private_networks,
        };
        FunctionClient {
            function: function.to_owned(),
            policy,
            max_request_bytes,
            metrics,
            connector,
            clients: thread_local::ThreadLocal::new(),
        }
    }

    /// This thread's client (made on its first call here).
    fn client(&self) -> &Client<VettedConnector, Full<Bytes>> {
        self.clients.get_or(|| {
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
                .pool_timer(TokioTimer::new())
                .build(self.connector.clone())
        })
    }

    /// Sends `request` (an absolute URI, vetted by the policy) and reads the whole response
    /// within `timeout`. `why_timeout` says where the timeout came from, for the message.
    pub(crate) async fn send(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Duration,
        why_timeout: &str,
    ) -> Result<Response<Bytes>, CallError> {
        let host = request.uri().host().unwrap_or_default().to_owned();
        let cap = self.policy.max_response_bytes;
        let exchange = async {
            let response = self
                .client()
                .request(request)
                .await
                .map_err(|e| request_error(&host, &e))?;
            read_capped(response, cap, &host).await
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(CallError::new(
                ImportError::Timeout,
                format!(
                    "no complete answer from {host} within {} ms ({why_timeout})",
                    timeout.as_millis()
                ),
            )),
        }
    }
}

/// The error a failed exchange stands for: the connector's own (denied, unavailable), else a
/// broken connection or response.
fn request_error(host: &str, error: &hyper_util::client::legacy::Error) -> CallError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(own) = cause.downcast_ref::<CallError>() {
            return own.clone();
        }
        source = cause.source();
    }
    let detail = error_chain(error);
    CallError::new(
        ImportError::Unavailable,
        if error.is_connect() {
            format!("cannot connect to {host}: {detail}")
        } else {
            format!("the exchange with {host} broke off: {detail}")
        },
    )
}

/// Reads the body whole, failing with `limit` as soon as it passes `cap` (announced or streamed),
/// without the framing headers.
async fn read_capped(
    response: Response<hyper::body::Incoming>,
    cap: usize,
    host: &str,
) -> Result<Response<Bytes>, CallError> {
    let mut response = client_io::read_capped(response, cap)
        .await
        .map_err(|e| match e {
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
        })?;
    for name in FRAMING_HEADERS {
        response.headers_mut().remove(name);
    }
    Ok(response)
}

/// Resolves, vets and connects: the only way the client reaches the network.
#[derive(Clone)]
struct VettedConnector {
    allow_private_networks: bool,
}

impl tower_service::Service<Uri> for VettedConnector {
    type Response = Conn;
    type Error = CallError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, CallError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), CallError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(connect(uri, self.allow_private_networks))
    }
}

async fn connect(uri: Uri, allow_private_networks: bool) -> Result<Conn, CallError> {
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

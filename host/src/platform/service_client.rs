//! The HTTP client a platform's backends call their cloud services with (DynamoDB on Lambda, Table
//! storage on Azure): hyper's pooling HTTP/1.1 client over plain TCP or rustls, with no address
//! vetting. Unlike a guest's outbound client it reaches loopback and private addresses, because
//! the service endpoint is the operator's configuration (an emulator on 127.0.0.1 in tests), never
//! the guest's. Each call reads the whole response within a size cap and a timeout.

use crate::http::client_io::{self, BodyError, Conn, error_chain};
use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;

/// How long an idle connection to a service is kept for the next call.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections kept per service endpoint.
const POOL_MAX_IDLE_PER_HOST: usize = 8;

/// Why a call to a service produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// What kind of failure, for the caller to map onto its own error codes.
    pub kind: ServiceErrorKind,
    /// What went wrong, naming the endpoint.
    pub message: String,
}

/// The kinds of [`ServiceError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceErrorKind {
    /// The endpoint could not be resolved or connected to (refused, TLS failed).
    Connect,
    /// No complete response within the call's timeout.
    Timeout,
    /// The response body is larger than the client's cap.
    TooLarge,
    /// The connection broke off mid-exchange, or the request could not be sent.
    Broken,
}

impl ServiceError {
    fn new(kind: ServiceErrorKind, message: impl Into<String>) -> ServiceError {
        ServiceError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ServiceError {}

/// A pooling client for one platform's services; cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct ServiceClient {
    client: Client<ServiceConnector, Full<Bytes>>,
    max_response_bytes: usize,
}

impl fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceClient")
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl ServiceClient {
    /// A client whose responses may be up to `max_response_bytes` long; nothing connects until
    /// the first call. Must be called inside a tokio runtime only when sending, not here.
    pub fn new(max_response_bytes: usize) -> ServiceClient {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .pool_timer(TokioTimer::new())
            .build(ServiceConnector);
        ServiceClient {
            client,
            max_response_bytes,
        }
    }

    /// Sends `request` (an absolute `http` or `https` URI) and reads the whole response within
    /// `timeout`, connecting included.
    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Response<Bytes>, ServiceError> {
        let endpoint = endpoint_of(request.uri());
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                let detail = error_chain(&e);
                if e.is_connect() {
                    ServiceError::new(
                        ServiceErrorKind::Connect,
                        format!("cannot connect to {endpoint}: {detail}"),
                    )
                } else {
                    ServiceError::new(
                        ServiceErrorKind::Broken,
                        format!("the exchange with {endpoint} broke off: {detail}"),
                    )
                }
            })?;
            read_capped(response, self.max_response_bytes, &endpoint).await
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ServiceError::new(
                ServiceErrorKind::Timeout,
                format!(
                    "no complete answer from {endpoint} within {} ms",
                    timeout.as_millis()
                ),
            )),
        }
    }
}

/// `scheme://host:port` of `uri`, for messages.
fn endpoint_of(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    match uri.authority() {
        Some(authority) => format!("{scheme}://{authority}"),
        None => uri.to_string(),
    }
}

/// Reads the body whole, failing as soon as it passes `cap` (announced or streamed).
async fn read_capped(
    response: Response<hyper::body::Incoming>,
    cap: usize,
    endpoint: &str,
) -> Result<Response<Bytes>, ServiceError> {
    client_io::read_capped(response, cap)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => ServiceError::new(
                ServiceErrorKind::TooLarge,
                format!("the response from {endpoint} is larger than {cap} bytes"),
            ),
            BodyError::Broken(detail) => ServiceError::new(
                ServiceErrorKind::Broken,
                format!("the response from {endpoint} broke off: {detail}"),
            ),
        })
}

/// The guests' TLS settings (ring, the Mozilla roots compiled in) offering HTTP/1.1 only, since
/// this client speaks nothing else.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let shared = crate::runtime::capabilities::outbound_http::client::tls_config()?;
            let mut config = (*shared).clone();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })
        .clone()
}

/// Resolves and connects to a service endpoint, any address, TLS for `https`.
#[derive(Clone)]
struct ServiceConnector;

impl tower_service::Service<Uri> for ServiceConnector {
    type Response = Conn;
    type Error = ServiceError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, ServiceError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ServiceError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(connect(uri))
    }
}

async fn connect(uri: Uri) -> Result<Conn, ServiceError> {
    let connect_error = |detail: String| ServiceError::new(ServiceErrorKind::Connect, detail);
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        other => {
            return Err(connect_error(format!(
                "{uri} is not an http or https URL (scheme {other:?})"
            )));
        }
    };
    // `Uri` keeps an IPv6 host's brackets; resolution and TLS want the address alone.
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| connect_error(format!("{host}:{port}: {e}")))?;
    let _ = stream.set_nodelay(true);
    if !tls {
        return Ok(Conn::plain(stream));
    }
    let config = tls_config().map_err(connect_error)?;
    let server_name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|_| connect_error(format!("{host:?} is not a name TLS can check")))?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(server_name, stream)
        .await
        .map_err(|e| connect_error(format!("the TLS handshake with {host} failed: {e}")))?;
    Ok(Conn::tls(stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A one-connection server answering every request with `body`.
    async fn serve(body: &'static [u8]) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            loop {
                let n = socket.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                socket.write_all(head.as_bytes()).await.unwrap();
                socket.write_all(body).await.unwrap();
            }
        });
        address
    }

    fn get(address: std::net::SocketAddr) -> Request<Full<Bytes>> {
        Request::get(format!("http://{address}/"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    }

    #[tokio::test]
    async fn reaches_loopback_reads_the_body_and_caps_it() {
        let address = serve(b"hello").await;
        let client = ServiceClient::new(16);
        let response = client.send(get(address), Duration::from_secs(5)).await;
        assert_eq!(response.unwrap().body().as_ref(), b"hello");
        // The same (pooled) connection serves the next call.
        let again = client.send(get(address), Duration::from_secs(5)).await;
        assert_eq!(again.unwrap().body().as_ref(), b"hello");

        let address = serve(b"far too long for the cap").await;
        let error = ServiceClient::new(4)
            .send(get(address), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(error.kind, ServiceErrorKind::TooLarge, "{error}");
    }

    #[tokio::test]
    async fn refused_and_silent_endpoints_are_named() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let error = ServiceClient::new(16)
            .send(get(address), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(error.kind, ServiceErrorKind::Connect, "{error}");
        assert!(error.message.contains(&address.to_string()), "{error}");

        // Accepts but never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = silent.local_addr().unwrap();
        let error = ServiceClient::new(16)
            .send(get(address), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(error.kind, ServiceErrorKind::Timeout, "{error}");
        assert!(error.message.contains(&address.to_string()), "{error}");
        drop(silent);
    }
}

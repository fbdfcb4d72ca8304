//! The types of the [`http` crate](::http), and outbound HTTP: [`send`] calls another service.
//!
//! ```no_run
//! use edgefn::http::{self, Request};
//!
//! fn stars() -> Result<String, http::Error> {
//!     let request = Request::get("https://api.example.com/repos/edgefn")
//!         .header("accept", "application/json")
//!         .body(())?;
//!     let response = http::send(request)?;
//!     Ok(String::from_utf8_lossy(response.body()).into_owned())
//! }
//! ```
//!
//! A function calls nothing until its configuration grants it: the manifest's
//! `outbound.allowed_hosts` (on AWS Lambda, Azure Functions and Cloudflare Workers the
//! `EDGEFN_OUTBOUND_*` variables; see `docs/manifest.md`, "outbound"):
//!
//! ```toml
//! [[function]]
//! name = "stars"
//! wasm = "target/edgefn/stars.wasm"
//! outbound = { allowed_hosts = ["https://api.example.com"] }
//! ```
//!
//! What a call does, the same on every platform (`docs/abi.md`, "Outbound HTTP"):
//!
//! - It **blocks** until the whole response is in: status, headers and the body, read up to
//!   the function's `outbound.max_response_bytes`.
//! - One `send` is **one request**. A 3xx is the answer, `location` included, unless the call
//!   asks to follow with [`Options::follow_redirects`]; each hop is then a call of its own, which
//!   the host checks against the allow-list again and counts against `outbound.max_requests`.
//! - Its time limit is [`Options::timeout`], else the function's `outbound.timeout_ms`, and
//!   never past the invocation's deadline.
//! - The host sets `host`, `content-length` and the framing itself; a request that carries one
//!   of the headers it owns fails with [`ErrorKind::Invalid`]. It adds the invocation's
//!   `traceparent` when the request has none.
//! - An HTTP error status is a response; an [`Error`] means there is none, and its
//!   [`kind`](Error::kind) says why ([`ErrorKind`]).
//!
//! Calling `send` from an init function (`edgefn::export!(handle, init = setup)`) fails with
//! [`ErrorKind::Unsupported`]: a pre-initialized snapshot must not capture network results.
//!
//! The host imports behind `send` (`edgefn_v1.http_send`, `edgefn_v1.result_read`) are only in
//! a module that calls it. In a native build (`cargo test`) `send` calls a fake host that the
//! test installs with [`testing::with_host`].

mod error;
mod redirect;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use ::http::*;
pub use error::{Error, ErrorKind};

use crate::imports;
use ::http::header::LOCATION;
use bytes::{Buf, Bytes};
use edgefn_abi::{HttpRequestEnvelope, HttpResponseEnvelope};
use std::time::Duration;

/// `Result` with this module's [`Error`] (replacing the `http` crate's alias of the same name,
/// whose builder error converts into this one).
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A request body [`send`] takes: bytes in any of the usual forms, or `()` for none.
pub trait IntoBody {
    /// The body's bytes.
    fn into_body(self) -> Bytes;
}

impl IntoBody for () {
    fn into_body(self) -> Bytes {
        Bytes::new()
    }
}

impl IntoBody for Bytes {
    fn into_body(self) -> Bytes {
        self
    }
}

impl IntoBody for Vec<u8> {
    fn into_body(self) -> Bytes {
        self.into()
    }
}

impl IntoBody for String {
    fn into_body(self) -> Bytes {
        self.into()
    }
}

impl IntoBody for &'static str {
    fn into_body(self) -> Bytes {
        Bytes::from_static(self.as_bytes())
    }
}

impl IntoBody for &'static [u8] {
    fn into_body(self) -> Bytes {
        Bytes::from_static(self)
    }
}

impl<const N: usize> IntoBody for &'static [u8; N] {
    fn into_body(self) -> Bytes {
        Bytes::from_static(self)
    }
}

/// How [`send_with`] makes a call: its time limit and whether to follow redirects.
///
/// ```
/// use edgefn::http::Options;
/// use std::time::Duration;
///
/// let options = Options::new().timeout(Duration::from_secs(2)).follow_redirects(3);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    timeout: Option<Duration>,
    max_redirects: u32,
}

impl Options {
    /// The defaults: the function's `outbound.timeout_ms`, redirects not followed.
    pub fn new() -> Options {
        Options::default()
    }

    /// This call's time limit, in place of the function's `outbound.timeout_ms`; rounded up to
    /// whole milliseconds (at least 1), and cut short by the invocation's deadline. With
    /// redirects followed, each hop has this limit.
    pub fn timeout(mut self, timeout: Duration) -> Options {
        self.timeout = Some(timeout);
        self
    }

    /// Follows up to `max` redirects (301, 302, 303, 307, 308 with a `location`), each as a new
    /// request that the host checks and counts like any other. A relative `location` is
    /// resolved against the request's URL. 303, and 301 or 302 after a `POST`, continue as a
    /// `GET` without body; 307 and 308 repeat the method and body. `authorization`, `cookie`
    /// and `proxy-authorization` are not sent to another origin. When the chain is longer than
    /// `max`, or a `location` does not resolve, the answer is that redirect response itself.
    /// `0` (the default) follows none.
    pub fn follow_redirects(mut self, max: u32) -> Options {
        self.max_redirects = max;
        self
    }

    /// The timeout as the envelope carries it: whole milliseconds, `0` for the function's own.
    fn timeout_ms(&self) -> u32 {
        self.timeout.map_or(0, |timeout| {
            let ms = timeout.as_nanos().div_ceil(1_000_000).max(1);
            u32::try_from(ms).unwrap_or(u32::MAX)
        })
    }
}

/// Sends `request` and waits for the whole response, with the default [`Options`]: the
/// function's timeout, and a redirect returned rather than followed.
///
/// The request's URI must be an absolute `http` or `https` URL. Its method, headers (in order,
/// a repeated header once per value) and body go to the host as they are; its version and
/// extensions are not used.
pub fn send<B: IntoBody>(request: Request<B>) -> Result<Response<Bytes>> {
    send_with(request, &Options::default())
}

/// [`send`] with a time limit of its own, or following redirects: see [`Options`].
pub fn send_with<B: IntoBody>(request: Request<B>, options: &Options) -> Result<Response<Bytes>> {
    let mut request = request.map(IntoBody::into_body);
    let timeout_ms = options.timeout_ms();
    let mut redirects = 0;
    loop {
        let response = send_once(&request, timeout_ms)?;
        if redirects == options.max_redirects || !redirect::is_redirect(response.status()) {
            return Ok(response);
        }
        let next = response.headers().get(LOCATION).and_then(|location| {
            redirect::next_request(&request, response.status(), location.as_bytes())
        });
        let Some(next) = next else {
            return Ok(response);
        };
        request = next;
        redirects += 1;
    }
}

/// One `http_send`: the request envelope out, the response envelope (or error) back.
fn send_once(request: &Request<Bytes>, timeout_ms: u32) -> Result<Response<Bytes>> {
    let uri = request.uri();
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(Error::local(
            ErrorKind::Invalid,
            format!(
                "the request URI {:?} is not an absolute http or https URL: give the whole URL, \
                 e.g. https://api.example.com/path",
                uri.to_string()
            ),
        ));
    }
    let url = absolute_url(uri);
    let envelope = HttpRequestEnvelope {
        timeout_ms,
        method: request.method().as_str(),
        url: &url,
        headers: request
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect(),
        body: request.body(),
    }
    .encode();

    let answer = imports::http_send(&envelope);
    drop(envelope);
    if answer < 0 {
        return Err(Error::from_host(answer, imports::read_message()));
    }
    let buf = imports::read_result(answer).map_err(|why| Error::local(ErrorKind::Other, why))?;
    decode_response(Bytes::from(buf))
}

/// The text of an absolute URI, as its `Display` writes it, without the formatting machinery
/// (which is most of a small call's time in a guest).
fn absolute_url(uri: &Uri) -> String {
    let (scheme, authority) = (uri.scheme_str().unwrap_or_default(), uri.authority());
    let authority = authority.map_or("", |a| a.as_str());
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut url = String::with_capacity(scheme.len() + 3 + authority.len() + target.len());
    for part in [scheme, "://", authority, target] {
        url.push_str(part);
    }
    url
}

fn decode_response(buf: Bytes) -> Result<Response<Bytes>> {
    let broken = |why: String| {
        Error::local(
            ErrorKind::Other,
            format!("the host's response envelope {why}"),
        )
    };
    let envelope = HttpResponseEnvelope::decode(&buf)
        .map_err(|e| broken(format!("does not decode ({}): {e}", e.as_str())))?;
    // The body is the envelope's tail: it gets the buffer itself, past the headers, not a share.
    let body_at = envelope.body.as_ptr() as usize - buf.as_ptr() as usize;
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::from_u16(envelope.status)
        .map_err(|_| broken(format!("has status {}", envelope.status)))?;
    let headers = response.headers_mut();
    headers.reserve(envelope.headers.len());
    for (name, value) in &envelope.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| broken(format!("has header name {name:?}: {e}")))?;
        // A slice of the envelope: the value is not copied.
        let value = HeaderValue::from_maybe_shared(buf.slice_ref(value))
            .map_err(|e| broken(format!("has a bad value for {name}: {e}")))?;
        headers.append(name, value);
    }
    drop(envelope);
    let mut body = buf;
    body.advance(body_at);
    *response.body_mut() = body;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absolute_url_reads_as_its_uri_displays() {
        for url in [
            "http://example.com",
            "https://example.com/",
            "http://127.0.0.1:8080/a/b?c=d&e",
            "https://[::1]:8443/?",
            "https://user@example.com/p%20q",
        ] {
            let uri: Uri = url.parse().unwrap();
            assert_eq!(absolute_url(&uri), uri.to_string(), "{url}");
        }
    }

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        let ms = |d| Options::new().timeout(d).timeout_ms();
        assert_eq!(Options::new().timeout_ms(), 0, "the function's own");
        assert_eq!(ms(Duration::ZERO), 1, "0 would mean the default");
        assert_eq!(ms(Duration::from_micros(1500)), 2);
        assert_eq!(ms(Duration::from_millis(2500)), 2500);
        assert_eq!(ms(Duration::from_secs(u64::MAX)), u32::MAX);
    }
}

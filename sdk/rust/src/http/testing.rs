//! Fake hosts for native tests of code that calls [`send`](super::send).
//!
//! In a native build `send` goes through the same envelopes and error mapping as in Wasm, but
//! the import at the bottom is a function installed for the current thread. Outside
//! [`with_host`] or [`with_raw_host`] there is none and every call fails with
//! [`ErrorKind::Unsupported`].
//!
//! ```
//! use edgefn::http::{self, ErrorKind, Request, Response, testing};
//!
//! let status = testing::with_host(
//!     |req, _timeout| {
//!         assert_eq!(req.uri(), "https://api.example.com/items");
//!         Ok(Response::new("[]".into()))
//!     },
//!     || http::send(Request::get("https://api.example.com/items").body(()).unwrap()),
//! );
//! assert_eq!(status.unwrap().body(), "[]");
//!
//! let failed = testing::with_host(
//!     |_, _| Err((ErrorKind::Timeout, "no answer in 100 ms".into())),
//!     || http::send(Request::get("https://api.example.com/").body(()).unwrap()),
//! );
//! assert_eq!(failed.unwrap_err().kind(), ErrorKind::Timeout);
//! ```

use super::ErrorKind;
use crate::imports::{HttpHost, replace_http_host};
use ::http::{HeaderName, HeaderValue, Request, Response};
use bytes::Bytes;
use edgefn_abi::{HttpRequestEnvelope, HttpResponseEnvelope, ImportError};
use std::time::Duration;

/// What a fake host given to [`with_host`] answers: a response, or an error kind and message.
pub type Answer = Result<Response<Bytes>, (ErrorKind, String)>;

/// What a raw fake host given to [`with_raw_host`] answers: the import's result (`>= 0`: the
/// size of the pending response envelope; `< 0`: an error code) and the pending bytes.
pub type RawAnswer = (i64, Vec<u8>);

/// The code a fake's [`ErrorKind::Other`] becomes: one no ABI version defines.
pub const OTHER_CODE: i64 = -1000;

/// Runs `run` with `host` answering every `send` on this thread, then restores what was there
/// before (also when `run` panics).
///
/// `host` gets each request as the real host would see it (decoded from the request envelope
/// the SDK wrote) and the call's timeout when it set one, and answers a response or an error
/// kind with its message.
pub fn with_host<R>(
    mut host: impl FnMut(
        Request<Bytes>,
        Option<Duration>,
    ) -> Result<Response<Bytes>, (ErrorKind, String)>
    + 'static,
    run: impl FnOnce() -> R,
) -> R {
    with_raw_host(
        move |envelope| match decode_request(envelope) {
            Ok((request, timeout)) => match host(request, timeout) {
                Ok(response) => {
                    let encoded = encode_response(&response);
                    (encoded.len() as i64, encoded)
                }
                Err((kind, message)) => (kind.code().unwrap_or(OTHER_CODE), message.into_bytes()),
            },
            Err(message) => (i64::from(ImportError::Invalid.code()), message.into_bytes()),
        },
        run,
    )
}

/// Runs `run` with `host` as this thread's raw `http_send`: it gets the request envelope's bytes
/// and returns a [`RawAnswer`]; `result_read` then follows `docs/abi.md`.
pub fn with_raw_host<R>(
    host: impl FnMut(&[u8]) -> RawAnswer + 'static,
    run: impl FnOnce() -> R,
) -> R {
    /// Puts the previous host back however `run` ends.
    struct Restore(Option<Option<HttpHost>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            replace_http_host(self.0.take().flatten());
        }
    }
    let _restore = Restore(Some(replace_http_host(Some(Box::new(host)))));
    run()
}

fn decode_request(envelope: &[u8]) -> Result<(Request<Bytes>, Option<Duration>), String> {
    let decoded = HttpRequestEnvelope::decode(envelope)
        .map_err(|e| format!("the request envelope does not decode: {e}"))?;
    let mut request = Request::builder()
        .method(decoded.method)
        .uri(decoded.url)
        .body(Bytes::copy_from_slice(decoded.body))
        .map_err(|e| format!("the request envelope holds a bad request: {e}"))?;
    for (name, value) in &decoded.headers {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header {name:?}: {e}"))?;
        let value = HeaderValue::from_bytes(value).map_err(|e| format!("header {name}: {e}"))?;
        request.headers_mut().append(name, value);
    }
    let timeout =
        (decoded.timeout_ms > 0).then(|| Duration::from_millis(decoded.timeout_ms.into()));
    Ok((request, timeout))
}

fn encode_response(response: &Response<Bytes>) -> Vec<u8> {
    HttpResponseEnvelope {
        status: response.status().as_u16(),
        headers: response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect(),
        body: response.body(),
    }
    .encode()
}

//! Answers the host writes itself: plain-text status lines, and the response a client sees when an
//! invocation failed (logged in full, answered without internals).

use crate::runtime::error::{FailureKind, InvokeError};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// Response body type of every listener.
pub type Body = Full<Bytes>;

/// A plain-text response: `"<status> <reason>: <message>\n"`.
pub(crate) fn plain_text(status: StatusCode, message: &str) -> Response<Body> {
    plain_bytes(status, message).map(Full::new)
}

/// [`plain_text`], with the body as bytes.
pub(crate) fn plain_bytes(status: StatusCode, message: &str) -> Response<Bytes> {
    let line = format!(
        "{} {}: {message}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut response = Response::new(Bytes::from(line));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// How a platform reports a timed-out guest to its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeoutStatus {
    /// 504, as a gateway does (the local host).
    #[cfg_attr(
        not(feature = "compiler"),
        allow(
            dead_code,
            reason = "the local host, which answers 504, is not in the runtime-only build"
        )
    )]
    GatewayTimeout,
    /// 500, as Azure Functions reports a function that timed out.
    InternalError,
}

/// Logs an invocation failure in full and answers the client without internals: the failure
/// kind's status (a timeout as `timeout` says), a message naming the request id, and
/// `Retry-After` on an overload.
pub(crate) fn failure_response(
    function: &str,
    request_id: &str,
    error: &InvokeError,
    timeout: TimeoutStatus,
) -> Response<Bytes> {
    let kind = error.kind();
    tracing::warn!(
        function,
        request_id,
        kind = kind.as_str(),
        "invocation failed: {error}"
    );
    let status = match (kind, timeout) {
        (FailureKind::Timeout, TimeoutStatus::InternalError) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => kind.status(),
    };
    let message = match error {
        InvokeError::Timeout(limit) => format!(
            "the function did not answer within its deadline of {} ms (request id {request_id})",
            limit.as_millis()
        ),
        InvokeError::ConcurrencyLimit(_) => {
            format!("function {function} is at its concurrency limit; retry shortly")
        }
        InvokeError::Overloaded(_) => "the host is at capacity; retry shortly".to_owned(),
        InvokeError::Load(_) => {
            format!("the function could not be loaded (request id {request_id})")
        }
        InvokeError::RequestTooLarge(size) => {
            format!("the request of {size} bytes is larger than a function can receive")
        }
        _ => format!("the function failed (request id {request_id})"),
    };
    let mut response = plain_bytes(status, &message);
    if kind == FailureKind::Overload {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

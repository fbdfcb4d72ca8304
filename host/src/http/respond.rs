//! Answers the host writes itself: plain-text status lines, and the response a client sees when an
//! invocation failed (logged in full, answered without internals).

use crate::runtime::error::{FailureKind, InvokeError};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::{Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Why a streamed body stopped before its end; hyper then aborts the response, so the client
/// sees a truncated transfer rather than one that looks complete.
pub(crate) type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// Response body type of every listener: bytes known whole, or a stream a guest is still writing
/// (a component's response on the local host).
pub struct Body(BodyKind);

enum BodyKind {
    Whole(Full<Bytes>),
    Streamed(Pin<Box<dyn hyper::body::Body<Data = Bytes, Error = BodyError> + Send>>),
}

impl Body {
    /// A body sent as `stream` yields it.
    pub fn streamed(
        stream: impl hyper::body::Body<Data = Bytes, Error = BodyError> + Send + 'static,
    ) -> Body {
        Body(BodyKind::Streamed(Box::pin(stream)))
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body(BodyKind::Whole(Full::new(bytes)))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match &mut self.get_mut().0 {
            BodyKind::Whole(full) => Pin::new(full)
                .poll_frame(cx)
                .map_err(|never| match never {}),
            BodyKind::Streamed(stream) => stream.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            BodyKind::Whole(full) => full.is_end_stream(),
            BodyKind::Streamed(stream) => stream.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            BodyKind::Whole(full) => full.size_hint(),
            BodyKind::Streamed(stream) => stream.size_hint(),
        }
    }
}

/// A plain-text response: `"<status> <reason>: <message>\n"`.
pub(crate) fn plain_text(status: StatusCode, message: &str) -> Response<Body> {
    plain_bytes(status, message).map(Body::from)
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

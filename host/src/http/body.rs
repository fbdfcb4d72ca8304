//! Request bodies read within a function's limits: too large (declared or sent) → 413, too slow →
//! 408, broken → 400.

use super::respond::{Body, plain_text};
use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body as _, Incoming};
use std::time::Duration;

/// Time a client has to send its whole request body.
pub(crate) const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads a request body of at most `limit` bytes within `timeout`, or the response to send
/// instead. A `Content-Length` above the limit is refused before anything is read.
pub(crate) async fn read_limited(
    headers: &HeaderMap,
    body: Incoming,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Response<Body>> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    // Most requests (GET, HEAD) carry no body: skip the timer and the collector for them.
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(too_large(limit))
        }
        Ok(Err(error)) => Err(plain_text(
            StatusCode::BAD_REQUEST,
            &format!("could not read the request body: {error}"),
        )),
        Err(_) => Err(plain_text(
            StatusCode::REQUEST_TIMEOUT,
            "the request body arrived too slowly",
        )),
    }
}

fn too_large(limit: usize) -> Response<Body> {
    plain_text(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the request body is larger than this function's limit of {limit} bytes"),
    )
}

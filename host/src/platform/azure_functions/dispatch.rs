//! Tells the Functions host's calls apart (readiness probe, forwarded request, invocation) and holds
//! what both protocols share: reading bodies within limits and turning failures into responses that
//! name the request id but no internals.

use super::{Handler, INVOCATION_ID_HEADER, forwarding, invocation};
use crate::invoke::InvokeError;
use crate::server::{DEFAULT_BODY_READ_TIMEOUT, new_request_id};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;

/// Response body type of the handler.
pub type Body = Full<Bytes>;

/// What a call from the Functions host is.
#[derive(Debug, PartialEq, Eq)]
pub enum Call {
    /// `GET /` without an invocation id: the host polling until the handler listens.
    Readiness,
    /// A client request forwarded as-is; the guest sees this path (route prefix removed).
    Forwarded {
        /// Path for the guest, starting with `/`.
        guest_path: String,
    },
    /// `POST /<FunctionName>` with the JSON invocation payload.
    Invocation,
    /// Nothing this handler serves.
    Unknown,
}

/// Classifies a call by method, path and whether it carries an invocation id.
pub fn classify(
    method: &Method,
    path: &str,
    has_invocation_id: bool,
    route_prefix: &str,
    function_name: &str,
) -> Call {
    if method == Method::GET && path == "/" && !has_invocation_id {
        return Call::Readiness;
    }
    if !route_prefix.is_empty()
        && let Some(rest) = strip_prefix_segment(path, route_prefix)
    {
        return Call::Forwarded {
            guest_path: rest.to_owned(),
        };
    }
    if method == Method::POST
        && path
            .strip_prefix('/')
            .is_some_and(|name| name.eq_ignore_ascii_case(function_name))
    {
        return Call::Invocation;
    }
    if route_prefix.is_empty() && path.starts_with('/') {
        return Call::Forwarded {
            guest_path: path.to_owned(),
        };
    }
    Call::Unknown
}

/// `path` without its leading `/<prefix>` segment (matched without regard to ASCII case, as the
/// Functions host routes), always starting with `/`; `None` when `path` is not under `prefix`.
pub fn strip_prefix_segment<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let after_slash = path.strip_prefix('/')?;
    let head = after_slash.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = &after_slash[prefix.len()..];
    if rest.is_empty() {
        Some("/")
    } else if rest.starts_with('/') {
        Some(rest)
    } else {
        None
    }
}

/// Serves one call from the Functions host.
pub async fn handle(handler: &Handler, request: Request<Incoming>) -> Response<Body> {
    let invocation_id = request
        .headers()
        .get(INVOCATION_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let call = classify(
        request.method(),
        request.uri().path(),
        invocation_id.is_some(),
        &handler.route_prefix,
        handler.function_name(),
    );
    // Calls without the host's id (a developer's curl) still get a unique one.
    let request_id = invocation_id.unwrap_or_else(new_request_id);
    let response = match call {
        Call::Readiness => text(StatusCode::OK, "the edgefn custom handler is ready"),
        Call::Forwarded { guest_path } => {
            forwarding::handle(handler, request, &guest_path, &request_id).await
        }
        Call::Invocation => invocation::handle(handler, request, &request_id).await,
        Call::Unknown => text(
            StatusCode::NOT_FOUND,
            &format!(
                "this handler serves function {name:?}: forwarded requests under /{prefix}/ and invocations at POST /{name}, not {method} {path}",
                name = handler.function_name(),
                prefix = handler.route_prefix,
                method = request.method(),
                path = request.uri().path(),
            ),
        ),
    };
    tracing::debug!(
        request_id,
        status = response.status().as_u16(),
        "call served"
    );
    response
}

/// A plain-text response: `"<status> <reason>: <message>\n"`.
pub fn text(status: StatusCode, message: &str) -> Response<Body> {
    plain(status, message).map(Full::new)
}

/// [`text`], with the body as bytes.
pub fn plain(status: StatusCode, message: &str) -> Response<Bytes> {
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

/// Reads a request body of at most `limit` bytes within the body timeout, or the response to send
/// instead (413, 408 or 400).
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, Response<Body>> {
    let collected = tokio::time::timeout(
        DEFAULT_BODY_READ_TIMEOUT,
        Limited::new(body, limit).collect(),
    )
    .await;
    match collected {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => Err(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is larger than this function's limit of {limit} bytes"),
        )),
        Ok(Err(error)) => Err(text(
            StatusCode::BAD_REQUEST,
            &format!("could not read the request body: {error}"),
        )),
        Err(_) => Err(text(
            StatusCode::REQUEST_TIMEOUT,
            "the request body arrived too slowly",
        )),
    }
}

/// The status, headers and body a client sees when an invocation failed. Every failure of the
/// guest (trap, panic, timeout, memory) is a 500, as Azure reports a function that failed or timed
/// out; only a full instance pool is a 503 the client may retry. Details go to the log only.
pub fn failure(function: &str, request_id: &str, error: &InvokeError) -> Response<Bytes> {
    tracing::warn!(
        function,
        request_id,
        kind = error.kind(),
        "invocation failed: {error}"
    );
    let (status, message) = match error {
        InvokeError::Overloaded(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the handler is at capacity; retry shortly".to_owned(),
        ),
        InvokeError::Timeout(limit) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "the function did not answer within its deadline of {} ms (request id {request_id})",
                limit.as_millis()
            ),
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the function failed (request id {request_id})"),
        ),
    };
    let mut response = plain(status, &message);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// Marks a response with the invocation's id, as the local host does.
pub fn tag_request_id(headers: &mut HeaderMap, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(crate::server::REQUEST_ID_HEADER, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(method: Method, path: &str, id: bool, prefix: &str) -> Call {
        classify(&method, path, id, prefix, "hello")
    }

    fn forwarded(path: &str) -> Call {
        Call::Forwarded {
            guest_path: path.to_owned(),
        }
    }

    #[test]
    fn calls_are_told_apart() {
        assert_eq!(call(Method::GET, "/", false, "api"), Call::Readiness);
        assert_eq!(call(Method::GET, "/", true, "api"), Call::Unknown);
        assert_eq!(call(Method::GET, "/", true, ""), forwarded("/"));
        assert_eq!(
            call(Method::GET, "/api/hello/x", true, "api"),
            forwarded("/hello/x")
        );
        assert_eq!(call(Method::POST, "/API", true, "api"), forwarded("/"));
        assert_eq!(call(Method::GET, "/apix", true, "api"), Call::Unknown);
        assert_eq!(call(Method::POST, "/hello", true, "api"), Call::Invocation);
        assert_eq!(call(Method::POST, "/Hello", true, "api"), Call::Invocation);
        assert_eq!(call(Method::GET, "/hello", true, "api"), Call::Unknown);
        assert_eq!(call(Method::POST, "/hello", true, ""), Call::Invocation);
        assert_eq!(call(Method::GET, "/hello", true, ""), forwarded("/hello"));
        assert_eq!(
            call(Method::GET, "/v1/a", true, "v1"),
            forwarded("/a"),
            "custom route prefix"
        );
    }

    #[test]
    fn prefix_stripping_respects_segments() {
        assert_eq!(strip_prefix_segment("/api", "api"), Some("/"));
        assert_eq!(strip_prefix_segment("/api/", "api"), Some("/"));
        assert_eq!(strip_prefix_segment("/api/a/b", "api"), Some("/a/b"));
        assert_eq!(strip_prefix_segment("/apia", "api"), None);
        assert_eq!(strip_prefix_segment("/ap", "api"), None);
        assert_eq!(strip_prefix_segment("api/a", "api"), None);
        // A multi-byte character where the prefix would end must not panic.
        assert_eq!(strip_prefix_segment("/aé/x", "ab"), None);
    }
}

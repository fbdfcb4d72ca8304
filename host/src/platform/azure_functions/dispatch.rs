//! Tells the Functions host's calls apart (readiness probe, forwarded request, invocation) and
//! hands each to its protocol's module.

use super::contract::{INVOCATION_ID_HEADER, strip_prefix_segment};
use super::{Handler, forwarding, invocation};
use crate::http::ids::new_request_id;
use crate::http::respond::plain_text;
use crate::http::server::Body;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

/// What a call from the Functions host is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Call {
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
pub(crate) fn classify(
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

/// Serves one call from the Functions host.
pub(crate) async fn handle(handler: &Handler, request: Request<Incoming>) -> Response<Body> {
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
        Call::Readiness => plain_text(StatusCode::OK, "the edgefn custom handler is ready"),
        Call::Forwarded { guest_path } => {
            forwarding::handle(handler, request, &guest_path, &request_id).await
        }
        Call::Invocation => invocation::handle(handler, request, &request_id).await,
        Call::Unknown => plain_text(
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
}

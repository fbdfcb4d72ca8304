//! Forwarding mode (`enableForwardingHttpRequest: true`): the Functions host passes the client's
//! request through unchanged at its original path and sends the handler's response back as-is, so
//! binary bodies, status codes and repeated headers (`Set-Cookie`) survive exactly.
//!
//! The guest sees the request as the client sent it: the route prefix is removed from the path
//! (`/api/hello/x` → `/hello/x`, the path the same URL has on the local host) and the headers the
//! Functions host adds for the handler are taken off again.

use super::Handler;
use super::contract::INVOCATION_ID_HEADER;
use crate::deploy::invoker::PlatformCall;
use crate::http::body::{DEFAULT_BODY_READ_TIMEOUT, read_limited};
use crate::http::ids::{tag_request_id, traceparent};
use crate::http::respond::{TimeoutStatus, failure_response, plain_text};
use crate::http::server::Body;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri, header};
use hyper::body::Incoming;

/// Headers the Functions host adds to every forwarded request; the guest gets their content from
/// `Context` instead.
pub(crate) const HOST_ADDED_HEADERS: [&str; 2] =
    [INVOCATION_ID_HEADER, "x-azure-functions-hostversion"];
/// Product token the Functions host appends to the client's `User-Agent`.
pub(crate) const HOST_USER_AGENT_PRODUCT: &str = "Azure-Functions-Host/";

/// Runs the guest on a forwarded request and answers with its response as-is.
pub(crate) async fn handle(
    handler: &Handler,
    request: Request<Incoming>,
    guest_path: &str,
    request_id: &str,
) -> Response<Body> {
    let (mut parts, body) = request.into_parts();
    let limit = handler.function.spec().limits().max_request_bytes;
    let body = match read_limited(&parts.headers, body, limit, DEFAULT_BODY_READ_TIMEOUT).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    parts.uri = match guest_uri(guest_path, parts.uri.query()) {
        Ok(uri) => uri,
        Err(message) => return plain_text(StatusCode::BAD_REQUEST, &message),
    };
    remove_host_additions(&mut parts.headers);
    let request = Request::from_parts(parts, body);
    let call = PlatformCall {
        request_id,
        deadline: Some(handler.deadline()),
        traceparent: traceparent(request.headers()),
    };
    let mut response = match handler.function.respond(&request, &call).await {
        Ok(response) => response,
        Err(error) => failure_response(
            handler.function_name(),
            request_id,
            &error,
            TimeoutStatus::InternalError,
        ),
    }
    .map(Body::from);
    tag_request_id(response.headers_mut(), request_id);
    response
}

/// The guest's request target: `path` plus the query as it arrived.
pub(crate) fn guest_uri(path: &str, query: Option<&str>) -> Result<Uri, String> {
    let target = match query {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    Uri::try_from(target.as_str())
        .map_err(|e| format!("the request target {target:?} is not valid: {e}"))
}

/// Takes off what the Functions host added for the handler, leaving the client's headers.
pub(crate) fn remove_host_additions(headers: &mut HeaderMap) {
    for name in HOST_ADDED_HEADERS {
        headers.remove(name);
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(user_agent) = user_agent {
        match strip_host_product(&user_agent) {
            Some("") => {
                headers.remove(header::USER_AGENT);
            }
            Some(client) => {
                if let Ok(value) = HeaderValue::from_str(client) {
                    headers.insert(header::USER_AGENT, value);
                }
            }
            None => {}
        }
    }
}

/// The client's part of a `User-Agent` that ends with the Functions host's product token, or
/// `None` when it does not.
fn strip_host_product(user_agent: &str) -> Option<&str> {
    let start = user_agent.rfind(HOST_USER_AGENT_PRODUCT)?;
    let (client, product) = user_agent.split_at(start);
    let is_last_token = !product.contains(char::is_whitespace);
    let starts_token = client.is_empty() || client.ends_with(char::is_whitespace);
    (is_last_token && starts_token).then(|| client.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_additions_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert("x-azure-functions-invocationid", "id".parse().unwrap());
        headers.insert("x-azure-functions-hostversion", "4.1".parse().unwrap());
        headers.insert("x-client", "kept".parse().unwrap());
        headers.insert(
            header::USER_AGENT,
            "curl/8.5.0 Azure-Functions-Host/4.1036.1.23224"
                .parse()
                .unwrap(),
        );
        remove_host_additions(&mut headers);
        assert_eq!(headers.len(), 2);
        assert_eq!(headers["x-client"], "kept");
        assert_eq!(headers[header::USER_AGENT], "curl/8.5.0");

        let mut only_host = HeaderMap::new();
        only_host.insert(
            header::USER_AGENT,
            "Azure-Functions-Host/4.1".parse().unwrap(),
        );
        remove_host_additions(&mut only_host);
        assert!(only_host.is_empty());
    }

    #[test]
    fn foreign_user_agents_stay() {
        for agent in [
            "Mozilla/5.0 (X11)",
            "My-Azure-Functions-Host/1",
            "Azure-Functions-Host/4 (extra)",
        ] {
            assert_eq!(strip_host_product(agent), None, "{agent}");
        }
    }

    #[test]
    fn guest_uri_keeps_the_query() {
        assert_eq!(
            guest_uri("/echo/x", Some("a=1&a=2")).unwrap(),
            "/echo/x?a=1&a=2"
        );
        assert_eq!(guest_uri("/", None).unwrap(), "/");
    }
}

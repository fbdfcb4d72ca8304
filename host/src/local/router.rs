//! The local host's request handler (`edgefn serve`): routes each request to its function by path
//! prefix and takes the one admission path, answering the request-side limits and invocation
//! failures as an HTTP gateway does. Invocations run on the accepting thread, so a request never
//! crosses threads; a long-running guest yields at every epoch tick.

use crate::deploy::invoker::{Invoker, PlatformCall};
use crate::deploy::registry::Registry;
use crate::http::body::read_limited;
use crate::http::ids::{new_request_id, tag_request_id, traceparent};
use crate::http::respond::BodyError;
use crate::http::respond::{TimeoutStatus, failure_response, plain_text};
use crate::http::server::{Body, ServerOptions, serve_http};
use crate::runtime::guest::ResponseBody;
use edgefn_abi::Platform;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The local host's request handler: routes to deployed functions.
struct Router {
    invoker: Invoker,
    body_read_timeout: Duration,
}

/// Serves the registry's functions on `listener` until `shutdown` turns true, then stops
/// accepting, lets in-flight requests finish (up to the grace period) and returns. Blocks the
/// calling thread.
pub(crate) fn serve(
    registry: Arc<Registry>,
    listener: std::net::TcpListener,
    options: ServerOptions,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let router = Arc::new(Router {
        invoker: Invoker::new(registry, Platform::Local),
        body_read_timeout: options.body_read_timeout,
    });
    serve_http(listener, options, shutdown, move |req, peer| {
        let router = router.clone();
        async move { handle(&router, req, peer).await }
    })
}

async fn handle(router: &Router, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let request_id = new_request_id();
    // A span costs ~3k instructions per request, so it is only opened when there is a trace to
    // join; guest output and failure logs carry function and request id as fields regardless.
    let span = match traceparent(req.headers()) {
        Some(traceparent) => tracing::info_span!(
            "request",
            request_id,
            function = tracing::field::Empty,
            traceparent
        ),
        None => tracing::Span::none(),
    };
    let mut response = tracing::Instrument::instrument(route(router, req, &request_id), span).await;
    tag_request_id(response.headers_mut(), &request_id);
    tracing::debug!(%peer, request_id, status = response.status().as_u16(), "request served");
    response
}

async fn route(router: &Router, req: Request<Incoming>, request_id: &str) -> Response<Body> {
    let Some(deployed) = router.invoker.registry().resolve(req.uri().path()) else {
        return plain_text(
            StatusCode::NOT_FOUND,
            &format!("no function is routed at {}", req.uri().path()),
        );
    };
    let function = deployed.spec.name();
    tracing::Span::current().record("function", function);
    let failed = |error| {
        failure_response(function, request_id, &error, TimeoutStatus::GatewayTimeout)
            .map(Body::from)
    };
    let admitted = match router.invoker.admit(&deployed) {
        Ok(admitted) => admitted,
        Err(error) => return failed(error),
    };
    let (parts, body) = req.into_parts();
    let limit = deployed.spec.limits().max_request_bytes;
    let body = match read_limited(&parts.headers, body, limit, router.body_read_timeout).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let request = Request::from_parts(parts, body);
    let call = PlatformCall {
        request_id,
        deadline: None,
        traceparent: traceparent(request.headers()),
    };
    match router
        .invoker
        .run_streaming(admitted, &request, &call)
        .await
    {
        Ok(response) => response.map(|body| match body {
            ResponseBody::Whole(bytes) => Body::from(bytes),
            ResponseBody::Streaming(stream) => {
                Body::streamed(stream.map_err(|error| Box::new(error) as BodyError))
            }
        }),
        Err(error) => failed(error),
    }
}

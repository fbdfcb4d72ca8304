//! The handler's HTTP/1.1 server: the local host's ([`crate::http::server::serve_http`]: one
//! current-thread runtime and `SO_REUSEPORT` socket per worker, header timeout, graceful drain)
//! with the Functions host's dispatch as the request handler.

use super::Handler;
use super::dispatch;
use crate::http::server::{ServerOptions, serve_http};
use std::sync::Arc;
use tokio::sync::watch;

/// Serves until `shutdown` turns true, then lets in-flight invocations finish (up to the grace
/// period). Blocks the calling thread. `listener` must come from [`crate::http::server::bind`].
pub(crate) fn serve(
    handler: Arc<Handler>,
    listener: std::net::TcpListener,
    workers: usize,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let options = ServerOptions {
        workers,
        ..ServerOptions::default()
    };
    serve_http(listener, options, shutdown, move |request, _peer| {
        let handler = handler.clone();
        async move { dispatch::handle(&handler, request).await }
    })
}

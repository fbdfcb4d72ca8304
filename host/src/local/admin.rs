//! The admin listener: metrics, the list of deployed functions, and hot redeploys. It is never the
//! public listener: it binds loopback unless told otherwise, and every endpoint but `/healthz`
//! requires `Authorization: Bearer <token>`; a refused call changes nothing.

use crate::deploy::manifest::FunctionSource;
use crate::deploy::registry::{Registry, ReloadReport};
use crate::http::server::{ServerOptions, serve_http};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use std::sync::Arc;
use tokio::sync::watch;

/// Where the admin listener binds when enabled without an address.
pub(crate) const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";

/// What the admin listener serves from.
pub(crate) struct Admin {
    registry: Arc<Registry>,
    source: FunctionSource,
    token: String,
}

/// A random token (128 bits from the OS), hex.
pub(crate) fn generate_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Compares without an early exit, so response timing says nothing about how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Admin {
    /// An admin surface over `registry`, reloading from `source`, guarded by `token`.
    pub(crate) fn new(
        registry: Arc<Registry>,
        source: FunctionSource,
        token: String,
    ) -> anyhow::Result<Admin> {
        anyhow::ensure!(
            token.len() >= 16,
            "the admin token must be at least 16 characters"
        );
        Ok(Admin {
            registry,
            source,
            token,
        })
    }

    /// Re-reads the function source and redeploys what changed (one redeploy at a time: the
    /// registry serializes them, so this and `serve --watch` never interleave).
    pub(crate) fn reload(&self) -> anyhow::Result<ReloadReport> {
        let specs = self.source.load()?;
        Ok(self.registry.redeploy(specs))
    }

    fn authorized(&self, req: &Request<Incoming>) -> bool {
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), self.token.as_bytes()))
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if req.method() == Method::GET && req.uri().path() == "/healthz" {
            return reply(StatusCode::OK, "text/plain", "ok\n".into());
        }
        if !self.authorized(&req) {
            let mut response = reply(
                StatusCode::UNAUTHORIZED,
                "text/plain",
                "401 Unauthorized: send Authorization: Bearer <admin token>\n".into(),
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/metrics") => reply(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                self.registry.metrics.render(),
            ),
            (&Method::GET, "/functions") => {
                let functions: Vec<_> = self
                    .registry
                    .deployed()
                    .iter()
                    .map(|d| {
                        serde_json::json!({
                            "name": d.spec.name(),
                            "routes": d.spec.routes(),
                            "wasm": d.spec.wasm(),
                            "kind": d.kind.as_str(),
                            "module_sha256": d.module_hash,
                            "preinitialized": d.preinit,
                            "in_flight": d.in_flight(),
                        })
                    })
                    .collect();
                reply(
                    StatusCode::OK,
                    "application/json",
                    serde_json::json!(functions).to_string(),
                )
            }
            (&Method::POST, "/reload") => {
                let admin = self.clone();
                match tokio::task::spawn_blocking(move || admin.reload()).await {
                    Ok(Ok(report)) => {
                        let status = if report.failed.is_empty() {
                            StatusCode::OK
                        } else {
                            StatusCode::UNPROCESSABLE_ENTITY
                        };
                        reply(
                            status,
                            "application/json",
                            serde_json::to_string(&report).unwrap_or_default(),
                        )
                    }
                    Ok(Err(error)) => reply(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "application/json",
                        serde_json::json!({ "error": format!("{error:#}") }).to_string(),
                    ),
                    Err(_) => reply(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain",
                        "reload panicked\n".into(),
                    ),
                }
            }
            _ => reply(
                StatusCode::NOT_FOUND,
                "text/plain",
                "404: admin endpoints are /healthz, /metrics, /functions, POST /reload\n".into(),
            ),
        }
    }

    /// Serves on `listener` until `shutdown` turns true, on a thread of its own, with the same
    /// header timeout, header size and connection cap as the public listener (one worker: the
    /// admin surface is for operators, not traffic). `listener` must come from
    /// [`crate::http::server::bind`].
    pub(crate) fn spawn(
        self: Arc<Self>,
        listener: std::net::TcpListener,
        shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("edgefn-admin".into())
            .spawn(move || {
                let options = ServerOptions {
                    workers: 1,
                    ..ServerOptions::default()
                };
                let served = serve_http(listener, options, shutdown, move |req, _peer| {
                    let admin = self.clone();
                    async move { admin.handle(req).await }
                });
                if let Err(error) = served {
                    tracing::error!("the admin listener stopped: {error:#}");
                }
            })
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert_eq!(generate_token().unwrap().len(), 32);
    }
}

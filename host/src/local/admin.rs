//! The admin listener: health and readiness probes, metrics, the list of deployed functions, and
//! hot redeploys. It is never the public listener: it binds loopback unless told otherwise, and
//! every endpoint but the probes (`/healthz`, `/readyz`) requires `Authorization: Bearer <token>`;
//! a refused call changes nothing.

use crate::deploy::manifest::FunctionSource;
use crate::deploy::registry::{Registry, ReloadReport};
use crate::http::server::{ServerOptions, serve_http};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use tokio::sync::watch;

/// Where the admin listener binds when enabled without an address.
pub(crate) const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";

/// What the admin listener serves from.
pub(crate) struct Admin {
    registry: Arc<Registry>,
    source: FunctionSource,
    token: String,
    readiness: Arc<Readiness>,
}

/// Where `edgefn serve` is in its life, as `/readyz` reports it: starting (deploying the
/// manifest), serving, or draining (a shutdown signal came; it still serves until the listener
/// closes, so a balancer that probes stops routing here first).
#[derive(Debug, Default)]
pub(crate) struct Readiness {
    phase: AtomicU8,
}

const STARTING: u8 = 0;
const SERVING: u8 = 1;
const DRAINING: u8 = 2;

impl Readiness {
    /// The public listener is bound and the startup deploy is done. Never undoes a drain.
    pub(crate) fn serving(&self) {
        let _ = self
            .phase
            .compare_exchange(STARTING, SERVING, Ordering::AcqRel, Ordering::Acquire);
    }

    /// A shutdown signal came: not ready from now on.
    pub(crate) fn draining(&self) {
        self.phase.store(DRAINING, Ordering::Release);
    }

    /// `/readyz`: ready while serving with every function the manifest lists deployed. The
    /// answer counts missing functions without naming them (it needs no token); their names are
    /// in the log and in `/reload`'s report.
    fn answer(&self, registry: &Registry) -> (StatusCode, String) {
        let not_ready = |why: String| {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {why}\n"),
            )
        };
        match self.phase.load(Ordering::Acquire) {
            STARTING => not_ready("deploying the manifest's functions".into()),
            DRAINING => not_ready("shutting down".into()),
            _ => match registry.missing().len() {
                0 => (StatusCode::OK, "ready\n".into()),
                n => not_ready(format!(
                    "{n} function(s) of the manifest are not deployed (refused: see the log; fix them and POST /reload)"
                )),
            },
        }
    }
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
    /// An admin surface over `registry`, reloading from `source`, guarded by `token`, answering
    /// `/readyz` from `readiness`.
    pub(crate) fn new(
        registry: Arc<Registry>,
        source: FunctionSource,
        token: String,
        readiness: Arc<Readiness>,
    ) -> anyhow::Result<Admin> {
        anyhow::ensure!(
            token.len() >= 16,
            "the admin token must be at least 16 characters"
        );
        Ok(Admin {
            registry,
            source,
            token,
            readiness,
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
        // The probes need no token: a kubelet or load balancer sends none.
        if req.method() == Method::GET {
            match req.uri().path() {
                "/healthz" => return reply(StatusCode::OK, "text/plain", "ok\n".into()),
                "/readyz" => {
                    let (status, body) = self.readiness.answer(&self.registry);
                    return reply(status, "text/plain", body);
                }
                _ => {}
            }
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
                "404: admin endpoints are /healthz, /readyz, /metrics, /functions, POST /reload\n"
                    .into(),
            ),
        }
    }

    /// Serves on `listener` until `shutdown` turns true (for `edgefn serve`, after the public
    /// listener has drained, so the probes answer throughout), on a thread of its own, with the same
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

    #[test]
    fn readiness_goes_starting_serving_draining_and_never_back() {
        let readiness = Readiness::default();
        assert_eq!(readiness.phase.load(Ordering::Acquire), STARTING);
        readiness.serving();
        assert_eq!(readiness.phase.load(Ordering::Acquire), SERVING);
        readiness.draining();
        readiness.serving();
        assert_eq!(readiness.phase.load(Ordering::Acquire), DRAINING);
    }
}

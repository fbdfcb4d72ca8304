//! The admin listener: health and readiness probes, metrics, the list of deployed functions, hot
//! redeploys, and the key-value store (`/kv/...`, what `edgefn kv` uses while a host holds the
//! file). It is never the public listener: it binds loopback unless told otherwise, and
//! every endpoint but the probes (`/healthz`, `/readyz`) requires `Authorization: Bearer <token>`;
//! a refused call changes nothing.

use crate::deploy::manifest::FunctionSource;
use crate::deploy::registry::{Registry, ReloadReport};
use crate::http::server::{Body, ServerOptions, serve_http};
use crate::runtime::capabilities::kv::{KvBackend, KvError};
use bytes::Bytes;
use edgefn_abi::ImportError;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
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

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        if req.uri().path().starts_with(KV_PREFIX) && self.authorized(&req) {
            let kv = self.registry.backends().kv.clone();
            return kv_endpoint(kv.as_ref(), req).await;
        }
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
                            "preinitialized": d.serves_snapshot(),
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
                "404: admin endpoints are /healthz, /readyz, /metrics, /functions, POST /reload, /kv/STORE[/KEY]\n"
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

/// Where the key-value endpoints live: `/kv/STORE` (GET: list) and `/kv/STORE/KEY` (GET, PUT,
/// DELETE), the key percent-encoded as one segment or several (`/` is part of a key).
const KV_PREFIX: &str = "/kv/";

/// One key-value call, checked against the same contract as a guest's (`edgefn_abi::kv`), on the
/// host's own store: the one its functions use.
async fn kv_endpoint(kv: &dyn KvBackend, req: Request<Incoming>) -> Response<Body> {
    match kv_call(kv, req).await {
        Ok(response) => response,
        Err((status, message)) => reply(status, "text/plain", format!("{message}\n")),
    }
}

type KvRefusal = (StatusCode, String);

async fn kv_call(kv: &dyn KvBackend, req: Request<Incoming>) -> Result<Response<Body>, KvRefusal> {
    use edgefn_abi::kv as contract;
    let bad = |e: contract::Refused| (StatusCode::BAD_REQUEST, e.0);
    let failed = |e: KvError| {
        let status = match e.kind {
            ImportError::Invalid => StatusCode::BAD_REQUEST,
            ImportError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ImportError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, e.to_string())
    };
    let path = &req.uri().path()[KV_PREFIX.len()..];
    let (store, key) = match path.split_once('/') {
        Some((store, key)) => (store, Some(key)),
        None => (path, None),
    };
    let store = percent_decode(store)?;
    contract::check_store_name(&store).map_err(bad)?;
    let query = query_pairs(&req);
    let Some(key) = key else {
        if req.method() != Method::GET {
            return Err((
                StatusCode::METHOD_NOT_ALLOWED,
                "GET /kv/STORE lists keys; GET, PUT and DELETE /kv/STORE/KEY read, write and remove one".into(),
            ));
        }
        let prefix = query.get("prefix").cloned().unwrap_or_default();
        contract::check_prefix(prefix.as_bytes()).map_err(bad)?;
        let cursor = query.get("cursor").filter(|c| !c.is_empty()).cloned();
        if let Some(cursor) = &cursor {
            contract::check_cursor(cursor.as_bytes()).map_err(bad)?;
        }
        let limit = match query.get("limit") {
            Some(limit) => limit.parse::<u32>().map_err(|_| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("limit={limit:?} is not a whole number"),
                )
            })?,
            None => 0,
        };
        let limit = contract::check_list_limit(limit).map_err(bad)?;
        let page = kv
            .list(&store, &prefix, cursor.as_deref(), limit)
            .await
            .map_err(failed)?;
        let body = serde_json::json!({ "keys": page.keys, "cursor": page.cursor });
        return Ok(reply(StatusCode::OK, "application/json", body.to_string()));
    };
    let key = percent_decode(key)?;
    contract::check_key(key.as_bytes()).map_err(bad)?;
    match *req.method() {
        Method::GET => match kv.get(&store, &key).await.map_err(failed)? {
            Some(value) => {
                let mut response = Response::new(Body::from(Bytes::from(value)));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                Ok(response)
            }
            None => Err((
                StatusCode::NOT_FOUND,
                format!("{key:?} is not in store {store:?}"),
            )),
        },
        Method::PUT => {
            let ttl = match query.get("ttl") {
                Some(ttl) => ttl.parse::<u32>().map_err(|_| {
                    (
                        StatusCode::BAD_REQUEST,
                        format!("ttl={ttl:?} is not a whole number of seconds"),
                    )
                })?,
                None => 0,
            };
            contract::check_ttl(ttl).map_err(bad)?;
            let limited = http_body_util::Limited::new(req.into_body(), contract::MAX_VALUE_BYTES);
            let value = match http_body_util::BodyExt::collect(limited).await {
                Ok(body) => body.to_bytes(),
                Err(_) => {
                    return Err((
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!(
                            "the value is over {} bytes (256 KiB), the most a store holds on every platform, or its body broke off",
                            contract::MAX_VALUE_BYTES
                        ),
                    ));
                }
            };
            kv.set(&store, &key, &value, ttl).await.map_err(failed)?;
            Ok(reply(StatusCode::OK, "text/plain", "stored\n".into()))
        }
        Method::DELETE => {
            kv.delete(&store, &key).await.map_err(failed)?;
            Ok(reply(StatusCode::OK, "text/plain", "deleted\n".into()))
        }
        _ => Err((
            StatusCode::METHOD_NOT_ALLOWED,
            "/kv/STORE/KEY takes GET, PUT and DELETE".into(),
        )),
    }
}

/// A percent-encoded path part as text.
fn percent_decode(part: &str) -> Result<String, KvRefusal> {
    percent_encoding::percent_decode_str(part)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            (
                StatusCode::BAD_REQUEST,
                format!("{part:?} is not percent-encoded UTF-8: keys are text"),
            )
        })
}

fn query_pairs(req: &Request<Incoming>) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::from(Bytes::from(body)));
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

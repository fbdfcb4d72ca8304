//! # edgefn-tower: a tower `Service` as an edgefn function
//!
//! Any [`tower_service::Service`] over `http::Request<`[`Body`]`>` that answers an
//! `http::Response` — an axum `Router`, for one — exported as an edgefn function, so the same
//! `.wasm` runs on the edgefn host, AWS Lambda, Azure Functions and Cloudflare Workers:
//!
//! ```
//! use axum::{Json, Router, extract::Path, routing::get};
//!
//! pub fn app() -> Router {
//!     Router::new().route("/hello/{name}", get(hello))
//! }
//!
//! async fn hello(Path(name): Path<String>) -> Json<serde_json::Value> {
//!     Json(serde_json::json!({ "message": format!("Hello, {name}!") }))
//! }
//!
//! edgefn_tower::export!(app);
//! # let ctx = edgefn::Context::builder().function_name("greet").build();
//! # let req = http::Request::get("/greet/hello/edge").body(Default::default()).unwrap();
//! # assert_eq!(edgefn_tower::call(&mut app(), req, &ctx).body(), r#"{"message":"Hello, edge!"}"#);
//! ```
//!
//! Depend on axum with `default-features = false` (and the features you use, e.g. `json`,
//! `query`): its defaults bring tokio and hyper, which a guest has no use for. The guest stays
//! single-threaded and needs no async runtime.
//!
//! ## How a request is served
//!
//! Each instance gets its service from the factory given to [`export!`] (`app` above) at its first
//! request, or once at deploy with `export!(app, preinit)`, which a fresh instance per request
//! makes much cheaper (see [`export!`] for what that asks of `app`). For each request the adapter
//! puts the request's [`edgefn::Context`] in the request's extensions (axum:
//! `Extension<edgefn::Context>`) and drives `poll_ready`, `call` and the response body to
//! completion right there, inside the synchronous call the host makes. The whole body arrives as
//! one [`Body`]; the response body is collected whole (trailers are dropped: edgefn responses have
//! none).
//!
//! The future is polled on the guest's one thread with no runtime behind it. It is polled again
//! only when it woke itself during the previous poll, as a cooperative yield does. A future that
//! returns `Pending` without that waits for something that never comes in a guest (a tokio timer,
//! a socket, a task spawned elsewhere), so instead of hanging until the platform's deadline the
//! request answers `500 Internal Server Error` at once and the log says why. (A future that wakes
//! itself forever is a busy loop: it runs into the deadline, 504.)
//!
//! ## Paths
//!
//! A function is reached at `/<name>/items/7` on the local host and on Azure Functions, and at
//! `/items/7` on AWS Lambda and Cloudflare Workers. So that one set of routes serves both, a path
//! that starts with the `/<function name>` segment is served without it first; if the service
//! answers `404` to that, it is asked again with the whole path, and the first answer is kept
//! when that is a `404` too. (`edgefn::Router` does the same, trying the whole path first.) A
//! route that answers `404` under the short path therefore runs a second time under the long one
//! only when the long one matches a route too.
//!
//! ## Failures
//!
//! The service's own error (its `Error` type, from `poll_ready` or `call`), an error while
//! reading the response body, and a stalled future each answer a bare `500 Internal Server
//! Error`; the detail goes to the log (stderr), never to the client. A panic ends the instance as
//! in any edgefn function: the platform answers 500 and logs the message. Errors a framework turns
//! into responses (axum's rejections: `400` for bad JSON, `415` without a JSON content type, ...)
//! are answered as the framework made them.
//!
//! ## Testing
//!
//! The crate builds natively: [`call`] serves one request through the same path the module uses,
//! so `cargo test` can call the router with a [`Context`] from
//! `Context::builder()`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod executor;
mod path;

use bytes::Bytes;
use edgefn::{Context, IntoResponse, StatusCode};
use http_body_util::BodyExt;
use std::fmt;
use tower_service::Service;

/// The request body a service is given: the whole body, in one frame.
pub type Body = http_body_util::Full<Bytes>;

/// A tower service edgefn can serve: `Service<http::Request<Body>, Response = http::Response<B>>`
/// whose error, and whose response body's error, are `Display` (they are logged). Implemented for
/// every such service; an axum `Router` is one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tower service edgefn can serve",
    label = "expected `tower_service::Service<http::Request<edgefn_tower::Body>, Response = http::Response<B>>`",
    note = "an axum `Router` is one (`fn app() -> axum::Router`); the service's `Error` and the response body's \
            `Error` must implement `std::fmt::Display`"
)]
pub trait HttpService {
    /// Serves one request to completion: the response with its whole body, or why there is none.
    #[doc(hidden)]
    fn serve(&mut self, req: http::Request<Body>) -> Result<edgefn::Response, Failure>;
}

impl<S, B> HttpService for S
where
    S: Service<http::Request<Body>, Response = http::Response<B>>,
    S::Error: fmt::Display,
    B: http_body::Body,
    B::Error: fmt::Display,
{
    fn serve(&mut self, req: http::Request<Body>) -> Result<edgefn::Response, Failure> {
        executor::block_on(std::future::poll_fn(|cx| self.poll_ready(cx)))?
            .map_err(|e| Failure::Service(e.to_string()))?;
        let response =
            executor::block_on(self.call(req))?.map_err(|e| Failure::Service(e.to_string()))?;
        let (parts, body) = response.into_parts();
        let body = executor::block_on(body.collect())?
            .map_err(|e| Failure::Body(e.to_string()))?
            .to_bytes();
        Ok(edgefn::Response::from_parts(parts, body))
    }
}

/// Why a service gave no response (logged; the client gets a bare 500).
#[doc(hidden)]
#[derive(Debug)]
pub enum Failure {
    /// `poll_ready` or `call` returned an error.
    Service(String),
    /// Reading the response body failed.
    Body(String),
    /// A future was pending with nothing to wake it.
    Stalled,
}

impl From<executor::Stalled> for Failure {
    fn from(_: executor::Stalled) -> Failure {
        Failure::Stalled
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Service(error) => write!(f, "the service failed: {error}"),
            Failure::Body(error) => write!(f, "reading the response body failed: {error}"),
            Failure::Stalled => executor::Stalled.fmt(f),
        }
    }
}

/// Serves one request with `service`, as an exported function does: the path without a leading
/// `/<function name>` segment first (see [Paths](crate#paths)), `ctx` in the request's extensions,
/// and any failure as a bare 500 (logged).
pub fn call<S: HttpService>(
    service: &mut S,
    req: edgefn::Request,
    ctx: &Context,
) -> edgefn::Response {
    respond(service, req, ctx).unwrap_or_else(|failure| failure_response(&failure))
}

/// [`call`], with the failure, if any, kept apart from the answer.
fn respond<S: HttpService>(
    service: &mut S,
    req: edgefn::Request,
    ctx: &Context,
) -> Result<edgefn::Response, Failure> {
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(ctx.clone());
    let Some(short) = path::below_function(&parts.uri, ctx.function_name()) else {
        return service.serve(http::Request::from_parts(parts, Body::new(body)));
    };
    let whole = http::Request::from_parts(parts.clone(), Body::new(body.clone()));
    parts.uri = short;
    let first = service.serve(http::Request::from_parts(parts, Body::new(body)))?;
    if first.status() != StatusCode::NOT_FOUND {
        return Ok(first);
    }
    let second = service.serve(whole)?;
    Ok(if second.status() == StatusCode::NOT_FOUND {
        first
    } else {
        second
    })
}

fn failure_response(failure: &Failure) -> edgefn::Response {
    eprintln!("edgefn-tower: {failure}");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// Exports a service factory as this module's edgefn entry points: `export!(app)` with
/// `fn app() -> axum::Router` (or any `Fn() -> S` where `S` is an [`HttpService`]).
///
/// ```
/// fn app() -> axum::Router {
///     axum::Router::new().route("/", axum::routing::get(|| async { "hi\n" }))
/// }
/// edgefn_tower::export!(app);
/// ```
///
/// Each instance calls `app` once, at its first request, and serves every request it gets with
/// that service (a fresh instance per request, the default, calls it for every request). A
/// service that fails (an error from `poll_ready` or `call`, a stalled future) is dropped, and the
/// next request gets a new one.
///
/// **`preinit`** calls `app` while the module initializes instead (`edgefn_v1_init`), so the
/// edgefn host builds the service once at deploy and starts every instance from a snapshot of it:
/// a fresh instance no longer pays for building the router (the axum example: 13.2 µs per fresh
/// request instead of 18.2 µs; `bench/README.md`, "Frameworks"). Like any init
/// (`docs/abi.md`, "Pre-initialization"), it runs with no environment variables, files or
/// request, so `app` must not read configuration: read variables in the handlers
/// (`Extension<edgefn::Context>` and `ctx.var`), or use the default form.
///
/// ```
/// fn app() -> axum::Router {
///     axum::Router::new().route("/", axum::routing::get(|| async { "hi\n" }))
/// }
/// edgefn_tower::export!(app, preinit);
/// ```
///
/// `init = setup` runs `fn setup()` once at deploy too, as with `edgefn::export!` (before `app`,
/// with `preinit`):
///
/// ```
/// static TABLE: std::sync::OnceLock<Vec<u64>> = std::sync::OnceLock::new();
/// fn setup() { TABLE.get_or_init(|| (0..1000).collect()); }
/// fn app() -> axum::Router {
///     axum::Router::new().route("/", axum::routing::get(|| async { TABLE.get().unwrap().len().to_string() }))
/// }
/// edgefn_tower::export!(app, preinit, init = setup);
/// ```
///
/// A factory whose service edgefn cannot serve is refused at compile time, natively too:
///
/// ```compile_fail,E0277
/// // error[E0277]: `u32` is not a tower service edgefn can serve
/// fn app() -> u32 { 7 }
/// edgefn_tower::export!(app);
/// ```
#[macro_export]
macro_rules! export {
    ($make:expr) => {
        $crate::export!(@entry_points $make);
        $crate::__private::edgefn::export!(__edgefn_tower_handle);
    };
    ($make:expr, init = $init:path) => {
        $crate::export!(@entry_points $make);
        $crate::__private::edgefn::export!(__edgefn_tower_handle, init = $init);
    };
    ($make:expr, preinit $(, init = $init:path)?) => {
        $crate::export!(@entry_points $make);
        fn __edgefn_tower_init() {
            $( $init(); )?
            $crate::__private::build(&__EDGEFN_TOWER_SERVICE, &$make);
        }
        $crate::__private::edgefn::export!(__edgefn_tower_handle, init = __edgefn_tower_init);
    };
    (@entry_points $make:expr) => {
        const _: () = {
            #[allow(dead_code, reason = "never called: it only type-checks the service")]
            fn __edgefn_tower_check_service() {
                $crate::__private::assert_makes_service(&$make);
            }
        };
        ::std::thread_local! {
            static __EDGEFN_TOWER_SERVICE: $crate::__private::Slot = const { $crate::__private::Slot::new(None) };
        }
        fn __edgefn_tower_handle(
            req: $crate::__private::edgefn::Request,
            ctx: &$crate::__private::edgefn::Context,
        ) -> $crate::__private::edgefn::Response {
            $crate::__private::serve(&__EDGEFN_TOWER_SERVICE, &$make, req, ctx)
        }
    };
}

#[doc(hidden)]
pub mod __private {
    use crate::HttpService;
    use std::any::Any;
    use std::thread::LocalKey;

    pub use edgefn;

    /// An instance's service, once built; `Any` because `export!` cannot name its type.
    pub type Slot = std::cell::RefCell<Option<Box<dyn Any>>>;

    /// Compile-time check behind `export!`: fails with the `HttpService` diagnostic.
    pub fn assert_makes_service<M: Fn() -> S, S: HttpService>(_make: &M) {}

    /// `preinit`: builds the service into `slot` (once).
    pub fn build<M, S>(slot: &'static LocalKey<Slot>, make: &M)
    where
        M: Fn() -> S,
        S: HttpService + 'static,
    {
        slot.with_borrow_mut(|service| {
            service.get_or_insert_with(|| Box::new(make()));
        });
    }

    /// Serves a request with the service in `slot`, built first if there is none; a service
    /// that failed is dropped, so the next request builds a new one.
    pub fn serve<M, S>(
        slot: &'static LocalKey<Slot>,
        make: &M,
        req: edgefn::Request,
        ctx: &edgefn::Context,
    ) -> edgefn::Response
    where
        M: Fn() -> S,
        S: HttpService + 'static,
    {
        let mut service = slot
            .take()
            .and_then(|built| built.downcast::<S>().ok())
            .unwrap_or_else(|| Box::new(make()));
        match crate::respond(&mut *service, req, ctx) {
            Ok(response) => {
                slot.set(Some(service));
                response
            }
            Err(failure) => crate::failure_response(&failure),
        }
    }
}

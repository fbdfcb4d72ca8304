//! # edgefn guest SDK
//!
//! Write one HTTP handler; run the same `.wasm` on the edgefn host, AWS Lambda, Azure Functions and
//! Cloudflare Workers.
//!
//! ```
//! use edgefn::{Context, Request, IntoResponse};
//!
//! fn handle(req: Request, ctx: &Context) -> impl IntoResponse {
//!     format!("Hello from {} on {}!\n", ctx.function_name(), ctx.platform())
//! }
//! edgefn::export!(handle);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip1 --release` as a `cdylib`. `println!` and `eprintln!`
//! are logs: the host tags them with the function and request id; they never touch the response.
//! A handler that returns `Err` or panics answers `500 Internal Server Error` without detail; the
//! detail goes to the log.
//!
//! The same crate builds natively, so a handler can be unit-tested with `cargo test` and no Wasm:
//! build a [`Context`] with [`Context::builder`] and call the function.
//!
//! What else is here:
//!
//! - Responses from common types ([`IntoResponse`]): text, bytes, [`Json`], a [`StatusCode`],
//!   `(StatusCode, T)`, an [`http::Response`], and `Result` of those. `Err` answers a bare 500 and
//!   logs the error, except an [`HttpError`], whose status and message are for the client.
//! - Reading requests ([`RequestExt`]): `query("name")`, `query_all`, `query_pairs`, path parameters
//!   with `param("id")`, and `json::<T>()`, which answers 400 with the reason on bad JSON.
//! - A [`Router`] for several routes in one function, with `:param` and `*rest` patterns and 404/405
//!   answers.
//! - Calling other services: [`http::send`] sends a request and returns the whole response, to the
//!   hosts the function's `outbound` configuration allows (the [`http`] module says how).
//! - Keeping data: [`kv::Store`] gets, sets (with a time to live), deletes and lists keys in the
//!   stores the function's `kv` configuration grants, the same on every platform (the [`kv`]
//!   module says how).
//!
//! A handler with the wrong signature is refused at compile time, at the `export!` line and
//! natively too, so `cargo test` and `cargo check` say so, not only the Wasm build:
//!
//! ```compile_fail,E0593
//! // error[E0593]: function is expected to take 2 arguments, but it takes 1 argument
//! fn handle(req: edgefn::Request) -> String {
//!     req.uri().to_string()
//! }
//! edgefn::export!(handle);
//! ```
//!
//! ```compile_fail,E0277
//! // error[E0277]: `u32` cannot be returned from an edgefn handler
//! fn handle(_req: edgefn::Request, _ctx: &edgefn::Context) -> u32 {
//!     7
//! }
//! edgefn::export!(handle);
//! ```
//!
//! ```compile_fail,E0277
//! // error[E0277]: `Oops` doesn't implement `std::fmt::Display`
//! //   = note: required for `Oops` to implement `IntoErrorResponse`
//! struct Oops;
//! fn handle(_req: edgefn::Request, _ctx: &edgefn::Context) -> Result<String, Oops> {
//!     Err(Oops)
//! }
//! edgefn::export!(handle);
//! ```
#![deny(missing_docs)]
// `deny`, not `forbid`: the host imports (`src/imports.rs`) are the one place that allows unsafe
// code, scoped to their extern block.
#![deny(unsafe_code)]

mod context;
pub mod http;
mod imports;
pub mod kv;
mod request;
mod response;
mod router;
mod wire;

pub use ::http::{Method, StatusCode};
pub use bytes::Bytes;
pub use context::{Context, ContextBuilder, Platform};
pub use request::{HttpError, PathParams, RequestExt};
pub use response::{IntoErrorResponse, IntoResponse, Json};
pub use router::Router;

/// Keeps a host from snapshotting this module's initialized state (`docs/abi.md`,
/// "Pre-initialization"): call it from the `init` of `export!(handler, init = setup)` when that
/// init sets up something every instance must set up for itself. The deploy then logs `reason`
/// and each instance runs the init. Outside a deploy-time init (and natively) it does nothing.
pub fn decline_snapshot(reason: &str) {
    #[cfg(target_arch = "wasm32")]
    imports::snapshot_decline(reason);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = reason;
}

/// The request a handler receives: method, URI (path and query), headers and the whole body.
pub type Request = ::http::Request<Bytes>;
/// The response a handler produces.
pub type Response = ::http::Response<Bytes>;

/// A function that can serve requests: any `Fn(Request, &Context) -> impl IntoResponse`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an edgefn handler",
    label = "expected `fn(edgefn::Request, &edgefn::Context) -> impl edgefn::IntoResponse`",
    note = "a handler takes the request by value and the context by reference, and returns a response, a \
            string, bytes, `Json(..)`, `(StatusCode, ..)` or a `Result` of one of those; an `edgefn::Router` is a \
            handler too"
)]
pub trait Handler {
    /// Serves one request.
    fn call(&self, req: Request, ctx: &Context) -> Response;
}

/// One call of a handler for a given context lifetime. This indirection lets a handler return
/// `impl IntoResponse` that borrows nothing yet still mentions the context's lifetime (as opaque
/// return types do in edition 2024).
#[doc(hidden)]
pub trait HandlerFn<'a> {
    type Output: IntoResponse;
    fn call_once_with(&self, req: Request, ctx: &'a Context) -> Self::Output;
}

impl<'a, F, R> HandlerFn<'a> for F
where
    F: Fn(Request, &'a Context) -> R,
    R: IntoResponse,
{
    type Output = R;
    fn call_once_with(&self, req: Request, ctx: &'a Context) -> R {
        self(req, ctx)
    }
}

impl<F> Handler for F
where
    F: for<'a> HandlerFn<'a>,
{
    fn call(&self, req: Request, ctx: &Context) -> Response {
        self.call_once_with(req, ctx).into_response()
    }
}

/// Exports a handler as this module's edgefn ABI v1 entry points (`docs/abi.md`).
///
/// ```
/// fn handle(req: edgefn::Request, ctx: &edgefn::Context) -> &'static str { "hi" }
/// edgefn::export!(handle);
/// ```
///
/// The argument is any expression that is a [`Handler`]: a function, a closure, or a [`Router`]
/// (`edgefn::export!(app())` with `fn app() -> Router`). The entry points exist only in the Wasm
/// build, but the handler's type is checked on every target, so a wrong signature fails
/// `cargo test` and `cargo check` too.
///
/// Expensive setup that does not depend on the request or the configuration (parsing an embedded
/// dataset, building tables, compiling regexes) goes in an init function:
///
/// ```
/// static TABLE: std::sync::OnceLock<Vec<u64>> = std::sync::OnceLock::new();
/// fn setup() { TABLE.get_or_init(|| (0..1000).map(|n| n * n).collect()); }
/// fn handle(_req: edgefn::Request, _ctx: &edgefn::Context) -> String {
///     TABLE.get().expect("init ran").len().to_string()
/// }
/// edgefn::export!(handle, init = setup);
/// ```
///
/// It runs once per instance before the first request. The edgefn host goes further and runs it
/// once at deploy, then serves a snapshot of the initialized memory, so fresh instances start
/// with the work already done (`docs/abi.md`, "Pre-initialization"). It sees no environment
/// variables, files or request, and whatever clock or random values it reads are frozen into
/// that snapshot.
#[macro_export]
macro_rules! export {
    (@entry_points $handler:expr, $before_handle:expr) => {
        const _: () = {
            #[allow(dead_code, reason = "never called: it only type-checks the handler")]
            fn __edgefn_check_handler() {
                $crate::__private::assert_handler(&$handler);
            }
        };

        // `unsafe(export_name)` trips no `unsafe_code` lint in the calling crate: rustc does not
        // report that lint inside an external macro's expansion. No `#[allow(unsafe_code)]`
        // here on purpose: it would be a hard error (E0453) in a crate that says
        // `#![forbid(unsafe_code)]`.
        #[cfg(target_family = "wasm")]
        #[doc(hidden)]
        #[unsafe(export_name = "edgefn_v1_alloc")]
        pub extern "C" fn __edgefn_v1_alloc(len: u32) -> u32 {
            $crate::__private::alloc(len)
        }

        #[cfg(target_family = "wasm")]
        #[doc(hidden)]
        #[unsafe(export_name = "edgefn_v1_handle")]
        pub extern "C" fn __edgefn_v1_handle(ptr: u32, len: u32) -> u64 {
            // A host that did not call (or snapshot) the init still gets it, once.
            $before_handle;
            $crate::__private::handle(ptr, len, &$handler)
        }
    };
    ($handler:expr, init = $init:path) => {
        $crate::export!(@entry_points $handler, $crate::__private::run_init_once($init));

        #[cfg(target_family = "wasm")]
        #[doc(hidden)]
        #[unsafe(export_name = "edgefn_v1_init")]
        pub extern "C" fn __edgefn_v1_init() {
            $crate::__private::run_init_once($init)
        }
    };
    ($handler:expr) => {
        $crate::export!(@entry_points $handler, ());
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::wire::{alloc, handle, handle_envelope};

    /// Compile-time check behind `export!`: fails with the `Handler` diagnostic.
    pub fn assert_handler<H: crate::Handler>(_handler: &H) {}

    /// Runs the guest's init the first time it is called in this instance; later calls (and calls
    /// in an instance restored from a pre-initialized snapshot) return at once.
    pub fn run_init_once(init: fn()) {
        static DONE: std::sync::Once = std::sync::Once::new();
        DONE.call_once(init);
    }
}

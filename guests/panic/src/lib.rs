//! Hostile test guest: panics on every request. The host must answer 500 and keep serving.
use edgefn::{Context, Request};

/// Always panics.
pub fn handle(_req: Request, _ctx: &Context) -> &'static str {
    panic!("this guest panics on purpose (secret detail that must not reach the client)")
}

edgefn::export!(handle);

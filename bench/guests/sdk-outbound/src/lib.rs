//! One outbound call written with the Rust SDK: GETs the URL in the request's `x-call-url` header
//! with `edgefn::http::send` and answers the upstream's body with 200, as `abi-outbound` does on
//! the bare codec and the native proxy in `native_hello` does with hyper; no `x-call-url` is a 400
//! at once, and a failed call a 502. The conformance guest (`guests/fixtures/outbound`) also
//! reports every upstream header, which is work of its own: this one measures the SDK's call.
use edgefn::http::{self, Request};
use edgefn::{Context, Response, StatusCode};

pub fn handle(req: edgefn::Request, _ctx: &Context) -> Response {
    let Some(url) = req.headers().get("x-call-url") else {
        return status(StatusCode::BAD_REQUEST);
    };
    let Ok(call) = Request::get(url.as_bytes()).body(()) else {
        return status(StatusCode::BAD_REQUEST);
    };
    match http::send(call) {
        Ok(upstream) => Response::new(upstream.into_body()),
        Err(_) => status(StatusCode::BAD_GATEWAY),
    }
}

fn status(code: StatusCode) -> Response {
    let mut response = Response::default();
    *response.status_mut() = code;
    response
}

edgefn::export!(handle);

//! An edgefn function: one HTTP handler, compiled to `wasm32-wasip1`. The same module runs on the
//! edgefn host, AWS Lambda, Azure Functions and Cloudflare Workers.
//!
//! `cargo test` runs the handler natively; `edgefn build` makes the module;
//! `edgefn serve --watch .` serves it and reloads it whenever a file changes.

use edgefn::{Context, IntoResponse, Request, RequestExt};

/// Greets whoever `?name=` names.
pub fn handle(req: Request, ctx: &Context) -> impl IntoResponse {
    let name = req.query("name").unwrap_or_else(|| "world".to_owned());
    // A log line, tagged with the function and request id; never part of the response.
    println!("greeting {name}");
    format!(
        "Hello, {name}, from {} on {}!\n",
        ctx.function_name(),
        ctx.platform()
    )
}

// Setup that every request shares (tables, parsed data) can go in an init function:
// `edgefn::export!(handle, init = setup);` runs `fn setup()` once at deploy and starts every
// instance from its result.
edgefn::export!(handle);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_by_name() {
        let req = edgefn::http::Request::builder()
            .uri("/greet?name=edge")
            .body(Default::default())
            .unwrap();
        let ctx = Context::builder().function_name("greet").build();
        let response = handle(req, &ctx).into_response();
        assert_eq!(response.status(), 200);
        assert_eq!(response.body(), "Hello, edge, from greet on local!\n");
    }
}

//! The smallest edgefn function: a greeting in plain text.
use edgefn::{Context, IntoResponse, Request};

/// Greets the caller, naming the function and the platform it runs on.
pub fn handle(_req: Request, ctx: &Context) -> impl IntoResponse {
    format!(
        "Hello from {} on {}!\n",
        ctx.function_name(),
        ctx.platform()
    )
}

edgefn::export!(handle);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_with_function_name() {
        let ctx = edgefn::Context::builder().function_name("hello").build();
        let response = handle(Request::new(Default::default()), &ctx).into_response();
        assert_eq!(response.body(), "Hello from hello on local!\n");
    }
}

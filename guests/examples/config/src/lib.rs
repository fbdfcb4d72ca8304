//! Reads configured variables: `GREETING` (from the manifest) and reports whether the host leaked its
//! own environment (it must not).
use edgefn::{Context, IntoResponse, Json, Request};

/// Answers the configured `GREETING` and the names of all variables the function can see.
pub fn handle(_req: Request, ctx: &Context) -> impl IntoResponse {
    let mut names: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    names.sort();
    Json(serde_json::json!({
        "greeting": ctx.var("GREETING"),
        "variables": names,
    }))
}

edgefn::export!(handle);

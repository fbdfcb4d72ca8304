//! Test guest: answers everything its `Context` says, as JSON, so tests can check what each
//! platform passes in (request id, function name, platform, deadline, cold start, `traceparent`).
use edgefn::{Context, IntoResponse, Json, Request};
use std::time::UNIX_EPOCH;

/// The whole context as a JSON object; `traceparent` is `null` when the request had none. Also
/// logs one line, so tests can see how the host tags guest output.
pub fn handle(_req: Request, ctx: &Context) -> impl IntoResponse {
    println!("context guest answering {}", ctx.request_id());
    let deadline_ms = ctx
        .deadline()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Json(serde_json::json!({
        "request_id": ctx.request_id(),
        "function_name": ctx.function_name(),
        "platform": ctx.platform().as_str(),
        "deadline_ms": deadline_ms,
        "remaining_ms": ctx.remaining().as_millis() as u64,
        "cold_start": ctx.is_cold_start(),
        "traceparent": ctx.traceparent(),
    }))
}

edgefn::export!(handle);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_field() {
        let ctx = Context::builder()
            .request_id("r-1")
            .function_name("context")
            .cold_start(true)
            .traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
            .build();
        let response = handle(Request::new(Default::default()), &ctx).into_response();
        let seen: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(seen["request_id"], "r-1");
        assert_eq!(seen["function_name"], "context");
        assert_eq!(seen["platform"], "local");
        assert_eq!(seen["cold_start"], true);
        assert_eq!(
            seen["traceparent"],
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        assert!(seen["remaining_ms"].as_u64().unwrap() > 0);
        assert!(seen["deadline_ms"].as_u64().unwrap() > 0);
    }
}

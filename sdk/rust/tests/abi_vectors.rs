//! The SDK side of the shared ABI v1 test vectors (`docs/abi-v1-vectors.json`): every request vector,
//! fed to the guest entry path as raw bytes, reaches the handler as the request and context the
//! vector describes; the handler's response comes back as a valid response envelope.

use edgefn::{Context, Request, Response};
use edgefn_abi::ResponseEnvelope;
use serde_json::{Value, json};

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/abi-v1-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Reports what the handler saw as JSON, in the vectors' own shape.
fn report(req: Request, ctx: &Context) -> Response {
    let headers: Vec<Value> = req
        .headers()
        .iter()
        .map(|(k, v)| json!([k.as_str(), String::from_utf8_lossy(v.as_bytes())]))
        .collect();
    let seen = json!({
        "method": req.method().as_str(),
        "uri": req.uri().to_string(),
        "headers": headers,
        "body_hex": hex::encode(req.body()),
        "request_id": ctx.request_id(),
        "function_name": ctx.function_name(),
        "platform": ctx.platform().as_str(),
        "cold_start": ctx.is_cold_start(),
        "deadline_ms": ctx.deadline().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64,
    });
    Response::new(serde_json::to_vec(&seen).unwrap().into())
}

#[test]
fn request_vectors_reach_the_handler_as_described() {
    let doc = vectors();
    for case in doc["requests"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let bytes = hex::decode(case["hex"].as_str().unwrap()).unwrap();
        let out = edgefn::__private::handle_envelope(&bytes, &report);
        let response = ResponseEnvelope::decode(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(response.status, 200, "{name}");
        let seen: Value = serde_json::from_slice(response.body).unwrap();
        let want = &case["decoded"];
        assert_eq!(seen["method"], want["method"], "{name}");
        assert_eq!(seen["uri"], want["uri"], "{name}");
        assert_eq!(seen["headers"], want["headers"], "{name}");
        assert_eq!(seen["body_hex"], want["body_hex"], "{name}");
        let context: std::collections::HashMap<String, String> = want["context"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
            .collect();
        if let Some(id) = context.get("request-id") {
            assert_eq!(seen["request_id"], id.as_str(), "{name}");
        }
        if let Some(f) = context.get("function-name") {
            assert_eq!(seen["function_name"], f.as_str(), "{name}");
        }
        if let Some(p) = context.get("platform") {
            assert_eq!(seen["platform"], p.as_str(), "{name}");
        }
        if let Some(ms) = context.get("deadline-ms") {
            assert_eq!(seen["deadline_ms"], ms.parse::<u64>().unwrap(), "{name}");
        }
        assert_eq!(
            seen["cold_start"],
            context.get("cold-start").is_some_and(|v| v == "true"),
            "{name}"
        );
    }
}

#[test]
fn invalid_request_vectors_answer_400_without_panicking() {
    let doc = vectors();
    for case in doc["invalid"].as_array().unwrap() {
        if case["kind"] != "request" {
            continue;
        }
        let bytes = hex::decode(case["hex"].as_str().unwrap()).unwrap();
        let out = edgefn::__private::handle_envelope(&bytes, &report);
        let response = ResponseEnvelope::decode(&out).unwrap();
        assert_eq!(response.status, 400, "{}", case["name"]);
    }
}

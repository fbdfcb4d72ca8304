//! Runs the shared ABI v1 test vectors (`docs/abi-v1-vectors.json`) against the Rust codec.
//! The Workers shim runs the same file against its JavaScript codec.

use edgefn_abi::{DecodeError, RequestEnvelope, ResponseEnvelope};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/abi-v1-vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("read docs/abi-v1-vectors.json");
    serde_json::from_str(&text).expect("vectors are JSON")
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn request_vectors_decode_and_reencode_exactly() {
    let doc = vectors();
    let cases = doc["requests"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bytes = unhex(&case["hex"]);
        let want = &case["decoded"];
        let got = RequestEnvelope::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let context = pairs(&want["context"]);
        let headers = pairs(&want["headers"]);
        let body = unhex(&want["body_hex"]);
        assert_eq!(got.method, want["method"].as_str().unwrap(), "{name}");
        assert_eq!(got.uri, want["uri"].as_str().unwrap(), "{name}");
        assert_eq!(got.body, &body[..], "{name}");
        let got_context: Vec<_> = got
            .context
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got_context, context, "{name}");
        let got_headers: Vec<_> = got
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8(v.to_vec()).unwrap()))
            .collect();
        assert_eq!(got_headers, headers, "{name}");

        let built = RequestEnvelope {
            context: context
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            method: want["method"].as_str().unwrap(),
            uri: want["uri"].as_str().unwrap(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_bytes()))
                .collect(),
            body: &body,
        };
        assert_eq!(built.encode(), bytes, "{name}: re-encoding differs");
    }
}

#[test]
fn response_vectors_decode_and_reencode_exactly() {
    let doc = vectors();
    for case in doc["responses"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let bytes = unhex(&case["hex"]);
        let want = &case["decoded"];
        let got = ResponseEnvelope::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let headers = pairs(&want["headers"]);
        let body = unhex(&want["body_hex"]);
        assert_eq!(
            u64::from(got.status),
            want["status"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(got.body, &body[..], "{name}");
        let built = ResponseEnvelope {
            status: got.status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_bytes()))
                .collect(),
            body: &body,
        };
        assert_eq!(got, built, "{name}");
        assert_eq!(built.encode(), bytes, "{name}: re-encoding differs");
    }
}

#[test]
fn invalid_vectors_are_refused_with_the_named_error() {
    let doc = vectors();
    let cases = doc["invalid"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bytes = unhex(&case["hex"]);
        let err: DecodeError = match case["kind"].as_str().unwrap() {
            "request" => RequestEnvelope::decode(&bytes).expect_err(name),
            "response" => ResponseEnvelope::decode(&bytes).expect_err(name),
            other => panic!("unknown kind {other}"),
        };
        assert_eq!(err.as_str(), case["error"].as_str().unwrap(), "{name}");
    }
}

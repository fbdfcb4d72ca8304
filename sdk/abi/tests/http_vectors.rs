//! Runs the outbound HTTP envelope vectors (`docs/abi-v1-http-vectors.json`) against the Rust
//! codec. The Go SDK and the Workers shim run the same file against theirs.

use edgefn_abi::{DecodeError, HttpRequestEnvelope, HttpResponseEnvelope, ImportError, imports};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/abi-v1-http-vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("read docs/abi-v1-http-vectors.json");
    serde_json::from_str(&text).expect("vectors are JSON")
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
        .collect()
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn texts<'a>(headers: &[(&'a str, &'a [u8])]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.to_string(), String::from_utf8(v.to_vec()).unwrap()))
        .collect()
}

fn borrowed(headers: &[(String, String)]) -> Vec<(&str, &[u8])> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect()
}

#[test]
fn outbound_request_vectors_decode_and_reencode_exactly() {
    let doc = vectors();
    let cases = doc["requests"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bytes = unhex(&case["hex"]);
        let want = &case["decoded"];
        let got = HttpRequestEnvelope::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let headers = pairs(&want["headers"]);
        let body = unhex(&want["body_hex"]);
        assert_eq!(
            u64::from(got.timeout_ms),
            want["timeout_ms"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(got.method, want["method"].as_str().unwrap(), "{name}");
        assert_eq!(got.url, want["url"].as_str().unwrap(), "{name}");
        assert_eq!(texts(&got.headers), headers, "{name}");
        assert_eq!(got.body, &body[..], "{name}");
        let built = HttpRequestEnvelope {
            timeout_ms: got.timeout_ms,
            method: want["method"].as_str().unwrap(),
            url: want["url"].as_str().unwrap(),
            headers: borrowed(&headers),
            body: &body,
        };
        assert_eq!(built.encoded_len(), bytes.len(), "{name}");
        assert_eq!(built.encode(), bytes, "{name}: re-encoding differs");
    }
}

#[test]
fn outbound_response_vectors_decode_and_reencode_exactly() {
    let doc = vectors();
    let cases = doc["responses"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bytes = unhex(&case["hex"]);
        let want = &case["decoded"];
        let got = HttpResponseEnvelope::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let headers = pairs(&want["headers"]);
        let body = unhex(&want["body_hex"]);
        assert_eq!(
            u64::from(got.status),
            want["status"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(texts(&got.headers), headers, "{name}");
        assert_eq!(got.body, &body[..], "{name}");
        let built = HttpResponseEnvelope {
            status: got.status,
            headers: borrowed(&headers),
            body: &body,
        };
        assert_eq!(built.encode(), bytes, "{name}: re-encoding differs");
    }
}

#[test]
fn invalid_outbound_envelopes_are_refused_with_the_named_error() {
    let doc = vectors();
    let cases = doc["invalid"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bytes = unhex(&case["hex"]);
        let got: DecodeError = match case["kind"].as_str().unwrap() {
            "request" => HttpRequestEnvelope::decode(&bytes).map(drop),
            "response" => HttpResponseEnvelope::decode(&bytes).map(drop),
            other => panic!("{name}: unknown kind {other}"),
        }
        .expect_err(name);
        assert_eq!(got.as_str(), case["error"].as_str().unwrap(), "{name}");
    }
}

#[test]
fn import_error_codes_are_the_documented_ones() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/abi.md")).unwrap();
    for error in ImportError::ALL {
        let row = format!("| `{}` | `{}` |", error.code(), error.as_str());
        assert!(doc.contains(&row), "docs/abi.md lacks the row {row}");
        assert_eq!(ImportError::from_code(error.code().into()), Some(error));
    }
    assert_eq!(ImportError::from_code(-9), None);
    assert_eq!(ImportError::from_code(0), None);
    for name in imports::ALL {
        assert!(
            doc.contains(&format!("| `{name}` |")),
            "docs/abi.md does not document the import {name}"
        );
    }
}

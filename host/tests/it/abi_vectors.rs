//! The host side of the shared ABI v1 test vectors (`docs/abi-v1-vectors.json`): a guest that hands
//! back each response vector's exact bytes must reach the client as the response the vector
//! describes, and each invalid response vector must be refused as a bad response (a 500 to the
//! client), never trusted or crashed on. The request direction is the shared codec's
//! (`sdk/abi/tests/vectors.rs`) and the SDK's (`sdk/rust/tests/abi_vectors.rs`).

use crate::lib_api::FunctionSpec;
use crate::lib_api::{ArtifactCache, Platform, Registry, local_backends};
use crate::lib_api::{EngineOptions, HostEngine};
use crate::lib_api::{InvocationContext, InvokeError, invoke};
use bytes::Bytes;
use serde_json::Value;
use std::sync::Arc;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/abi-v1-vectors.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A module whose handler answers `envelope` verbatim from its data segment.
fn replying_module(envelope: &[u8]) -> Vec<u8> {
    let escaped: String = envelope.iter().map(|b| format!("\\{b:02x}")).collect();
    let packed = (2048u64 << 32) | envelope.len() as u64;
    wat::parse_str(format!(
        r#"(module
            (memory (export "memory") 2)
            (data (i32.const 2048) "{escaped}")
            (func (export "edgefn_v1_alloc") (param i32) (result i32) i32.const 65536)
            (func (export "edgefn_v1_handle") (param i32 i32) (result i64) i64.const {packed}))"#
    ))
    .unwrap()
}

fn run(
    registry: &Arc<Registry>,
    dir: &std::path::Path,
    name: &str,
    envelope: &[u8],
) -> Result<http::Response<Bytes>, InvokeError> {
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, replying_module(envelope)).unwrap();
    let deployed = registry
        .prepare(FunctionSpec::from_wasm_path(&path).unwrap())
        .unwrap();
    let resident = registry.resident_blocking(&deployed).unwrap();
    let request = http::Request::get("/").body(Bytes::new()).unwrap();
    let cx = InvocationContext {
        request_id: "vector",
        platform: Platform::Local,
        platform_deadline: None,
        cold_start: false,
        traceparent: None,
        trace: None,
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(invoke(&resident.function, &request, &cx))
}

#[test]
fn response_vectors_reach_the_client_as_described_and_invalid_ones_are_refused() {
    let doc = vectors();
    let dir = tempfile::tempdir().unwrap();
    let engine = HostEngine::new(&EngineOptions {
        pool_slots: 8,
        ..EngineOptions::default()
    })
    .unwrap();
    let cache = ArtifactCache::open(&dir.path().join("cache")).unwrap();
    let registry = Arc::new(Registry::new(engine, cache, 64, local_backends()).unwrap());

    for (i, case) in doc["responses"].as_array().unwrap().iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        let bytes = hex::decode(case["hex"].as_str().unwrap()).unwrap();
        let response = run(&registry, dir.path(), &format!("ok{i}"), &bytes)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = &case["decoded"];
        assert_eq!(
            u64::from(response.status().as_u16()),
            want["status"].as_u64().unwrap(),
            "{name}"
        );
        let got_headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        let want_headers: Vec<(String, String)> = want["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_owned(),
                    p[1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            got_headers, want_headers,
            "{name}: headers, repeats and order"
        );
        assert_eq!(
            response.body().as_ref(),
            hex::decode(want["body_hex"].as_str().unwrap()).unwrap(),
            "{name}"
        );
    }

    let mut refused = 0;
    for (i, case) in doc["invalid"].as_array().unwrap().iter().enumerate() {
        if case["kind"] != "response" {
            continue;
        }
        let bytes = hex::decode(case["hex"].as_str().unwrap()).unwrap();
        let error = run(&registry, dir.path(), &format!("bad{i}"), &bytes)
            .expect_err(case["name"].as_str().unwrap());
        assert_eq!(error.kind().as_str(), "bad-response", "{}", case["name"]);
        assert_eq!(error.status(), 500);
        refused += 1;
    }
    assert!(refused >= 4);
}

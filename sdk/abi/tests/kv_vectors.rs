//! Runs the key-value vectors (`docs/abi-v1-kv-vectors.json`) against the Rust codec and the
//! contract's checks. The Go SDK and the Workers shim run the same file against theirs.

use edgefn_abi::{KvListEnvelope, kv};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/abi-v1-kv-vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("read docs/abi-v1-kv-vectors.json");
    serde_json::from_str(&text).expect("vectors are JSON")
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[test]
fn list_pages_decode_and_reencode_exactly() {
    let doc = vectors();
    let cases = doc["pages"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bytes = hex::decode(case["hex"].as_str().unwrap()).unwrap();
        let got = KvListEnvelope::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = KvListEnvelope {
            keys: strings(&case["decoded"]["keys"]),
            cursor: case["decoded"]["cursor"].as_str().unwrap(),
        };
        assert_eq!(got, want, "{name}");
        assert_eq!(want.encode(), bytes, "{name}: re-encoding");
        assert_eq!(want.encoded_len(), bytes.len(), "{name}");
    }
}

#[test]
fn invalid_list_pages_are_refused_with_the_named_error() {
    let doc = vectors();
    for case in doc["invalid"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let bytes = hex::decode(case["hex"].as_str().unwrap()).unwrap();
        let error = KvListEnvelope::decode(&bytes).expect_err(name);
        assert_eq!(error.as_str(), case["error"].as_str().unwrap(), "{name}");
    }
}

#[test]
fn the_contract_checks_agree_with_the_vectors() {
    let doc = vectors();
    let checks = &doc["checks"];
    for key in strings(&checks["valid_keys"]) {
        assert_eq!(kv::check_key(key.as_bytes()), Ok(key), "{key:?}");
    }
    for key in strings(&checks["invalid_keys"]) {
        assert!(kv::check_key(key.as_bytes()).is_err(), "{key:?} accepted");
    }
    assert!(kv::check_key(&[0xff]).is_err(), "a key that is not UTF-8");
    for store in strings(&checks["valid_stores"]) {
        assert!(kv::check_store_name(store).is_ok(), "{store:?}");
    }
    for store in strings(&checks["invalid_stores"]) {
        assert!(kv::check_store_name(store).is_err(), "{store:?} accepted");
    }
    for ttl in checks["valid_ttls"].as_array().unwrap() {
        assert!(kv::check_ttl(ttl.as_u64().unwrap() as u32).is_ok(), "{ttl}");
    }
    for ttl in checks["invalid_ttls"].as_array().unwrap() {
        assert!(
            kv::check_ttl(ttl.as_u64().unwrap() as u32).is_err(),
            "{ttl}"
        );
    }
    for pair in checks["valid_limits"].as_array().unwrap() {
        let (asked, got) = (pair[0].as_u64().unwrap(), pair[1].as_u64().unwrap());
        assert_eq!(kv::check_list_limit(asked as u32), Ok(got as u32));
    }
    for limit in checks["invalid_limits"].as_array().unwrap() {
        assert!(kv::check_list_limit(limit.as_u64().unwrap() as u32).is_err());
    }
    let max = checks["max_value_bytes"].as_u64().unwrap() as usize;
    assert_eq!(kv::MAX_VALUE_BYTES, max);
    assert!(kv::check_value(&vec![0; max]).is_ok());
    assert!(kv::check_value(&vec![0; max + 1]).is_err());
}

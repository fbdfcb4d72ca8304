//! Property test of the Azure Functions invocation parser, which takes the Functions host's JSON:
//! arbitrary bytes and arbitrary JSON shaped like an invocation (every field any type) never make it
//! panic; it answers a request or an error message.

use crate::lib_api::parse;
use proptest::prelude::*;
use serde_json::{Value, json};

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,24}".prop_map(Value::from),
        Just(Value::from("{}")),
        Just(Value::from("GET")),
        Just(Value::from("http://localhost:7071/api/echo/x?a=1&a=2")),
        Just(Value::from("aGVsbG8=")),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[A-Za-z-]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes, "api");
    }

    #[test]
    fn invocation_shaped_json_never_panics(
        url in value(), method in value(), headers in value(), query in value(),
        params in value(), body in value(), metadata in value(),
    ) {
        let payload = json!({
            "Data": { "req": {
                "Url": url, "Method": method, "Headers": headers, "Query": query,
                "Params": params, "Identities": [], "Body": body,
            }},
            "Metadata": metadata,
        });
        let _ = parse(payload.to_string().as_bytes(), "api");
    }
}

//! `edgefn::kv` natively, through the fake hosts of `edgefn::kv::testing`: the list pages of
//! `docs/abi-v1-kv-vectors.json` must arrive as the `Page` they describe and the invalid ones as
//! errors naming the decode failure; every error code must end as its kind with the host's
//! message; a listing must follow cursors across empty pages; and the in-memory fake must accept
//! and refuse what the vectors' `checks` say every host does.

use edgefn::kv::testing::{self, Call, Memory};
use edgefn::kv::{ErrorKind, Page, Store};
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/abi-v1-kv-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn unhex(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn store() -> Store {
    Store::open("default").unwrap()
}

#[test]
fn list_page_vectors_arrive_as_their_page() {
    for page in vectors()["pages"].as_array().unwrap() {
        let name = page["name"].as_str().unwrap();
        let bytes = unhex(&page["hex"]);
        let got = testing::with_raw_host(
            move |_| (bytes.len() as i64, bytes.clone()),
            || store().list_page("", None, 0),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let cursor = page["decoded"]["cursor"].as_str().unwrap();
        assert_eq!(
            got,
            Page {
                keys: strings(&page["decoded"]["keys"]),
                cursor: (!cursor.is_empty()).then(|| cursor.to_owned()),
            },
            "{name}"
        );
    }
}

#[test]
fn invalid_list_pages_are_errors_naming_the_decode_failure() {
    for page in vectors()["invalid"].as_array().unwrap() {
        let name = page["name"].as_str().unwrap();
        let bytes = unhex(&page["hex"]);
        let error = testing::with_raw_host(
            move |_| (bytes.len() as i64, bytes.clone()),
            || store().list_page("", None, 0),
        )
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Other, "{name}");
        let why = page["error"].as_str().unwrap();
        assert!(error.message().contains(why), "{name}: {error}");
    }
}

#[test]
fn the_calls_carry_their_arguments_as_given() {
    let seen: Rc<RefCell<Vec<String>>> = Rc::default();
    let log = seen.clone();
    testing::with_raw_host(
        move |call| {
            log.borrow_mut().push(format!("{call:?}"));
            match call {
                Call::Get { .. } => (3, b"val".to_vec()),
                Call::List { .. } => {
                    let page = edgefn_abi::KvListEnvelope::default().encode();
                    (page.len() as i64, page)
                }
                _ => (0, Vec::new()),
            }
        },
        || {
            let store = store();
            assert_eq!(store.get("a/b#c?d").unwrap().as_deref(), Some(&b"val"[..]));
            store.set("k", b"v").unwrap();
            store
                .set_with_ttl("k", "v", Duration::from_millis(60_500))
                .unwrap();
            store.delete("k").unwrap();
            assert!(store.exists("café").unwrap());
            store.list_page("p/", Some("p/x"), 7).unwrap();
        },
    );
    assert_eq!(
        *seen.borrow(),
        [
            r#"Get { store: "default", key: "a/b#c?d" }"#,
            r#"Set { store: "default", key: "k", value: [118], ttl_seconds: 0 }"#,
            r#"Set { store: "default", key: "k", value: [118], ttl_seconds: 61 }"#,
            r#"Delete { store: "default", key: "k" }"#,
            r#"Exists { store: "default", key: "café" }"#,
            r#"List { store: "default", prefix: "p/", cursor: "p/x", limit: 7 }"#,
        ]
    );
}

#[test]
fn every_error_code_has_its_kind_and_the_hosts_message() {
    for (code, kind) in [
        (-1, ErrorKind::Denied),
        (-3, ErrorKind::Invalid),
        (-4, ErrorKind::Limit),
        (-5, ErrorKind::Timeout),
        (-6, ErrorKind::Unavailable),
        (-7, ErrorKind::RateLimited),
        (-8, ErrorKind::Unsupported),
        (-99, ErrorKind::Other),
    ] {
        let message = format!("the host says {code}");
        let pending = message.clone().into_bytes();
        let errors = testing::with_raw_host(
            move |_| (code, pending.clone()),
            || {
                let store = store();
                [
                    store.get("k").unwrap_err(),
                    store.set("k", "v").unwrap_err(),
                    store.delete("k").unwrap_err(),
                    store.exists("k").unwrap_err(),
                    store.list_page("", None, 0).unwrap_err(),
                    store.list("").next().unwrap().unwrap_err(),
                ]
            },
        );
        for error in errors {
            assert_eq!(error.kind(), kind, "{code}");
            assert_eq!(error.code(), Some(code));
            assert_eq!(error.message(), message);
        }
    }
}

#[test]
fn not_found_is_an_answer_for_get_and_exists_only() {
    let answers = testing::with_raw_host(
        |_| (-2, b"no such key".to_vec()),
        || {
            let store = store();
            (
                store.get("k").unwrap(),
                store.exists("k").unwrap(),
                store.delete("k").unwrap_err().kind(),
            )
        },
    );
    assert_eq!(answers, (None, false, ErrorKind::Other));
}

#[test]
fn a_host_that_announces_the_wrong_size_is_an_error_not_a_panic() {
    let error = testing::with_raw_host(|_| (10, b"short".to_vec()), || store().get("k"));
    let error = error.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Other);
    assert!(error.message().contains("result_read"), "{error}");
}

#[test]
fn a_listing_follows_cursors_through_empty_pages_and_stops_at_the_last() {
    // Pages as a host may give them: an empty page with a cursor (expired keys left out) is not
    // the end.
    let pages: Vec<(&[&str], &str)> =
        vec![(&["a", "b"], "b"), (&[], "c"), (&["d"], "d"), (&["e"], "")];
    let cursors: Rc<RefCell<Vec<String>>> = Rc::default();
    let seen = cursors.clone();
    let mut next = 0;
    let keys = testing::with_raw_host(
        move |call| {
            let Call::List { cursor, prefix, .. } = call else {
                panic!("{call:?}")
            };
            assert_eq!(prefix, "p");
            seen.borrow_mut().push(cursor.to_owned());
            let (keys, cursor) = pages[next];
            next += 1;
            let page = edgefn_abi::KvListEnvelope {
                keys: keys.to_vec(),
                cursor,
            }
            .encode();
            (page.len() as i64, page)
        },
        || store().list("p").collect::<Result<Vec<_>, _>>().unwrap(),
    );
    assert_eq!(keys, ["a", "b", "d", "e"]);
    assert_eq!(*cursors.borrow(), ["", "b", "c", "d"]);
}

#[test]
fn the_memory_fake_accepts_and_refuses_what_every_host_does() {
    let checks = &vectors()["checks"];
    let memory = Memory::new().grant("default");
    testing::with_memory(&memory, || {
        let store = store();
        for key in strings(&checks["valid_keys"]) {
            store.set(&key, key.as_bytes()).unwrap();
            assert_eq!(store.get(&key).unwrap().unwrap(), key.as_bytes());
        }
        for key in strings(&checks["invalid_keys"]) {
            let error = store.set(&key, "v").unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Invalid, "{key:?}");
        }
        for ttl in checks["valid_ttls"].as_array().unwrap() {
            let ttl = ttl.as_u64().unwrap();
            if ttl > 0 {
                store
                    .set_with_ttl("ttl", "v", Duration::from_secs(ttl))
                    .unwrap();
            }
        }
        for ttl in checks["invalid_ttls"].as_array().unwrap() {
            let ttl = Duration::from_secs(ttl.as_u64().unwrap());
            let error = store.set_with_ttl("ttl", "v", ttl).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Invalid, "{ttl:?}");
        }
        let max = checks["max_value_bytes"].as_u64().unwrap() as usize;
        store.set("big", vec![7; max]).unwrap();
        let error = store.set("big", vec![7; max + 1]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Invalid);
        assert!(error.message().contains("256 KiB"), "{error}");
        for name in strings(&checks["invalid_stores"]) {
            assert_eq!(
                Store::open(&name).unwrap_err().kind(),
                ErrorKind::Invalid,
                "{name:?}"
            );
        }
        let other = Store::open("sessions").unwrap();
        assert_eq!(other.get("a").unwrap_err().kind(), ErrorKind::Denied);
    });
}

#[test]
fn the_memory_fake_lists_in_byte_order_a_page_at_a_time() {
    let memory = Memory::new().grant("default");
    testing::with_memory(&memory, || {
        let store = store();
        for key in ["u/b", "u/a", "u/é", "u/Z", "v/a", "u"] {
            store.set(key, "1").unwrap();
        }
        let first = store.list_page("u/", None, 2).unwrap();
        assert_eq!(first.keys, ["u/Z", "u/a"]);
        let second = store.list_page("u/", first.cursor.as_deref(), 2).unwrap();
        assert_eq!(second.keys, ["u/b", "u/é"]);
        assert_eq!(second.cursor, None, "nothing after the last");
        let all: Vec<String> = store.list("").map(Result::unwrap).collect();
        assert_eq!(all, ["u", "u/Z", "u/a", "u/b", "u/é", "v/a"]);
        store.delete("u/a").unwrap();
        store.delete("u/a").unwrap();
        assert!(!store.exists("u/a").unwrap());
        assert_eq!(
            store.list_page("", None, 1001).unwrap_err().kind(),
            ErrorKind::Invalid
        );
    });
    assert_eq!(memory.keys("default").len(), 5);
}

#[test]
fn without_a_fake_host_a_store_says_how_to_test_it() {
    let error = store().get("k").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unsupported);
    assert!(error.message().contains("with_memory"), "{error}");
}

//! The key-value store, the same on every platform: one script through the conformance guest
//! (`guests/fixtures/kv`, protocol in `guests/fixtures/README.md`) and the URL shortener example,
//! on the local host and on the platform under test, and both must end the same: the same
//! status, error kind and (on success) body. Messages may differ (the Workers shim words its
//! own), kinds may not. Cursors are each backend's own, so a listing is compared by the keys it
//! gives, page by page on each side.
//!
//! Configuration travels as the platform variables of docs/manifest.md ("kv"): `EDGEFN_KV_*` in
//! the Lambda environment and Azure app settings, a KV namespace binding per store on Workers,
//! the manifest's `kv` table locally. Every run writes under a prefix of its own, so emulators
//! shared between tests never mix their keys.

use crate::common::Reply;
use crate::platforms::{Case, Pair, Target};
use serde_json::Value;

/// What must be equal on every platform.
#[derive(Debug, PartialEq)]
struct Outcome {
    status: u16,
    error: Option<String>,
    index: Option<String>,
    count: Option<String>,
    /// The value or answer on success; error messages are each platform's own.
    body: Vec<u8>,
}

fn outcome(reply: &Reply) -> Outcome {
    let error = reply.header("x-kv-error");
    Outcome {
        status: reply.status,
        index: reply.header("x-kv-index"),
        count: reply.header("x-kv-count"),
        body: if error.is_some() {
            Vec::new()
        } else {
            reply.body.clone()
        },
        error,
    }
}

/// Sends `case` to the local host and the target, asserts both end the same, and returns the
/// target's reply.
fn same<T: Target>(pair: &mut Pair<T>, case: &Case) -> Reply {
    let local = pair.local.send(case);
    let reply = pair.target.send(case);
    assert_eq!(
        outcome(&reply),
        outcome(&local),
        "{} on {}: the outcome differs from the local host's ({} vs {})\nlog:\n{}",
        case.what(),
        T::PLATFORM,
        reply.text(),
        local.text(),
        pair.target.log()
    );
    pair.target.assert_running();
    reply
}

/// `text` percent-encoded but for RFC 3986's unreserved characters, so any key is one path
/// segment every platform passes as it is.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn key_path(store: &str, key: &str) -> String {
    format!("/kv/{store}/{}", encode(key))
}

fn put(store: &str, key: &str, value: &[u8]) -> Case {
    Case::new("PUT", &key_path(store, key))
        .header("content-type", b"application/octet-stream")
        .body(value)
}

fn get(store: &str, key: &str) -> Case {
    Case::get(&key_path(store, key))
}

fn exists(store: &str, key: &str) -> Case {
    Case::get(&format!("{}?exists", key_path(store, key)))
}

fn delete(store: &str, key: &str) -> Case {
    Case::new("DELETE", &key_path(store, key))
}

fn list(store: &str, prefix: &str, cursor: Option<&str>, limit: u32) -> Case {
    let mut path = format!("/kv/{store}?prefix={}&limit={limit}", encode(prefix));
    if let Some(cursor) = cursor {
        path.push_str(&format!("&cursor={}", encode(cursor)));
    }
    Case::get(&path)
}

fn json(reply: &Reply) -> Value {
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", reply.text()))
}

fn keys(value: &Value) -> Vec<String> {
    value["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys in {value}"))
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

/// Every key under `prefix` on one side, following cursors `limit` keys at a time; the keys
/// and how many pages it took.
fn list_by_pages(side: &impl Target, prefix: &str, limit: u32) -> (Vec<String>, usize) {
    let (mut all, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let reply = side.send(&list("default", prefix, cursor.as_deref(), limit));
        assert_eq!(reply.status, 200, "{}", reply.text());
        let page = json(&reply);
        let page_keys = keys(&page);
        assert!(page_keys.len() <= limit as usize, "{page}");
        all.extend(page_keys);
        pages += 1;
        assert!(pages < 100, "the listing does not end: {page}");
        match page["cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (all, pages),
        }
    }
}

/// A prefix no other run uses.
fn run_prefix() -> String {
    format!("run-{}-{:08x}/", std::process::id(), fastrand::u32(..))
}

/// The conformance function's settings: one store granted, a small operation cap.
const SETTINGS: &[(&str, &str)] = &[
    ("EDGEFN_KV_STORES", "default"),
    ("EDGEFN_KV_MAX_OPERATIONS", "20"),
];

conformance!(
    /// Set, get, overwrite, exists, delete, a missing key, keys with `/ # ?` and non-ASCII,
    /// listing by pages and whole, TTLs, values at and past 256 KiB, an ungranted store, the
    /// per-invocation cap and a call from init.
    kv_calls_end_the_same_on_every_platform,
    |serve| {
        let p = run_prefix();
        let mut kv = serve("kv", SETTINGS);
        let k = |name: &str| format!("{p}{name}");

        let missing = same(&mut kv, &get("default", &k("missing")));
        assert_eq!((missing.status, &missing.body[..]), (404, &b"absent"[..]));
        assert_eq!(same(&mut kv, &exists("default", &k("missing"))).body, b"false");

        let every_byte: Vec<u8> = (0..=255u8).collect();
        assert_eq!(same(&mut kv, &put("default", &k("a"), &every_byte)).status, 200);
        assert_eq!(same(&mut kv, &get("default", &k("a"))).body, every_byte);
        assert_eq!(same(&mut kv, &exists("default", &k("a"))).body, b"true");
        same(&mut kv, &put("default", &k("a"), b"second"));
        assert_eq!(same(&mut kv, &get("default", &k("a"))).body, b"second", "last writer wins");
        same(&mut kv, &put("default", &k("empty"), b""));
        let empty = same(&mut kv, &get("default", &k("empty")));
        assert_eq!((empty.status, empty.body.len()), (200, 0), "an empty value is a value");

        let odd = [k("a/b#c?d"), k("café"), k("日本/😀"), k("sp ace+plus%25")];
        for key in &odd {
            same(&mut kv, &put("default", key, key.as_bytes()));
            assert_eq!(same(&mut kv, &get("default", key)).body, key.as_bytes(), "{key}");
        }

        let listed: Vec<String> = (0..5).map(|i| k(&format!("list/{i}"))).collect();
        for key in &listed {
            same(&mut kv, &put("default", key, b"1"));
        }
        let (local_keys, local_pages) = list_by_pages(&kv.local, &k("list/"), 2);
        let (target_keys, target_pages) = list_by_pages(&kv.target, &k("list/"), 2);
        assert_eq!(local_keys, listed, "every key once, in order (local)");
        assert_eq!(target_keys, listed, "every key once, in order ({})", T::PLATFORM);
        assert!(local_pages >= 3 && target_pages >= 3, "{local_pages} and {target_pages} pages");
        let whole = same(&mut kv, &Case::get(&format!("/kv/default?all&prefix={}", encode(&p))));
        let mut expected: Vec<String> = [k("a"), k("empty")]
            .into_iter()
            .chain(odd.iter().cloned())
            .chain(listed.iter().cloned())
            .collect();
        expected.sort();
        assert_eq!(keys(&json(&whole)), expected, "in byte order");
        let over = same(&mut kv, &list("default", &p, None, 1001));
        assert_eq!(over.header("x-kv-error").as_deref(), Some("invalid"));

        assert_eq!(same(&mut kv, &delete("default", &k("a"))).status, 200);
        assert_eq!(same(&mut kv, &get("default", &k("a"))).status, 404);
        assert_eq!(same(&mut kv, &exists("default", &k("a"))).body, b"false");
        assert_eq!(same(&mut kv, &delete("default", &k("a"))).status, 200, "absent is fine");

        let ttl = same(&mut kv, &put("default", &k("ttl"), b"brief").header("x-ttl", b"60"));
        assert_eq!(ttl.status, 200, "{}", ttl.text());
        assert_eq!(same(&mut kv, &get("default", &k("ttl"))).body, b"brief");
        let short = same(&mut kv, &put("default", &k("ttl"), b"x").header("x-ttl", b"30"));
        assert_eq!(short.header("x-kv-error").as_deref(), Some("invalid"));

        let max = vec![0xa5u8; 256 * 1024];
        assert_eq!(same(&mut kv, &put("default", &k("max"), &max)).status, 200);
        assert!(same(&mut kv, &get("default", &k("max"))).body == max, "256 KiB round-trips");
        let past = same(&mut kv, &put("default", &k("past"), &vec![1; 256 * 1024 + 1]));
        assert_eq!(past.header("x-kv-error").as_deref(), Some("invalid"));
        assert_eq!(same(&mut kv, &get("default", &k("past"))).status, 404);
        let long_key = same(&mut kv, &get("default", &"k".repeat(513)));
        assert_eq!(long_key.header("x-kv-error").as_deref(), Some("invalid"));

        for case in [
            get("sessions", &k("a")),
            put("sessions", &k("a"), b"1"),
            list("sessions", "", None, 0),
        ] {
            let denied = same(&mut kv, &case);
            assert_eq!(denied.header("x-kv-error").as_deref(), Some("denied"), "{}", case.what());
        }

        let twenty = same(&mut kv, &Case::get("/kv/_ops/default?n=20"));
        assert_eq!(twenty.header("x-kv-count").as_deref(), Some("20"), "{}", twenty.text());
        let past_cap = same(&mut kv, &Case::get("/kv/_ops/default?n=21"));
        assert_eq!(
            (past_cap.header("x-kv-error").as_deref(), past_cap.header("x-kv-index").as_deref()),
            (Some("limit"), Some("21"))
        );

        let init = same(&mut kv, &Case::get("/kv/_init"));
        assert_eq!(init.header("x-kv-error").as_deref(), Some("unsupported"), "a call from init");
    }
);

conformance!(
    /// The shortener example, unchanged on every platform: a link is shortened to the same
    /// code, followed and listed; an unknown code is a 404.
    kv_shortener_example_runs_unchanged,
    |serve| {
        let url = format!("https://example.com/{}", run_prefix());
        let mut shortener = serve("shortener", &[("EDGEFN_KV_STORES", "default")]);
        let created = same(&mut shortener, &Case::post("/shortener").body(url.as_bytes()));
        assert_eq!(created.status, 201, "{}", created.text());
        let code = created.text();
        let again = same(&mut shortener, &Case::post("/shortener").body(url.as_bytes()));
        assert_eq!(again.text(), code, "the same URL, the same code");
        let follow = same(&mut shortener, &Case::get(&format!("/shortener/{code}")));
        assert_eq!(follow.status, 302);
        assert_eq!(follow.header("location"), Some(url.clone()));
        assert_eq!(same(&mut shortener, &Case::get("/shortener/nope123")).status, 404);
        // Listed on both (a shared emulator may hold other runs' codes too).
        for (side, reply) in [
            ("local", shortener.local.send(&Case::get("/shortener"))),
            (T::PLATFORM, shortener.target.send(&Case::get("/shortener"))),
        ] {
            assert_eq!(reply.status, 200, "{side}: {}", reply.text());
            let codes: Vec<String> = json(&reply)["codes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect();
            assert!(codes.contains(&code), "{side}: {code} in {codes:?}");
        }
    }
);

conformance!(
    /// The Go counter example (`edgekv`), unchanged on every platform: counts per name, and a
    /// reset.
    kv_go_counter_example_runs_unchanged,
    |serve| {
        let name = run_prefix().replace('/', "");
        let mut counter = serve("go-counter", &[("EDGEFN_KV_STORES", "default")]);
        let path = format!("/go-counter?name={name}");
        for want in ["1\n", "2\n", "3\n"] {
            let reply = same(&mut counter, &Case::get(&path));
            assert_eq!(reply.text(), want);
        }
        assert_eq!(same(&mut counter, &Case::new("DELETE", &path)).text(), "0\n");
        assert_eq!(same(&mut counter, &Case::get(&path)).text(), "1\n");
    }
);

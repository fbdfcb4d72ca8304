//! `edgefn::http::send` natively, through the fake host of `edgefn::http::testing`: the request
//! vectors of `docs/abi-v1-http-vectors.json` built as `http::Request`s must leave the SDK as
//! exactly the vector's bytes, the response vectors must arrive as the `http::Response` they
//! describe, and every error code, broken answer and redirect must end as documented.

use edgefn::Bytes;
use edgefn::http::{self, ErrorKind, Options, Request, Response, StatusCode, testing};
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/abi-v1-http-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn unhex(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

/// What a fake host saw, shared with the test.
type Log<T> = Rc<RefCell<Vec<T>>>;

/// A raw host that records each envelope and answers `answer`.
fn recording(answer: Vec<u8>) -> (Log<Vec<u8>>, impl FnMut(&[u8]) -> testing::RawAnswer) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = seen.clone();
    (seen, move |envelope: &[u8]| {
        log.borrow_mut().push(envelope.to_vec());
        (answer.len() as i64, answer.clone())
    })
}

fn ok_envelope() -> Vec<u8> {
    edgefn_abi::HttpResponseEnvelope {
        status: 204,
        ..Default::default()
    }
    .encode()
}

fn get(url: &str) -> Request<()> {
    Request::get(url).body(()).unwrap()
}

#[test]
fn request_vectors_leave_the_sdk_byte_for_byte() {
    for case in vectors()["requests"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let want = unhex(&case["hex"]);
        let decoded = &case["decoded"];
        let mut builder = Request::builder()
            .method(decoded["method"].as_str().unwrap())
            .uri(decoded["url"].as_str().unwrap());
        for pair in decoded["headers"].as_array().unwrap() {
            builder = builder.header(pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        }
        let request = builder.body(unhex(&decoded["body_hex"])).unwrap();
        let options = match decoded["timeout_ms"].as_u64().unwrap() {
            0 => Options::new(),
            ms => Options::new().timeout(Duration::from_millis(ms)),
        };

        let (seen, host) = recording(ok_envelope());
        let response = testing::with_raw_host(host, || http::send_with(request, &options));
        assert_eq!(response.unwrap().status(), 204, "{name}");
        let seen = seen.borrow();
        assert_eq!(seen.len(), 1, "{name}: one call");
        assert_eq!(hex::encode(&seen[0]), hex::encode(&want), "{name}");
    }
}

#[test]
fn response_vectors_arrive_as_described() {
    for case in vectors()["responses"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let decoded = &case["decoded"];
        let (_, host) = recording(unhex(&case["hex"]));
        let response = testing::with_raw_host(host, || http::send(get("https://api.example.com/")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            u64::from(response.status().as_u16()),
            decoded["status"].as_u64().unwrap(),
            "{name}"
        );
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        let want: Vec<(String, String)> = decoded["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
            .collect();
        assert_eq!(headers, want, "{name}");
        assert_eq!(hex::encode(response.body()), decoded["body_hex"], "{name}");
    }
}

#[test]
fn invalid_response_envelopes_are_an_error_naming_the_decode_failure() {
    for case in vectors()["invalid"].as_array().unwrap() {
        if case["kind"] != "response" {
            continue;
        }
        let name = case["name"].as_str().unwrap();
        let (_, host) = recording(unhex(&case["hex"]));
        let error = testing::with_raw_host(host, || http::send(get("https://api.example.com/")))
            .expect_err(name);
        assert_eq!(error.kind(), ErrorKind::Other, "{name}");
        let decode_error = format!("does not decode ({})", case["error"].as_str().unwrap());
        assert!(
            error.message().contains(&decode_error),
            "{name}: {}",
            error.message()
        );
        assert_eq!(error.code(), None, "{name}: found by the SDK, not the host");
    }
}

#[test]
fn every_error_code_has_its_kind_and_the_hosts_message() {
    for (code, kind) in [
        (-1, ErrorKind::Denied),
        (-2, ErrorKind::Other),
        (-3, ErrorKind::Invalid),
        (-4, ErrorKind::Limit),
        (-5, ErrorKind::Timeout),
        (-6, ErrorKind::Unavailable),
        (-7, ErrorKind::Other),
        (-8, ErrorKind::Unsupported),
        (-99, ErrorKind::Other),
    ] {
        let message = format!("message for {code}");
        let pending = message.clone().into_bytes();
        let error = testing::with_raw_host(
            move |_| (code, pending.clone()),
            || http::send(get("https://api.example.com/")),
        )
        .unwrap_err();
        assert_eq!(error.kind(), kind, "{code}");
        assert_eq!(error.code(), Some(code));
        assert_eq!(error.message(), message);
        assert!(error.to_string().contains(&message), "{error}");
    }
}

#[test]
fn long_and_non_utf8_messages_are_read_whole() {
    let long = "x".repeat(20_000);
    let pending = long.clone().into_bytes();
    let error = testing::with_raw_host(
        move |_| (-6, pending.clone()),
        || http::send(get("https://api.example.com/")),
    )
    .unwrap_err();
    assert_eq!(
        error.message(),
        long,
        "the buffer grows past its first size"
    );

    let error = testing::with_raw_host(
        |_| (-6, b"bad \xff byte".to_vec()),
        || http::send(get("https://api.example.com/")),
    )
    .unwrap_err();
    assert_eq!(error.message(), "bad \u{fffd} byte");
}

#[test]
fn a_host_that_announces_the_wrong_size_is_an_error_not_a_panic() {
    let error = testing::with_raw_host(
        |_| (100, ok_envelope()),
        || http::send(get("https://api.example.com/")),
    )
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Other);
    assert!(error.message().contains("100 bytes"), "{error}");
}

#[test]
fn a_relative_or_non_http_uri_is_invalid_before_any_call() {
    for uri in ["/relative", "ftp://127.0.0.1/", "api.example.com:443"] {
        let (seen, host) = recording(ok_envelope());
        let error = testing::with_raw_host(host, || {
            http::send(Request::get(uri).body(()).expect("the http crate takes it"))
        })
        .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Invalid, "{uri}");
        assert!(error.message().contains("absolute"), "{error}");
        assert!(seen.borrow().is_empty(), "{uri}: the host was not called");
    }
}

#[test]
fn a_builder_error_converts_to_invalid() {
    fn build() -> http::Result<Request<()>> {
        Ok(Request::get("http://exa mple/").body(())?)
    }
    assert_eq!(build().unwrap_err().kind(), ErrorKind::Invalid);
}

#[test]
fn without_a_fake_host_send_is_unsupported() {
    let error = http::send(get("https://api.example.com/")).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unsupported);
    assert!(error.message().contains("with_host"), "{error}");
}

#[test]
fn the_fake_host_sees_the_request_and_its_timeout() {
    let response = testing::with_host(
        |req, timeout| {
            assert_eq!(req.method(), "POST");
            assert_eq!(req.uri(), "https://api.example.com/items?x=1");
            assert_eq!(req.headers()["content-type"], "application/json");
            assert_eq!(req.body(), r#"{"a":1}"#);
            assert_eq!(timeout, Some(Duration::from_millis(750)));
            Ok(Response::builder()
                .status(201)
                .header("x-id", "7")
                .body(Bytes::from_static(b"created"))
                .unwrap())
        },
        || {
            http::send_with(
                Request::post("https://api.example.com/items?x=1")
                    .header("content-type", "application/json")
                    .body(r#"{"a":1}"#)
                    .unwrap(),
                &Options::new().timeout(Duration::from_millis(750)),
            )
        },
    )
    .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-id"], "7");
    assert_eq!(response.body(), "created");
}

/// A fake upstream: `/a` → 302 `/b` → 307 `https://other.example/c` → 200, counting calls.
fn redirect_chain() -> (
    Log<String>,
    impl FnMut(Request<Bytes>, Option<Duration>) -> testing::Answer,
) {
    let calls = Rc::new(RefCell::new(Vec::new()));
    let log = calls.clone();
    (calls, move |req: Request<Bytes>, _| {
        log.borrow_mut().push(format!(
            "{} {} auth={}",
            req.method(),
            req.uri(),
            req.headers().contains_key("authorization")
        ));
        let to = match req.uri().path() {
            "/a" => Some((302, "/b")),
            "/b" => Some((307, "https://other.example/c")),
            _ => None,
        };
        Ok(match to {
            Some((status, location)) => Response::builder()
                .status(status)
                .header("location", location)
                .body(Bytes::new())
                .unwrap(),
            None => Response::new(Bytes::from_static(b"end")),
        })
    })
}

fn with_auth(url: &str) -> Request<()> {
    Request::get(url)
        .header("authorization", "Bearer t")
        .body(())
        .unwrap()
}

#[test]
fn redirects_are_returned_unless_asked_for() {
    let (calls, host) = redirect_chain();
    let response =
        testing::with_host(host, || http::send(with_auth("https://api.example.com/a"))).unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "/b");
    assert_eq!(calls.borrow().len(), 1);
}

#[test]
fn followed_redirects_are_one_call_per_hop() {
    let (calls, host) = redirect_chain();
    let response = testing::with_host(host, || {
        http::send_with(
            with_auth("https://api.example.com/a"),
            &Options::new().follow_redirects(5),
        )
    })
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), "end");
    assert_eq!(
        *calls.borrow(),
        [
            "GET https://api.example.com/a auth=true",
            "GET https://api.example.com/b auth=true",
            "GET https://other.example/c auth=false",
        ]
    );
}

#[test]
fn a_chain_longer_than_the_limit_ends_on_the_redirect() {
    let (calls, host) = redirect_chain();
    let response = testing::with_host(host, || {
        http::send_with(
            with_auth("https://api.example.com/a"),
            &Options::new().follow_redirects(1),
        )
    })
    .unwrap();
    assert_eq!(response.status(), 307);
    assert_eq!(response.headers()["location"], "https://other.example/c");
    assert_eq!(calls.borrow().len(), 2);
}

#[test]
fn a_failing_hop_is_the_calls_error() {
    let mut first = true;
    let error = testing::with_host(
        move |_, _| {
            if std::mem::take(&mut first) {
                Ok(Response::builder()
                    .status(301)
                    .header("location", "https://denied.example/")
                    .body(Bytes::new())
                    .unwrap())
            } else {
                Err((ErrorKind::Denied, "denied.example is not allowed".into()))
            }
        },
        || {
            http::send_with(
                get("https://api.example.com/"),
                &Options::new().follow_redirects(3),
            )
        },
    )
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Denied);
    assert_eq!(error.message(), "denied.example is not allowed");
}

#[test]
fn the_previous_fake_is_back_after_a_panic() {
    let outer = testing::with_host(
        |_, _| Ok(Response::new(Bytes::from_static(b"outer"))),
        || {
            let inner = std::panic::catch_unwind(|| {
                testing::with_host(|_, _| Ok(Response::new(Bytes::new())), || panic!("test"))
            });
            assert!(inner.is_err());
            http::send(get("https://api.example.com/"))
        },
    );
    assert_eq!(outer.unwrap().body(), "outer");
}

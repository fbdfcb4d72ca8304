//! A Go function written against `net/http` (`guests/examples/go/nethttp`, served through
//! `sdk/go/nethttp`) on every platform, with the cases the SDK's own echo and JSON guests are run
//! with in `conformance.rs`; and, on the local host, side by side with those guests: the adapter
//! must not change what a function answers.

use crate::common::{self, Host, Reply};
use crate::platforms::{Case, Comparable, PER_RUN_HEADERS};

/// A request sent to both guests: method, path, headers, body.
type SideBySideCase<'a> = (&'a str, &'a str, Vec<(&'a str, &'a [u8])>, &'a [u8]);

const GUEST: &str = "go-nethttp";

/// Fails with what to run when the guest is not built (the harness would fail less clearly).
fn assert_built() {
    let path = common::guest(GUEST);
    assert!(
        path.is_file(),
        "the Go guest {} is not built: run `make guests-go` (`make test` does)",
        path.display()
    );
}

/// The guest's path for `rest` (`/echo/x` → `/go-nethttp/echo/x`): below its name, as every
/// platform routes it here.
fn at(rest: &str) -> String {
    format!("/{GUEST}{rest}")
}

fn every_byte(times: usize) -> Vec<u8> {
    (0..=255u8).cycle().take(256 * times).collect()
}

fn json(reply: &Reply) -> serde_json::Value {
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", reply.text()))
}

conformance!(
    /// Methods, path, query, headers and bodies of every byte value reach the handler through
    /// `*http.Request` and come back through the `ResponseWriter` as on the local host.
    nethttp_echo_answers_as_on_the_local_host,
    |serve| {
        assert_built();
        let mut echo = serve(GUEST, &[]);
        let text = "a text body, ünïcode too\n".as_bytes();
        let binary: &[u8] = &[0, 1, 2, 0x80, 0xfe, 0xff];
        let every = every_byte(16);
        let cases = [
            Case::get(&at("/echo")),
            Case::new("DELETE", &at("/echo/a/b?x=1&y=two")),
            Case::new("PUT", &at("/echo/a%20b/c%2Fd?y=%F0%9F%98%80")),
            Case::new("PATCH", &at("/echo/p")).body(b"patched"),
            Case::post(&at("/echo/json?q=1"))
                .header("Content-Type", b"application/json")
                .body(br#"{"a":[1,2,3],"b":"\u00e9"}"#),
            Case::post(&at("/echo/some/path?x=1&x=2&y=a%20b"))
                .header("content-type", b"text/plain; charset=utf-8")
                .header("x-custom", b"v")
                .body(text),
            Case::post(&at("/echo/some/path?x=1&x=2&y=a%20b"))
                .header("content-type", b"application/octet-stream")
                .header("x-custom", b"v")
                .body(binary),
            Case::post(&at("/echo/bytes"))
                .header("content-type", b"application/octet-stream")
                .body(&every),
        ];
        for case in cases {
            let reply = echo.same(&case);
            assert_eq!(reply.status, 200, "{}: {}", case.what(), reply.text());
            assert_eq!(reply.body, case.body, "body must arrive byte for byte");
            assert_eq!(reply.header("x-echo-method"), Some(case.method.clone()));
            let (path, query) = match case.path.split_once('?') {
                Some((path, query)) => (path, Some(query.to_owned())),
                None => (case.path.as_str(), None),
            };
            assert_eq!(reply.header("x-echo-path").as_deref(), Some(path));
            assert_eq!(reply.header("x-echo-query"), query, "{}", case.what());
        }
    }
);

conformance!(
    /// Repeated request headers reach the handler in order, with set-cookie, non-ASCII and empty
    /// values, an OPTIONS request, and a body of 5 MB. Not on Lambda: cargo-lambda's Function URL
    /// emulation keeps only a repeated header's first value and answers OPTIONS itself (as a CORS
    /// preflight), and 5 MB of binary is over Lambda's 6 MB payload as base64 (as for the SDK's
    /// echo in `conformance.rs`).
    nethttp_echo_keeps_repeated_headers_and_large_bodies,
    [local, azure_functions, cloudflare_workers],
    |serve| {
        let large: Vec<u8> = (0..5_000_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        assert_built();
        let mut echo = serve(GUEST, &[]);
        let replies = echo.all_same(&[
            Case::new("OPTIONS", &at("/echo/o?a=b")),
            Case::new("PUT", &at("/echo/text"))
                .header("Content-Type", b"text/plain; charset=utf-8")
                .header("User-Agent", b"edgefn-tests/1.0")
                .header("X-Multi", b"one")
                .header("X-Multi", b"two")
                .body("grüße, ✓ and \"quotes\"\n".as_bytes()),
            Case::post(&at("/echo/headers"))
                .header("x-multi", b"one")
                .header("x-multi", b"two")
                .header("set-cookie", b"a=1")
                .header("set-cookie", b"b=2")
                .header("x-utf8", "café ☕".as_bytes())
                .header("x-empty", b"")
                .body(b"hi"),
            Case::post(&at("/echo/large"))
                .header("content-type", b"application/octet-stream")
                .body(&large),
        ]);
        assert_eq!(replies[0].header("x-echo-method").as_deref(), Some("OPTIONS"));
        assert_eq!(
            replies[2].all("x-echo-h-set-cookie"),
            ["a=1", "b=2"],
            "set-cookie repeats reach the handler one by one"
        );
        assert_eq!(replies[2].all("x-echo-h-x-utf8"), ["café ☕"]);
        assert_eq!(replies[3].body, large);
    }
);

conformance!(
    /// `http.ServeMux` with Go 1.22 patterns: a method and a path parameter, 404 and 405 with
    /// `Allow` from the mux itself, and a handler that panics answers a bare 500.
    nethttp_mux_routes_by_method_and_path_parameter,
    |serve| {
        assert_built();
        let mut mux = serve(GUEST, &[]);
        let hello = mux.same(&Case::get(&at("/hello")));
        assert_eq!(hello.status, 200);
        assert!(
            hello.text().starts_with("Hello from go-nethttp on "),
            "{}",
            hello.text()
        );
        let item = mux.same(&Case::get(&at("/items/7")));
        assert_eq!((item.status, json(&item)), (200, serde_json::json!({"id": "7"})));
        let escaped = mux.same(&Case::get(&at("/items/a%20b")));
        assert_eq!(json(&escaped), serde_json::json!({"id": "a b"}));
        let wrong = mux.same(&Case::new("DELETE", &at("/items/7")));
        assert_eq!(wrong.status, 405);
        assert_eq!(wrong.header("allow").as_deref(), Some("GET, HEAD"));
        let missing = mux.same(&Case::get(&at("/nothing/here")));
        assert_eq!(
            (missing.status, missing.text().as_str()),
            (404, "404 page not found\n")
        );
        let panicked = mux.same(&Case::get(&at("/panic")));
        assert_eq!(
            (panicked.status, panicked.text().as_str()),
            (500, "500 Internal Server Error\n")
        );
    }
);

conformance!(
    /// JSON in, JSON out through `encoding/json`, the cases of the SDK's JSON guest: the same
    /// objects everywhere, and a body that is not the expected JSON is a 400 with a JSON error.
    nethttp_json_answers_the_same_objects_and_errors,
    |serve| {
        assert_built();
        let mut greet = serve(GUEST, &[]);
        for (body, status) in [
            (&br#"{"name":"edge","count":2}"#[..], 200),
            (br#"{"name":"Ada","count":2}"#, 200),
            (br#"{"name":"Lambda"}"#, 200),
            (b"{not json", 400),
            (b"{nope", 400),
            (br#"{"count":1}"#, 400),
        ] {
            let case = Case::post(&at("/greet"))
                .header("content-type", b"application/json")
                .body(body);
            let reply = greet.same(&case);
            assert_eq!(reply.status, status, "{}: {}", case.what(), reply.text());
            assert_eq!(
                reply.header("content-type").as_deref(),
                Some("application/json")
            );
            let value = json(&reply);
            let key = if status == 200 { "message" } else { "error" };
            assert!(value[key].is_string(), "{value}");
        }
    }
);

const SIDE_BY_SIDE: &str = r#"
[[function]]
name = "go-nethttp"
wasm = "{guests}/go-nethttp.wasm"

[[function]]
name = "go-echo"
wasm = "{guests}/go-echo.wasm"

[[function]]
name = "go-hello"
wasm = "{guests}/go-hello.wasm"

[[function]]
name = "json"
wasm = "{guests}/json.wasm"
"#;

/// A reply's headers as `Comparable` sorts them, without what differs per run, and with the
/// echoed path below the function's name.
fn headers(reply: &Reply, function: &str) -> Vec<(String, String)> {
    let mut headers = Comparable::of(reply, PER_RUN_HEADERS, false).headers;
    for (name, value) in &mut headers {
        if name == "x-echo-path" {
            *value = value
                .strip_prefix(function)
                .unwrap_or_else(|| panic!("echoed path {value} is not below {function}"))
                .to_owned();
        }
    }
    headers
}

/// On one local host, the `net/http` function answers exactly what the SDK's own guests answer:
/// its echo route what `go-echo` does (headers sorted: `http.Header` is a map), its greeting what
/// `go-hello` does, and its JSON what the Rust `json` example does, byte for byte.
#[test]
fn nethttp_answers_like_the_sdk_guests() {
    assert_built();
    for name in ["go-echo", "go-hello"] {
        assert!(
            common::guest(name).is_file(),
            "{name} is not built: run `make guests-go`"
        );
    }
    let host = Host::with_manifest(SIDE_BY_SIDE);
    let every = every_byte(64);
    let cases: Vec<SideBySideCase<'_>> = vec![
        ("GET", "/echo", vec![], b""),
        ("GET", "/echo/x?", vec![], b""),
        ("OPTIONS", "/echo/o?a=b", vec![], b""),
        (
            "PUT",
            "/echo/bin/%00%ff/%C3%BC?q=a+b&q=%2F&empty=&flag",
            vec![
                ("content-type", b"application/octet-stream"),
                ("x-multi", b"one"),
                ("x-other", b"between"),
                ("x-multi", b"two"),
                ("cookie", b"a=1"),
                ("cookie", b"b=2"),
                ("x-opaque", b"\x80\xff\tbytes"),
                ("x-empty", b""),
            ],
            &every,
        ),
        (
            "DELETE",
            "/echo/d",
            vec![("content-type", b"text/plain")],
            b"bye",
        ),
        ("PURGE", "/echo/custom-method", vec![], b""),
    ];
    for (method, rest, headers_sent, body) in &cases {
        let sdk = host.send(method, &format!("/go-echo{rest}"), headers_sent, body);
        let adapted = host.send(method, &format!("/go-nethttp{rest}"), headers_sent, body);
        let what = format!("{method} {rest}");
        assert_eq!(sdk.status, 200, "go-echo {what}: {}", sdk.text());
        assert_eq!(
            adapted.status,
            200,
            "go-nethttp {what}: {}\nlog:\n{}",
            adapted.text(),
            host.log()
        );
        assert_eq!(adapted.body, sdk.body, "{what}: bodies differ");
        assert_eq!(
            headers(&adapted, "/go-nethttp"),
            headers(&sdk, "/go-echo"),
            "{what}: headers differ"
        );
    }

    let sdk = host.get("/go-hello");
    let adapted = host.get("/go-nethttp/hello");
    assert_eq!(sdk.text(), "Hello from go-hello on local!\n");
    assert_eq!(adapted.text(), "Hello from go-nethttp on local!\n");
    assert_eq!(adapted.header("content-type"), sdk.header("content-type"));

    for body in [
        &br#"{"name":"edge","count":2}"#[..],
        r#"{"name":"Grüße ✓","count":3}"#.as_bytes(),
        br#"{"name":"once"}"#,
        br#"{"name":"many","count":1000}"#,
    ] {
        let rust = host.send("POST", "/json", &[], body);
        let adapted = host.send("POST", "/go-nethttp/greet", &[], body);
        assert_eq!(rust.status, 200, "{}", rust.text());
        assert_eq!(
            (adapted.status, adapted.text()),
            (200, rust.text()),
            "the same object, byte for byte"
        );
        assert_eq!(adapted.header("content-type"), rust.header("content-type"));
    }
    for body in [&b"{nope"[..], b"[1,2]", br#"{"count":1}"#, br#"{"name":7}"#] {
        let rust = host.send("POST", "/json", &[], body);
        let adapted = host.send("POST", "/go-nethttp/greet", &[], body);
        assert_eq!((rust.status, adapted.status), (400, 400));
        for reply in [&rust, &adapted] {
            let error = json(reply)["error"].as_str().map(str::to_owned);
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("invalid JSON body: ")),
                "{}",
                reply.text()
            );
        }
    }
}

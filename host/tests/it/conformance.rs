//! One behaviour, every platform: each case below runs on the local host, AWS Lambda, Azure
//! Functions and Cloudflare Workers (see `platforms`), and each platform must answer what the
//! local host answers, but for what that platform legitimately does differently
//! ([`Target::expected`], [`Target::comparable`]).
//!
//! A case is a few lines:
//!
//! ```ignore
//! conformance!(kv_reads_what_it_wrote, |serve| {
//!     let mut kv = serve("kv", &[("NAMESPACE", "test")]);
//!     kv.same(&Case::post("/kv/a").body(b"1"));
//!     assert_eq!(kv.same(&Case::get("/kv/a")).body, b"1");
//! });
//! ```
//!
//! `serve(guest, env)` deploys `guest` with variables `env` on the local host and on the platform
//! under test; `.same(&case)` sends `case` to both, asserts they agree and returns the platform's
//! reply for further checks. It expands to one `#[test]` per platform,
//! `conformance::<name>::{local, aws_lambda, azure_functions, cloudflare_workers}`; a case that
//! cannot run somewhere lists where it runs: `conformance!(name, [local, azure_functions], |serve| ..)`.

use crate::platforms::Case;
use serde_json::{Value, json};

/// The platform type behind each test name.
macro_rules! target_type {
    (local) => {
        crate::platforms::Local
    };
    (aws_lambda) => {
        crate::platforms::Lambda
    };
    (azure_functions) => {
        crate::platforms::Azure
    };
    (cloudflare_workers) => {
        crate::platforms::Workers
    };
}

macro_rules! conformance {
    ($(#[$meta:meta])* $name:ident, |$serve:ident| $body:block) => {
        conformance!(
            $(#[$meta])* $name,
            [local, aws_lambda, azure_functions, cloudflare_workers],
            |$serve| $body
        );
    };
    ($(#[$meta:meta])* $name:ident, [$($target:ident),+], |$serve:ident| $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports, reason = "a case may not use every item of the harness")]
            use super::*;

            // Full paths: the macro serves other modules too, whatever they import.
            fn case<T: crate::platforms::Target>() {
                let $serve = crate::platforms::Pair::<T>::serve;
                $body
            }

            $(
                #[test]
                fn $target() {
                    case::<target_type!($target)>();
                }
            )+
        }
    };
}

/// `GREETING` for the `config` guest.
const GREETING: &str = "configured hello";

fn json(reply: &crate::common::Reply) -> Value {
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", reply.text()))
}

conformance!(
    /// The guest names its platform; nothing else differs, whatever the path or method.
    hello_is_the_same_but_for_the_platform_name,
    |serve| {
        let mut hello = serve("hello", &[]);
        for case in [
            Case::get("/hello"),
            Case::get("/hello/any/sub/path?x=1"),
            Case::post("/hello").body(b"ignored"),
        ] {
            let reply = hello.same(&case);
            assert_eq!(
                reply.header("content-type").as_deref(),
                Some("text/plain; charset=utf-8")
            );
        }
    }
);

conformance!(
    /// Method, path, query, headers (repeats included) and the body reach the guest as sent.
    echo_answers_as_on_the_local_host,
    |serve| {
        let mut echo = serve("echo", &[]);
        let text = "a text body, ünïcode too\n".as_bytes();
        let binary: &[u8] = &[0, 1, 2, 0x80, 0xfe, 0xff];
        for case in [
            Case::get("/echo"),
            Case::new("DELETE", "/echo/a/b?x=1&y=two"),
            Case::post("/echo/json?q=1")
                .header("Content-Type", b"application/json")
                .body(br#"{"a":[1,2,3],"b":"\u00e9"}"#),
            Case::post("/echo/some/path?x=1&x=2&y=a%20b")
                .header("content-type", b"text/plain; charset=utf-8")
                .header("x-custom", b"v")
                .body(text),
            Case::post("/echo/some/path?x=1&x=2&y=a%20b")
                .header("content-type", b"application/octet-stream")
                .header("x-custom", b"v")
                .body(binary),
        ] {
            let reply = echo.same(&case);
            assert_eq!(reply.body, case.body, "body must arrive byte for byte");
        }
    }
);

conformance!(
    /// A request header sent twice reaches the guest twice. Not on Lambda: cargo-lambda's
    /// Function URL emulation keeps only the first value (a real Function URL joins them).
    echo_sees_a_repeated_request_header_and_a_client_user_agent,
    [local, azure_functions, cloudflare_workers],
    |serve| {
        let mut echo = serve("echo", &[]);
        let case = Case::new("PUT", "/echo/text")
            .header("Content-Type", b"text/plain; charset=utf-8")
            .header("User-Agent", b"edgefn-tests/1.0")
            .header("X-Multi", b"one")
            .header("X-Multi", b"two")
            .body("grüße, ✓ and \"quotes\"\n".as_bytes());
        let reply = echo.same(&case);
        assert_eq!(reply.body, case.body);
    }
);

conformance!(
    /// Binary bodies, repeated and non-ASCII headers, and a body of 5 MB. Not on Lambda: 5 MB of
    /// binary is 6.7 MB as base64, over Lambda's 6 MB payload limit (tested as such in
    /// `aws_lambda_e2e`).
    echo_is_byte_exact_for_binary_bodies_headers_and_large_bodies,
    [local, azure_functions, cloudflare_workers],
    |serve| {
        let every_byte: Vec<u8> = (0..=255u8).cycle().take(256 * 16).collect();
        let large: Vec<u8> = (0..5_000_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let octets: &[u8] = b"application/octet-stream";
        let mut echo = serve("echo", &[]);
        let replies = echo.all_same(&[
            Case::get("/echo/a/b?x=1&x=2&y=%20z"),
            Case::post("/echo/bytes")
                .header("content-type", octets)
                .body(&every_byte),
            // Repeated request headers: joined by the Fetch API on Workers (set-cookie excepted),
            // separate locally; equal once joined (see `Comparable::of`).
            Case::post("/echo/headers")
                .header("x-multi", b"one")
                .header("x-multi", b"two")
                .header("set-cookie", b"a=1")
                .header("set-cookie", b"b=2")
                .header("x-utf8", "café ☕".as_bytes())
                .header("x-empty", b"")
                .body(b"hi"),
            Case::post("/echo/large")
                .header("content-type", octets)
                .body(&large),
        ]);
        assert_eq!(replies[1].body, every_byte);
        assert_eq!(
            replies[2].all("x-echo-h-set-cookie"),
            ["a=1", "b=2"],
            "set-cookie repeats reach the guest one by one"
        );
        assert_eq!(replies[3].body.len(), large.len());
    }
);

conformance!(
    /// JSON in, JSON out, and bad JSON is the same JSON error everywhere.
    json_answers_the_same_objects_and_errors,
    |serve| {
        let mut json_guest = serve("json", &[]);
        for case in [
            Case::post("/json")
                .header("content-type", b"application/json")
                .body(br#"{"name":"edge","count":2}"#),
            Case::post("/json")
                .header("Content-Type", b"application/json")
                .body(br#"{"name":"Ada","count":2}"#),
            Case::post("/json").body(br#"{"name":"Lambda","count":2}"#),
            Case::post("/json").body(b"{not json"),
            Case::post("/json").body(b"{nope"),
        ] {
            let reply = json_guest.same(&case);
            json(&reply);
        }
    }
);

conformance!(
    /// The configured variable reaches the guest, and nothing else of the platform's environment
    /// does (Lambda's credentials, the Functions host's settings, the Workers adapter's bindings).
    config_reads_its_variable_and_sees_nothing_else,
    |serve| {
        let mut config = serve("config", &[("GREETING", GREETING)]);
        let reply = config.same(&Case::get("/config"));
        assert_eq!(reply.status, 200);
        let value = json(&reply);
        assert_eq!(value["greeting"], GREETING);
        assert_eq!(value["variables"], json!(["GREETING"]));
    }
);

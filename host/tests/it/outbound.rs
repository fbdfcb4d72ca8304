//! Outbound HTTP, the same on every platform: the conformance guest (`guests/fixtures/outbound`)
//! calls a real upstream on 127.0.0.1 ([`Upstream`]) as each case tells it, on the local host and
//! on the platform under test, and both must report the same outcome: the upstream's status,
//! headers and body, or the same error kind. Messages may differ between platforms (they name
//! each platform's own client), kinds may not.
//!
//! Configuration travels as the platform variables of docs/manifest.md ("outbound"): the
//! `EDGEFN_OUTBOUND_*` Lambda environment, Azure app settings and Worker vars, and the manifest's
//! `outbound` table locally (see `platforms::Local`).

use crate::platforms::{Case, Pair, Target};
use crate::upstream::Upstream;
use std::time::{Duration, Instant};

/// The upstream's headers a guest reports, reduced to what every platform's client must agree
/// on: no framing or dates, and of the request headers the upstream saw, only the test's own
/// (each platform's client adds its own, e.g. `user-agent` or `accept-encoding` on Workers).
/// Repeats are joined with ", " as the Fetch API joins them (RFC 9110 makes the forms equal),
/// except `set-cookie`.
fn upstream_headers(reply: &crate::common::Reply) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    // The values of the test's own `x-test` request header as the upstream saw them: two lines
    // (HTTP/1.1 locally) or one joined (the Fetch API's Headers on Workers), the same once joined.
    let mut seen_tests: Vec<String> = Vec::new();
    let lines = (1..).map_while(|i| reply.header(&format!("x-upstream-header-{i}")));
    for line in lines {
        let (name, value) = line.split_once(": ").unwrap_or((line.as_str(), ""));
        let name = name.to_ascii_lowercase();
        if name.starts_with("x-seen-header-") {
            if let Some(test) = value.strip_prefix("x-test: ") {
                seen_tests.push(test.to_owned());
            }
            continue;
        }
        if matches!(
            name.as_str(),
            "date" | "content-length" | "connection" | "keep-alive" | "transfer-encoding"
        ) {
            continue;
        }
        match out.iter_mut().find(|(k, _)| *k == name) {
            Some((_, joined)) if name != "set-cookie" => {
                joined.push_str(", ");
                joined.push_str(value);
            }
            _ => out.push((name, value.to_owned())),
        }
    }
    if !seen_tests.is_empty() {
        out.push(("x-seen-x-test".into(), seen_tests.join(", ")));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// What must be equal on every platform.
#[derive(Debug, PartialEq)]
struct Outcome {
    status: u16,
    error: Option<String>,
    index: Option<String>,
    upstream_status: Option<String>,
    upstream_headers: Vec<(String, String)>,
    /// The upstream's body on success; error messages are each platform's own.
    body: Vec<u8>,
}

fn outcome(reply: &crate::common::Reply) -> Outcome {
    let error = reply.header("x-call-error");
    Outcome {
        status: reply.status,
        index: reply.header("x-call-index"),
        upstream_status: reply.header("x-upstream-status"),
        upstream_headers: upstream_headers(reply),
        body: if error.is_some() {
            Vec::new()
        } else {
            reply.body.clone()
        },
        error,
    }
}

/// Sends `case` to the local host and the target, asserts both report the same outcome, and
/// returns it.
fn same_outcome<T: Target>(pair: &mut Pair<T>, case: &Case) -> Outcome {
    let local = pair.local.send(case);
    let reply = pair.target.send(case);
    let (want, got) = (outcome(&local), outcome(&reply));
    assert_eq!(
        got,
        want,
        "{} on {}: the outcome differs from the local host's ({} vs {})\nlog:\n{}",
        case.what(),
        T::PLATFORM,
        reply.text(),
        local.text(),
        pair.target.log()
    );
    pair.target.assert_running();
    got
}

/// A call the conformance guest makes: `GET url` unless changed.
fn call(url: &str) -> Case {
    Case::get("/outbound").header("x-call-url", url.as_bytes())
}

fn error_of(outcome: &Outcome) -> &str {
    outcome.error.as_deref().unwrap_or("none")
}

/// The conformance function's settings: loopback allowed by name and address, with the
/// private-network opt-in, small caps so the limits are cheap to reach.
fn settings(private: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "EDGEFN_OUTBOUND_ALLOWED_HOSTS",
            "http://127.0.0.1:*, http://localhost:*",
        ),
        ("EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS", private),
        ("EDGEFN_OUTBOUND_MAX_REQUESTS", "5"),
        ("EDGEFN_OUTBOUND_MAX_RESPONSE_BYTES", "65536"),
    ]
}

conformance!(
    /// GET and POST to an allowed upstream, binary bodies of every byte value, repeated headers
    /// both ways, a 302 returned and not followed, a denied host, bad URLs and headers, both
    /// caps, and a call from init.
    outbound_http_calls_end_the_same_on_every_platform,
    |serve| {
        let upstream = Upstream::start();
        let mut guest = serve("outbound", &settings("true"));

        let get = same_outcome(
            &mut guest,
            &call(&upstream.url("/echo?q=1"))
                .header("x-call-header-1", b"x-test: one")
                .header("x-call-header-2", b"x-test: two"),
        );
        assert_eq!(get.status, 200, "{get:?}");
        assert_eq!(get.upstream_status.as_deref(), Some("200"));
        assert!(
            get.upstream_headers
                .contains(&("x-seen-x-test".into(), "one, two".into())),
            "{get:?}"
        );
        assert!(
            get.upstream_headers
                .contains(&("x-seen-method".into(), "GET".into()))
        );

        let every_byte: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        let post = same_outcome(
            &mut guest,
            &call(&upstream.url("/echo"))
                .header("x-call-method", b"POST")
                .header("x-call-header-1", b"content-type: application/octet-stream")
                // cargo-lambda's Function URL base64-encodes only bodies it is told are binary.
                .header("content-type", b"application/octet-stream")
                .body(&every_byte),
        );
        assert_eq!(post.status, 200, "{post:?}");
        assert!(post.body == every_byte, "the body travels byte for byte");
        assert!(
            post.upstream_headers
                .contains(&("x-seen-method".into(), "POST".into()))
        );

        let headers = same_outcome(&mut guest, &call(&upstream.url("/headers")));
        let cookies: Vec<_> = headers
            .upstream_headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cookies, ["a=1", "b=2"], "{headers:?}");
        assert!(
            headers
                .upstream_headers
                .contains(&("x-multi".into(), "one, two".into()))
        );

        let before = upstream.requests();
        let redirect = same_outcome(&mut guest, &call(&upstream.url("/redirect")));
        assert_eq!(redirect.upstream_status.as_deref(), Some("302"));
        assert!(
            redirect
                .upstream_headers
                .contains(&("location".into(), "/echo".into()))
        );
        // One call per platform: the 302 was not followed to /echo.
        assert_eq!(upstream.requests() - before, 2, "redirects are not followed");

        for (url, kind) in [
            ("http://denied.example/", "denied"),
            ("https://api.example.com/", "denied"),
            ("ftp://127.0.0.1/", "invalid"),
            ("/relative", "invalid"),
        ] {
            let refused = same_outcome(&mut guest, &call(url));
            assert_eq!((refused.status, error_of(&refused)), (502, kind), "{url}");
        }
        let owned_header = same_outcome(
            &mut guest,
            &call(&upstream.url("/echo")).header("x-call-header-1", b"connection: close"),
        );
        assert_eq!(error_of(&owned_header), "invalid");

        let at_cap = same_outcome(&mut guest, &call(&upstream.url("/big?bytes=65536")));
        assert_eq!(at_cap.body.len(), 65536, "{:?}", at_cap.error);
        let over_cap = same_outcome(&mut guest, &call(&upstream.url("/big?bytes=65537")));
        assert_eq!(error_of(&over_cap), "limit");

        let five = same_outcome(
            &mut guest,
            &call(&upstream.url("/echo")).header("x-call-repeat", b"5"),
        );
        assert_eq!(five.status, 200, "five calls are allowed: {five:?}");
        let six = same_outcome(
            &mut guest,
            &call(&upstream.url("/echo")).header("x-call-repeat", b"6"),
        );
        assert_eq!(
            (error_of(&six), six.index.as_deref()),
            ("limit", Some("6"))
        );

        let init = same_outcome(
            &mut guest,
            &Case::get("/outbound").header("x-init-result", b"1"),
        );
        assert_eq!(error_of(&init), "unsupported", "a call from init");
    }
);

conformance!(
    /// Without the private-network opt-in, loopback is out of reach even where the allow-list
    /// names it, by address and by a name that resolves to it; the upstream never sees a request.
    outbound_http_cannot_reach_loopback_without_the_opt_in,
    |serve| {
        let upstream = Upstream::start();
        let mut guest = serve("outbound", &settings("false"));
        for url in [upstream.url("/echo"), upstream.localhost_url("/echo")] {
            let refused = same_outcome(&mut guest, &call(&url));
            assert_eq!(error_of(&refused), "denied", "{url}");
        }
        assert_eq!(upstream.requests(), 0, "nothing reached the upstream");
    }
);

conformance!(
    /// A slow upstream fails the call with `timeout` once the call's own limit passes, well
    /// within the invocation's deadline, and the guest answers.
    outbound_http_times_out_within_the_deadline,
    |serve| {
        let upstream = Upstream::start();
        let mut guest = serve("outbound", &settings("true"));
        let started = Instant::now();
        let slow = same_outcome(
            &mut guest,
            &call(&upstream.url("/slow?ms=5000")).header("x-call-timeout-ms", b"300"),
        );
        assert_eq!(error_of(&slow), "timeout", "{slow:?}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "two timed-out calls took {:?}",
            started.elapsed()
        );
        let after = same_outcome(&mut guest, &call(&upstream.url("/echo")));
        assert_eq!(after.status, 200, "the function still serves");
    }
);

conformance!(
    /// While one invocation waits on a slow upstream, another is answered at once: the waiting
    /// guest holds no worker thread. Not on Lambda, where an execution environment serves one
    /// invocation at a time by design.
    outbound_http_waiting_does_not_hold_up_other_requests,
    [local, azure_functions, cloudflare_workers],
    |serve| {
        let upstream = Upstream::start();
        let guest = serve("outbound", &settings("true"));
        let slow_case = call(&upstream.url("/slow?ms=3000"));
        let fast_case = call(&upstream.url("/echo"));
        std::thread::scope(|scope| {
            let slow_local = scope.spawn(|| guest.local.send(&slow_case));
            let slow_target = scope.spawn(|| guest.target.send(&slow_case));
            // Let both slow calls reach the upstream first.
            std::thread::sleep(Duration::from_millis(500));
            let quick = |side: &str, send: &dyn Fn(&Case) -> crate::common::Reply| {
                let started = Instant::now();
                let fast = send(&fast_case);
                assert_eq!(fast.status, 200, "{side}: {}", fast.text());
                assert!(
                    started.elapsed() < Duration::from_millis(1500),
                    "{side}: a quick call waited {:?} behind a slow one",
                    started.elapsed()
                );
            };
            quick("local", &|c| guest.local.send(c));
            quick(T::PLATFORM, &|c| guest.target.send(c));
            for slow in [slow_local, slow_target] {
                let slow = slow.join().unwrap();
                assert_eq!(slow.status, 200, "{}", slow.text());
                assert_eq!(slow.body, b"slow");
            }
        });
    }
);

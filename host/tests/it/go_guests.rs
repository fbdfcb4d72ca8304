//! The Go guests (guests/examples/go, built against the Go SDK in sdk/go by `make guests-go`) through the real
//! local host, side by side with the Rust guests they mirror: the same requests must get the same
//! answers, so the Go SDK speaks ABI v1 exactly like the Rust one.

use crate::common;

use crate::platforms::{Comparable, PER_RUN_HEADERS};
use common::{Host, Reply, guests_dir};

const MANIFEST: &str = r#"
[[function]]
name = "hello"
wasm = "{guests}/hello.wasm"

[[function]]
name = "echo"
wasm = "{guests}/echo.wasm"

[[function]]
name = "go-hello"
wasm = "{guests}/go-hello.wasm"

[[function]]
name = "go-echo"
wasm = "{guests}/go-echo.wasm"
"#;

/// Starts the host with the Rust and Go guests, or explains how to build what is missing.
fn host() -> Host {
    host_with(MANIFEST)
}

fn host_with(manifest: &str) -> Host {
    let dir = guests_dir();
    for name in ["go-hello", "go-echo"] {
        let path = dir.join(format!("{name}.wasm"));
        assert!(
            path.is_file(),
            "the Go guest {} is not built: run `make guests-go` (`make test` does)",
            path.display()
        );
    }
    Host::with_manifest(manifest)
}

/// The headers of a reply in order (values byte-exact), without those that legitimately differ
/// between two invocations: the ids and the date. The functions are mounted at different prefixes,
/// so the echoed path is kept without its first segment.
fn comparable(reply: &Reply) -> Vec<(String, String)> {
    let mut headers = Comparable::in_order(reply, PER_RUN_HEADERS, false).headers;
    for (name, value) in &mut headers {
        if name == "x-echo-path" {
            *value = value
                .strip_prefix("/go-echo")
                .or_else(|| value.strip_prefix("/echo"))
                .unwrap_or_else(|| panic!("unexpected echoed path {value}"))
                .to_owned();
        }
    }
    headers
}

#[test]
fn go_hello_answers_like_rust_hello() {
    let host = host();
    for suffix in ["", "/any/sub/path?x=1"] {
        let rust = host.get(&format!("/hello{suffix}"));
        let go = host.get(&format!("/go-hello{suffix}"));
        assert_eq!(rust.status, 200, "{}", rust.text());
        assert_eq!(
            go.status,
            200,
            "go-hello: {}\nlog:\n{}",
            go.text(),
            host.log()
        );
        assert_eq!(rust.text(), "Hello from hello on local!\n");
        assert_eq!(go.text(), "Hello from go-hello on local!\n");
        // Same headers, apart from the length of the longer name.
        let without_length = |reply: &Reply| -> Vec<(String, String)> {
            comparable(reply)
                .into_iter()
                .filter(|(name, _)| name != "content-length")
                .collect()
        };
        assert_eq!(without_length(&go), without_length(&rust));
        assert_eq!(
            go.header("content-type").as_deref(),
            Some("text/plain; charset=utf-8")
        );
        assert!(go.header("x-edgefn-request-id").is_some());
    }
}

#[test]
fn go_echo_is_byte_exact_with_repeated_headers() {
    let host = host();
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(256 * 64).collect();
    let reply = host.send(
        "PUT",
        "/go-echo/a%20b/c?x=1&x=2&y=%F0%9F%98%80",
        &[
            ("content-type", b"application/octet-stream"),
            ("x-multi", b"one"),
            ("x-multi", b"two"),
            ("x-multi", b"three"),
            ("x-opaque", b"\x80\xff bytes"),
        ],
        &every_byte,
    );
    assert_eq!(reply.status, 200, "{}\nlog:\n{}", reply.text(), host.log());
    assert_eq!(reply.body, every_byte, "body must round-trip byte for byte");
    assert_eq!(reply.header("x-echo-method").as_deref(), Some("PUT"));
    assert_eq!(
        reply.header("x-echo-path").as_deref(),
        Some("/go-echo/a%20b/c")
    );
    assert_eq!(
        reply.header("x-echo-query").as_deref(),
        Some("x=1&x=2&y=%F0%9F%98%80")
    );
    assert_eq!(reply.all("x-echo-h-x-multi"), ["one", "two", "three"]);
    let opaque = reply
        .headers
        .iter()
        .find(|(k, _)| k == "x-echo-h-x-opaque")
        .expect("x-echo-h-x-opaque");
    assert_eq!(opaque.1, b"\x80\xff bytes");
    assert_eq!(
        reply.header("x-echo-request-id"),
        reply.header("x-edgefn-request-id"),
        "the guest sees the same request id the client gets"
    );

    let empty = host.send("DELETE", "/go-echo", &[], b"");
    assert_eq!(empty.status, 200);
    assert!(empty.body.is_empty());
    assert_eq!(empty.header("x-echo-query"), None);
}

/// Every request goes to the Rust echo and the Go echo; status, body and every header (ids aside)
/// must be identical, in order.
#[test]
fn go_echo_answers_exactly_like_rust_echo() {
    let host = host();
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let large: Vec<u8> = (0..3 * 1024 * 1024)
        .map(|i: u32| (i * 7 % 251) as u8)
        .collect();
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a [u8])>, &'a [u8]);
    let cases: Vec<Case<'_>> = vec![
        ("GET", "", vec![], b""),
        ("GET", "/", vec![], b""),
        ("GET", "?", vec![], b""),
        ("GET", "/x?", vec![], b""),
        ("HEAD", "/head", vec![], b""),
        ("OPTIONS", "/o?a=b", vec![], b""),
        (
            "POST",
            "/form?q=a+b&q=%2F&empty=&flag",
            vec![("content-type", b"application/x-www-form-urlencoded")],
            b"a=1&b=2",
        ),
        (
            "PUT",
            "/bin/%00%ff/%C3%BC",
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
            &every_byte,
        ),
        ("PATCH", "/large", vec![], &large),
        (
            "DELETE",
            "/d",
            vec![("content-type", b"text/plain")],
            b"bye",
        ),
        (
            "PURGE",
            "/custom-method",
            vec![(
                "Traceparent",
                b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )],
            b"",
        ),
    ];
    for (method, suffix, headers, body) in &cases {
        let rust = host.send(method, &format!("/echo{suffix}"), headers, body);
        let go = host.send(method, &format!("/go-echo{suffix}"), headers, body);
        let what = format!("{method} {suffix:?}");
        assert_eq!(rust.status, 200, "rust echo {what}: {}", rust.text());
        assert_eq!(
            go.status,
            rust.status,
            "{what}: {}\nlog:\n{}",
            go.text(),
            host.log()
        );
        assert_eq!(go.body, rust.body, "{what}: bodies differ");
        assert_eq!(go.body.len(), body.len(), "{what}");
        assert_eq!(comparable(&go), comparable(&rust), "{what}: headers differ");
        assert_eq!(
            go.header("x-echo-request-id"),
            go.header("x-edgefn-request-id"),
            "{what}"
        );
    }
}

/// Fresh instances in parallel: each answer is whole and belongs to its own request.
#[test]
fn go_guests_serve_concurrent_requests() {
    let host = host();
    let addr = host.addr;
    let workers: Vec<_> = (0..4u8)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..10u8 {
                    let body = vec![t; 1000 + usize::from(i)];
                    let tag = format!("{t}-{i}");
                    let reply = common::send(
                        addr,
                        "POST",
                        "/go-echo/c",
                        &[("x-tag", tag.as_bytes())],
                        &body,
                    );
                    assert_eq!(reply.status, 200);
                    assert_eq!(reply.body, body);
                    assert_eq!(reply.header("x-echo-h-x-tag"), Some(tag));
                    let hello = common::send(addr, "GET", "/go-hello", &[], b"");
                    assert_eq!(hello.text(), "Hello from go-hello on local!\n");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a request failed");
    }
}

/// One warm instance serving request after request: the Go runtime and the SDK's buffers carry over
/// between calls, and every answer must still be exactly its own request's, as bodies grow, shrink
/// and vanish and queries come and go.
#[test]
fn go_echo_on_one_warm_instance() {
    let host = host_with(
        r#"
[[function]]
name = "go-echo"
wasm = "{guests}/go-echo.wasm"
warm = { max_instances = 1, max_uses = 1000 }
"#,
    );
    for i in 0..60u32 {
        let size = [0, 1, 100_000, 7, 300_000, 0, 4096][i as usize % 7] + i as usize;
        let body: Vec<u8> = (0..size).map(|b| (b as u32 * 31 + i) as u8).collect();
        let tag = i.to_string();
        let path = if i % 2 == 0 {
            format!("/go-echo/{i}?n={i}")
        } else {
            format!("/go-echo/{i}")
        };
        let reply = host.send("POST", &path, &[("x-tag", tag.as_bytes())], &body);
        assert_eq!(
            reply.status,
            200,
            "request {i}: {}\nlog:\n{}",
            reply.text(),
            host.log()
        );
        assert_eq!(reply.body, body, "request {i}: body");
        assert_eq!(reply.all("x-echo-h-x-tag"), [tag], "request {i}");
        assert_eq!(
            reply.header("x-echo-path").as_deref(),
            Some(format!("/go-echo/{i}").as_str())
        );
        let expected_query = (i % 2 == 0).then(|| format!("n={i}"));
        assert_eq!(reply.header("x-echo-query"), expected_query, "request {i}");
    }
}

/// What the go-random fixture reports about one instance, by field name.
pub(crate) type RandomReport = std::collections::BTreeMap<String, String>;

pub(crate) fn random_report(reply: &Reply) -> RandomReport {
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply
        .text()
        .lines()
        .map(|line| {
            let (key, value) = line.split_once('=').expect("key=value");
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

fn distinct(reports: &[RandomReport], field: &str) -> usize {
    reports
        .iter()
        .map(|r| r[field].as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// Asserts that the go-random instances behind `reports` (one fresh instance each, configured
/// with GREETING=Hej) started from one snapshot or each ran the runtime's start-up, as
/// `from_snapshot` says, and that either way each drew its own random numbers.
pub(crate) fn assert_own_random_state(what: &str, reports: &[RandomReport], from_snapshot: bool) {
    // The number drawn during init tells which way the instances started: one snapshot for all of
    // them, or the runtime started in each.
    let stamps = distinct(reports, "init_stamp");
    let want = if from_snapshot { 1 } else { reports.len() };
    assert_eq!(stamps, want, "{what}: {reports:?}");
    // Either way Go's promise holds: every instance is seeded anew (math/rand's top-level
    // functions, math/rand/v2), and what init built is intact.
    assert_eq!(
        distinct(reports, "rand"),
        reports.len(),
        "{what}: {reports:?}"
    );
    assert_eq!(
        distinct(reports, "randv2"),
        reports.len(),
        "{what}: {reports:?}"
    );
    // A new map's iteration order starts at a random bucket: all alike would be a frozen seed.
    assert!(distinct(reports, "map_order") > 1, "{what}: {reports:?}");
    for report in reports {
        assert_eq!(report["init_map_intact"], "true", "{what}: {report:?}");
        // The configured variables reach the handler although the snapshot was taken without.
        assert_eq!(report["greeting"], "Hej", "{what}: {report:?}");
        assert_eq!(report["slept_enough"], "true", "{what}: {report:?}");
    }
}

#[test]
fn go_instances_started_from_the_runtime_snapshot_draw_their_own_random_numbers() {
    let path = guests_dir().join("go-random.wasm");
    assert!(
        path.is_file(),
        "{} is not built: run `make guests-go` (`make test` does)",
        path.display()
    );
    let host = crate::reliability::start_with_admin(
        r#"
[[function]]
name = "snapshot"
wasm = "{guests}/go-random.wasm"
env = { GREETING = "Hej" }

[[function]]
name = "every-instance"
wasm = "{guests}/go-random.wasm"
env = { GREETING = "Hej" }
preinit = false

[[function]]
name = "declined"
wasm = "{guests}/go-random-declined.wasm"
env = { GREETING = "Hej" }
"#,
    );
    // Each function, and whether its instances start from a snapshot.
    let functions = [
        ("snapshot", true),
        ("every-instance", false),
        ("declined", false),
    ];
    for (function, from_snapshot) in functions {
        let reports: Vec<_> = (0..4)
            .map(|_| random_report(&host.get(&format!("/{function}"))))
            .collect();
        assert_own_random_state(function, &reports, from_snapshot);
    }
    // The deploy warned that the declining function (only it) is not pre-initialized; with the
    // reason when its artifact was made, which the shared cache may have done before.
    let log = host.log();
    let warnings: Vec<_> = log
        .lines()
        .filter(|line| line.contains("not pre-initialized"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    let warning = warnings[0];
    assert!(
        warning.contains("function=\"declined\"") || warning.contains("function=declined"),
        "{log}"
    );
    if warning.contains("why=") {
        // Logged where the artifact was made.
        assert!(warning.contains(" WARN "), "{warning}");
        assert!(
            warning.contains("its init declined a snapshot")
                && warning
                    .contains("the go-random-declined fixture declines, to test the fallback"),
            "{warning}"
        );
    } else {
        assert!(
            warning.contains("no snapshot could be taken when its artifact was made"),
            "{warning}"
        );
    }
    // And administration says which of them serve a snapshot.
    let (admin, token) = crate::reliability::admin_line(&host);
    let listing: serde_json::Value = serde_json::from_slice(
        &crate::reliability::admin(admin, "GET", "/functions", Some(&token)).body,
    )
    .unwrap();
    for (function, serves_snapshot) in functions {
        let listed = listing
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == function)
            .unwrap_or_else(|| panic!("{function} in {listing}"));
        assert_eq!(listed["preinitialized"], serves_snapshot, "{listed}");
    }
}

conformance!(
    /// Packages ship a Go function's snapshot too (the Lambda and Azure artifacts are compiled
    /// from it, the Worker bundle holds it), and everywhere an instance draws its own random
    /// numbers and sees its variables.
    go_instances_start_from_the_snapshot_with_their_own_random_state,
    |serve| {
        let pair = serve("go-random", &[("GREETING", "Hej")]);
        let reports: Vec<_> = (0..4)
            .map(|_| random_report(&pair.target.send(&crate::platforms::Case::get("/go-random"))))
            .collect();
        assert_own_random_state(T::PLATFORM, &reports, true);
    }
);

conformance!(
    /// A Go function whose init declines the snapshot (`edgefn.DeclineSnapshot`) is packaged and
    /// deployed all the same, and every platform runs the Go runtime's start-up and its init in each
    /// instance: the number drawn during init differs from instance to instance.
    a_go_function_that_declines_the_snapshot_runs_its_init_in_every_instance,
    |serve| {
        let pair = serve("go-random-declined", &[("GREETING", "Hej")]);
        let reports: Vec<_> = (0..4)
            .map(|_| {
                random_report(
                    &pair
                        .target
                        .send(&crate::platforms::Case::get("/go-random-declined")),
                )
            })
            .collect();
        assert_own_random_state(T::PLATFORM, &reports, false);
    }
);

#[test]
fn packaging_for_another_architecture_runs_the_init_once() {
    // Compiling for another machine loads the module here first (to refuse what this machine
    // would) and compiles the code that load made; an init that ran twice would warn twice.
    let other = if std::env::consts::ARCH == "aarch64" {
        "x86_64"
    } else {
        "arm64"
    };
    let out = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(common::edgefn_bin())
        .args(["package", "--target", "aws-lambda", "--arch", other])
        .arg(guests_dir().join("go-random-declined.wasm"))
        .arg("--out")
        .arg(out.path())
        .env("EDGEFN_CACHE_DIR", out.path().join("cache"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let warnings = stderr
        .lines()
        .filter(|line| line.contains("not pre-initialized"))
        .count();
    assert_eq!(warnings, 1, "{stderr}");
}

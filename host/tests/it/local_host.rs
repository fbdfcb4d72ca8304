//! The local host end to end: the real binary on a loopback port, every example guest, every limit,
//! the artifact cache across restarts, ABI checks at load and graceful shutdown.

use crate::common;

use common::{Host, guest, raw, send};
use std::time::{Duration, Instant};

const MANIFEST: &str = r#"
[defaults]
max_request_bytes = 1048576

[[function]]
name = "hello"
wasm = "{guests}/hello.wasm"

[[function]]
name = "echo"
wasm = "{guests}/echo.wasm"

[[function]]
name = "json"
wasm = "{guests}/json.wasm"

[[function]]
name = "config"
wasm = "{guests}/config.wasm"
env = { GREETING = "configured hello" }

[[function]]
name = "panic"
wasm = "{guests}/panic.wasm"

[[function]]
name = "busy-loop"
wasm = "{guests}/busy-loop.wasm"
limits = { deadline_ms = 300 }

[[function]]
name = "memory-hog"
wasm = "{guests}/memory-hog.wasm"
limits = { memory_mb = 32 }

[[function]]
name = "stack-overflow"
wasm = "{guests}/stack-overflow.wasm"

[[function]]
name = "big-response"
wasm = "{guests}/big-response.wasm"
limits = { max_response_bytes = 8388608 }

[[function]]
name = "slow"
wasm = "{guests}/slow.wasm"
limits = { max_concurrency = 1 }

[[function]]
name = "counter"
wasm = "{guests}/counter.wasm"
"#;

fn host() -> Host {
    Host::with_manifest(MANIFEST)
}

fn assert_healthy(host: &Host) {
    let reply = host.get("/hello");
    assert_eq!(reply.status, 200, "hello after a failure: {}", reply.text());
    assert_eq!(reply.text(), "Hello from hello on local!\n");
}

#[test]
fn example_guests_answer() {
    let host = host();
    assert_healthy(&host);
    let reply = host.get("/hello/any/sub/path?x=1");
    assert_eq!(reply.status, 200, "prefix routes reach the function");
    assert!(reply.header("x-edgefn-request-id").is_some());

    let reply = host.send(
        "POST",
        "/json",
        &[("content-type", b"application/json")],
        br#"{"name":"edge","count":2}"#,
    );
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    let value: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(value["message"], "Hello, edge! Hello, edge!");
    assert_eq!(value["length"], 25);

    let reply = host.send("POST", "/json", &[], b"{not json");
    assert_eq!(reply.status, 400);
    assert!(
        reply.text().contains("invalid JSON body"),
        "{}",
        reply.text()
    );

    let reply = host.get("/config");
    assert_eq!(reply.status, 200);
    let value: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(value["greeting"], "configured hello");
    // The guest's environment is its configuration only, never the host's (PATH, HOME, RUST_LOG...).
    assert_eq!(value["variables"], serde_json::json!(["GREETING"]));

    assert_eq!(host.get("/nope").status, 404);
    assert_eq!(
        host.get("/hellox").status,
        404,
        "a route matches whole path segments only"
    );
}

#[test]
fn echo_is_byte_exact_with_repeated_headers() {
    let host = host();
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(256 * 64).collect();
    let reply = host.send(
        "PUT",
        "/echo/a%20b/c?x=1&x=2&y=%F0%9F%98%80",
        &[
            ("content-type", b"application/octet-stream"),
            ("x-multi", b"one"),
            ("x-multi", b"two"),
            ("x-multi", b"three"),
            ("x-opaque", b"\x80\xff bytes"),
        ],
        &every_byte,
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, every_byte, "body must round-trip byte for byte");
    assert_eq!(reply.header("x-echo-method").as_deref(), Some("PUT"));
    assert_eq!(
        reply.header("x-echo-path").as_deref(),
        Some("/echo/a%20b/c")
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
        .unwrap();
    assert_eq!(opaque.1, b"\x80\xff bytes");
    assert_eq!(
        reply.header("x-echo-request-id"),
        reply.header("x-edgefn-request-id"),
        "the guest sees the same request id the client gets"
    );

    let empty = host.send("DELETE", "/echo", &[], b"");
    assert_eq!(empty.status, 200);
    assert!(empty.body.is_empty());
}

#[test]
fn every_instance_is_fresh() {
    let host = host();
    for _ in 0..5 {
        assert_eq!(
            host.get("/counter").text(),
            "1\n",
            "state leaked between requests"
        );
    }
}

#[test]
fn warm_mode_reuses_instances_only_when_opted_in() {
    let host = Host::with_manifest(
        r#"
        [[function]]
        name = "fresh"
        wasm = "{guests}/counter.wasm"

        [[function]]
        name = "warm"
        wasm = "{guests}/counter.wasm"
        warm = { max_instances = 1, max_uses = 3 }
        "#,
    );
    let counts: Vec<String> = (0..7).map(|_| host.get("/warm").text()).collect();
    // One instance serves three requests, is retired, and a new one starts from scratch.
    assert_eq!(counts, ["1\n", "2\n", "3\n", "1\n", "2\n", "3\n", "1\n"]);
    for _ in 0..3 {
        assert_eq!(
            host.get("/fresh").text(),
            "1\n",
            "fresh mode must never reuse an instance"
        );
    }
}

#[test]
fn limits_answer_their_status_and_the_host_keeps_serving() {
    let host = host();

    let started = Instant::now();
    let reply = host.get("/busy-loop");
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "deadline of 300 ms took {:?}",
        started.elapsed()
    );
    assert_healthy(&host);

    let reply = host.get("/memory-hog");
    assert_eq!(reply.status, 500);
    assert_healthy(&host);

    let reply = host.get("/stack-overflow");
    assert_eq!(reply.status, 500);
    assert_healthy(&host);

    let reply = host.get("/panic");
    assert_eq!(reply.status, 500);
    assert!(
        !reply.text().contains("secret"),
        "panic detail leaked to the client: {}",
        reply.text()
    );
    assert_healthy(&host);

    // Declared too large: refused from the headers alone, before any body is read.
    let answer = raw(
        host.addr,
        b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 1048577\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Streamed (chunked) past the limit: cut off once the limit is crossed.
    let mut chunked =
        b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..17 {
        chunked.extend_from_slice(b"10000\r\n");
        chunked.extend_from_slice(&[b'z'; 0x10000]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(host.addr, &chunked, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Exactly at the limit is fine.
    let reply = host.send("POST", "/echo", &[], &vec![7u8; 1 << 20]);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), 1 << 20);
    assert_healthy(&host);

    let reply = host.get("/big-response?bytes=6000000");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), 6_000_000);
    assert!(
        reply.body.iter().enumerate().all(|(i, b)| *b == i as u8),
        "large body intact"
    );
    let reply = host.get("/big-response?bytes=9000000");
    assert_eq!(reply.status, 500, "over max_response_bytes");
    assert_healthy(&host);

    let log = host.log();
    for kind in [
        "kind=\"timeout\"",
        "kind=\"memory\"",
        "kind=\"trap\"",
        "kind=\"response-too-large\"",
    ] {
        assert!(log.contains(kind), "log names the failure {kind}:\n{log}");
    }
    assert!(
        log.contains("this guest panics on purpose"),
        "the panic message is logged for the operator"
    );
}

#[test]
fn concurrency_cap_answers_503_with_retry_after() {
    let host = host();
    let addr = host.addr;
    let first = std::thread::spawn(move || send(addr, "GET", "/slow?ms=1500", &[], b""));
    std::thread::sleep(Duration::from_millis(400));
    let reply = host.get("/slow?ms=1");
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after").as_deref(), Some("1"));
    let first = first.join().unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(first.text(), "slept 1500 ms\n");
    assert_eq!(host.get("/slow?ms=1").status, 200, "the slot is released");
}

#[test]
fn sleeping_guest_does_not_block_its_worker() {
    // Two workers, four sleepers: async WASI lets one thread run several sleeping guests at once.
    let host = Host::with_manifest(
        "[[function]]\nname = \"slow\"\nwasm = \"{guests}/slow.wasm\"\n[[function]]\nname = \"hello\"\nwasm = \"{guests}/hello.wasm\"\n",
    );
    let addr = host.addr;
    let started = Instant::now();
    let sleepers: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || send(addr, "GET", "/slow?ms=1000", &[], b"").status))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let hello_started = Instant::now();
    assert_eq!(host.get("/hello").status, 200);
    assert!(
        hello_started.elapsed() < Duration::from_millis(500),
        "hello waited behind sleepers"
    );
    for s in sleepers {
        assert_eq!(s.join().unwrap(), 200);
    }
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "sleepers ran one after another"
    );
}

#[test]
fn restart_loads_artifacts_without_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let hello = guest("hello");
    let args = [
        hello.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ];

    let mut first = Host::start(tempfile::tempdir().unwrap(), &args).unwrap();
    assert_eq!(first.get("/hello").status, 200);
    assert!(first.terminate().success());
    let log = first.log();
    assert!(
        log.contains("compiled module and cached its artifact"),
        "{log}"
    );

    let mut second = Host::start(tempfile::tempdir().unwrap(), &args).unwrap();
    assert_eq!(second.get("/hello").status, 200);
    assert!(second.terminate().success());
    let log = second.log();
    assert!(
        log.contains("loaded precompiled artifact from cache"),
        "{log}"
    );
    assert!(
        !log.contains("compiled module"),
        "second start compiled again:\n{log}"
    );

    // Tamper with the artifact: the third start must notice, recompile and still serve.
    let artifact = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .unwrap();
    let mut bytes = std::fs::read(&artifact).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x55;
    std::fs::write(&artifact, bytes).unwrap();
    let third = Host::start(tempfile::tempdir().unwrap(), &args).unwrap();
    assert_eq!(third.get("/hello").status, 200);
    let log = third.log();
    assert!(log.contains("failed verification"), "{log}");
}

#[test]
fn modules_with_a_foreign_abi_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, wat: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
        path
    };
    let v2 = write(
        "future.wasm",
        r#"(module (memory (export "memory") 1)
            (func (export "edgefn_v2_handle") (param i32 i32) (result i64) i64.const 0))"#,
    );
    let none = write(
        "plain.wasm",
        r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
    );
    let not_wasm = dir.path().join("text.wasm");
    std::fs::write(&not_wasm, "this is not wasm").unwrap();
    let hello = guest("hello");
    let cache = dir.path().join("cache");

    let host = Host::start(
        tempfile::tempdir().unwrap(),
        &[
            v2.to_str().unwrap(),
            none.to_str().unwrap(),
            not_wasm.to_str().unwrap(),
            hello.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
    )
    .expect("the good function is served even though others were refused");
    assert_eq!(host.get("/hello").status, 200);
    assert_eq!(host.get("/future").status, 404);
    let log = host.log();
    assert!(
        log.contains("\"future\" speaks edgefn ABI v2, but this host supports ABI v1"),
        "{log}"
    );
    assert!(log.contains("\"plain\" is a WASI command"), "{log}");
    assert!(log.contains("not a WebAssembly module"), "{log}");

    // Alone, a refused module stops the host with an error instead of serving nothing.
    let err = Host::start(
        tempfile::tempdir().unwrap(),
        &[v2.to_str().unwrap(), "--cache-dir", cache.to_str().unwrap()],
    )
    .err()
    .expect("host refuses to start with no valid function");
    assert!(err.contains("ABI v2"), "{err}");
}

#[test]
fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    let mut host = host();
    let addr = host.addr;
    let in_flight = std::thread::spawn(move || send(addr, "GET", "/slow?ms=1500", &[], b""));
    std::thread::sleep(Duration::from_millis(400));
    let status = host.terminate();
    assert!(status.success(), "exit status {status:?}");
    let reply = in_flight.join().unwrap();
    assert_eq!(reply.status, 200, "in-flight request was cut");
    assert_eq!(reply.text(), "slept 1500 ms\n");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still accepting after shutdown"
    );
}

#[test]
fn a_guest_reaches_only_what_it_was_given() {
    let files = tempfile::tempdir().unwrap();
    let granted = files.path().join("static");
    std::fs::create_dir(&granted).unwrap();
    std::fs::write(granted.join("hello.txt"), "hello file").unwrap();
    std::fs::write(files.path().join("secret.txt"), "outside the grant").unwrap();
    let host = Host::with_manifest(&format!(
        r#"
        [[function]]
        name = "granted"
        wasm = "{{guests}}/capabilities.wasm"
        env = {{ ONLY = "this" }}
        dir = {{ host = "{}", guest = "/static" }}

        [[function]]
        name = "bare"
        wasm = "{{guests}}/capabilities.wasm"
        "#,
        granted.display()
    ));
    let probe = |path: &str| -> std::collections::HashMap<String, String> {
        let reply = host.get(path);
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply
            .text()
            .lines()
            .map(|l| {
                let (k, v) = l.split_once(' ').unwrap_or((l, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect()
    };

    let first = probe("/granted?read=/static/hello.txt&write=/static/new.txt");
    assert_eq!(
        first["read"], "ok hello file",
        "the granted directory is readable"
    );
    assert!(
        first["write"].starts_with("denied"),
        "the grant is read-only: {}",
        first["write"]
    );
    assert!(!granted.join("new.txt").exists());
    assert_eq!(
        first["env"], "ONLY",
        "the environment is the configuration, nothing of the host's"
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let guest_ms: u128 = first["clock"].parse().unwrap();
    assert!(
        guest_ms.abs_diff(now_ms) < 60_000,
        "the guest's clock is the real time"
    );
    let second = probe("/granted?read=/static/../secret.txt");
    assert!(
        second["read"].starts_with("denied"),
        "escaping the grant: {}",
        second["read"]
    );
    assert_ne!(
        first["random"], second["random"],
        "random differs between invocations"
    );
    assert_eq!(first["random"].len(), 32);

    let bare = probe(&format!(
        "/bare?read=/static/hello.txt&write=/tmp/x-{}",
        std::process::id()
    ));
    assert!(
        bare["read"].starts_with("denied"),
        "no grant, no files: {}",
        bare["read"]
    );
    assert!(bare["write"].starts_with("denied"));
    assert_eq!(bare["env"], "");
    let host_file = probe(&format!(
        "/bare?read={}",
        files.path().join("secret.txt").display()
    ));
    assert!(host_file["read"].starts_with("denied"));
}

//! Reliability and security: hostile modules at deploy, hostile guests under load, hostile
//! requests, hot redeploy with zero loss, graceful shutdown under load, the admin surface, and a
//! shared artifact cache. Every test is bounded in time and talks to loopback only.

use crate::common;

use common::{Host, Reply, guest, guests_dir, raw, send};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn wasm_file(dir: &std::path::Path, name: &str, wat: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
    path
}

/// The ABI exports, so a module fails only for the reason a test gives it.
const ABI: &str = r#"
  (func (export "edgefn_v1_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "edgefn_v1_handle") (param i32 i32) (result i64) i64.const 0)"#;

#[test]
fn hostile_modules_are_refused_at_deploy_and_the_rest_keep_serving() {
    let dir = tempfile::tempdir().unwrap();
    let hello = std::fs::read(guest("hello")).unwrap();
    let truncated = dir.path().join("truncated.wasm");
    std::fs::write(&truncated, &hello[..hello.len() / 2]).unwrap();
    let imports = wasm_file(
        dir.path(),
        "imports.wasm",
        &format!(
            r#"(module (import "env" "launch_missiles" (func)) (memory (export "memory") 1) {ABI})"#
        ),
    );
    let memory = wasm_file(
        dir.path(),
        "memory.wasm",
        &format!(r#"(module (memory (export "memory") 65536) {ABI})"#),
    );
    let table = wasm_file(
        dir.path(),
        "table.wasm",
        &format!(r#"(module (table 50000000 funcref) (memory (export "memory") 1) {ABI})"#),
    );
    let start = wasm_file(
        dir.path(),
        "start.wasm",
        &format!(
            r#"(module (func $forever (loop br 0)) (start $forever) (memory (export "memory") 1) {ABI})"#
        ),
    );
    let wrong_type = wasm_file(
        dir.path(),
        "wrongtype.wasm",
        r#"(module (memory (export "memory") 1)
             (func (export "edgefn_v1_alloc") (param i32) (result i32) i32.const 0)
             (func (export "edgefn_v1_handle") (param i32) (result i32) i32.const 0))"#,
    );
    let manifest = format!(
        "{}[[function]]\nname = \"hello\"\nwasm = \"{}\"\n",
        [
            "truncated",
            "imports",
            "memory",
            "table",
            "start",
            "wrongtype"
        ]
        .iter()
        .map(|n| format!(
            "[[function]]\nname = \"{n}\"\nwasm = \"{}\"\n",
            dir.path().join(format!("{n}.wasm")).display()
        ))
        .collect::<String>(),
        guests_dir().join("hello.wasm").display()
    );
    let _ = (&truncated, &imports, &memory, &table, &start, &wrong_type);
    let started = Instant::now();
    let host = Host::with_manifest(&manifest);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a hostile module stalled the deploy"
    );
    assert_eq!(host.get("/hello").status, 200);
    let log = host.log();
    for (name, reason) in [
        ("truncated", "not a valid WebAssembly module"),
        ("imports", "launch_missiles"),
        ("memory", "initial memory, more than its limit"),
        ("table", "declares a table of 50000000 elements"),
        ("start", "has a start function"),
        ("wrongtype", "has the wrong type"),
    ] {
        assert!(
            log.contains(&format!("\"{name}\"")) && log.contains(reason),
            "{name}: expected {reason:?} in\n{log}"
        );
        assert_eq!(
            host.get(&format!("/{name}")).status,
            404,
            "{name} must not be routed"
        );
    }
}

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1]
}

/// Sequential hello requests on one keep-alive connection; returns latencies and failures.
fn hello_latencies(addr: std::net::SocketAddr, count: usize) -> (Vec<Duration>, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        use http_body_util::BodyExt;
        let mut sender = common::connect(addr).await.unwrap();
        let mut samples = Vec::with_capacity(count);
        let mut failures = 0;
        for _ in 0..count {
            let request = http::Request::get("/hello")
                .header("host", "x")
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap();
            let started = Instant::now();
            match sender.send_request(request).await {
                Ok(response) => {
                    let ok = response.status() == 200;
                    let body = response.into_body().collect().await;
                    if !ok || body.is_err() {
                        failures += 1;
                    }
                }
                Err(_) => failures += 1,
            }
            samples.push(started.elapsed());
        }
        (samples, failures)
    })
}

#[test]
fn hostile_guests_under_load_do_not_hurt_a_well_behaved_function() {
    let host = Host::with_manifest(
        r#"
        [[function]]
        name = "hello"
        wasm = "{guests}/hello.wasm"
        [[function]]
        name = "busy-loop"
        wasm = "{guests}/busy-loop.wasm"
        limits = { deadline_ms = 2000 }
        [[function]]
        name = "memory-hog"
        wasm = "{guests}/memory-hog.wasm"
        limits = { memory_mb = 48 }
        [[function]]
        name = "stack-overflow"
        wasm = "{guests}/stack-overflow.wasm"
        [[function]]
        name = "panic"
        wasm = "{guests}/panic.wasm"
        [[function]]
        name = "big-response"
        wasm = "{guests}/big-response.wasm"
        [[function]]
        name = "log-flood"
        wasm = "{guests}/log-flood.wasm"
        "#,
    );
    let addr = host.addr;
    let (mut unloaded, failures) = hello_latencies(addr, 400);
    assert_eq!(failures, 0);
    let unloaded_p99 = percentile(&mut unloaded, 0.99);

    let stop = Arc::new(AtomicBool::new(false));
    let hostile_wrong = Arc::new(AtomicUsize::new(0));
    let hostile_done = Arc::new(AtomicUsize::new(0));
    let attackers: Vec<_> = [
        ("/busy-loop", 504),
        ("/memory-hog", 500),
        ("/stack-overflow", 500),
        ("/panic", 500),
        ("/big-response?bytes=4000000", 200),
        ("/log-flood?lines=20000", 200),
    ]
    .into_iter()
    .map(|(path, expected)| {
        let (stop, wrong, done) = (stop.clone(), hostile_wrong.clone(), hostile_done.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if send(addr, "GET", path, &[], b"").status != expected {
                    wrong.fetch_add(1, Ordering::Relaxed);
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        })
    })
    .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (mut loaded, failures) = hello_latencies(addr, 400);
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        attacker.join().unwrap();
    }
    let loaded_p99 = percentile(&mut loaded, 0.99);
    eprintln!(
        "hello p99 unloaded {unloaded_p99:?}, under hostile load {loaded_p99:?}; hostile requests {}",
        hostile_done.load(Ordering::Relaxed)
    );
    assert_eq!(
        failures, 0,
        "the well-behaved function failed under hostile load"
    );
    assert_eq!(
        hostile_wrong.load(Ordering::Relaxed),
        0,
        "a hostile guest was not stopped by its limit"
    );
    assert!(
        hostile_done.load(Ordering::Relaxed) >= 12,
        "the hostile load did not run"
    );
    // The stated bound: a hello request waits for the epoch tick (1 ms) of each guest sharing its
    // thread, 4 MB copies and the OS scheduler on a shared 2-core machine, but never for a hostile
    // guest to finish, nor for a worker to poll its sockets only every 61 tasks (which gave a
    // p99 of 170-210 ms here): busy-loop holds its 2 s deadline every time.
    let bound = Duration::from_millis(60).max(unloaded_p99 * 20);
    assert!(
        loaded_p99 <= bound,
        "hello p99 {loaded_p99:?} exceeds {bound:?} (unloaded {unloaded_p99:?})"
    );
    assert!(
        host.log().contains("dropped_bytes"),
        "the log flood was not capped"
    );
}

/// `count` sequential GETs of `/hello`, each on a new connection (so accepting is measured too).
fn hello_on_new_connections(addr: std::net::SocketAddr, count: usize) -> (Vec<Duration>, usize) {
    let mut samples = Vec::with_capacity(count);
    let mut failures = 0;
    for _ in 0..count {
        let started = Instant::now();
        if send(addr, "GET", "/hello", &[], b"").status != 200 {
            failures += 1;
        }
        samples.push(started.elapsed());
    }
    (samples, failures)
}

#[test]
fn busy_guests_do_not_slow_a_neighbour_that_answers_at_once() {
    let host = Host::with_manifest(
        r#"
        [[function]]
        name = "hello"
        wasm = "{guests}/hello.wasm"
        [[function]]
        name = "busy-loop"
        wasm = "{guests}/busy-loop.wasm"
        limits = { deadline_ms = 2000 }
        "#,
    );
    let addr = host.addr;
    let (mut unloaded, failures) = hello_on_new_connections(addr, 200);
    assert_eq!(failures, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::new(AtomicUsize::new(0));
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let (stop, stopped) = (stop.clone(), stopped.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if send(addr, "GET", "/busy-loop", &[], b"").status == 504 {
                        stopped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (mut loaded, failures) = hello_on_new_connections(addr, 200);
    stop.store(true, Ordering::Relaxed);
    for thread in busy {
        thread.join().unwrap();
    }
    let (unloaded_p50, unloaded_p99) = (
        percentile(&mut unloaded, 0.5),
        percentile(&mut unloaded, 0.99),
    );
    let (loaded_p50, loaded_p99) = (percentile(&mut loaded, 0.5), percentile(&mut loaded, 0.99));
    eprintln!(
        "hello on new connections: unloaded p50 {unloaded_p50:?} p99 {unloaded_p99:?}; beside 4 busy guests p50 {loaded_p50:?} p99 {loaded_p99:?}"
    );
    assert_eq!(failures, 0, "hello failed beside busy guests");
    assert!(
        stopped.load(Ordering::Relaxed) >= 4,
        "the busy guests did not run (and get stopped at their deadline)"
    );
    // With the workers polling their sockets only every 61 tasks, this measured p50 80 ms and
    // p99 170-210 ms here; now a request waits about one epoch tick (1 ms) per busy guest on its
    // worker. The bounds leave room for a shared CI machine but not for that regression: the
    // median catches it by a factor of five; the tail, noisier when builds share the cores (61 ms
    // seen with two compilers running), by a factor of about 1.5.
    assert!(
        loaded_p50 <= Duration::from_millis(15),
        "hello p50 {loaded_p50:?} beside busy guests (unloaded {unloaded_p50:?})"
    );
    assert!(
        loaded_p99 <= Duration::from_millis(120),
        "hello p99 {loaded_p99:?} beside busy guests (unloaded {unloaded_p99:?})"
    );
}

#[test]
fn hostile_requests_are_answered_or_cut() {
    let dir = tempfile::tempdir().unwrap();
    let hello = guest("hello");
    let cache = common::shared_cache_dir();
    let host = Host::start(
        dir,
        &[
            hello.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--header-read-timeout-ms",
            "500",
            "--max-connections",
            "16",
            "--max-header-bytes",
            "16384",
        ],
    )
    .unwrap();
    let addr = host.addr;

    let big_header = format!(
        "GET /hello HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(64 << 10)
    );
    let answer = raw(addr, big_header.as_bytes(), Duration::from_secs(5));
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "oversized headers: {answer:.80}"
    );

    let answer = raw(
        addr,
        b"BLAH\x00\x01 / HTTP/9.9\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "malformed request: {answer:.80}"
    );

    // Slowloris: half a request line, then silence. The connection must be closed soon after the
    // header read timeout, not held open.
    let started = Instant::now();
    let answer = raw(
        addr,
        b"GET /hello HTTP/1.1\r\nhost: x\r\n",
        Duration::from_secs(10),
    );
    let held = started.elapsed();
    assert!(
        held < Duration::from_secs(5),
        "slow client held the connection for {held:?}"
    );
    assert!(!answer.contains("200 OK"), "{answer}");

    // Too many connections: beyond the cap, new ones are closed at once; service resumes after.
    let idle: Vec<_> = (0..30)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let log = host.log();
    assert!(log.contains("connection limit reached"), "{log}");
    drop(idle);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(host.get("/hello").status, 200);

    // Memory stays bounded across many refused large requests.
    let rss = || -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", host.pid()))
            .unwrap()
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap()
    };
    let before = rss();
    for _ in 0..50 {
        raw(
            addr,
            b"POST /hello HTTP/1.1\r\nhost: x\r\ncontent-length: 100000000\r\n\r\n",
            Duration::from_secs(2),
        );
    }
    let after = rss();
    assert!(
        after < before + 50 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    assert_eq!(host.get("/hello").status, 200);
}

pub(crate) fn admin_line(host: &Host) -> (std::net::SocketAddr, String) {
    // The admin address and token are printed on stdout before "listening"; the harness keeps
    // only the listening line, so read them from the log-independent stdout copy.
    let text = std::fs::read_to_string(host.dir.path().join("stdout.txt")).unwrap_or_default();
    let line = text
        .lines()
        .find(|l| l.starts_with("edgefn admin on http://"))
        .expect("admin line");
    let rest = line.trim_start_matches("edgefn admin on http://");
    let (addr, token) = rest.split_once(" (Authorization: Bearer ").unwrap();
    (
        addr.parse().unwrap(),
        token.trim_end_matches(')').to_owned(),
    )
}

pub(crate) fn start_with_admin(manifest: &str) -> Host {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("edgefn.toml"),
        manifest.replace("{guests}", &guests_dir().display().to_string()),
    )
    .unwrap();
    let manifest_path = dir.path().join("edgefn.toml");
    let cache = common::shared_cache_dir();
    Host::start(
        dir,
        &[
            manifest_path.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--admin-listen",
            "127.0.0.1:0",
        ],
    )
    .unwrap()
}

/// Requests that a strict HTTP/1.1 server refuses, each with the reason.
const SMUGGLING: &[(&str, &[u8])] = &[
    ("no Host", b"GET /hello HTTP/1.1\r\n\r\n"),
    (
        "two Hosts",
        b"GET /hello HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n",
    ),
    (
        "an invalid Host",
        b"GET /hello HTTP/1.1\r\nhost: a b@c\r\n\r\n",
    ),
    (
        "two different Content-Lengths",
        b"POST /hello HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
    ),
    (
        "Content-Length: 1, 2",
        b"POST /hello HTTP/1.1\r\nhost: x\r\ncontent-length: 1, 2\r\n\r\nab",
    ),
    (
        "Transfer-Encoding: chunked, identity",
        b"POST /hello HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    ),
    (
        "Content-Length and Transfer-Encoding",
        b"POST /hello HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "Transfer-Encoding and Content-Length",
        b"POST /hello HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n",
    ),
    (
        "an obs-fold header",
        b"GET /hello HTTP/1.1\r\nhost: x\r\nx-a: 1\r\n folded\r\n\r\n",
    ),
    (
        "a NUL in a header",
        b"GET /hello HTTP/1.1\r\nhost: x\r\nx-a: a\0b\r\n\r\n",
    ),
];

/// A body whose chunk size overflows: refused when the body is read, so only where a handler
/// reads it (the local listener's functions).
const OVERSIZED_CHUNK: &[u8] =
    b"POST /hello HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nfffffffffffffffffff\r\n";

/// Sends each smuggling request on its own connection to `addr` and checks it is answered 400
/// (bare LF is accepted by hyper as a line end, as RFC 9112 §2.2 permits, so it is not listed)
/// and the connection is closed right after.
fn assert_strict(listener: &str, addr: std::net::SocketAddr) {
    for (what, request) in SMUGGLING {
        let started = Instant::now();
        let answer = raw(addr, request, Duration::from_secs(5));
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{listener}: a request with {what} was answered {:?}",
            answer.lines().next().unwrap_or("")
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{listener}: the connection stayed open after refusing a request with {what}"
        );
    }
    // A well-formed request still works on the same listener.
    let ok = raw(
        addr,
        b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(!ok.starts_with("HTTP/1.1 400"), "{listener}: {ok:.80}");
}

#[test]
fn every_listener_refuses_ambiguous_framing_and_closes() {
    let host = start_with_admin(
        r#"
        [[function]]
        name = "hello"
        wasm = "{guests}/hello.wasm"
        "#,
    );
    assert_strict("the local listener", host.addr);
    let answer = raw(host.addr, OVERSIZED_CHUNK, Duration::from_secs(5));
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "an oversized chunk size was answered {:?}",
        answer.lines().next().unwrap_or("")
    );
    // Behind two well-formed requests on one connection (a chunked body whose data looks like a
    // head, then a Content-Length one), the ambiguous third is still found and only it is refused.
    let pipelined = raw(
        host.addr,
        b"POST /hello HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n\
          2d\r\nPOST /x HTTP/1.1\r\ncontent-length: 1\r\nx: y\r\n\r\n\r\n0\r\n\r\n\
          POST /hello HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nok\
          POST /hello HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        Duration::from_secs(5),
    );
    let statuses: Vec<&str> = pipelined
        .lines()
        .filter(|l| l.starts_with("HTTP/1.1 "))
        .collect();
    assert_eq!(
        statuses,
        [
            "HTTP/1.1 200 OK",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 400 Bad Request"
        ],
        "{pipelined}"
    );
    let (admin_addr, _) = admin_line(&host);
    assert_strict("the admin listener", admin_addr);
    let azure = crate::platforms::azure::Handler::start("hello", &[], &[]);
    assert_strict("the Azure Functions handler", azure.addr);
    assert_eq!(
        send(host.addr, "GET", "/hello", &[], b"").status,
        200,
        "the host stopped serving"
    );
}

pub(crate) fn admin(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &[u8])> = auth
        .iter()
        .map(|a| ("authorization", a.as_bytes()))
        .collect();
    send(addr, method, path, &headers, b"")
}

#[test]
fn admin_surface_requires_the_token_and_refusals_change_nothing() {
    let host = start_with_admin("[[function]]\nname = \"svc\"\nwasm = \"{guests}/hello.wasm\"\n");
    let (admin_addr, token) = admin_line(&host);
    assert!(admin_addr.ip().is_loopback());
    assert_eq!(admin(admin_addr, "GET", "/healthz", None).status, 200);

    // Point the manifest at another module, then try to reload without (and with a wrong) token.
    let manifest = host.dir.path().join("edgefn.toml");
    std::fs::write(
        &manifest,
        format!(
            "[[function]]\nname = \"svc\"\nwasm = \"{}\"\n",
            guest("counter").display()
        ),
    )
    .unwrap();
    for bad in [None, Some("not-the-token-at-all")] {
        for (method, path) in [
            ("POST", "/reload"),
            ("GET", "/metrics"),
            ("GET", "/functions"),
        ] {
            let reply = admin(admin_addr, method, path, bad);
            assert_eq!(reply.status, 401, "{method} {path} with {bad:?}");
        }
    }
    assert!(
        host.get("/svc").text().starts_with("Hello from svc"),
        "an unauthenticated reload changed the deployment"
    );

    let reply = admin(admin_addr, "POST", "/reload", Some(&token));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        host.get("/svc").text(),
        "1\n",
        "the authenticated reload took effect"
    );
    let functions: serde_json::Value =
        serde_json::from_slice(&admin(admin_addr, "GET", "/functions", Some(&token)).body).unwrap();
    assert_eq!(functions[0]["name"], "svc", "{functions}");
    assert_eq!(
        functions[0]["routes"],
        serde_json::json!(["/svc"]),
        "{functions}"
    );
    assert_eq!(
        functions[0]["module_sha256"].as_str().map(str::len),
        Some(64)
    );
    // counter exports no edgefn_v1_init, so it serves its module as built.
    assert_eq!(functions[0]["preinitialized"], false, "{functions}");
    let metrics = admin(admin_addr, "GET", "/metrics", Some(&token)).text();
    assert!(
        metrics.contains("edgefn_invocations_total{function=\"svc\",outcome=\"ok\"}"),
        "{metrics}"
    );
    // The public listener has no admin endpoints.
    assert_eq!(host.get("/reload").status, 404);
}

#[test]
fn hot_redeploy_under_load_loses_nothing_and_refuses_a_bad_version() {
    let host = start_with_admin(
        "[[function]]\nname = \"config\"\nwasm = \"{guests}/config.wasm\"\nenv = { GREETING = \"v1\" }\n\
         [[function]]\nname = \"slow\"\nwasm = \"{guests}/slow.wasm\"\n",
    );
    let (admin_addr, token) = admin_line(&host);
    let manifest = host.dir.path().join("edgefn.toml");
    let addr = host.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let reply = send(addr, "GET", "/config", &[], b"");
                    let greeting = serde_json::from_slice::<serde_json::Value>(&reply.body)
                        .ok()
                        .and_then(|v| v["greeting"].as_str().map(str::to_owned));
                    seen.push((reply.status, greeting));
                }
                seen
            })
        })
        .collect();
    // A request in flight on the old version of `slow` while it is redeployed.
    let in_flight = std::thread::spawn(move || send(addr, "GET", "/slow?ms=1200", &[], b""));
    std::thread::sleep(Duration::from_millis(400));

    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("\"v1\"", "\"v2\"").replace(
            "slow.wasm\"",
            "slow.wasm\"\nlimits = { deadline_ms = 5000 }",
        ),
    )
    .unwrap();
    let reply = admin(admin_addr, "POST", "/reload", Some(&token));
    assert_eq!(reply.status, 200, "{}", reply.text());
    std::thread::sleep(Duration::from_millis(400));

    // A broken new version is refused; the running one keeps serving.
    let broken = host.dir.path().join("broken.wasm");
    std::fs::write(&broken, b"not wasm").unwrap();
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace(
            &guest("config").display().to_string(),
            &broken.display().to_string(),
        ),
    )
    .unwrap();
    let reply = admin(admin_addr, "POST", "/reload", Some(&token));
    assert_eq!(reply.status, 422, "{}", reply.text());
    assert!(
        reply.text().contains("not a WebAssembly module"),
        "{}",
        reply.text()
    );
    std::thread::sleep(Duration::from_millis(400));
    stop.store(true, Ordering::Relaxed);

    let slow = in_flight.join().unwrap();
    assert_eq!(
        slow.status, 200,
        "the in-flight request was cut by the redeploy"
    );
    assert_eq!(slow.text(), "slept 1200 ms\n");
    let mut total = 0;
    for client in clients {
        let seen = client.join().unwrap();
        total += seen.len();
        assert!(
            seen.iter().all(|(status, _)| *status == 200),
            "a request failed during the redeploy"
        );
        // Each client sees v1 then v2, never v1 again after v2.
        let first_v2 = seen
            .iter()
            .position(|(_, g)| g.as_deref() == Some("v2"))
            .expect("v2 served");
        assert!(
            seen[first_v2..]
                .iter()
                .all(|(_, g)| g.as_deref() == Some("v2")),
            "old version served after the swap"
        );
        assert!(
            seen[..first_v2]
                .iter()
                .all(|(_, g)| g.as_deref() == Some("v1"))
        );
    }
    assert!(total > 30, "too little load to show anything: {total}");
    assert_eq!(
        host.get("/config").status,
        200,
        "old version keeps serving after a refused one"
    );
}

#[test]
fn sigterm_under_load_drains_every_in_flight_request() {
    let mut host = Host::with_manifest(
        "[[function]]\nname = \"slow\"\nwasm = \"{guests}/slow.wasm\"\n[[function]]\nname = \"hello\"\nwasm = \"{guests}/hello.wasm\"\n",
    );
    let addr = host.addr;
    let slow: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || send(addr, "GET", "/slow?ms=1000", &[], b"")))
        .collect();
    let load_stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = load_stop.clone();
        std::thread::spawn(move || {
            let mut served = 0;
            while !stop.load(Ordering::Relaxed) && served < 5000 {
                // New connections may be refused once the listener closes; that is not a cut.
                if std::net::TcpStream::connect(addr).is_err() {
                    break;
                }
                served += 1;
                let _ = std::panic::catch_unwind(|| send(addr, "GET", "/hello", &[], b""));
            }
            served
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let status = host.terminate();
    load_stop.store(true, Ordering::Relaxed);
    assert!(status.success(), "exit status {status:?}");
    for request in slow {
        let reply = request.join().expect("in-flight request was cut");
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text(), "slept 1000 ms\n");
    }
    assert!(load.join().unwrap() > 0);
}

#[test]
fn concurrent_hosts_share_one_cache_without_corrupting_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("shared-cache");
    let files: Vec<String> = ["hello", "echo", "json", "config"]
        .iter()
        .map(|g| guest(g).display().to_string())
        .collect();
    let start = |cache: &std::path::Path| {
        let mut args: Vec<&str> = files.iter().map(String::as_str).collect();
        args.extend(["--cache-dir", cache.to_str().unwrap()]);
        Host::start(tempfile::tempdir().unwrap(), &args).unwrap()
    };
    let hosts: Vec<Host> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3).map(|_| scope.spawn(|| start(&cache))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for host in &hosts {
        assert_eq!(host.get("/hello").status, 200);
        assert_eq!(host.get("/json").status, 400);
    }
    drop(hosts);
    let leftovers: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );
    let fourth = start(&cache);
    assert_eq!(fourth.get("/echo").status, 200);
    let log = fourth.log();
    assert!(!log.contains("failed verification"), "{log}");
    assert_eq!(
        log.matches("loaded precompiled artifact from cache")
            .count(),
        4,
        "{log}"
    );
}

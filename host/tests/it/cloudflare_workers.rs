//! Cloudflare Workers end to end: guests packaged with `edgefn package --target
//! cloudflare-workers`, served by real `workerd` on a loopback port (`platforms::workers`), answer
//! the same requests with the same status, headers and body as the local host (the example guests'
//! cases are in `conformance`); hostile guests answer 500 and the Worker keeps serving. workerd
//! comes from npm (`scripts/setup.sh workers`, run by `make test`).

use crate::common::{Reply, guest, guests_dir};
use crate::lib_api::COMPATIBILITY_DATE;
use crate::platforms::workers::{Workerd, package, workerd_bin};
use crate::platforms::{Case, Pair, Workers};
use std::process::Command;
use std::time::Duration;

mod kv;

/// Serves guest `name` on the local host and on workerd, sends each case to both and asserts the
/// replies agree ([`Pair::same`]). Returns the Worker, still running, and its replies.
fn same_on_both(name: &str, cases: &[Case]) -> (Workerd, Vec<Reply>) {
    let mut pair = Pair::<Workers>::serve(name, &[]);
    let replies = pair.all_same(cases);
    (pair.target.worker, replies)
}

/// The Go guests (a Go reactor imports far more of WASI and exports `_initialize`). `make test`
/// builds them (`make guests-go`); without them this fails and says so rather than skip.
#[test]
fn go_guests_are_the_same_too() {
    for name in ["go-hello", "go-echo"] {
        assert!(
            guest(name).is_file(),
            "the Go guest {name} is not built in {}: run `make guests-go` (`make test` does)",
            guests_dir().display()
        );
    }
    let _ = same_on_both("go-hello", &[Case::get("/go-hello")]);
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let _ = same_on_both(
        "go-echo",
        &[
            Case::get("/go-echo/a?x=1&x=2"),
            Case::post("/go-echo/b")
                .header("x-multi", b"one")
                .header("x-multi", b"two")
                .body(&every_byte),
        ],
    );
}

#[test]
fn a_large_response_arrives_whole() {
    let (_, replies) = same_on_both("big-response", &[Case::get("/big-response?bytes=4000000")]);
    let want: Vec<u8> = (0..4_000_000usize).map(|i| i as u8).collect();
    assert!(replies[0].body == want, "4 MB pattern intact");
}

#[test]
fn every_request_gets_a_fresh_instance() {
    let (_, replies) = same_on_both(
        "counter",
        &[
            Case::get("/counter"),
            Case::get("/counter"),
            Case::get("/counter"),
        ],
    );
    assert!(replies.iter().all(|r| r.text() == "1\n"));
}

/// A hostile guest answers 500 with the same body as locally (no internals), its detail goes to
/// the Worker's log tagged with the request id, and the Worker keeps serving.
fn hostile(name: &str, logged: &str) {
    let (mut worker, replies) = same_on_both(
        name,
        &[
            Case::get(&format!("/{name}")),
            Case::get(&format!("/{name}")),
            Case::get(&format!("/{name}")),
        ],
    );
    for reply in &replies {
        assert_eq!(reply.status, 500);
        let id = reply.header("x-edgefn-request-id").unwrap();
        assert_eq!(
            reply.text(),
            format!("500 Internal Server Error: the function failed (request id {id})\n")
        );
    }
    let id = replies[0].header("x-edgefn-request-id").unwrap();
    let log = wait_for_log(&worker, &id);
    assert!(
        log.lines()
            .any(|l| l.contains(&id) && l.contains("invocation failed")),
        "failure logged with the request id: {log}"
    );
    assert!(log.contains(logged), "{logged:?} in the log: {log}");
    let again = worker.send("GET", "/", &[], b"");
    assert_eq!(again.status, 500, "the Worker still answers");
    worker.assert_running();
}

/// workerd writes the log asynchronously; wait (bounded) for a line naming `id`.
fn wait_for_log(worker: &Workerd, id: &str) -> String {
    for _ in 0..100 {
        let log = worker.log();
        if log.contains(id) {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    worker.log()
}

#[test]
fn a_panicking_guest_answers_500_and_the_worker_keeps_serving() {
    hostile("panic", "panics on purpose");
}

#[test]
fn a_memory_hog_hits_the_cap_and_answers_500() {
    hostile("memory-hog", "memory allocation of");
}

#[test]
fn a_stack_overflow_answers_500() {
    hostile("stack-overflow", "RuntimeError");
}

// busy-loop is not run here: workerd enforces no CPU limit (only Cloudflare's edge does), so
// nothing would ever stop it. docs/deploy-cloudflare-workers.md says so.

#[test]
fn package_reports_size_and_deploy_command_and_writes_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = package("hello", &dir.path().join("hello"));
    assert!(
        bundle.printed.contains("npx wrangler deploy"),
        "{}",
        bundle.printed
    );
    let size: u64 = bundle
        .printed
        .lines()
        .find_map(|l| l.strip_prefix("packaged "))
        .and_then(|l| l.rsplit_once(" ("))
        .and_then(|(_, n)| n.strip_suffix(" bytes)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no size in: {}", bundle.printed));
    assert!(
        size > 10_000 && size < 3_000_000,
        "hello's compressed bundle is {size} bytes"
    );
    assert!(!bundle.printed.contains("warning"), "{}", bundle.printed);
    for file in [
        "worker.js",
        "handler.js",
        "guest.js",
        "abi.js",
        "logs.js",
        "capabilities/index.js",
        "capabilities/wasi.js",
        "vendor/browser_wasi_shim/wasi.js",
        "vendor/browser_wasi_shim/LICENSE-MIT",
        "function.wasm",
        "wrangler.toml",
        "config.capnp",
    ] {
        assert!(bundle.dir.join(file).is_file(), "{file} in the bundle");
    }
    let wrangler = std::fs::read_to_string(bundle.dir.join("wrangler.toml")).unwrap();
    let parsed: toml::Value = toml::from_str(&wrangler).expect("wrangler.toml is TOML");
    assert_eq!(parsed["main"].as_str(), Some("worker.js"));
    assert_eq!(parsed["rules"][0]["type"].as_str(), Some("CompiledWasm"));
    assert_eq!(
        parsed["vars"]["EDGEFN_FUNCTION_NAME"].as_str(),
        Some("hello")
    );
    assert_eq!(
        parsed["compatibility_date"].as_str(),
        Some(COMPATIBILITY_DATE)
    );
}

#[test]
fn the_compatibility_date_is_one_the_installed_workerd_accepts() {
    let output = Command::new(workerd_bin())
        .arg("--version")
        .output()
        .expect("run workerd --version");
    let version = String::from_utf8_lossy(&output.stdout);
    let supported = version
        .split_whitespace()
        .find(|w| w.len() == 10 && w.as_bytes()[4] == b'-')
        .unwrap_or_else(|| panic!("no date in `workerd --version`: {version}"));
    let ours = COMPATIBILITY_DATE;
    assert!(
        ours <= supported,
        "COMPATIBILITY_DATE {ours} is later than workerd's {supported}"
    );
}

#[test]
fn a_module_that_is_not_an_edgefn_function_is_refused_at_package_time() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("command.wasm");
    std::fs::write(
        &wasm,
        wat::parse_str(
            r#"(module (import "env" "now" (func)) (memory (export "memory") 1) (func (export "_start")))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let output = Command::new(crate::common::edgefn_bin())
        .args(["package", "--target", "cloudflare-workers"])
        .arg(&wasm)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("WASI command"), "{error}");
}

/// Outbound HTTP (`edgefn_v1.http_send`) in real workerd, where the shim runs it with JSPI: a WAT
/// guest that sends the EHQ1 envelope its request body carries, as many times as the body says,
/// and answers what each call returned. Served from a bundle `edgefn package` wrote, with the vars
/// added under the config.capnp marker by `Workerd::start_wasm`, as a user adds them.
mod outbound {
    use crate::common::Reply;
    use crate::platforms::workers::Workerd;
    use crate::upstream::Upstream;
    use edgefn_abi::{HttpRequestEnvelope, HttpResponseEnvelope};
    use std::time::{Duration, Instant};

    /// The guest. Request body: `u32 count` then an EHQ1 envelope, sent `count` times. Response
    /// body, one record per call: `i64` what http_send returned, `i32` what result_read returned,
    /// then the bytes it read (the EHS1 envelope, or the error message). `INIT_EXPORT` names an
    /// export that calls http_send while the module initializes; its record comes first.
    const PROXY_WAT: &str = r#"(module
      (import "edgefn_v1" "http_send" (func $send (param i32 i32) (result i64)))
      (import "edgefn_v1" "result_read" (func $read (param i32 i32) (result i32)))
      (memory (export "memory") 2)
      (global $heap (mut i32) (i32.const 65536))
      (global $init_code (mut i64) (i64.const 1))
      (global $init_len (mut i32) (i32.const 0))
      (func $alloc (export "edgefn_v1_alloc") (param $len i32) (result i32)
        (local $p i32) (local $end i32)
        (local.set $p (global.get $heap))
        (local.set $end (i32.add (local.get $p) (local.get $len)))
        (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
          (then
            (if (i32.eq
                  (memory.grow (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
                                        (memory.size)))
                  (i32.const -1))
              (then (return (i32.const 0))))))
        (global.set $heap (local.get $end))
        (local.get $p))
      (func $skip_string (param $p i32) (result i32)
        (i32.add (i32.add (local.get $p) (i32.const 4)) (i32.load (local.get $p))))
      (func $skip_pairs (param $p i32) (result i32)
        (local $n i32)
        (local.set $n (i32.load (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (block $done (loop $next
          (br_if $done (i32.eqz (local.get $n)))
          (local.set $p (call $skip_string (call $skip_string (local.get $p))))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $next)))
        (local.get $p))
      (func $record (param $code i64)
        (local $at i32) (local $cap i32) (local $buf i32) (local $n i32)
        (local.set $at (call $alloc (i32.const 12)))
        (i64.store (local.get $at) (local.get $code))
        (local.set $cap (if (result i32) (i64.ge_s (local.get $code) (i64.const 0))
          (then (i32.wrap_i64 (local.get $code))) (else (i32.const 4096))))
        (local.set $buf (call $alloc (local.get $cap)))
        (local.set $n (call $read (local.get $buf) (local.get $cap)))
        (i32.store offset=8 (local.get $at) (local.get $n))
        (global.set $heap (i32.add (local.get $buf)
          (select (local.get $n) (i32.const 0) (i32.gt_s (local.get $n) (i32.const 0))))))
      (func (export "INIT_EXPORT")
        (global.set $init_code (call $send (i32.const 0) (i32.const 0)))
        (global.set $init_len (call $read (i32.const 1024) (i32.const 4096))))
      (func (export "edgefn_v1_handle") (param $ptr i32) (param $len i32) (result i64)
        (local $p i32) (local $body i32) (local $blen i32) (local $count i32) (local $out i32)
        (local $start i32) (local $i i32) (local $at i32)
        (local.set $p (call $skip_pairs (i32.add (local.get $ptr) (i32.const 4))))
        (local.set $p (call $skip_string (local.get $p)))
        (local.set $p (call $skip_string (local.get $p)))
        (local.set $p (call $skip_pairs (local.get $p)))
        (local.set $blen (i32.load (local.get $p)))
        (local.set $body (i32.add (local.get $p) (i32.const 4)))
        (local.set $out (call $alloc (i32.const 16)))
        (local.set $start (global.get $heap))
        (if (i64.ne (global.get $init_code) (i64.const 1)) (then
          (local.set $at (call $alloc (i32.const 12)))
          (i64.store (local.get $at) (global.get $init_code))
          (i32.store offset=8 (local.get $at) (global.get $init_len))
          (memory.copy (call $alloc (global.get $init_len)) (i32.const 1024) (global.get $init_len))))
        (if (i32.ge_u (local.get $blen) (i32.const 4)) (then
          (local.set $count (i32.load (local.get $body)))
          (block $done (loop $next
            (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
            (call $record (call $send (i32.add (local.get $body) (i32.const 4))
                                      (i32.sub (local.get $blen) (i32.const 4))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))))
        (i32.store (local.get $out) (i32.const 0x31534645))
        (i32.store offset=4 (local.get $out) (i32.const 200))
        (i32.store offset=8 (local.get $out) (i32.const 0))
        (i32.store offset=12 (local.get $out) (i32.sub (global.get $heap) (local.get $start)))
        (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
                (i64.extend_i32_u (i32.sub (global.get $heap) (local.get $out))))))"#;

    /// The init export of a guest that does not call http_send while it initializes.
    const NO_INIT: &str = "not_an_init";

    /// Loopback allowed, by name and address, with the private-network opt-in: the one var a
    /// local upstream needs on top of the allow-list.
    const LOOPBACK: &[(&str, &str)] = &[
        (
            "EDGEFN_OUTBOUND_ALLOWED_HOSTS",
            "http://127.0.0.1:*, http://localhost:*",
        ),
        ("EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true"),
    ];

    /// What one http_send returned, and what result_read then copied.
    #[derive(Debug)]
    struct Call {
        code: i64,
        read: i32,
        result: Vec<u8>,
    }

    impl Call {
        fn response(&self) -> HttpResponseEnvelope<'_> {
            assert!(
                self.code >= 0,
                "the call failed: {self:?} {}",
                self.message()
            );
            assert_eq!(
                self.read as i64, self.code,
                "result_read copied the whole result"
            );
            HttpResponseEnvelope::decode(&self.result).expect("an EHS1 envelope")
        }

        fn message(&self) -> String {
            String::from_utf8_lossy(&self.result).into_owned()
        }

        fn header(&self, name: &str) -> Vec<String> {
            self.response()
                .headers
                .iter()
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                .collect()
        }

        /// The error code, with the message the guest got.
        fn error(&self) -> (i64, String) {
            (self.code, self.message())
        }
    }

    /// The proxy guest in workerd; killed when dropped.
    struct Proxy {
        worker: Workerd,
        _dir: tempfile::TempDir,
    }

    impl Proxy {
        fn start(init_export: &str, vars: &[(&str, &str)]) -> Proxy {
            let dir = tempfile::tempdir().unwrap();
            let wasm = dir.path().join("proxy.wasm");
            std::fs::write(
                &wasm,
                wat::parse_str(PROXY_WAT.replace("INIT_EXPORT", init_export)).unwrap(),
            )
            .unwrap();
            Proxy {
                worker: Workerd::start_wasm(&wasm, vars),
                _dir: dir,
            }
        }

        fn post(&self, body: &[u8], headers: &[(&str, &[u8])]) -> Reply {
            self.worker.send("POST", "/", headers, body)
        }

        /// Has the guest send `request` `count` times; returns each call's outcome.
        fn calls(&self, count: u32, request: &HttpRequestEnvelope<'_>) -> Vec<Call> {
            self.calls_with(count, &request.encode(), &[])
        }

        fn calls_with(&self, count: u32, envelope: &[u8], headers: &[(&str, &[u8])]) -> Vec<Call> {
            let mut body = count.to_le_bytes().to_vec();
            body.extend_from_slice(envelope);
            let reply = self.post(&body, headers);
            assert_eq!(reply.status, 200, "{}\nlog: {}", reply.text(), self.log());
            parse_calls(&reply.body)
        }

        fn call(&self, request: &HttpRequestEnvelope<'_>) -> Call {
            let mut calls = self.calls(1, request);
            assert_eq!(calls.len(), 1, "{calls:?}");
            calls.remove(0)
        }

        fn log(&self) -> String {
            self.worker.log()
        }
    }

    fn parse_calls(mut body: &[u8]) -> Vec<Call> {
        let mut calls = Vec::new();
        while !body.is_empty() {
            let code = i64::from_le_bytes(body[..8].try_into().unwrap());
            let read = i32::from_le_bytes(body[8..12].try_into().unwrap());
            let n = read.max(0) as usize;
            calls.push(Call {
                code,
                read,
                result: body[12..12 + n].to_vec(),
            });
            body = &body[12 + n..];
        }
        calls
    }

    fn get(url: &str) -> HttpRequestEnvelope<'_> {
        HttpRequestEnvelope {
            timeout_ms: 0,
            method: "GET",
            url,
            headers: Vec::new(),
            body: b"",
        }
    }

    #[test]
    fn a_call_goes_out_and_its_response_comes_back_whole_through_jspi() {
        let upstream = Upstream::start();
        let proxy = Proxy::start(NO_INIT, LOOPBACK);
        let every_byte: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let url = upstream.url("/echo");
        let post = HttpRequestEnvelope {
            timeout_ms: 0,
            method: "POST",
            url: &url,
            headers: vec![
                ("content-type", b"application/octet-stream"),
                ("x-test", b"one"),
            ],
            body: &every_byte,
        };
        let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let calls = proxy.calls_with(
            1,
            &post.encode(),
            &[("traceparent", traceparent.as_bytes())],
        );
        let call = &calls[0];
        let response = call.response();
        assert_eq!(response.status, 200);
        assert!(
            response.body == every_byte.as_slice(),
            "the body, byte for byte"
        );
        assert_eq!(call.header("x-seen-method"), ["POST"]);
        // What the upstream saw, one `x-seen-header-N: name: value` per request header.
        let seen: Vec<String> = response
            .headers
            .iter()
            .filter(|(k, _)| k.starts_with("x-seen-header"))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect();
        for want in [
            "x-test: one".to_owned(),
            "content-type: application/octet-stream".to_owned(),
            format!("traceparent: {traceparent}"),
        ] {
            assert!(seen.contains(&want), "{want:?} in {seen:?}");
        }
        for (name, _) in &response.headers {
            assert_eq!(*name, name.to_ascii_lowercase());
            assert!(!["connection", "transfer-encoding", "keep-alive"].contains(name));
        }
        assert_eq!(upstream.requests(), 1);
    }

    #[test]
    fn twenty_requests_waiting_on_a_slow_upstream_interleave() {
        const SLOW_MS: u64 = 1500;
        const REQUESTS: u64 = 20;
        let upstream = Upstream::start();
        let proxy = Proxy::start(NO_INIT, LOOPBACK);
        let url = upstream.url(&format!("/slow?ms={SLOW_MS}"));
        // Warm the isolate first, so the timing below is the calls' alone.
        assert!(proxy.call(&get(&upstream.url("/echo"))).code > 0);
        let started = Instant::now();
        let bodies: Vec<Vec<u8>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..REQUESTS)
                .map(|_| {
                    scope.spawn(|| {
                        let call = proxy.call(&get(&url));
                        call.response().body.to_vec()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let elapsed = started.elapsed();
        assert!(bodies.iter().all(|b| b == b"slow"), "every call answered");
        assert!(
            elapsed >= Duration::from_millis(SLOW_MS),
            "they did wait: {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_millis(4 * SLOW_MS),
            "{REQUESTS} calls of {SLOW_MS} ms took {elapsed:?}: they waited one after another (20x would be {} ms)",
            REQUESTS * SLOW_MS
        );
        assert_eq!(upstream.requests(), REQUESTS as usize + 1);
    }

    #[test]
    fn a_redirect_is_the_answer_and_is_not_followed() {
        let upstream = Upstream::start();
        let proxy = Proxy::start(NO_INIT, LOOPBACK);
        let call = proxy.call(&get(&upstream.url("/redirect")));
        assert_eq!(call.response().status, 302);
        assert_eq!(call.header("location"), ["/echo"]);
        assert_eq!(upstream.requests(), 1, "/echo was never asked for");
    }

    #[test]
    fn repeated_response_headers_set_cookie_apart_others_joined() {
        let upstream = Upstream::start();
        let proxy = Proxy::start(NO_INIT, LOOPBACK);
        let call = proxy.call(&get(&upstream.url("/headers")));
        assert_eq!(call.header("set-cookie"), ["a=1", "b=2"]);
        assert_eq!(
            call.header("x-multi"),
            ["one, two"],
            "the Fetch API joins them"
        );
    }

    /// Both initialization exports call http_send outside `WebAssembly.promising`'s reach in a
    /// naive shim (a SuspendError, so a trap); here the call answers `unsupported` and the
    /// request is served.
    #[test]
    fn a_call_while_the_module_initializes_is_unsupported_not_a_suspend_error() {
        let upstream = Upstream::start();
        for init in ["edgefn_v1_init", "_initialize"] {
            let proxy = Proxy::start(init, LOOPBACK);
            let calls = proxy.calls(1, &get(&upstream.url("/echo")));
            assert_eq!(calls.len(), 2, "{init}: {calls:?}");
            let (code, message) = calls[0].error();
            assert_eq!(code, -8, "{init}: {message}");
            assert!(message.contains("initializes"), "{init}: {message}");
            assert_eq!(
                calls[1].response().status,
                200,
                "{init}: the handler's call works"
            );
            let log = proxy.log();
            assert!(!log.contains("SuspendError"), "{init}: {log}");
        }
        assert_eq!(upstream.requests(), 2);
    }

    #[test]
    fn without_the_opt_in_loopback_is_denied_by_address_and_by_name() {
        let upstream = Upstream::start();
        let proxy = Proxy::start(NO_INIT, &LOOPBACK[..1]);
        for url in [upstream.url("/echo"), upstream.localhost_url("/echo")] {
            let (code, message) = proxy.call(&get(&url)).error();
            assert_eq!(code, -1, "{url}: {message}");
            assert!(
                message.contains("EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS"),
                "{message}"
            );
        }
        let (code, message) = proxy.call(&get("https://api.example.com/")).error();
        assert_eq!(code, -1, "not in the allow-list: {message}");
        assert_eq!(upstream.requests(), 0, "nothing reached the upstream");
    }

    #[test]
    fn timeouts_stop_a_slow_call_and_never_outlast_the_deadline() {
        let upstream = Upstream::start();
        let url = upstream.url("/slow?ms=5000");
        let proxy = Proxy::start(NO_INIT, LOOPBACK);
        let started = Instant::now();
        let (code, message) = proxy
            .call(&HttpRequestEnvelope {
                timeout_ms: 300,
                ..get(&url)
            })
            .error();
        assert_eq!(code, -5, "{message}");
        assert!(message.contains("300 ms"), "{message}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );

        // The default timeout (10 s) is cut to what is left of a 700 ms deadline.
        let short = [LOOPBACK, &[("EDGEFN_DEADLINE_MS", "700")]].concat();
        let proxy = Proxy::start(NO_INIT, &short);
        let started = Instant::now();
        let (code, message) = proxy.call(&get(&url)).error();
        assert_eq!(code, -5, "{message}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn caps_on_calls_and_response_bodies_are_limit_and_owned_headers_invalid() {
        let upstream = Upstream::start();
        let vars = [
            LOOPBACK,
            &[
                ("EDGEFN_OUTBOUND_MAX_REQUESTS", "3"),
                ("EDGEFN_OUTBOUND_MAX_RESPONSE_BYTES", "1000"),
            ],
        ]
        .concat();
        let proxy = Proxy::start(NO_INIT, &vars);
        let codes: Vec<i64> = proxy
            .calls(4, &get(&upstream.url("/echo")))
            .iter()
            .map(|c| c.code)
            .collect();
        assert!(codes[..3].iter().all(|c| *c > 0), "{codes:?}");
        assert_eq!(
            codes[3], -4,
            "the fourth call is over max_requests: {codes:?}"
        );

        assert_eq!(
            proxy
                .call(&get(&upstream.url("/big?bytes=1000")))
                .response()
                .body
                .len(),
            1000
        );
        let (code, message) = proxy.call(&get(&upstream.url("/big?bytes=1001"))).error();
        assert_eq!(code, -4, "{message}");

        let url = upstream.url("/echo");
        let owned = HttpRequestEnvelope {
            headers: vec![("Host", b"elsewhere.example")],
            ..get(&url)
        };
        let (code, message) = proxy.call(&owned).error();
        assert_eq!(code, -3, "{message}");
        let (code, message) = proxy.calls_with(1, b"not an envelope", &[])[0].error();
        assert_eq!(code, -3, "{message}");
    }

    #[test]
    fn an_invalid_outbound_var_answers_500_and_the_log_names_it() {
        let proxy = Proxy::start(NO_INIT, &[("EDGEFN_OUTBOUND_TIMEOUT_MS", "soon")]);
        let reply = proxy.post(&[0; 4], &[]);
        assert_eq!(reply.status, 500, "{}", reply.text());
        let mut log = String::new();
        for _ in 0..100 {
            log = proxy.log();
            if log.contains("EDGEFN_OUTBOUND_TIMEOUT_MS") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            log.contains("EDGEFN_OUTBOUND_TIMEOUT_MS") && log.contains("\"soon\""),
            "{log}"
        );
    }
}

#[test]
fn the_bundle_explains_itself_in_a_readme() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = package("hello", &dir.path().join("hello"));
    let readme = std::fs::read_to_string(bundle.dir.join("README.md")).expect("README.md");
    assert!(
        readme.starts_with("# hello as a Cloudflare Worker"),
        "{readme}"
    );
    assert!(
        readme.contains("EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS"),
        "{readme}"
    );
    let wrangler = std::fs::read_to_string(bundle.dir.join("wrangler.toml")).unwrap();
    assert!(!wrangler.contains("README"), "nothing uploads it");
}

//! Standard `wasi:http/proxy` (WASI 0.2) components on the local host, end to end: the real
//! binary serving `guests/fixtures/wasi-http` (built for wasm32-wasip2 by `make guests`) through
//! the same invoke seam as ABI v1 modules, under the same limits, logs, variables and outbound
//! policy; a component of another world refused at load; conformance cases on the local host,
//! Lambda, Azure and Workers; and differential tests against `wasmtime serve`. The same cases run
//! for a JavaScript component (`guests/fixtures/wasi-http-js`, componentize-js, `make guests-js`).

use crate::common;
use crate::platforms::Case;
use crate::upstream::Upstream;
use edgefn_host::package::cloudflare_workers::{JCO_VARIABLE, JCO_VERSION};

use common::{Host, guest, guests_dir};
use std::thread;
use std::time::{Duration, Instant};

/// One component, deployed under several names with different limits (one artifact for all).
fn manifest(extra: &str) -> String {
    format!(
        r#"
[[function]]
name = "component"
wasm = "{{guests}}/wasi-http.wasm"
env = {{ GREETING = "hello from the manifest" }}
limits = {{ max_request_bytes = 65536, max_response_bytes = 1048576 }}

[[function]]
name = "component-deadline"
wasm = "{{guests}}/wasi-http.wasm"
limits = {{ deadline_ms = 300 }}

[[function]]
name = "component-hog"
wasm = "{{guests}}/wasi-http.wasm"
limits = {{ memory_mb = 32 }}

[[function]]
name = "component-single"
wasm = "{{guests}}/wasi-http.wasm"
limits = {{ deadline_ms = 2000, max_concurrency = 1 }}
{extra}
"#
    )
}

fn host() -> Host {
    assert!(
        guest("wasi-http").is_file(),
        "the component guests are not built in {}: run `make guests`",
        guests_dir().display()
    );
    Host::with_manifest(&manifest(""))
}

fn assert_hello(host: &Host) {
    let reply = host.get("/component/hello");
    assert_eq!(reply.status, 200, "hello: {}", reply.text());
    assert_eq!(reply.text(), "Hello from a wasi:http component!\n");
}

#[test]
fn hello_component_answers() {
    let host = host();
    assert_hello(&host);
    let reply = host.get("/component/hello");
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert!(
        reply.header("x-edgefn-request-id").is_some(),
        "edgefn's own headers are added to a component's response"
    );
    assert!(
        host.log().contains("function=component"),
        "the deploy is logged under the function's name: {}",
        host.log()
    );
}

#[test]
fn echo_sees_method_path_query_headers_and_body_byte_for_byte() {
    let host = host();
    // Every byte a header value may hold (visible ASCII and obs-text 0x80-0xff), and a body of
    // every byte value.
    let value: Vec<u8> = (0x21u8..=0x7e).chain(0x80..=0xff).collect();
    let body: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let reply = host.send(
        "PATCH",
        "/component/echo?q=1&empty=&x=%20y",
        &[
            ("x-repeated", b"first"),
            ("x-repeated", b"second"),
            ("x-bytes", &value),
        ],
        &body,
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-method").as_deref(), Some("PATCH"));
    assert_eq!(
        reply.header("x-path-with-query").as_deref(),
        Some("/component/echo?q=1&empty=&x=%20y"),
        "the component sees the path as the client sent it, query included"
    );
    assert_eq!(reply.all("x-echo-x-repeated"), ["first", "second"]);
    let seen: Vec<&Vec<u8>> = reply
        .headers
        .iter()
        .filter(|(k, _)| k == "x-echo-x-bytes")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(seen, [&value], "header bytes arrive unchanged");
    assert_eq!(reply.body, body, "the body arrives unchanged");
}

#[test]
fn a_trap_or_no_response_is_500_and_the_next_request_is_fresh() {
    let host = host();
    for case in ["trap", "trap-after"] {
        let reply = host.get(&format!("/component/{case}"));
        assert_eq!(reply.status, 500, "{case}: {}", reply.text());
        assert!(
            !reply.text().contains("partial"),
            "{case}: nothing the guest wrote before trapping is sent as a success"
        );
        assert_hello(&host);
    }
    let reply = host.get("/component/no-response");
    assert_eq!(reply.status, 500, "no response set: {}", reply.text());
    let log = host.log();
    assert!(
        log.contains("without setting a response"),
        "a handler that set no response is named as such: {log}"
    );
    assert!(
        log.contains("trapping before the response") && log.contains("kind=\"trap\""),
        "the guest's panic message and the trap are logged: {log}"
    );
}

#[test]
fn a_spinning_component_is_stopped_at_its_deadline_with_504() {
    let host = host();
    let started = Instant::now();
    let reply = host.get("/component-deadline/spin");
    let took = started.elapsed();
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert!(reply.text().contains("300 ms"), "{}", reply.text());
    assert!(
        took < Duration::from_secs(3),
        "stopped near its 300 ms deadline, not after {took:?}"
    );
    assert_hello(&host);
}

#[test]
fn a_memory_hog_component_is_stopped_at_its_cap_with_500() {
    let host = host();
    let reply = host.get("/component-hog/hog");
    assert_eq!(reply.status, 500, "{}", reply.text());
    let log = host.log();
    assert!(
        log.contains("exceeded its memory limit of 32 MiB"),
        "the memory cap is what stopped it: {log}"
    );
    assert_hello(&host);
}

#[test]
fn variables_are_the_environment_and_output_is_logged_with_function_and_request_id() {
    let host = host();
    let reply = host.get("/component/env");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "hello from the manifest");
    let request_id = reply.header("x-edgefn-request-id").unwrap();
    let log = host.log();
    for line in [
        "stdout line from the component",
        "stderr line from the component",
    ] {
        let logged = log
            .lines()
            .find(|l| l.contains(line))
            .unwrap_or_else(|| panic!("{line:?} is not logged: {log}"));
        assert!(
            logged.contains("function=\"component\"")
                && logged.contains(&format!("request_id=\"{request_id}\"")),
            "guest output is tagged with function and request id: {logged}"
        );
    }
}

#[test]
fn body_caps_apply_to_components() {
    let host = host();
    // Larger than the body channel between guest and host, within the cap: all of it.
    let reply = host.get("/component/big?n=600000");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.body.len(), 600_000);
    assert!(reply.body.iter().all(|&b| b == b'x'));
    // Around the point where a body starts to stream, where a guest that returns right after
    // writing it once left the host polling for ever.
    for n in [65_535, 65_536, 65_537, 131_072, 131_073] {
        let reply = host.get(&format!("/component/big?n={n}"));
        assert_eq!(reply.status, 200, "n={n}: {}", reply.text());
        assert_eq!(reply.body.len(), n, "n={n}");
    }
    // Over max_response_bytes (1 MiB), written past the point where the body streams: the
    // transfer is cut off, never a complete-looking truncated body.
    let host_header = host.addr.to_string();
    let cut = common::try_send_exact(
        host.addr,
        "GET",
        "/component/big?n=2000000",
        &[("host", host_header.as_bytes())],
        b"",
    );
    assert!(
        cut.as_ref().is_err_and(|e| e.contains("reading the body")),
        "an over-cap streamed body is cut off: {:?}",
        cut.map(|reply| (reply.status, reply.body.len()))
    );
    assert!(
        host.log().contains("more than its limit of 1048576 bytes")
            && host.log().contains("the response was cut off"),
        "the oversized response is logged with the limit: {}",
        host.log()
    );
    // Over max_request_bytes (64 KiB): 413 before the component runs.
    let reply = host.send("POST", "/component/echo", &[], &vec![b'a'; 100_000]);
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_hello(&host);
}

#[test]
fn concurrency_beyond_the_limit_is_503() {
    let host = host();
    let addr = host.addr;
    let spinning =
        thread::spawn(move || common::send(addr, "GET", "/component-single/spin", &[], b""));
    // Wait until the first request holds the only slot.
    thread::sleep(Duration::from_millis(400));
    let reply = host.get("/component-single/hello");
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(reply.header("retry-after").is_some());
    assert_eq!(spinning.join().unwrap().status, 504);
    assert_eq!(host.get("/component-single/hello").status, 200);
}

#[test]
fn outbound_requests_follow_the_same_policy_as_modules() {
    let upstream = Upstream::start();
    let extra = r#"
[[function]]
name = "fetcher"
wasm = "{guests}/wasi-http.wasm"
outbound = { allowed_hosts = ["http://127.0.0.1:*"], allow_private_networks = true }

[[function]]
name = "fetcher-public-only"
wasm = "{guests}/wasi-http.wasm"
outbound = { allowed_hosts = ["http://127.0.0.1:*"] }
"#;
    let host = Host::with_manifest(&manifest(extra));
    let fetch = |function: &str, url: &str| {
        host.send("POST", &format!("/{function}/fetch"), &[], url.as_bytes())
    };

    // Allowed: the upstream's answer reaches the component.
    let reply = fetch("fetcher", &upstream.url("/echo"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-upstream-status").as_deref(), Some("200"));

    // A redirect is returned to the component, not followed.
    let before = upstream.requests();
    let reply = fetch("fetcher", &upstream.url("/redirect"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-upstream-status").as_deref(), Some("302"));
    assert_eq!(
        upstream.requests(),
        before + 1,
        "the redirect was not followed"
    );

    // A host not on the allow-list is denied before anything is sent.
    let before = upstream.requests();
    let reply = fetch("fetcher", &upstream.localhost_url("/echo"));
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(
        reply.text().contains("HttpRequestDenied"),
        "{}",
        reply.text()
    );
    // Allowed by name, but a private address without allow_private_networks: denied too.
    let reply = fetch("fetcher-public-only", &upstream.url("/echo"));
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(
        upstream.requests(),
        before,
        "nothing denied reached the upstream"
    );
    let log = host.log();
    assert!(
        log.contains("outbound request failed") && log.contains("not allowed"),
        "denied calls are logged with the reason: {log}"
    );
}

/// An upstream that answers its one request only when told to, so a test can see what a client
/// receives while the component waits on it.
struct HeldUpstream {
    url: String,
    release: std::sync::mpsc::Sender<()>,
    served: thread::JoinHandle<()>,
}

impl HeldUpstream {
    fn start(body: &'static str) -> HeldUpstream {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/held", listener.local_addr().unwrap());
        let (release, released) = std::sync::mpsc::channel();
        let served = thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0, "the request ended before its headers");
                request.extend_from_slice(&buf[..n]);
            }
            released
                .recv_timeout(Duration::from_secs(30))
                .expect("the test releases the upstream");
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(answer.as_bytes()).unwrap();
        });
        HeldUpstream {
            url,
            release,
            served,
        }
    }
}

/// What a client read of a streamed response: the status and first chunk while the upstream was
/// held, then the rest after it was released (or why the rest failed).
struct Streamed {
    status: u16,
    first: Vec<u8>,
    rest: Result<Vec<u8>, String>,
}

/// POSTs `body` to `path` and reads the response head and its first chunk before releasing
/// `upstream`; fails if they do not arrive while the upstream is held.
fn read_while_held(addr: std::net::SocketAddr, path: &str, upstream: HeldUpstream) -> Streamed {
    use http_body_util::BodyExt as _;
    const WAIT: Duration = Duration::from_secs(20);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let streamed = runtime.block_on(async {
        let mut sender = common::connect(addr).await.unwrap();
        let request = http::Request::post(path)
            .header("host", addr.to_string())
            .body(http_body_util::Full::new(bytes::Bytes::from(
                upstream.url.clone(),
            )))
            .unwrap();
        let response = tokio::time::timeout(WAIT, sender.send_request(request))
            .await
            .expect("the head arrives while the upstream is held: the body is not streamed")
            .unwrap();
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let first = tokio::time::timeout(WAIT, body.frame())
            .await
            .expect("the first chunk arrives while the upstream is held")
            .expect("a first chunk")
            .unwrap()
            .into_data()
            .unwrap()
            .to_vec();
        upstream.release.send(()).unwrap();
        let rest = match tokio::time::timeout(WAIT, body.collect()).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("the rest did not arrive".to_owned()),
        };
        Streamed {
            status,
            first,
            rest,
        }
    });
    upstream.served.join().unwrap();
    streamed
}

#[test]
fn a_component_streams_its_body_to_the_client_while_it_runs() {
    let extra = r#"
[[function]]
name = "streamer"
wasm = "{guests}/wasi-http.wasm"
outbound = { allowed_hosts = ["http://127.0.0.1:*"], allow_private_networks = true }
"#;
    let host = Host::with_manifest(&manifest(extra));

    // The first line reaches the client while the component still waits on its upstream.
    let streamed = read_while_held(host.addr, "/streamer/stream", HeldUpstream::start("rest\n"));
    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.first, b"first\n");
    assert_eq!(streamed.rest.as_deref(), Ok(&b"rest\n"[..]));

    // A trap after the head was sent cuts the transfer off: the client cannot take the partial
    // body for a whole one (a dropped wasi:http body would otherwise end it cleanly).
    let streamed = read_while_held(
        host.addr,
        "/streamer/stream-trap",
        HeldUpstream::start("never sent on\n"),
    );
    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.first, b"first\n");
    assert!(
        streamed.rest.is_err(),
        "the body after a trap must not end cleanly: {:?}",
        streamed.rest
    );
    let log = host.log();
    assert!(
        log.contains("the response was cut off after its head was sent") && log.contains("trap"),
        "the cut-off is logged with its cause: {log}"
    );
    // The instance is gone; the next request is served.
    assert_eq!(host.get("/streamer/hello").status, 200);
}

#[test]
fn a_client_that_stops_reading_holds_a_streamed_component_no_longer_than_its_deadline() {
    use std::io::Write as _;
    let extra = r#"
[[function]]
name = "streamer-single"
wasm = "{guests}/wasi-http.wasm"
limits = { deadline_ms = 1000, max_concurrency = 1, max_response_bytes = 67108864 }
"#;
    let host = Host::with_manifest(&manifest(extra));
    // 40 MB is far more than the socket buffers hold: the guest blocks on a client that reads
    // nothing, with the function's only slot.
    let mut idle = std::net::TcpStream::connect(host.addr).unwrap();
    write!(
        idle,
        "GET /streamer-single/big?n=40000000 HTTP/1.1\r\nhost: {}\r\n\r\n",
        host.addr
    )
    .unwrap();
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        host.get("/streamer-single/hello").status,
        503,
        "the reading-nothing client holds the slot while the deadline runs"
    );
    // Past the deadline the instance is stopped and the slot free, the client still connected.
    let started = Instant::now();
    loop {
        let status = host.get("/streamer-single/hello").status;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the slot is still held {:?} after the deadline: {}",
            started.elapsed(),
            host.log()
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        host.log().contains("the response was cut off") && host.log().contains("timeout"),
        "the cut-off is logged as a timeout: {}",
        host.log()
    );
    drop(idle);
}

/// Starts `edgefn serve` on a manifest of one function (`wasm` is a built guest's name, `extra`
/// more of its settings) that must be refused at load; returns the log that says why.
fn refused_at_load(name: &str, wasm: &str, extra: &str) -> String {
    refused_at_load_from(name, &guest(wasm), extra)
}

fn refused_at_load_from(name: &str, wasm: &std::path::Path, extra: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("edgefn.toml");
    let text = format!(
        "[[function]]\nname = \"{name}\"\nwasm = \"{}\"\n{extra}\n",
        wasm.display()
    );
    std::fs::write(&manifest, text).unwrap();
    let cache = common::shared_cache_dir();
    let args = [
        manifest.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    match Host::start(dir, &args) {
        Err(log) => log,
        Ok(_) => panic!("function {name:?} ({}) was served", wasm.display()),
    }
}

#[test]
fn a_component_of_another_world_is_refused_at_load_naming_both_worlds() {
    let log = refused_at_load("command", "wasi-http-command", "");
    assert!(
        log.contains("exports the wasi:cli/command world")
            && log.contains("the wasi:http/proxy world")
            && log.contains("\"command\""),
        "the refusal names the function, the world it exports and the one expected: {log}"
    );
}

/// A component exporting `wasi:http/incoming-handler` (by name: it is refused before it is
/// linked) over `instances` instances of the core module `part`.
fn component_of_instances(part: &str, instances: usize) -> Vec<u8> {
    let instances: String = (0..instances)
        .map(|i| format!("(core instance $i{i} (instantiate $part))"))
        .collect();
    wat::parse_str(format!(
        r#"(component
            (core module $part {part} (func (export "handle")))
            {instances}
            (func $handle (canon lift (core func $i0 "handle")))
            (instance $handler (export "handle" (func $handle)))
            (export "wasi:http/incoming-handler@0.2.0" (instance $handler)))"#
    ))
    .unwrap()
}

#[test]
fn a_component_larger_than_an_instance_slot_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("composed.wasm");

    // Three instances of a module with a memory of its own: three memories, one over the bound
    // (`MAX_COMPONENT_MEMORIES`), which would otherwise fail only at a request, and only where
    // the instance pool is small (Lambda's).
    std::fs::write(&wasm, component_of_instances("(memory 1)", 3)).unwrap();
    let log = refused_at_load_from("composed", &wasm, "");
    assert!(
        log.contains("is a component with 3 linear memories")
            && log.contains("at most 2")
            && log.contains("compose fewer parts"),
        "{log}"
    );

    // 17 instances of a module without memory: over the core instances' bound (16).
    std::fs::write(&wasm, component_of_instances("", 17)).unwrap();
    let log = refused_at_load_from("composed", &wasm, "");
    assert!(
        log.contains("17 core module instances") && log.contains("maximum of 16"),
        "{log}"
    );
}

#[test]
fn warm_instances_are_refused_for_components() {
    let log = refused_at_load("warm", "wasi-http", "warm = {}");
    assert!(
        log.contains("fresh instance per request") && log.contains("remove [warm]"),
        "{log}"
    );
}

#[test]
fn packaging_a_component_for_workers_without_jco_names_the_fix() {
    let out = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(common::edgefn_bin())
        .args(["package", "--target", "cloudflare-workers", "--out"])
        .arg(out.path())
        .arg(guest("wasi-http"))
        .env(JCO_VARIABLE, out.path().join("no-jco-here"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "packaged: {stderr}");
    assert!(
        stderr.contains(JCO_VARIABLE)
            && stderr.contains("is not a file")
            && stderr.contains(&format!(
                "npm install -g @bytecodealliance/jco@{JCO_VERSION}"
            )),
        "{stderr}"
    );
}

conformance!(
    /// The same component answers on Lambda, Azure and Workers what it answers on the local host:
    /// text, a binary body byte for byte, its variable, a streamed body, an outbound call under
    /// the allow-list (allowed, a redirect returned, denied, over the response cap); a trap is a
    /// server error there too, and the runtime keeps serving.
    a_component_answers_as_on_the_local_host,
    |serve| {
        let upstream = Upstream::start();
        let mut component = serve(
            "wasi-http",
            &[
                ("GREETING", "hello from the platform"),
                ("EDGEFN_OUTBOUND_ALLOWED_HOSTS", "http://127.0.0.1:*"),
                ("EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true"),
                ("EDGEFN_OUTBOUND_MAX_RESPONSE_BYTES", "65536"),
            ],
        );
        let hello = component.same(&Case::get("/wasi-http/hello"));
        assert_eq!(hello.text(), "Hello from a wasi:http component!\n");

        let every_byte: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        let echo = component.same(
            &Case::post("/wasi-http/echo?q=1&x=%20y")
                // cargo-lambda's Function URL base64-encodes only bodies it is told are binary.
                .header("content-type", b"application/octet-stream")
                .header("x-custom", b"v")
                .body(&every_byte),
        );
        assert!(echo.body == every_byte, "the body travels byte for byte");
        assert_eq!(echo.header("x-method").as_deref(), Some("POST"));

        let env = component.same(&Case::get("/wasi-http/env"));
        assert_eq!(env.text(), "hello from the platform");

        let big = component.same(&Case::get("/wasi-http/big?n=300000"));
        assert_eq!(big.body.len(), 300_000);

        let fetch = |url: &str| fetch_case("/wasi-http/fetch", url);
        let fetched = component.same(&fetch(&upstream.url("/json")));
        assert_eq!(fetched.status, 200, "{}", fetched.text());
        assert_eq!(fetched.text(), crate::upstream::JSON_DOCUMENT);
        let redirect = component.same(&fetch(&upstream.url("/redirect")));
        assert_eq!(
            redirect.header("x-upstream-status").as_deref(),
            Some("302"),
            "a redirect is returned, not followed"
        );
        let seen = upstream.requests();
        let denied = component.same(&fetch("http://192.0.2.1/denied"));
        assert_eq!(denied.status, 502, "{}", denied.text());
        assert!(denied.text().contains("Denied"), "{}", denied.text());
        assert_eq!(upstream.requests(), seen, "a denied host is never called");
        let oversized = component.same(&fetch(&upstream.url("/big?bytes=100000")));
        assert_eq!(oversized.status, 502, "{}", oversized.text());
        assert!(upstream.requests() > seen, "an oversized answer is fetched, then refused");

        let trapped = component.target.send(&Case::get("/wasi-http/trap"));
        assert!(trapped.status >= 500, "a trap: {}", trapped.text());
        component.target.assert_running();
        component.same(&Case::get("/wasi-http/hello"));
    }
);

/// The JavaScript component guest (`guests/fixtures/wasi-http-js`, componentize-js), built by
/// `make guests-js` (`make test` does).
fn js_guest() -> std::path::PathBuf {
    let path = guest("wasi-http-js");
    assert!(
        path.is_file(),
        "the JavaScript component is not built at {}: run `make guests-js`",
        path.display()
    );
    path
}

conformance!(
    /// A component from another toolchain: JavaScript built by componentize-js (what `jco
    /// componentize` runs; StarlingMonkey inside, 13 MB) answers on Lambda, Azure and Workers
    /// what it answers on the local host: text, every byte value, a 300 kB body, `fetch` under the
    /// allow-list (allowed, a redirect returned, denied and never sent); an exception is a 500 and
    /// the runtime keeps serving.
    a_javascript_component_answers_as_on_the_local_host,
    |serve| {
        js_guest();
        let upstream = Upstream::start();
        let mut js = serve(
            "wasi-http-js",
            &[
                ("EDGEFN_OUTBOUND_ALLOWED_HOSTS", "http://127.0.0.1:*"),
                ("EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true"),
            ],
        );
        let hello = js.same(&Case::get("/wasi-http-js/hello"));
        assert_eq!(hello.text(), "Hello from a JavaScript wasi:http component!\n");

        let every_byte: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        let echo = js.same(
            &Case::post("/wasi-http-js/echo?q=1&x=%20y")
                .header("content-type", b"application/octet-stream")
                .header("x-custom", b"v")
                .body(&every_byte),
        );
        assert!(echo.body == every_byte, "the body travels byte for byte");
        assert_eq!(echo.header("x-method").as_deref(), Some("POST"));
        assert_eq!(echo.header("x-echo-x-custom").as_deref(), Some("v"));

        let big = js.same(&Case::get("/wasi-http-js/big?n=300000"));
        assert_eq!(big.body.len(), 300_000);

        let fetch = |url: &str| fetch_case("/wasi-http-js/fetch", url);
        let fetched = js.same(&fetch(&upstream.url("/json")));
        assert_eq!(fetched.status, 200, "{}", fetched.text());
        assert_eq!(fetched.text(), crate::upstream::JSON_DOCUMENT);
        let redirect = js.same(&fetch(&upstream.url("/redirect")));
        assert_eq!(
            redirect.header("x-upstream-status").as_deref(),
            Some("302"),
            "a redirect is returned, not followed"
        );
        let seen = upstream.requests();
        let denied = js.same(&fetch("http://192.0.2.1/denied"));
        assert_eq!(denied.status, 502, "{}", denied.text());
        assert_eq!(upstream.requests(), seen, "a denied host is never called");

        use crate::platforms::Target as _;
        // The status is the same; the page is not (StarlingMonkey answers an empty 500 itself on
        // a host; on Workers the guest traps and the Worker answers its own 500).
        for (side, thrown) in [
            ("local", js.local.send(&Case::get("/wasi-http-js/throw"))),
            ("target", js.target.send(&Case::get("/wasi-http-js/throw"))),
        ] {
            assert_eq!(thrown.status, 500, "an exception, {side}: {}", thrown.text());
        }
        js.target.assert_running();
        js.same(&Case::get("/wasi-http-js/hello"));
    }
);

/// On Workers, a component that traps (before or after setting its response: the body is
/// buffered, as on the host, so nothing partial is sent), never answers, or allocates past the 128 MiB cap `edgefn package` puts on its memory fails as a 500, and the
/// Worker's next request succeeds; bodies of several MiB travel both ways. (workerd enforces no
/// CPU limit, so a spinning guest is not tried: docs/components.md.) A body over the Worker's 6 MiB
/// request limit is a 413.
#[test]
fn a_hostile_component_fails_as_a_500_on_workers_and_the_worker_keeps_serving() {
    let mut worker = crate::platforms::workers::Workerd::start("wasi-http", &[]);
    let get = |path: &str| common::send(worker.addr, "GET", path, &[], b"");
    for case in ["trap", "trap-after", "no-response", "hog"] {
        let reply = get(&format!("/wasi-http/{case}"));
        assert_eq!(reply.status, 500, "{case}: {}", reply.text());
        assert!(
            reply.text().contains("the function failed") && !reply.text().contains("partial"),
            "{case}: {}",
            reply.text()
        );
        assert_eq!(get("/wasi-http/hello").status, 200, "after {case}");
    }
    let hog_log = worker.log();
    assert!(hog_log.contains("invocation failed (trap)"), "{hog_log}");

    let big = get(&format!("/wasi-http/big?n={}", 5 << 20));
    assert_eq!(big.status, 200);
    assert_eq!(big.body.len(), 5 << 20);
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(5 << 20).collect();
    let echo = common::send(worker.addr, "POST", "/wasi-http/echo", &[], &every_byte);
    assert_eq!(echo.status, 200, "{}", echo.text());
    assert!(
        echo.body == every_byte,
        "a 5 MiB body travels byte for byte"
    );
    worker.assert_running();
}

/// `wasmtime serve` (at the host's wasmtime version, `scripts/setup.sh wasmtime`) of one component
/// on a loopback port: the reference a component's answers are held to. Killed when dropped.
struct WasmtimeServe {
    /// Killed when dropped.
    _process: crate::platforms::Process,
    addr: std::net::SocketAddr,
}

impl WasmtimeServe {
    fn start(wasm: &std::path::Path, env: &[(&str, &str)]) -> WasmtimeServe {
        let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/tools/wasmtime/bin/wasmtime");
        assert!(
            bin.is_file(),
            "wasmtime-cli is not installed at {}: run `scripts/setup.sh wasmtime` (make test does)",
            bin.display()
        );
        let log = tempfile::NamedTempFile::new()
            .unwrap()
            .into_temp_path()
            .keep()
            .unwrap();
        let child = std::process::Command::new(&bin)
            .args(["serve", "-Scli", "--addr", "127.0.0.1:0"])
            .args(
                env.iter()
                    .flat_map(|(k, v)| ["--env".to_owned(), format!("{k}={v}")]),
            )
            .arg(wasm)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::options().append(true).open(&log).unwrap())
            .spawn()
            .expect("start wasmtime serve");
        let process = crate::platforms::Process { child, log };
        let started = Instant::now();
        loop {
            // "Serving HTTP on http://127.0.0.1:PORT/"
            let printed = process.log();
            if let Some(addr) = printed
                .split("Serving HTTP on http://")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .and_then(|addr| addr.parse().ok())
            {
                return WasmtimeServe {
                    _process: process,
                    addr,
                };
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "wasmtime serve did not listen: {printed}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn send(&self, case: &Case) -> common::Reply {
        case.send_to(self.addr, &case.path)
    }
}

/// One component under `wasmtime serve` (the reference) and `edgefn serve`, asked the same.
struct Differential {
    reference: WasmtimeServe,
    edgefn: Host,
}

impl Differential {
    /// Each server's answer to `case`: (wasmtime serve, edgefn).
    fn both(&self, case: &Case) -> (common::Reply, common::Reply) {
        (
            self.reference.send(case),
            case.send_to(self.edgefn.addr, &case.path),
        )
    }

    /// Both answer each case with the same status, headers (less the date, the framing and
    /// edgefn's request id) and body.
    fn assert_same(&self, cases: &[Case]) {
        let ignored = [
            crate::platforms::PER_RUN_HEADERS,
            crate::platforms::FRAMING_HEADERS,
        ]
        .concat();
        let comparable =
            |reply: &common::Reply| crate::platforms::Comparable::of(reply, &ignored, false);
        for case in cases {
            let (wasmtime, ours) = self.both(case);
            assert_eq!(
                comparable(&ours),
                comparable(&wasmtime),
                "{}: edgefn (left) and wasmtime serve (right) differ",
                case.what()
            );
        }
    }
}

/// A POST to a fixture's `fetch` case at `path`, asking it to GET `url`.
fn fetch_case(path: &str, url: &str) -> Case {
    Case::post(path)
        .header("content-type", b"text/plain")
        .body(url.as_bytes())
}

/// The same component under `wasmtime serve` and `edgefn serve` answers the same status, headers
/// (less the date, the framing and edgefn's request id) and body: text, every byte value with a
/// query and a repeated header, its variable, a 300 kB body, an allowed outbound GET. Where edgefn
/// differs on purpose, the test names the difference and asserts both sides of it: a denied host
/// and an over-cap upstream answer (wasmtime serve has no outbound policy), a trap after the
/// response was set (edgefn buffers the body: 500, where wasmtime has sent its 200 and part of the
/// body), and the content of its error pages.
#[test]
fn a_component_answers_as_under_wasmtime_serve() {
    let upstream = Upstream::start();
    let greeting = "hello from both";
    let servers = Differential {
        reference: WasmtimeServe::start(&guest("wasi-http"), &[("GREETING", greeting)]),
        edgefn: Host::with_manifest(&format!(
            r#"
[[function]]
name = "component"
wasm = "{{guests}}/wasi-http.wasm"
env = {{ GREETING = "{greeting}" }}
outbound = {{ allowed_hosts = ["http://127.0.0.1:*"], allow_private_networks = true, max_response_bytes = 65536 }}
"#
        )),
    };
    let fetch = |url: &str| fetch_case("/component/fetch", url);

    let every_byte: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    servers.assert_same(&[
        Case::get("/component/hello"),
        Case::post("/component/echo?q=1&x=%20y")
            .header("content-type", b"application/octet-stream")
            .header("x-multi", b"one")
            .header("x-multi", b"two")
            .body(&every_byte),
        Case::new("DELETE", "/component/echo/a/b"),
        Case::get("/component/env"),
        Case::get("/component/big?n=300000"),
        fetch(&upstream.url("/json")),
        fetch(&upstream.url("/redirect")),
    ]);

    // Deliberate: the allow-list. wasmtime serve calls any host; edgefn refuses one not listed
    // (localhost is not 127.0.0.1 to the list) before anything is sent.
    let named = upstream.url("/json").replace("127.0.0.1", "localhost");
    let (wasmtime, ours) = servers.both(&fetch(&named));
    assert_eq!(wasmtime.status, 200, "wasmtime serve: {}", wasmtime.text());
    assert_eq!(ours.status, 502, "edgefn: {}", ours.text());
    assert!(ours.text().contains("HttpRequestDenied"), "{}", ours.text());
    // Deliberate: outbound.max_response_bytes.
    let (wasmtime, ours) = servers.both(&fetch(&upstream.url("/big?bytes=100000")));
    assert_eq!((wasmtime.status, wasmtime.body.len()), (200, 100_000));
    assert_eq!(ours.status, 502, "edgefn: {}", ours.text());
    assert!(
        ours.text().contains("HttpResponseBodySize"),
        "{}",
        ours.text()
    );
    // Deliberate: a buffered response. The trap comes after `set`; wasmtime has streamed its 200.
    let (wasmtime, ours) = servers.both(&Case::get("/component/trap-after"));
    assert_eq!(wasmtime.status, 200);
    assert_eq!(ours.status, 500, "edgefn: {}", ours.text());
    assert!(!ours.text().contains("partial"), "{}", ours.text());
    // The same status, each server's own error page.
    for path in ["/component/trap", "/component/no-response"] {
        let (wasmtime, ours) = servers.both(&Case::get(path));
        assert_eq!((ours.status, wasmtime.status), (500, 500), "{path}");
    }
}

/// The JavaScript component under `wasmtime serve` and `edgefn serve`: the same answers to text,
/// every byte value, a 300 kB body, an allowed `fetch` and a redirect; an exception is a 500 from
/// both, and edgefn logs the guest's stack tagged with the function and request id. Deliberate: a
/// host not on the allow-list, which wasmtime serve calls and edgefn refuses.
#[test]
fn a_javascript_component_answers_as_under_wasmtime_serve() {
    let upstream = Upstream::start();
    let servers = Differential {
        reference: WasmtimeServe::start(&js_guest(), &[]),
        edgefn: Host::with_manifest(
            r#"
[[function]]
name = "js"
wasm = "{guests}/wasi-http-js.wasm"
outbound = { allowed_hosts = ["http://127.0.0.1:*"], allow_private_networks = true }
"#,
        ),
    };
    let fetch = |url: &str| fetch_case("/js/fetch", url);
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    servers.assert_same(&[
        Case::get("/js/hello"),
        Case::post("/js/echo?q=1&x=%20y")
            .header("content-type", b"application/octet-stream")
            .header("x-multi", b"one")
            .header("x-multi", b"two")
            .body(&every_byte),
        Case::get("/js/big?n=300000"),
        fetch(&upstream.url("/json")),
        fetch(&upstream.url("/redirect")),
        Case::get("/js/throw"),
    ]);
    let edgefn = &servers.edgefn;
    let thrown = edgefn.get("/js/throw");
    assert_eq!(thrown.status, 500);
    let request_id = thrown.header("x-edgefn-request-id").expect("a request id");
    let log = edgefn.log();
    assert!(
        log.lines()
            .any(|line| line.contains("thrown before answering")
                && line.contains("function=\"js\"")
                && line.contains(&request_id)),
        "the exception is logged with the function and request id: {log}"
    );

    // Deliberate: the allow-list (localhost is not 127.0.0.1 to it).
    let named = upstream.url("/json").replace("127.0.0.1", "localhost");
    let (wasmtime, ours) = servers.both(&fetch(&named));
    assert_eq!(wasmtime.status, 200, "wasmtime serve: {}", wasmtime.text());
    assert_eq!(ours.status, 502, "edgefn: {}", ours.text());
    assert!(
        edgefn.log().contains("outcome=\"denied\""),
        "the refusal is logged: {}",
        edgefn.log()
    );
}

//! Cloudflare Workers end to end: every example guest packaged with `edgefn package --target
//! cloudflare-workers`, served by real `workerd` on a loopback port, answers the same requests with
//! the same status, headers and body as the local host; hostile guests answer 500 and the Worker
//! keeps serving. workerd comes from npm (`scripts/setup.sh workers`, run by `make test`).

mod common;

use common::{Host, Reply, guest, send};
use edgefn_host::package::cloudflare_workers::CAPNP_VARS_MARKER;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `GREETING` for the `config` guest: a manifest variable locally, a Worker var on Workers.
const GREETING: &str = "configured hello";

/// How long workerd may take to load a bundle and listen.
const STARTUP: Duration = Duration::from_secs(30);

/// The workerd binary from `workers/node_modules`. The platform package's binary is preferred to
/// `.bin/workerd`, which is a node launcher when npm skipped the package's install script: killing
/// that launcher would leave the real server running.
fn workerd_bin() -> PathBuf {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workers/node_modules");
    let platform_binary = std::fs::read_dir(modules.join("@cloudflare"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin/workerd"))
        .find(|path| path.is_file());
    let launcher = modules.join(".bin/workerd");
    platform_binary
        .or_else(|| launcher.is_file().then_some(launcher))
        .unwrap_or_else(|| {
            panic!(
                "workerd is not installed in {}: run `scripts/setup.sh workers` (make test does)",
                modules.display()
            )
        })
}

/// The bundle `edgefn package` wrote and what it printed.
struct Bundle {
    dir: PathBuf,
    printed: String,
}

fn package(name: &str, out: &Path) -> Bundle {
    let output = Command::new(common::edgefn_bin())
        .args(["package", "--target", "cloudflare-workers"])
        .arg(guest(name))
        .arg("--out")
        .arg(out)
        .output()
        .expect("run edgefn package");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "edgefn package failed for {name}: {printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Bundle {
        dir: out.to_owned(),
        printed,
    }
}

/// A `workerd serve` of one packaged bundle; killed when dropped.
struct Workerd {
    child: Child,
    addr: SocketAddr,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Workerd {
    /// Packages guest `name`, adds `vars` the way a user would (in config.capnp, under the
    /// marker line), and serves it on a free loopback port.
    fn start(name: &str, vars: &[(&str, &str)]) -> Workerd {
        let dir = tempfile::tempdir().unwrap();
        let bundle = package(name, &dir.path().join("bundle"));
        let config = bundle.dir.join("config.capnp");
        let mut text = std::fs::read_to_string(&config).unwrap();
        assert!(text.contains(CAPNP_VARS_MARKER), "config.capnp: {text}");
        for (key, value) in vars {
            let binding = format!("(name = {key:?}, text = {value:?}),\n    {CAPNP_VARS_MARKER}");
            text = text.replace(CAPNP_VARS_MARKER, &binding);
        }
        std::fs::write(&config, text).unwrap();

        // Port 0 and --control-fd 1: workerd picks a free port and reports it on stdout, so there
        // is no window in which another process could take a port chosen in advance.
        let log_path = dir.path().join("workerd.log");
        let mut child = Command::new(workerd_bin())
            .arg("serve")
            .arg(&config)
            .args(["--socket-addr", "http=127.0.0.1:0", "--control-fd", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .expect("spawn workerd");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout_log = log_path.with_extension("stdout.log");
        std::thread::spawn(move || {
            // Keep reading so console.log output never fills the pipe and blocks workerd.
            let mut log = std::fs::File::create(stdout_log).unwrap();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = listen_port(&line) {
                    let _ = tx.send(port);
                }
                let _ = writeln!(log, "{line}");
            }
        });
        let port = match rx.recv_timeout(STARTUP) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "workerd did not listen within {STARTUP:?} for {name}: {}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
        };
        Workerd {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log_path,
            _dir: dir,
        }
    }

    fn send(&self, method: &str, path: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Reply {
        send(self.addr, method, path, headers, body)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn assert_running(&mut self) {
        let status = self.child.try_wait();
        assert!(matches!(status, Ok(None)), "workerd exited: {}", self.log());
    }
}

impl Drop for Workerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port in workerd's control message `{"event":"listen","socket":"http","port":N}`.
fn listen_port(line: &str) -> Option<u16> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    (value["event"] == "listen" && value["socket"] == "http").then_some(())?;
    value["port"].as_u64().and_then(|p| u16::try_from(p).ok())
}

/// The local host serving `name` (with `GREETING` for `config`).
fn local_host(name: &str) -> Host {
    Host::with_manifest(&format!(
        r#"
[[function]]
name = "{name}"
wasm = "{{guests}}/{name}.wasm"
env = {{ GREETING = "{GREETING}" }}
"#
    ))
}

/// A reply reduced to what must be equal on both platforms.
#[derive(Debug, PartialEq)]
struct Comparable {
    status: u16,
    /// Field name → values. Repeats are joined with ", " (as the Fetch API joins them; RFC 9110
    /// makes the two forms equivalent), except set-cookie, whose values stay a list.
    headers: BTreeMap<String, Vec<String>>,
    body: Vec<u8>,
}

/// Headers whose values legitimately differ between two servers for the same request:
/// - `date`: when the response was made (and only some servers send it);
/// - `x-edgefn-request-id`, `x-echo-request-id`: a new random id per invocation;
/// - `content-length`, `transfer-encoding`, `connection`, `keep-alive`: message framing, each
///   server's own choice; the bodies are compared byte for byte instead;
/// - `x-echo-h-host`: the `host` the client sent, each server's own address (checked separately).
const DIFFERING_HEADERS: &[&str] = &[
    "date",
    "x-edgefn-request-id",
    "x-echo-request-id",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "x-echo-h-host",
];

fn comparable(reply: &Reply, server: SocketAddr) -> Comparable {
    if let Some(host) = reply.header("x-echo-h-host") {
        assert_eq!(
            host,
            server.to_string(),
            "the guest sees the host it was sent"
        );
    }
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &reply.headers {
        if DIFFERING_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let value = String::from_utf8_lossy(value).into_owned();
        let values = headers.entry(name.clone()).or_default();
        if name == "set-cookie" || values.is_empty() {
            values.push(value);
        } else {
            values[0] = format!("{}, {value}", values[0]);
        }
    }
    // An error page names the request id, which differs: compare it with the id blanked out.
    let mut body = reply.body.clone();
    if let Some(id) = reply.header("x-edgefn-request-id") {
        body = replace(&body, id.as_bytes(), b"<request-id>");
    }
    Comparable {
        status: reply.status,
        headers,
        body,
    }
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut at = 0;
    while at < haystack.len() {
        if !needle.is_empty() && haystack[at..].starts_with(needle) {
            out.extend_from_slice(with);
            at += needle.len();
        } else {
            out.push(haystack[at]);
            at += 1;
        }
    }
    out
}

/// One request, sent to both.
struct Case<'a> {
    method: &'a str,
    path: &'a str,
    headers: Vec<(&'a str, &'a [u8])>,
    body: Vec<u8>,
}

impl<'a> Case<'a> {
    fn get(path: &'a str) -> Case<'a> {
        Case {
            method: "GET",
            path,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    fn post(path: &'a str, headers: Vec<(&'a str, &'a [u8])>, body: Vec<u8>) -> Case<'a> {
        Case {
            method: "POST",
            path,
            headers,
            body,
        }
    }
}

/// Serves guest `name` on both platforms, sends each case to both and compares the replies.
/// `on_workers` turns the local reply into what Workers must answer (the platform name the guest
/// reports is the one thing that should differ). Returns the Worker, still running, and its replies.
fn same_on_both(
    name: &str,
    cases: &[Case<'_>],
    on_workers: fn(&mut Comparable),
) -> (Workerd, Vec<Reply>) {
    let local = local_host(name);
    let mut worker = Workerd::start(name, &[("GREETING", GREETING)]);
    let mut replies = Vec::new();
    for case in cases {
        let local_reply = local.send(case.method, case.path, &case.headers, &case.body);
        let worker_reply = worker.send(case.method, case.path, &case.headers, &case.body);
        let mut want = comparable(&local_reply, local.addr);
        on_workers(&mut want);
        let got = comparable(&worker_reply, worker.addr);
        assert_eq!(
            got.status,
            want.status,
            "{name} {} {}: status differs; workerd log:\n{}",
            case.method,
            case.path,
            worker.log()
        );
        assert_eq!(
            got.headers, want.headers,
            "{name} {} {}: headers differ",
            case.method, case.path
        );
        assert!(
            got.body == want.body,
            "{name} {} {}: bodies differ ({} bytes on workerd, {} expected): {:?} vs {:?}",
            case.method,
            case.path,
            got.body.len(),
            want.body.len(),
            String::from_utf8_lossy(&got.body[..got.body.len().min(200)]),
            String::from_utf8_lossy(&want.body[..want.body.len().min(200)]),
        );
        assert!(
            worker_reply.header("x-edgefn-request-id").is_some(),
            "the Worker names the invocation"
        );
        replies.push(worker_reply);
    }
    worker.assert_running();
    (worker, replies)
}

fn unchanged(_: &mut Comparable) {}

/// The guest reports the platform it runs on: `local` there, `cloudflare-workers` here.
fn platform_name(want: &mut Comparable) {
    want.body = replace(&want.body, b" on local!", b" on cloudflare-workers!");
}

#[test]
fn hello_is_the_same_but_for_the_platform_name() {
    let _ = same_on_both(
        "hello",
        &[Case::get("/hello"), Case::get("/hello/any/sub/path?x=1")],
        platform_name,
    );
}

/// The Go guests (a Go reactor imports far more of WASI and exports `_initialize`), when built:
/// `make test` builds them (`make guests-go`); a Rust-only checkout has none.
#[test]
fn go_guests_are_the_same_too() {
    if !guest("go-hello").is_file() {
        eprintln!("skipped: the Go guests are not built (make guests-go)");
        return;
    }
    let _ = same_on_both("go-hello", &[Case::get("/go-hello")], platform_name);
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let _ = same_on_both(
        "go-echo",
        &[
            Case::get("/go-echo/a?x=1&x=2"),
            Case::post(
                "/go-echo/b",
                vec![("x-multi", b"one"), ("x-multi", b"two")],
                every_byte,
            ),
        ],
        unchanged,
    );
}

#[test]
fn echo_is_byte_exact_for_binary_bodies_headers_and_large_bodies() {
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(256 * 16).collect();
    let large: Vec<u8> = (0..5_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let octets: &[u8] = b"application/octet-stream";
    let (_, replies) = same_on_both(
        "echo",
        &[
            Case::get("/echo/a/b?x=1&x=2&y=%20z"),
            Case::post(
                "/echo/bytes",
                vec![("content-type", octets)],
                every_byte.clone(),
            ),
            // Repeated request headers: joined by the Fetch API on Workers (set-cookie excepted),
            // separate locally; equal once joined (see `Comparable::headers`).
            Case::post(
                "/echo/headers",
                vec![
                    ("x-multi", b"one"),
                    ("x-multi", b"two"),
                    ("set-cookie", b"a=1"),
                    ("set-cookie", b"b=2"),
                    ("x-utf8", "café ☕".as_bytes()),
                    ("x-empty", b""),
                ],
                b"hi".to_vec(),
            ),
            Case::post("/echo/large", vec![("content-type", octets)], large.clone()),
        ],
        unchanged,
    );
    assert_eq!(replies[1].body, every_byte);
    assert_eq!(
        replies[2].all("x-echo-h-set-cookie"),
        ["a=1", "b=2"],
        "set-cookie repeats reach the guest one by one"
    );
    assert_eq!(replies[3].body.len(), large.len());
}

#[test]
fn json_answers_the_same_objects_and_errors() {
    let _ = same_on_both(
        "json",
        &[
            Case::post(
                "/json",
                vec![("content-type", b"application/json")],
                br#"{"name":"edge","count":2}"#.to_vec(),
            ),
            Case::post("/json", vec![], b"{not json".to_vec()),
        ],
        unchanged,
    );
}

#[test]
fn config_reads_its_worker_var_and_sees_nothing_else() {
    let (_, replies) = same_on_both("config", &[Case::get("/config")], unchanged);
    let value: serde_json::Value = serde_json::from_slice(&replies[0].body).unwrap();
    assert_eq!(value["greeting"], GREETING);
    assert_eq!(
        value["variables"],
        serde_json::json!(["GREETING"]),
        "the adapter's EDGEFN_ bindings are not the guest's environment"
    );
}

#[test]
fn a_large_response_arrives_whole() {
    let (_, replies) = same_on_both(
        "big-response",
        &[Case::get("/big-response?bytes=4000000")],
        unchanged,
    );
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
        unchanged,
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
        unchanged,
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
        "wasi.js",
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
        Some(edgefn_host::package::cloudflare_workers::COMPATIBILITY_DATE)
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
    let ours = edgefn_host::package::cloudflare_workers::COMPATIBILITY_DATE;
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
    let output = Command::new(common::edgefn_bin())
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

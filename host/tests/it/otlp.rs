//! OpenTelemetry traces end to end: `edgefn serve --otlp-endpoint` exports a SERVER span per
//! invocation and a CLIENT span per outbound call over OTLP/HTTP, which a loopback collector
//! (`otlp_collector.py`) decodes with the official protobuf bindings (PyPI opentelemetry-proto,
//! `scripts/setup.sh otel`); and a collector that is down or never answers changes nothing for
//! requests, only the dropped-span count in `/metrics`.

use crate::common;
use crate::dx_support::{Answer, Served, repo_root, request};
use crate::upstream::Upstream;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";
const ADMIN_TOKEN: &str = "otlp-test-token-0123456789abcdef";
const SERVER: i64 = 2;
const CLIENT: i64 = 3;
const STATUS_UNSET: i64 = 0;
const STATUS_ERROR: i64 = 2;

fn python() -> PathBuf {
    let path = repo_root().join("target/tools/otel-venv/bin/python");
    assert!(
        path.is_file(),
        "{} is missing: run `scripts/setup.sh otel` (make test-rust does)",
        path.display()
    );
    path
}

/// The collector script, running; killed when dropped.
struct Collector {
    child: Child,
    addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Collector {
    fn start() -> Collector {
        let script = repo_root().join("host/tests/it/otlp_collector.py");
        let mut child = Command::new(python())
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the collector");
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.strip_prefix("listening ") {
                    let _ = tx.send(port.trim().parse::<u16>().unwrap());
                } else {
                    sink.lock().unwrap().push(line);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the collector listens");
        Collector {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            lines,
        }
    }

    fn exports(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits (bounded) until the collector has received `count` spans; all of them.
    fn wait_for_spans(&self, count: usize, log: impl Fn() -> String) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let spans: Vec<Value> = self
                .exports()
                .iter()
                .flat_map(|e| e["spans"].as_array().cloned().unwrap_or_default())
                .collect();
            if spans.len() >= count {
                return spans;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{} of {count} spans arrived: {:#?}\nlog:\n{}",
                spans.len(),
                self.exports(),
                log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn manifest(dir: &Path) -> PathBuf {
    let mut text = String::new();
    for name in ["hello", "panic"] {
        text.push_str(&format!(
            "[[function]]\nname = \"{name}\"\nwasm = {:?}\n\n",
            common::guest(name).display().to_string()
        ));
    }
    text.push_str(&format!(
        "[[function]]\nname = \"outbound\"\nwasm = {:?}\noutbound = {{ allowed_hosts = [\"http://127.0.0.1:*\"], allow_private_networks = true }}\n",
        common::guest("outbound").display().to_string()
    ));
    let path = dir.join("edgefn.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn serve(dir: &Path, endpoint: &str, envs: &[(&str, &str)]) -> (Served, SocketAddr) {
    let manifest = manifest(dir);
    let cache = common::shared_cache_dir();
    let envs: Vec<(&str, &Path)> = envs.iter().map(|(k, v)| (*k, Path::new(*v))).collect();
    let served = Served::start(
        &[
            manifest.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--otlp-endpoint",
            endpoint,
            "--admin-listen",
            "127.0.0.1:0",
            "--admin-token",
            ADMIN_TOKEN,
        ],
        &envs,
        Duration::from_secs(120),
    );
    let admin_line = served
        .stdout_line("edgefn admin on http://")
        .expect("the admin address is printed");
    let admin = admin_line.split(' ').next().unwrap().parse().unwrap();
    (served, admin)
}

fn span<'a>(spans: &'a [Value], what: &str, matches: impl Fn(&Value) -> bool) -> &'a Value {
    let found: Vec<&Value> = spans.iter().filter(|s| matches(s)).collect();
    assert_eq!(found.len(), 1, "one {what} span in {spans:#?}");
    found[0]
}

/// The `traceparent` the upstream saw, from the guest's copy of the upstream's headers.
fn traceparent_seen_upstream(answer: &Answer) -> String {
    (1..)
        .map_while(|i| answer.header(&format!("x-upstream-header-{i}")))
        .find_map(|h| {
            h.split_once("traceparent: ")
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("the upstream saw no traceparent: {}", answer.head))
}

#[test]
fn invocations_and_outbound_calls_are_exported_as_spans() {
    let collector = Collector::start();
    let upstream = Upstream::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://{}", collector.addr);
    let (served, _) = serve(
        dir.path(),
        &endpoint,
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_SERVICE_NAME", "otlp-test"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=se%20cret"),
        ],
    );
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");

    let url = upstream.url("/echo");
    let called = request(
        served.addr,
        "GET",
        "/outbound",
        &[("traceparent", &traceparent), ("x-call-url", &url)],
        b"",
    );
    assert_eq!(called.status, 200, "{called:?}");
    let seen_upstream = traceparent_seen_upstream(&called);
    let hello = request(served.addr, "GET", "/hello", &[], b"");
    assert_eq!(hello.status, 200, "{hello:?}");
    let crashed = request(
        served.addr,
        "GET",
        "/panic",
        &[("traceparent", &traceparent)],
        b"",
    );
    assert_eq!(crashed.status, 500, "{crashed:?}");
    // Not sampled: propagated, not recorded.
    let unsampled = request(
        served.addr,
        "GET",
        "/hello",
        &[("traceparent", &format!("00-{TRACE_ID}-{PARENT_ID}-00"))],
        b"",
    );
    assert_eq!(unsampled.status, 200);

    let spans = collector.wait_for_spans(4, || served.log());
    for export in collector.exports() {
        assert_eq!(export["path"], "/v1/traces");
        assert_eq!(export["content_type"], "application/x-protobuf");
        assert_eq!(export["api_key"], "se cret");
        assert_eq!(export["resource"]["service.name"], "otlp-test");
        assert_eq!(export["scope"]["name"], "edgefn");
    }

    let invocation = span(&spans, "outbound invocation", |s| s["name"] == "outbound");
    assert_eq!(invocation["kind"], SERVER);
    assert_eq!(
        invocation["trace_id"], TRACE_ID,
        "the caller's trace is kept"
    );
    assert_eq!(invocation["parent_span_id"], PARENT_ID);
    let invocation_id = invocation["span_id"].as_str().unwrap();
    assert_eq!(invocation_id.len(), 16);
    assert_ne!(invocation_id, PARENT_ID, "a span id of its own");
    let attributes = &invocation["attributes"];
    assert_eq!(attributes["faas.name"], "outbound");
    assert_eq!(attributes["edgefn.platform"], "local");
    assert_eq!(attributes["edgefn.outcome"], "ok");
    assert_eq!(attributes["http.response.status_code"], 200);
    assert_eq!(attributes["http.request.method"], "GET");
    assert_eq!(attributes["url.path"], "/outbound");
    assert_eq!(attributes["faas.coldstart"], true);
    assert!(attributes["faas.invocation_id"].as_str().unwrap().len() == 36);
    assert_eq!(invocation["status"]["code"], STATUS_UNSET);
    // Sampled, with a remote parent (OTLP SpanFlags 0x100 | 0x200).
    assert_eq!(invocation["flags"], 0x301);
    let (start, end) = (
        invocation["start"].as_u64().unwrap(),
        invocation["end"].as_u64().unwrap(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    assert!(start <= end && end <= now && now - start < 120_000_000_000);

    let call = span(&spans, "outbound call", |s| s["kind"] == CLIENT);
    assert_eq!(call["trace_id"], TRACE_ID);
    assert_eq!(
        call["parent_span_id"], invocation_id,
        "the call is the invocation's child"
    );
    assert_eq!(call["name"], "GET");
    assert_eq!(call["attributes"]["http.request.method"], "GET");
    assert_eq!(call["attributes"]["server.address"], "127.0.0.1");
    assert_eq!(call["attributes"]["http.response.status_code"], 200);
    assert_eq!(call["status"]["code"], STATUS_UNSET);
    assert_eq!(call["flags"], 0x101);
    assert_eq!(
        seen_upstream,
        format!("00-{TRACE_ID}-{}-01", call["span_id"].as_str().unwrap()),
        "the callee's parent is the call's span"
    );
    let call_start = call["start"].as_u64().unwrap();
    assert!(start <= call_start && call["end"].as_u64().unwrap() <= end);

    let fresh = span(&spans, "hello", |s| s["name"] == "hello");
    assert_eq!(fresh["kind"], SERVER);
    assert_eq!(fresh["parent_span_id"], "", "no traceparent: a root span");
    let fresh_trace = fresh["trace_id"].as_str().unwrap();
    assert_eq!(fresh_trace.len(), 32);
    assert_ne!(fresh_trace, TRACE_ID, "a fresh trace id");
    assert_ne!(fresh_trace, "0".repeat(32));
    assert_eq!(fresh["flags"], 0x101);

    let failed = span(&spans, "panic", |s| s["name"] == "panic");
    assert_eq!(failed["trace_id"], TRACE_ID);
    assert_eq!(failed["parent_span_id"], PARENT_ID);
    assert_eq!(failed["status"]["code"], STATUS_ERROR);
    assert!(
        failed["status"]["message"]
            .as_str()
            .unwrap()
            .contains("crashed"),
        "{failed:#}"
    );
    assert_eq!(failed["attributes"]["edgefn.outcome"], "trap");
    assert_eq!(failed["attributes"]["error.type"], "trap");
    assert_eq!(failed["attributes"]["http.response.status_code"], 500);

    // The unsampled request left no span, even after another export interval.
    std::thread::sleep(Duration::from_millis(500));
    let all = collector.wait_for_spans(4, || served.log());
    assert_eq!(all.len(), 4, "{all:#?}");
}

fn metric(admin: SocketAddr, series: &str) -> f64 {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let metrics = request(admin, "GET", "/metrics", &[("authorization", &auth)], b"");
    assert_eq!(metrics.status, 200);
    metrics
        .body
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{}", metrics.body))
}

fn wait_for_metric(admin: SocketAddr, series: &str, at_least: f64, log: impl Fn() -> String) {
    let started = Instant::now();
    while metric(admin, series) < at_least {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{series} stayed below {at_least}:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends `count` requests to hello; each must succeed well within the export timeout.
fn requests_are_unaffected(addr: SocketAddr, count: usize) {
    for i in 0..count {
        let started = Instant::now();
        let answer = request(addr, "GET", "/hello", &[], b"");
        let took = started.elapsed();
        assert_eq!(answer.status, 200, "request {i}: {answer:?}");
        assert!(
            took < Duration::from_secs(2),
            "request {i} took {took:?}: held up by the exporter"
        );
    }
}

const DROPPED_QUEUE_FULL: &str = r#"edgefn_trace_spans_dropped_total{reason="queue_full"}"#;
const DROPPED_EXPORT_FAILED: &str = r#"edgefn_trace_spans_dropped_total{reason="export_failed"}"#;

fn warnings(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("trace spans dropped"))
        .count()
}

#[test]
fn a_collector_that_is_down_or_slow_changes_nothing_for_requests() {
    // Down: a port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let (served, admin) = serve(
        dir.path(),
        &format!("http://{closed_addr}"),
        &[("OTEL_BSP_SCHEDULE_DELAY", "50")],
    );
    requests_are_unaffected(served.addr, 20);
    wait_for_metric(admin, DROPPED_EXPORT_FAILED, 20.0, || served.log());
    assert_eq!(metric(admin, "edgefn_trace_spans_exported_total"), 0.0);
    let log = served.log();
    assert!(
        (1..=3).contains(&warnings(&log)),
        "one warning, rate-limited:\n{log}"
    );
    drop(served);

    // Slow: accepts, reads nothing, never answers. A queue of 4 fills while the first export
    // waits out its timeout.
    let slow = TcpListener::bind("127.0.0.1:0").unwrap();
    let slow_addr = slow.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in slow.incoming() {
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (served, admin) = serve(
        dir.path(),
        &format!("http://{slow_addr}"),
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "4"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "3000"),
        ],
    );
    let started = Instant::now();
    requests_are_unaffected(served.addr, 30);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "30 requests took {:?}",
        started.elapsed()
    );
    wait_for_metric(admin, DROPPED_QUEUE_FULL, 10.0, || served.log());
    wait_for_metric(admin, DROPPED_EXPORT_FAILED, 1.0, || served.log());
    let log = served.log();
    assert!(
        (1..=3).contains(&warnings(&log)),
        "warnings are rate-limited:\n{log}"
    );
}

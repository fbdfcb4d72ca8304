//! Observability end to end: the W3C `traceparent` of a request reaches the guest's `Context` and
//! every host log line about the request (`--log-format json`), and the admin listener's
//! `/metrics` counts invocations by outcome, latency, instantiation, artifact cache results and
//! loaded/evicted functions with the values the requests imply.

use crate::common;
use crate::dx_support;

use dx_support::{Served, request};
use std::time::{Duration, Instant};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const ADMIN_TOKEN: &str = "observability-test-token-0123456789";

fn manifest(dir: &std::path::Path, functions: &[(&str, &str)]) -> std::path::PathBuf {
    let mut text = String::new();
    for (name, extra) in functions {
        text.push_str(&format!(
            "[[function]]\nname = \"{name}\"\nwasm = {:?}\n{extra}\n",
            common::guest(name).display().to_string()
        ));
    }
    let path = dir.join("edgefn.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The JSON log lines that belong to the request with this id.
fn log_lines_of(log: &str, request_id: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["span"]["request_id"] == request_id)
        .collect()
}

/// Waits (bounded) for the log to hold `count` lines of the request: the log is written as the
/// request finishes, possibly just after the response.
fn wait_for_log_lines(served: &Served, request_id: &str, count: usize) -> Vec<serde_json::Value> {
    let started = Instant::now();
    loop {
        let lines = log_lines_of(&served.log(), request_id);
        if lines.len() >= count || started.elapsed() > Duration::from_secs(10) {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn traceparent_reaches_the_guest_and_every_log_line_of_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(
        dir.path(),
        &[
            ("context", "limits = { deadline_ms = 5000 }"),
            ("panic", ""),
        ],
    );
    let cache = common::shared_cache_dir();
    let served = Served::start(
        &[
            "--log-format",
            "json",
            manifest.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
        &[],
        Duration::from_secs(60),
    );

    let answer = request(
        served.addr,
        "GET",
        "/context",
        &[("traceparent", TRACEPARENT)],
        b"",
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    let seen: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    let request_id = answer.header("x-edgefn-request-id").unwrap();
    assert_eq!(seen["traceparent"], TRACEPARENT);
    assert_eq!(seen["request_id"], request_id.as_str());
    assert_eq!(seen["function_name"], "context");
    assert_eq!(seen["platform"], "local");
    assert_eq!(seen["cold_start"], true);
    let remaining = seen["remaining_ms"].as_u64().unwrap();
    assert!(remaining > 4000 && remaining <= 5000, "{seen}");
    let lines = wait_for_log_lines(&served, &request_id, 1);
    let guest_line = lines
        .iter()
        .find(|l| l["target"] == "edgefn::guest")
        .unwrap_or_else(|| panic!("no guest line for {request_id} in:\n{}", served.log()));
    assert_eq!(
        guest_line["message"],
        format!("context guest answering {request_id}")
    );
    assert_eq!(guest_line["span"]["traceparent"], TRACEPARENT);
    assert_eq!(guest_line["span"]["function"], "context");

    // A second request: no longer a cold start; without a traceparent the guest sees none.
    let again = request(served.addr, "GET", "/context", &[], b"");
    let seen: serde_json::Value = serde_json::from_str(&again.body).unwrap();
    assert_eq!(seen["cold_start"], false);
    assert_eq!(seen["traceparent"], serde_json::Value::Null);

    // A failing request: the guest's panic output and the host's failure line both carry it.
    let failed = request(
        served.addr,
        "GET",
        "/panic",
        &[("traceparent", TRACEPARENT)],
        b"",
    );
    assert_eq!(failed.status, 500);
    let request_id = failed.header("x-edgefn-request-id").unwrap();
    let lines = wait_for_log_lines(&served, &request_id, 2);
    assert!(
        lines
            .iter()
            .any(|l| l["target"] == "edgefn::guest" && l["level"] == "WARN"),
        "the guest's stderr is logged in the request's span:\n{}",
        served.log()
    );
    let failure = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("invocation failed"))
        })
        .unwrap_or_else(|| panic!("no failure line in:\n{}", served.log()));
    assert_eq!(failure["kind"], "trap");
    assert!(
        lines
            .iter()
            .all(|l| l["span"]["traceparent"] == TRACEPARENT),
        "{lines:#?}"
    );
}

/// `name{labels} value` lines of a Prometheus exposition, as (series, value).
fn samples(exposition: &str) -> Vec<(String, f64)> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn value(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(s, _)| s == series)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no series {series} in:\n{samples:#?}"))
}

#[test]
fn metrics_count_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(
        dir.path(),
        &[
            ("hello", ""),
            ("busy-loop", "limits = { deadline_ms = 300 }"),
            ("memory-hog", "limits = { memory_mb = 32 }"),
            ("panic", ""),
        ],
    );
    // A fresh cache, so every module is compiled exactly once; two loaded at most, so some are
    // evicted and reloaded from their artifacts.
    let cache = dir.path().join("cache");
    let served = Served::start(
        &[
            manifest.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--max-loaded",
            "2",
            "--admin-listen",
            "127.0.0.1:0",
            "--admin-token",
            ADMIN_TOKEN,
        ],
        &[],
        Duration::from_secs(120),
    );
    let admin_line = served
        .stdout_line("edgefn admin on http://")
        .expect("the admin address is printed");
    let admin: std::net::SocketAddr = admin_line.split(' ').next().unwrap().parse().unwrap();
    assert!(admin_line.contains(ADMIN_TOKEN), "{admin_line}");

    // In order, one at a time, so the LRU's choices are known:
    // deploy loads hello, busy-loop, memory-hog (evicts hello), panic (evicts busy-loop).
    for _ in 0..3 {
        assert_eq!(request(served.addr, "GET", "/hello", &[], b"").status, 200); // reload hello, evict memory-hog
    }
    assert_eq!(
        request(served.addr, "GET", "/busy-loop", &[], b"").status,
        504
    ); // evicts panic
    assert_eq!(
        request(served.addr, "GET", "/memory-hog", &[], b"").status,
        500
    ); // evicts hello
    assert_eq!(request(served.addr, "GET", "/panic", &[], b"").status, 500); // evicts busy-loop

    let refused = request(admin, "GET", "/metrics", &[], b"");
    assert_eq!(refused.status, 401, "metrics need the token");
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let metrics = request(admin, "GET", "/metrics", &[("authorization", &auth)], b"");
    assert_eq!(metrics.status, 200);
    let samples = samples(&metrics.body);
    let invocations = |function: &str, outcome: &str| {
        value(
            &samples,
            &format!(r#"edgefn_invocations_total{{function="{function}",outcome="{outcome}"}}"#),
        )
    };
    assert_eq!(invocations("hello", "ok"), 3.0);
    assert_eq!(invocations("hello", "trap"), 0.0);
    assert_eq!(invocations("busy-loop", "timeout"), 1.0);
    assert_eq!(invocations("memory-hog", "memory"), 1.0);
    assert_eq!(invocations("panic", "trap"), 1.0);
    assert_eq!(invocations("panic", "ok"), 0.0);

    let hello = r#"{function="hello"}"#;
    assert_eq!(
        value(
            &samples,
            &format!("edgefn_invocation_duration_seconds_count{hello}")
        ),
        3.0
    );
    let sum = value(
        &samples,
        &format!("edgefn_invocation_duration_seconds_sum{hello}"),
    );
    assert!(sum > 0.0 && sum < 1.0, "three hellos took {sum} s in all");
    let busy = value(
        &samples,
        r#"edgefn_invocation_duration_seconds_sum{function="busy-loop"}"#,
    );
    assert!(
        (0.3..5.0).contains(&busy),
        "the timeout is counted at its deadline: {busy} s"
    );
    // A histogram: the +Inf bucket holds every observation.
    assert_eq!(
        value(
            &samples,
            r#"edgefn_invocation_duration_seconds_bucket{le="+Inf",function="hello"}"#
        ),
        3.0
    );
    assert_eq!(
        value(
            &samples,
            &format!("edgefn_instantiation_duration_seconds_count{hello}")
        ),
        3.0
    );

    assert_eq!(
        value(
            &samples,
            r#"edgefn_artifact_cache_total{result="compiled"}"#
        ),
        4.0
    );
    assert_eq!(
        value(&samples, r#"edgefn_artifact_cache_total{result="hit"}"#),
        4.0
    );
    assert_eq!(value(&samples, "edgefn_functions_loaded"), 2.0);
    assert_eq!(value(&samples, "edgefn_functions_evicted_total"), 6.0);
    assert_eq!(value(&samples, "edgefn_functions_deployed"), 4.0);
}

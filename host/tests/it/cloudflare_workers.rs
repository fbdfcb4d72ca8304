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

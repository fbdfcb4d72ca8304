//! `edgefn serve --watch`: a changed module or manifest is hot-reloaded while requests keep
//! flowing, with no failed request during the swap; a broken module is refused and the previous
//! version keeps serving.

use crate::common;
use crate::dx_support;

use dx_support::{Load, Served, get};
use std::path::Path;
use std::time::{Duration, Instant};

const HELLO_BODY: &str = "Hello from swap on local!\n";

/// Replaces `path` the way a build tool does: write beside it, then rename over it.
fn replace(path: &Path, bytes: &[u8]) {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, bytes).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

/// Polls `path` on the host until `done` accepts the body, bounded.
fn wait_until(served: &Served, path: &str, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let (status, body) = get(served.addr, path);
        if status == 200 && done(&body) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no reload within 30 s (last: {status} {body:?}); log:\n{}",
            served.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_changed_module_is_swapped_in_with_no_failed_request() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("swap.wasm");
    std::fs::copy(common::guest("hello"), &wasm).unwrap();
    let cache = common::shared_cache_dir();
    let served = Served::start(
        &[
            wasm.to_str().unwrap(),
            "--watch",
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
        &[],
        Duration::from_secs(60),
    );
    served.wait_for_lines("watching ", 1, Duration::from_secs(10));
    assert_eq!(get(served.addr, "/swap"), (200, HELLO_BODY.to_owned()));

    // Steady requests from two clients through the swap.
    let load = Load::start(served.addr, "/swap", 2);
    std::thread::sleep(Duration::from_millis(500));
    replace(&wasm, &std::fs::read(common::guest("config")).unwrap());
    wait_until(&served, "/swap", |body| body.contains("\"greeting\""));
    std::thread::sleep(Duration::from_millis(500));
    let seen = load.finish();

    let total: usize = seen.iter().map(Vec::len).sum();
    assert!(
        total > 20,
        "the load kept going through the swap ({total} requests)"
    );
    for replies in &seen {
        for (status, body) in replies {
            assert_eq!(*status, 200, "a request failed during the swap: {body}");
        }
        // Each client sees the old version, then the new one, never the old one again.
        let first_new = replies
            .iter()
            .position(|(_, b)| b != HELLO_BODY)
            .unwrap_or(replies.len());
        assert!(
            replies[first_new..].iter().all(|(_, b)| b != HELLO_BODY),
            "a client saw the old version after the new one"
        );
    }
    assert!(
        seen.iter().flatten().any(|(_, b)| b == HELLO_BODY)
            && seen
                .iter()
                .flatten()
                .any(|(_, b)| b.contains("\"greeting\"")),
        "the load saw both versions"
    );
    served.wait_for_lines("reloaded in ", 1, Duration::from_secs(5));

    // A broken module is refused; the running version keeps answering.
    let load = Load::start(served.addr, "/swap", 2);
    replace(&wasm, b"\0asm this is not a module");
    let started = Instant::now();
    while !served
        .log()
        .contains("not reloaded; the previous version keeps serving")
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the broken module was not reported:\n{}",
            served.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = load.finish();
    assert!(
        seen.iter()
            .flatten()
            .all(|(status, body)| *status == 200 && body.contains("\"greeting\"")),
        "the previous version kept serving"
    );

    // Fixing it reloads again.
    replace(&wasm, &std::fs::read(common::guest("hello")).unwrap());
    assert_eq!(
        wait_until(&served, "/swap", |b| b == HELLO_BODY),
        HELLO_BODY
    );
}

#[test]
fn a_changed_manifest_is_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("edgefn.toml");
    let config = common::guest("config");
    let write = |greeting: &str| {
        replace(
            &manifest,
            format!(
                "[[function]]\nname = \"config\"\nwasm = {:?}\nenv = {{ GREETING = {greeting:?} }}\n",
                config.display().to_string()
            )
            .as_bytes(),
        )
    };
    write("first");
    let cache = common::shared_cache_dir();
    let served = Served::start(
        &[
            manifest.to_str().unwrap(),
            "--watch",
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
        &[],
        Duration::from_secs(60),
    );
    served.wait_for_lines("watching ", 1, Duration::from_secs(10));
    assert!(get(served.addr, "/config").1.contains("\"first\""));
    let load = Load::start(served.addr, "/config", 2);
    write("second");
    wait_until(&served, "/config", |body| body.contains("\"second\""));
    let seen = load.finish();
    assert!(
        seen.iter().flatten().all(|(status, _)| *status == 200),
        "no request failed while the manifest was reloaded"
    );
    served.wait_for_lines("reloaded in ", 1, Duration::from_secs(5));
    assert!(
        served
            .stdout()
            .iter()
            .any(|l| l.contains("new version of config")),
        "{:?}",
        served.stdout()
    );
}

//! Noisy neighbours: how long a well-behaved function's requests take while guests that never
//! finish (`busy-loop`, stopped only by its deadline) keep the workers busy.
//!
//! Usage: noisy_neighbour EDGEFN GUESTS_DIR BUSY REQUESTS [SERVE_ARGS...]
//! Serves `hello` and `busy-loop` (deadline 2 s) with `edgefn serve` and the extra arguments, sends
//! REQUESTS sequential GETs to `/hello`, each on a new connection (so the accept path is measured
//! too), first alone, then with BUSY requests to `/busy-loop` always in flight. Prints one JSON
//! line with both latency distributions and the error count.

use edgefn_bench::{KeepAlive, free_port, report, summarize};
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() >= 5,
        "usage: noisy_neighbour EDGEFN GUESTS_DIR BUSY REQUESTS [SERVE_ARGS...]"
    );
    let edgefn = &args[1];
    // The manifest lives in a temporary folder and resolves paths from there.
    let guests = std::fs::canonicalize(&args[2])?.display().to_string();
    let busy: usize = args[3].parse()?;
    let requests: usize = args[4].parse()?;
    let extra = &args[5..];

    let dir = tempfile::tempdir()?;
    let manifest = dir.path().join("noisy.toml");
    let mut file = std::fs::File::create(&manifest)?;
    write!(
        file,
        "[[function]]\nname = \"hello\"\nwasm = \"{guests}/hello.wasm\"\n\n\
         [[function]]\nname = \"busy-loop\"\nwasm = \"{guests}/busy-loop.wasm\"\n\
         limits = {{ deadline_ms = 2000 }}\n"
    )?;
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(edgefn)
        .arg("serve")
        .arg("--listen")
        .arg(&addr)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .args(extra)
        .arg(&manifest)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let ready = Instant::now();
    while KeepAlive::connect(&addr)
        .and_then(|mut c| c.get("/hello"))
        .map(|(status, _)| status != 200)
        .unwrap_or(true)
    {
        anyhow::ensure!(
            ready.elapsed() < Duration::from_secs(60),
            "edgefn did not serve /hello"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let hello = |count: usize| {
        let mut samples = Vec::with_capacity(count);
        let mut errors = 0;
        for _ in 0..count {
            let started = Instant::now();
            match KeepAlive::connect(&addr).and_then(|mut c| c.get("/hello")) {
                Ok((200, _)) => {}
                _ => errors += 1,
            }
            samples.push(started.elapsed());
        }
        (samples, errors)
    };
    let (mut unloaded, unloaded_errors) = hello(requests);

    let stop = Arc::new(AtomicBool::new(false));
    let busy_answers = Arc::new(AtomicUsize::new(0));
    let attackers: Vec<_> = (0..busy)
        .map(|_| {
            let (stop, answers, addr) = (stop.clone(), busy_answers.clone(), addr.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(mut client) = KeepAlive::connect(&addr)
                        && let Ok((504, _)) = client.get("/busy-loop")
                    {
                        answers.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    // Let every busy request reach its guest before measuring.
    std::thread::sleep(Duration::from_millis(300));
    let (mut loaded, loaded_errors) = hello(requests);
    stop.store(true, Ordering::Relaxed);
    for attacker in attackers {
        let _ = attacker.join();
    }
    let _ = child.kill();
    let _ = child.wait();

    let (u, l) = (summarize(&mut unloaded), summarize(&mut loaded));
    report(
        "noisy_neighbour",
        serde_json::json!({
            "serve_args": extra.join(" "),
            "busy": busy,
            "requests": requests,
            "unloaded_p50_ms": u.p50_us / 1e3,
            "unloaded_p99_ms": u.p99_us / 1e3,
            "loaded_p50_ms": l.p50_us / 1e3,
            "loaded_p99_ms": l.p99_us / 1e3,
            "errors": unloaded_errors + loaded_errors,
            "busy_requests_stopped": busy_answers.load(Ordering::Relaxed),
        }),
    );
    Ok(())
}

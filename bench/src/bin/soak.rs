//! Soak: a long mixed load (well-behaved and hostile functions) against one `edgefn serve`,
//! sampling its resident memory, to show that nothing leaks and well-behaved requests never fail.
//!
//! Usage: soak EDGEFN_BINARY GUESTS_DIR [SECONDS]

use edgefn_bench::{KeepAlive, free_port, report, rss_kib, summarize};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Seconds between memory samples.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let edgefn = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "target/release/edgefn".into());
    let guests = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "target/guests".into());
    let seconds: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(600);
    let dir = tempfile::tempdir()?;
    let manifest = format!(
        r#"
[[function]]
name = "hello"
wasm = "{g}/hello.wasm"
[[function]]
name = "echo"
wasm = "{g}/echo.wasm"
[[function]]
name = "busy-loop"
wasm = "{g}/busy-loop.wasm"
limits = {{ deadline_ms = 100 }}
[[function]]
name = "memory-hog"
wasm = "{g}/memory-hog.wasm"
limits = {{ memory_mb = 64 }}
[[function]]
name = "panic"
wasm = "{g}/panic.wasm"
[[function]]
name = "log-flood"
wasm = "{g}/log-flood.wasm"
"#,
        g = std::fs::canonicalize(&guests)?.display()
    );
    std::fs::write(dir.path().join("soak.toml"), manifest)?;
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(&edgefn)
        .args(["serve", "--listen", &addr, "--cache-dir"])
        .arg(dir.path().join("cache"))
        .arg(dir.path().join("soak.toml"))
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        if line?.starts_with("edgefn listening on") {
            break;
        }
    }
    let pid = child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let good_ok = Arc::new(AtomicU64::new(0));
    let good_failed = Arc::new(AtomicU64::new(0));
    let hostile_done = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for worker in 0..4 {
        let (stop, ok, failed, addr) = (
            stop.clone(),
            good_ok.clone(),
            good_failed.clone(),
            addr.clone(),
        );
        workers.push(std::thread::spawn(move || {
            let mut latencies = Vec::new();
            let mut client = KeepAlive::connect(&addr).expect("connect");
            let path = if worker % 2 == 0 {
                "/hello"
            } else {
                "/echo/soak?x=1"
            };
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                match client.get(path) {
                    Ok((200, _)) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        if latencies.len() < 2_000_000 {
                            latencies.push(started.elapsed());
                        }
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        client = KeepAlive::connect(&addr).expect("reconnect");
                    }
                }
            }
            latencies
        }));
    }
    let hostile: Vec<_> = [
        "/busy-loop",
        "/memory-hog",
        "/panic",
        "/log-flood?lines=5000",
    ]
    .into_iter()
    .map(|path| {
        let (stop, done, addr) = (stop.clone(), hostile_done.clone(), addr.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(mut client) = KeepAlive::connect(&addr) {
                    let _ = client.get(path);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    })
    .collect();
    let started = Instant::now();
    let mut rss = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(SAMPLE_EVERY.min(Duration::from_secs(seconds)));
        let sample = rss_kib(pid);
        eprintln!(
            "soak {:>4}s: rss {} MiB, well-behaved ok {} failed {}, hostile {}",
            started.elapsed().as_secs(),
            sample / 1024,
            good_ok.load(Ordering::Relaxed),
            good_failed.load(Ordering::Relaxed),
            hostile_done.load(Ordering::Relaxed)
        );
        rss.push(sample);
    }
    stop.store(true, Ordering::Relaxed);
    let mut latencies: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    for h in hostile {
        h.join().unwrap();
    }
    let _ = child.kill();
    let _ = child.wait();
    let s = summarize(&mut latencies);
    let third = rss.len() / 3;
    report(
        "soak",
        serde_json::json!({
            "seconds": seconds,
            "well_behaved_ok": good_ok.load(Ordering::Relaxed),
            "well_behaved_failed": good_failed.load(Ordering::Relaxed),
            "hostile_requests": hostile_done.load(Ordering::Relaxed),
            "latency_p50_us": s.p50_us,
            "latency_p99_us": s.p99_us,
            "rss_first_mib": rss.first().copied().unwrap_or(0) as f64 / 1024.0,
            "rss_max_first_third_mib": rss[..third.max(1)].iter().max().copied().unwrap_or(0) as f64 / 1024.0,
            "rss_max_last_third_mib": rss[rss.len() - third.max(1)..].iter().max().copied().unwrap_or(0) as f64 / 1024.0,
            "rss_last_mib": rss.last().copied().unwrap_or(0) as f64 / 1024.0,
            "rss_samples_mib": rss.iter().map(|k| k / 1024).collect::<Vec<_>>(),
        }),
    );
    Ok(())
}

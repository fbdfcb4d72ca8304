//! Density: deploy many distinct functions (generated variants of the minimal ABI guest) on one
//! host with a bounded number loaded, then report deploy time, resident memory, and the latency of
//! a first hit on an evicted function against a hit on a loaded one.
//!
//! Usage: density EDGEFN_BINARY [FUNCTIONS] [MAX_LOADED]

use edgefn_bench::{KeepAlive, free_port, report, rss_kib, summarize};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MINIMAL_WAT: &str = include_str!("../../guests/minimal.wat");

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let edgefn = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "target/release/edgefn".into());
    let functions: usize = args
        .get(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let max_loaded: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(200);
    let dir = tempfile::tempdir()?;
    let mut manifest = String::new();
    let generated = Instant::now();
    for i in 0..functions {
        // A different body makes every module distinct (its own hash, artifact and memory image).
        let body = format!("hello from {i:05}\n");
        let wat = MINIMAL_WAT
            .replace("hello, edgefn\\n", &body.replace('\n', "\\n"))
            .replace(
                "\\0e\\00\\00\\00",
                &format!("\\{:02x}\\00\\00\\00", body.len()),
            )
            .replace(
                "(i64.const 30)",
                &format!("(i64.const {})", 16 + body.len()),
            );
        let path = dir.path().join(format!("fn{i:05}.wasm"));
        std::fs::write(&path, wat::parse_str(&wat)?)?;
        manifest.push_str(&format!(
            "[[function]]\nname = \"fn{i:05}\"\nwasm = \"{}\"\n",
            path.display()
        ));
    }
    eprintln!("generated {functions} modules in {:?}", generated.elapsed());
    let manifest_path = dir.path().join("edgefn.toml");
    std::fs::write(&manifest_path, manifest)?;
    let addr = format!("127.0.0.1:{}", free_port());
    let cache = dir.path().join("cache");

    let deploy = |label: &str| -> anyhow::Result<(std::process::Child, Duration)> {
        let started = Instant::now();
        let mut child = Command::new(&edgefn)
            .args([
                "serve",
                "--listen",
                &addr,
                "--max-loaded",
                &max_loaded.to_string(),
                "--cache-dir",
            ])
            .arg(&cache)
            .arg(&manifest_path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        for line in BufReader::new(stdout).lines() {
            if line?.starts_with("edgefn listening on") {
                break;
            }
        }
        let took = started.elapsed();
        eprintln!("{label}: deployed {functions} functions in {took:?}");
        Ok((child, took))
    };
    // First start compiles everything; the second (measured) loads artifacts from the cache.
    let (mut first, compile_time) = deploy("empty cache")?;
    let _ = first.kill();
    let _ = first.wait();
    let (mut child, deploy_time) = deploy("warm cache")?;
    let pid = child.id();
    let rss_after_deploy = rss_kib(pid);

    let mut client = KeepAlive::connect(&addr)?;
    let mut all_hits = Vec::with_capacity(functions);
    for i in 0..functions {
        let started = Instant::now();
        let (status, body) = client.get(&format!("/fn{i:05}"))?;
        all_hits.push(started.elapsed());
        anyhow::ensure!(
            status == 200 && body == format!("hello from {i:05}\n").as_bytes(),
            "fn{i:05} answered {status}"
        );
    }
    let rss_after_all = rss_kib(pid);
    // The first functions were evicted long ago: each hit reloads from the artifact cache.
    let mut evicted = Vec::new();
    for i in 0..200.min(functions) {
        let started = Instant::now();
        client.get(&format!("/fn{i:05}"))?;
        evicted.push(started.elapsed());
    }
    // The most recent ones are loaded.
    let mut loaded = Vec::new();
    for i in functions.saturating_sub(100)..functions {
        let started = Instant::now();
        client.get(&format!("/fn{i:05}"))?;
        loaded.push(started.elapsed());
    }
    let rss_end = rss_kib(pid);
    let _ = child.kill();
    let _ = child.wait();
    let (e, l, a) = (
        summarize(&mut evicted),
        summarize(&mut loaded),
        summarize(&mut all_hits),
    );
    report(
        "density",
        serde_json::json!({
            "functions": functions,
            "max_loaded": max_loaded,
            "deploy_empty_cache_s": compile_time.as_secs_f64(),
            "deploy_warm_cache_s": deploy_time.as_secs_f64(),
            "rss_after_deploy_mib": rss_after_deploy as f64 / 1024.0,
            "rss_after_hitting_all_mib": rss_after_all as f64 / 1024.0,
            "rss_end_mib": rss_end as f64 / 1024.0,
            "first_hit_evicted_p50_us": e.p50_us,
            "first_hit_evicted_p99_us": e.p99_us,
            "hit_loaded_p50_us": l.p50_us,
            "hit_loaded_p99_us": l.p99_us,
            "sweep_all_p50_us": a.p50_us,
        }),
    );
    Ok(())
}

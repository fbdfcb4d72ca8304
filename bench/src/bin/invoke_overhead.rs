//! In-process invocation overhead: WASI context + store + instantiate + call + teardown, no HTTP.
//!
//! Usage: invoke_overhead WASM [ITERATIONS] [ALLOCATOR] [MODE] [INIT]
//! ALLOCATOR: pagemap (pooling + PAGEMAP_SCAN), pooling (without it), ondemand.
//! MODE: fresh (a new instance per invocation, the default) or warm (instances reused).
//! INIT, for a guest that exports `edgefn_v1_init`: preinit (snapshotted at deploy, the default)
//! or per-instance (`preinit = false`: every new instance runs it).

use bytes::Bytes;
use edgefn_bench::{report, summarize};
use edgefn_host::runtime::engine::{EngineOptions, HostEngine};
use edgefn_host::runtime::guest::invoke;
use edgefn_host::runtime::spec::FunctionSpec;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let wasm = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("target/guests/hello.wasm");
    let iterations: usize = edgefn_bench::arg(&args, 2, 20_000)?;
    let allocator = args.get(3).map(String::as_str).unwrap_or("pagemap");
    let mode = args.get(4).map(String::as_str).unwrap_or("fresh");
    let init = args.get(5).map(String::as_str).unwrap_or("preinit");
    let options = match allocator {
        "pagemap" => EngineOptions::default(),
        "pooling" => EngineOptions {
            pagemap_scan: false,
            ..EngineOptions::default()
        },
        "ondemand" => EngineOptions {
            pool_slots: 0,
            ..EngineOptions::default()
        },
        other => anyhow::bail!("unknown allocator {other:?}: use pagemap, pooling or ondemand"),
    };
    let engine_started = Instant::now();
    let engine = HostEngine::new(&options)?;
    let engine_ms = engine_started.elapsed().as_secs_f64() * 1e3;
    let cache = tempfile::tempdir()?;
    let registry = edgefn_bench::registry(&engine, cache.path())?;
    // A .wat file (the minimal ABI guest) is assembled to a temporary .wasm first.
    let wasm_path = if wasm.ends_with(".wat") {
        let path = cache.path().join("minimal.wasm");
        std::fs::write(&path, wat::parse_file(wasm)?)?;
        path
    } else {
        wasm.into()
    };
    let warm = match mode {
        "fresh" => None,
        "warm" => Some(Default::default()),
        other => anyhow::bail!("unknown mode {other:?}: fresh or warm"),
    };
    let preinit = match init {
        "preinit" => true,
        "per-instance" => false,
        other => anyhow::bail!("unknown init {other:?}: preinit or per-instance"),
    };
    let spec = FunctionSpec::from_wasm_path(&wasm_path)?
        .with_warm(warm)?
        .with_preinit(preinit);
    let deploy_started = Instant::now();
    let deployed = registry.prepare(spec)?;
    let deploy_ms = deploy_started.elapsed().as_secs_f64() * 1e3;
    let resident = registry.resident_blocking(&deployed)?;
    let request = http::Request::builder()
        .uri("/hello")
        .header("host", "localhost")
        .header("user-agent", "bench")
        .body(Bytes::new())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut samples = Vec::with_capacity(iterations);
    let mut first_us = 0.0;
    runtime.block_on(async {
        let cx = edgefn_bench::context();
        // The first invocation after deploy, on its own: what a function's first user waits for.
        let started = Instant::now();
        invoke(&resident.function, &request, &cx)
            .await
            .expect("invocation");
        first_us = started.elapsed().as_secs_f64() * 1e6;
        // Warm up caches and the pool's slots before measuring.
        for _ in 0..iterations / 10 {
            invoke(&resident.function, &request, &cx)
                .await
                .expect("invocation");
        }
        for _ in 0..iterations {
            let started = Instant::now();
            let response = invoke(&resident.function, &request, &cx)
                .await
                .expect("invocation");
            samples.push(started.elapsed());
            assert_eq!(response.status(), 200);
            std::hint::black_box(response);
        }
    });
    let s = summarize(&mut samples);
    report(
        "invoke_overhead",
        serde_json::json!({
            "allocator": engine.allocator.as_str(),
            "requested": allocator,
            "mode": mode,
            "preinitialized": deployed.preinit,
            "engine_new_ms": engine_ms,
            "deploy_ms": deploy_ms,
            "first_us": first_us,
            "wasm": wasm,
            "iterations": s.count,
            "p50_us": s.p50_us, "p90_us": s.p90_us, "p99_us": s.p99_us, "mean_us": s.mean_us,
        }),
    );
    Ok(())
}

//! In-process cost of one outbound HTTP call: a guest's `edgefn_v1.http_send` against hyper's
//! pooling client making the same GET, both on one current-thread runtime (as a host worker), one
//! call at a time, to an upstream on its own thread in this process. The CPU time counted is the
//! calling thread's (user and kernel, from `/proc/thread-self/schedstat`), so neither the upstream
//! nor a load generator is in it, and no other process takes turns on its core: what is left is
//! the work each client does per call, the loopback writes included.
//!
//! Usage: outbound_call WASM [ITERATIONS] [ROUNDS] [ONLY]
//! ONLY=guest-call, guest-no-call or native-call runs that alone (for a profile of it).
//! WASM answers a GET with an `x-call-url` header by calling that URL (bench/guests/abi-outbound,
//! guests/fixtures/rust/outbound), and a GET without it at once.

use bytes::Bytes;
use edgefn_host::runtime::capabilities::outbound_http::policy::OutboundPolicy;
use edgefn_host::runtime::engine::{EngineOptions, HostEngine};
use edgefn_host::runtime::guest::invoke;
use edgefn_host::runtime::spec::FunctionSpec;
use http_body_util::{BodyExt, Full};
use std::convert::Infallible;
use std::time::{Duration, Instant};

/// The calling thread's CPU time so far (user and kernel).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// A hello-world upstream on its own thread and runtime; returns its address.
fn start_upstream() -> anyhow::Result<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    std::thread::Builder::new()
        .name("upstream".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("upstream runtime");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("upstream listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(|_| async {
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"Hello, edgefn!\n"),
                            )))
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        })?;
    Ok(addr)
}

/// Mean wall time and thread CPU time per run of `one`, after a tenth as many unmeasured runs.
async fn measure<F: std::future::Future<Output = ()>>(
    iterations: usize,
    mut one: impl FnMut() -> F,
) -> (f64, f64) {
    for _ in 0..iterations / 10 {
        one().await;
    }
    let (wall, cpu) = (Instant::now(), thread_cpu());
    for _ in 0..iterations {
        one().await;
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / iterations as f64;
    (per(wall.elapsed()), per(thread_cpu() - cpu))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let wasm = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("target/wasm32-wasip1/guest/abi_outbound.wasm");
    let iterations: usize = edgefn_bench::arg(&args, 2, 20_000)?;
    let rounds: usize = edgefn_bench::arg(&args, 3, 3)?;
    let only = args.get(4).map(String::as_str);
    if !matches!(
        only,
        None | Some("guest-call" | "guest-no-call" | "native-call")
    ) {
        anyhow::bail!(
            "unknown ONLY {only:?}: guest-call, guest-no-call or native-call, or leave it out"
        );
    }
    let upstream = start_upstream()?;
    let url = format!("http://{upstream}/");

    let engine = HostEngine::new(&EngineOptions::default())?;
    let cache = tempfile::tempdir()?;
    let registry = edgefn_bench::registry(&engine, cache.path())?;
    let mut policy =
        OutboundPolicy::default().with_allowed_hosts([format!("http://{upstream}")])?;
    policy.allow_private_networks = true;
    let spec = FunctionSpec::from_wasm_path(wasm.as_ref())?.with_outbound(policy)?;
    let deployed = registry.prepare(spec)?;
    let resident = registry.resident_blocking(&deployed)?;
    let request = |call: bool| {
        let mut builder = http::Request::builder()
            .uri("/abi-outbound")
            .header("host", "localhost");
        if call {
            builder = builder.header("x-call-url", url.as_str());
        }
        builder.body(Bytes::new()).expect("request")
    };
    let (no_call, with_call) = (request(false), request(true));
    let native: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let upstream_uri: http::Uri = url.parse()?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let cx = &edgefn_bench::context();
        let function = &resident.function;
        let native_call = || async {
            let response = native.get(upstream_uri.clone()).await.expect("native call");
            let body = response.into_body().collect().await.expect("native body");
            std::hint::black_box(body.to_bytes());
        };
        let guest = |request, status| async move {
            let response = invoke(function, request, cx).await.expect("invocation");
            assert_eq!(
                response.status(),
                status,
                "the guest did not answer as planned"
            );
            std::hint::black_box(response);
        };
        for round in 1..=rounds {
            match only {
                Some("guest-call") => {
                    measure(iterations, || guest(&with_call, 200)).await;
                    continue;
                }
                Some("guest-no-call") => {
                    measure(iterations, || guest(&no_call, 400)).await;
                    continue;
                }
                Some(_) => {
                    measure(iterations, native_call).await;
                    continue;
                }
                None => {}
            }
            let native_call = measure(iterations, native_call).await;
            let guest_no_call = measure(iterations, || guest(&no_call, 400)).await;
            let guest_call = measure(iterations, || guest(&with_call, 200)).await;
            edgefn_bench::report(
                "outbound_call",
                serde_json::json!({
                    "wasm": wasm,
                    "round": round,
                    "iterations": iterations,
                    "native_call_cpu_us": native_call.1,
                    "native_call_wall_us": native_call.0,
                    "guest_no_call_cpu_us": guest_no_call.1,
                    "guest_call_cpu_us": guest_call.1,
                    "guest_call_wall_us": guest_call.0,
                    "guest_call_cost_cpu_us": guest_call.1 - guest_no_call.1,
                    "ratio_to_native": (guest_call.1 - guest_no_call.1) / native_call.1,
                }),
            );
        }
    });
    Ok(())
}

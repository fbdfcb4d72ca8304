//! In-process cost of one outbound HTTP call: a guest's `edgefn_v1.http_send` against hyper's
//! pooling client making the same GET, both on one current-thread runtime (as a host worker), one
//! call at a time, to an upstream on its own thread in this process. The CPU time counted is the
//! calling thread's (user and kernel, `CLOCK_THREAD_CPUTIME_ID`), so neither the upstream nor a
//! load generator is in it, and no other process takes turns on its core: what is left is the
//! work each client does per call, the loopback writes included.
//!
//! Four modes take turns in short blocks: hyper's call alone, the guest answering at once (no
//! call), the guest making the call, and the guest answering at once followed by hyper's call.
//! Two figures come of them:
//! - the cost of the call, the guest with the call less the guest without it, against hyper's
//!   call alone (`ratio_to_native`);
//! - what edgefn adds to a request that makes the call, the guest with the call less the guest
//!   without it followed by hyper's call (`added_share_of_native`, a share of hyper's call). This
//!   one compares like with like: in both, an exchange with the upstream (and its thread's turn on
//!   the core) comes between one instance and the next, which makes the next instance's set-up
//!   slower than in a run of guests that make no call; the first figure counts that slowdown as
//!   the call's.
//!
//! Usage: outbound_call WASM [ITERATIONS] [ROUNDS] [ONLY]
//! ONLY=native-call, guest-no-call, guest-call or guest-no-call-then-native runs that mode alone
//! and prints nothing (for a profile of it).
//! WASM answers a GET with an `x-call-url` header by calling that URL (bench/guests/abi-outbound,
//! guests/fixtures/rust/outbound), and a GET without it at once.

use bytes::Bytes;
use edgefn_host::runtime::capabilities::outbound_http::policy::OutboundPolicy;
use edgefn_host::runtime::engine::{EngineOptions, HostEngine};
use edgefn_host::runtime::guest::invoke;
use edgefn_host::runtime::spec::FunctionSpec;
use http_body_util::{BodyExt, Full};
use std::convert::Infallible;
use std::time::Duration;

/// The calling thread's CPU time so far (user and kernel), exact to now: `schedstat` would be
/// stale by up to a scheduler tick for a thread that has not been switched out since, which in
/// blocks shorter than a tick moves one mode's time into the next.
fn thread_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    #[allow(unsafe_code, reason = "clock_gettime is a libc call")]
    // SAFETY: `now` is a valid, writable timespec for the call to fill.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
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

/// What one measured run does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// hyper's pooling client makes the call.
    NativeCall,
    /// The guest answers at once (400), with no call.
    GuestNoCall,
    /// The guest makes the call through `edgefn_v1.http_send`.
    GuestCall,
    /// The guest answers at once, then hyper's client makes the call: the same work as
    /// `GuestCall` but for the call going through the guest.
    GuestNoCallThenNative,
}

const MODES: [Mode; 4] = [
    Mode::NativeCall,
    Mode::GuestNoCall,
    Mode::GuestCall,
    Mode::GuestNoCallThenNative,
];

impl Mode {
    /// The name ONLY takes.
    fn name(self) -> &'static str {
        match self {
            Mode::NativeCall => "native-call",
            Mode::GuestNoCall => "guest-no-call",
            Mode::GuestCall => "guest-call",
            Mode::GuestNoCallThenNative => "guest-no-call-then-native",
        }
    }
}

/// Mean thread CPU time per run of each mode, in µs. The modes take turns in blocks of a
/// hundredth of the iterations, so a drift in the machine's speed (the neighbours of a shared
/// host come and go) falls on all of them alike; a tenth as many unmeasured runs come first.
async fn measure<F: std::future::Future<Output = ()>>(
    iterations: usize,
    modes: &[Mode],
    mut one: impl FnMut(Mode) -> F,
) -> Vec<f64> {
    for &mode in modes {
        for _ in 0..iterations / 10 {
            one(mode).await;
        }
    }
    let blocks = 100.min(iterations.max(1));
    let mut cpu = vec![Duration::ZERO; modes.len()];
    for block in 0..blocks {
        let runs = iterations / blocks + usize::from(block < iterations % blocks);
        for (index, &mode) in modes.iter().enumerate() {
            let before = thread_cpu();
            for _ in 0..runs {
                one(mode).await;
            }
            cpu[index] += thread_cpu() - before;
        }
    }
    cpu.iter()
        .map(|d| d.as_secs_f64() * 1e6 / iterations as f64)
        .collect()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let wasm = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("target/wasm32-wasip1/guest/abi_outbound.wasm");
    let iterations: usize = edgefn_bench::arg(&args, 2, 20_000)?;
    let rounds: usize = edgefn_bench::arg(&args, 3, 3)?;
    let only = args
        .get(4)
        .map(|name| {
            MODES
                .into_iter()
                .find(|mode| mode.name() == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = MODES.iter().map(|mode| mode.name()).collect();
                    anyhow::anyhow!(
                        "unknown ONLY {name:?}: one of {}, or leave it out",
                        names.join(", ")
                    )
                })
        })
        .transpose()?;
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
        let (native_call, guest, no_call, with_call) = (&native_call, &guest, &no_call, &with_call);
        let one = |mode| async move {
            match mode {
                Mode::NativeCall => native_call().await,
                Mode::GuestNoCall => guest(no_call, 400).await,
                Mode::GuestCall => guest(with_call, 200).await,
                Mode::GuestNoCallThenNative => {
                    guest(no_call, 400).await;
                    native_call().await;
                }
            }
        };
        for round in 1..=rounds {
            if let Some(mode) = only {
                measure(iterations, &[mode], one).await;
                continue;
            }
            let cpu = measure(iterations, &MODES, one).await;
            let [native, no_call, call, no_call_then_native] = cpu[..] else {
                unreachable!("one figure per mode")
            };
            edgefn_bench::report(
                "outbound_call",
                serde_json::json!({
                    "wasm": wasm,
                    "round": round,
                    "iterations": iterations,
                    "native_call_cpu_us": native,
                    "guest_no_call_cpu_us": no_call,
                    "guest_call_cpu_us": call,
                    "guest_no_call_then_native_cpu_us": no_call_then_native,
                    "guest_call_cost_cpu_us": call - no_call,
                    "ratio_to_native": (call - no_call) / native,
                    "added_over_native_cpu_us": call - no_call_then_native,
                    "added_share_of_native": (call - no_call_then_native) / native,
                }),
            );
        }
    });
    Ok(())
}

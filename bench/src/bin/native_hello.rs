//! The native baseline: a hyper 1.x hello-world server with no Wasm, in two layouts:
//! `per-core` (one current-thread runtime per core on a shared listener, as edgefn runs) and
//! `multi` (tokio's multi-thread runtime, the textbook hyper server). Prints its address.
//!
//! Usage: native_hello ADDR [per-core|multi]

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

async fn hello(
    _req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(
        b"Hello from native on local!\n",
    )));
    response.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

async fn accept_loop(listener: std::net::TcpListener) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(hello))
                .await;
        });
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args.get(1).map(String::as_str).unwrap_or("127.0.0.1:8090");
    let layout = args.get(2).map(String::as_str).unwrap_or("per-core");
    // Same socket layout as edgefn (SO_REUSEPORT, one socket per worker) so only the Wasm differs.
    let listener = edgefn_host::http::server::bind(addr.parse()?)?;
    println!("native listening on http://{}", listener.local_addr()?);
    let cores = std::thread::available_parallelism()?.get();
    match layout {
        "multi" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(accept_loop(listener)),
        "per-core" => {
            let bound = listener.local_addr()?;
            let mut first = Some(listener);
            let threads: Vec<_> = (0..cores)
                .map(|_| {
                    let listener = first
                        .take()
                        .unwrap_or_else(|| edgefn_host::http::server::bind(bound).expect("bind"));
                    std::thread::spawn(move || {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("runtime")
                            .block_on(accept_loop(listener))
                    })
                })
                .collect();
            for thread in threads {
                thread.join().expect("worker")?;
            }
            Ok(())
        }
        other => anyhow::bail!("unknown layout {other:?}: per-core or multi"),
    }
}

//! The native baseline: a hyper 1.x hello-world server with no Wasm, in two layouts:
//! `per-core` (one current-thread runtime per core on a shared listener, as edgefn runs) and
//! `multi` (tokio's multi-thread runtime, the textbook hyper server). Prints its address.
//! With an upstream URL it is instead the native form of a function making one outbound call:
//! each request GETs the upstream with hyper's pooling client and answers its body.
//!
//! Usage: native_hello ADDR [per-core|multi] [UPSTREAM_URL]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

/// What `/json` answers: an upstream for the example guests that parse JSON.
const JSON_DOCUMENT: &[u8] = br#"{"name":"edgefn","stars":42,"tags":["wasm","edge"]}"#;

async fn hello(
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    if req.uri().path() == "/json" {
        let mut response = hyper::Response::new(Full::new(Bytes::from_static(JSON_DOCUMENT)));
        response.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        return Ok(response);
    }
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(
        b"Hello from native on local!\n",
    )));
    response.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

/// One outbound GET per request, its body as the answer.
async fn proxy(
    client: Client,
    upstream: http::Uri,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let answer = async {
        let response = client.get(upstream).await?;
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok(body)
    };
    Ok(match answer.await {
        Ok(body) => hyper::Response::new(Full::new(body)),
        Err(error) => {
            let mut response = hyper::Response::new(Full::new(Bytes::from(error.to_string())));
            *response.status_mut() = http::StatusCode::BAD_GATEWAY;
            response
        }
    })
}

async fn accept_loop(
    listener: std::net::TcpListener,
    upstream: Option<http::Uri>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let client: Client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(
                    TokioIo::new(stream),
                    service_fn(move |request| {
                        let (client, upstream) = (client.clone(), upstream.clone());
                        async move {
                            match upstream {
                                Some(upstream) => proxy(client, upstream).await,
                                None => hello(request).await,
                            }
                        }
                    }),
                )
                .await;
        });
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args.get(1).map(String::as_str).unwrap_or("127.0.0.1:8090");
    let layout = args.get(2).map(String::as_str).unwrap_or("per-core");
    let upstream: Option<http::Uri> = args.get(3).map(|u| u.parse()).transpose()?;
    // Same socket layout as edgefn (SO_REUSEPORT, one socket per worker) so only the Wasm differs.
    let listener = edgefn_host::http::server::bind(addr.parse()?)?;
    println!("native listening on http://{}", listener.local_addr()?);
    let cores = std::thread::available_parallelism()?.get();
    match layout {
        "multi" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(accept_loop(listener, upstream)),
        "per-core" => {
            let bound = listener.local_addr()?;
            let mut first = Some(listener);
            let threads: Vec<_> = (0..cores)
                .map(|_| {
                    let listener = first
                        .take()
                        .unwrap_or_else(|| edgefn_host::http::server::bind(bound).expect("bind"));
                    let upstream = upstream.clone();
                    std::thread::spawn(move || {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("runtime")
                            .block_on(accept_loop(listener, upstream))
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

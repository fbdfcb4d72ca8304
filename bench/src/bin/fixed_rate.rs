//! An open-loop load at one fixed request rate, and the server's CPU time per request at it.
//!
//! wrk is closed-loop: each connection sends its next request when the last is answered, so a
//! slower server also runs at a lower rate, and its threads (and wrk's, and an upstream's) sleep
//! between requests more often. Every wake-up of a sleeping thread costs CPU, so comparing the
//! CPU per request of two servers at different rates mixes their work with the rate. Here every
//! server gets the same rate, spread evenly over the connections.
//!
//! Usage: fixed_rate URL RATE SECONDS CONNECTIONS SERVER_PID [NAME: VALUE]
//! Sends RATE requests per second for SECONDS over CONNECTIONS keep-alive connections (request i
//! of the run is due at i/RATE; a connection whose answer is late sends its next request as soon
//! as the answer arrives). The server's CPU time is the sum over its threads of the time they ran
//! (`/proc/PID/task/*/schedstat`), over the run less its first and last second. Prints one JSON
//! line: the rate reached, the latency from each request's sending (tokio's timer fires up to a
//! millisecond after a due time, so latency from the due time would measure the timer), requests
//! with no answer,
//! answers that are not 2xx, and the server's CPU per request.

use bytes::Bytes;
use edgefn_bench::{report, summarize};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Nanoseconds the process's threads have run on a CPU (user and kernel), now.
fn cpu_ns(pid: u32) -> anyhow::Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("schedstat");
        // A thread may exit between the listing and the read: it no longer runs.
        let Ok(stat) = std::fs::read_to_string(&path) else {
            continue;
        };
        let ran: u64 = stat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("{} is not a schedstat line", path.display()))?;
        total += ran;
    }
    Ok(total)
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    /// Requests that got no complete answer.
    errors: usize,
    /// Answers whose status is not 2xx (a server may be measured answering 400 on purpose).
    not_2xx: usize,
    /// Requests answered inside the measured window.
    in_window: usize,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() >= 6,
        "usage: fixed_rate URL RATE SECONDS CONNECTIONS SERVER_PID [NAME: VALUE]"
    );
    let uri: http::Uri = args[1].parse()?;
    let rate: f64 = args[2].parse()?;
    let seconds: u64 = args[3].parse()?;
    let connections: usize = args[4].parse()?;
    let pid: u32 = args[5].parse()?;
    anyhow::ensure!(
        seconds >= 3,
        "SECONDS must be at least 3 (the first and last are left out)"
    );
    anyhow::ensure!(
        rate > 0.0 && connections > 0,
        "RATE and CONNECTIONS must be positive"
    );
    let header = args
        .get(6)
        .map(|line| {
            let (name, value) = line
                .split_once(": ")
                .ok_or_else(|| anyhow::anyhow!("{line:?} is not `name: value`"))?;
            anyhow::Ok((
                http::HeaderName::try_from(name)?,
                http::HeaderValue::try_from(value)?,
            ))
        })
        .transpose()?;
    let authority = uri
        .authority()
        .ok_or_else(|| anyhow::anyhow!("{uri} has no host"))?
        .to_string();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let tally = Rc::new(RefCell::new(Tally::default()));
    let start = Instant::now() + Duration::from_millis(100);
    let end = start + Duration::from_secs(seconds);
    let window = (start + Duration::from_secs(1), end - Duration::from_secs(1));
    let interval = Duration::from_secs_f64(connections as f64 / rate);
    let cpu = local.block_on(&runtime, async {
        for index in 0..connections {
            let stream = tokio::net::TcpStream::connect(&authority).await?;
            stream.set_nodelay(true)?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::task::spawn_local(connection);
            let (header, tally, host) = (header.clone(), tally.clone(), authority.clone());
            let path = uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
            let first = start + Duration::from_secs_f64(index as f64 / rate);
            tokio::task::spawn_local(async move {
                let mut due = first;
                while due < end {
                    tokio::time::sleep_until(due.into()).await;
                    // The low-level client sends the target as given and no Host of its own.
                    let mut request = http::Request::get(path.clone()).header("host", &host);
                    if let Some((name, value)) = &header {
                        request = request.header(name, value);
                    }
                    let request = request
                        .body(Empty::<Bytes>::new())
                        .expect("a valid request");
                    let sent = Instant::now();
                    let status = match sender.send_request(request).await {
                        Ok(response) => {
                            let status = response.status();
                            response.into_body().collect().await.ok().map(|_| status)
                        }
                        Err(_) => None,
                    };
                    let done = Instant::now();
                    {
                        let mut tally = tally.borrow_mut();
                        tally.latencies.push(done - sent);
                        match status {
                            None => tally.errors += 1,
                            Some(status) if !status.is_success() => tally.not_2xx += 1,
                            Some(_) => {}
                        }
                        if done >= window.0 && done < window.1 {
                            tally.in_window += 1;
                        }
                    }
                    due += interval;
                    if sender.ready().await.is_err() {
                        tally.borrow_mut().errors += 1;
                        return;
                    }
                }
            });
        }
        tokio::time::sleep_until(window.0.into()).await;
        let before = cpu_ns(pid)?;
        tokio::time::sleep_until(window.1.into()).await;
        let after = cpu_ns(pid)?;
        tokio::time::sleep_until((end + Duration::from_secs(2)).into()).await;
        anyhow::Ok(after - before)
    })?;
    let mut tally = tally.borrow_mut();
    anyhow::ensure!(!tally.latencies.is_empty(), "no request was answered");
    let window_seconds = (window.1 - window.0).as_secs_f64();
    let in_window = tally.in_window;
    let latency = summarize(&mut tally.latencies);
    report(
        "fixed-rate",
        serde_json::json!({
            "url": uri.to_string(),
            "rate_target": rate,
            "rate": (in_window as f64 / window_seconds).round(),
            "errors": tally.errors,
            "not_2xx": tally.not_2xx,
            "p50_us": latency.p50_us.round(),
            "p99_us": latency.p99_us.round(),
            "server_cpu_us_per_request": (cpu as f64 / 1e3 / in_window.max(1) as f64 * 100.0).round() / 100.0,
        }),
    );
    Ok(())
}

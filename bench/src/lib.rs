//! Shared pieces of the benchmark binaries: percentiles and result lines.

use std::time::Duration;

/// Percentiles of a set of durations, in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Mean.
    pub mean_us: f64,
}

/// Summarises samples (sorted in place).
pub fn summarize(samples: &mut [Duration]) -> Summary {
    assert!(!samples.is_empty(), "no samples");
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1e6
    };
    let total: Duration = samples.iter().sum();
    Summary {
        count: samples.len(),
        p50_us: at(0.50),
        p90_us: at(0.90),
        p99_us: at(0.99),
        mean_us: total.as_secs_f64() * 1e6 / samples.len() as f64,
    }
}

/// Prints one JSON result line (the harness collects these into the results table).
pub fn report(name: &str, fields: serde_json::Value) {
    let mut object = serde_json::json!({ "bench": name });
    if let (Some(target), Some(source)) = (object.as_object_mut(), fields.as_object()) {
        target.extend(source.clone());
    }
    println!("{object}");
}

/// A minimal blocking HTTP/1.1 keep-alive client for loopback benchmarks (no external deps, so
/// the measurement is the server, not a client library).
pub struct KeepAlive {
    stream: std::io::BufReader<std::net::TcpStream>,
}

impl KeepAlive {
    /// Connects to `addr`.
    pub fn connect(addr: &str) -> std::io::Result<KeepAlive> {
        let stream = std::net::TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(KeepAlive {
            stream: std::io::BufReader::new(stream),
        })
    }

    /// Sends `GET path` and returns (status, body).
    pub fn get(&mut self, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
        use std::io::{BufRead, Read, Write};
        // One write, one segment: `write!` straight to the socket sends each piece separately.
        let request = format!("GET {path} HTTP/1.1\r\nhost: bench\r\n\r\n");
        self.stream.get_mut().write_all(request.as_bytes())?;
        let mut line = String::new();
        self.stream.read_line(&mut line)?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body)?;
        Ok((status, body))
    }
}

/// Resident set size of a process, in KiB, from `/proc`.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A registry for in-process benchmarks: artifacts and local state under `dir`, up to 16
/// functions loaded.
pub fn registry(
    engine: &edgefn_host::runtime::engine::HostEngine,
    dir: &std::path::Path,
) -> anyhow::Result<std::sync::Arc<edgefn_host::deploy::registry::Registry>> {
    let state = edgefn_host::local::FileStore::new(
        dir.join("state"),
        edgefn_host::local::kv_file::Owner::this_process("bench"),
    );
    Ok(std::sync::Arc::new(
        edgefn_host::deploy::registry::Registry::new(
            engine.clone(),
            edgefn_host::runtime::artifact::ArtifactCache::open(dir)?,
            16,
            edgefn_host::local::backends(&state),
        )?,
    ))
}

/// Argument `index` parsed, or `default` when it is not given.
pub fn arg<T: std::str::FromStr>(args: &[String], index: usize, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match args.get(index) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|e| anyhow::anyhow!("argument {index} ({text:?}): {e}")),
    }
}

/// The context of every in-process benchmark invocation: local, warm, untraced.
pub fn context() -> edgefn_host::runtime::guest::InvocationContext<'static> {
    edgefn_host::runtime::guest::InvocationContext {
        request_id: "bench",
        platform: edgefn_host::Platform::Local,
        platform_deadline: None,
        cold_start: false,
        traceparent: None,
        trace: None,
    }
}

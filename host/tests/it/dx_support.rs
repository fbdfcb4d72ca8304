//! Helpers for the developer-experience tests (`new`, `build`, `invoke`, `serve --watch`,
//! observability): run `edgefn` commands with bounded time, and a served host whose stdout lines
//! the test can wait for.

use crate::common::shared_cache_dir;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Runs a command to completion within `limit`, killing it past that; returns its output.
pub fn run_bounded(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// `edgefn ARGS...` with the shared test artifact cache, bounded to two minutes.
pub fn edgefn(args: &[&str]) -> Output {
    edgefn_with(args, |_| {})
}

/// [`edgefn`], with a chance to adjust the command (stdin, env, folder) first.
pub fn edgefn_with(args: &[&str], adjust: impl FnOnce(&mut Command)) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_edgefn"));
    command
        .args(args)
        .env("EDGEFN_CACHE_DIR", shared_cache_dir())
        .env("RUST_LOG", "info");
    adjust(&mut command);
    run_bounded(&mut command, Duration::from_secs(120))
}

/// `edgefn ARGS...` with `input` on its stdin, bounded like [`edgefn`].
pub fn edgefn_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgefn"))
        .args(args)
        .env("EDGEFN_CACHE_DIR", shared_cache_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn edgefn");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let pid = child.id();
    // wait_with_output has no timeout: a watchdog kills the child if it hangs.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if started.elapsed() > Duration::from_secs(120) {
                    let _ = Command::new("kill")
                        .arg("-KILL")
                        .arg(pid.to_string())
                        .status();
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let output = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    watchdog.join().unwrap();
    output
}

/// Text of an output stream.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running `edgefn serve` whose stdout lines are kept for the test to wait on; its stderr (the
/// log) goes to a file. Killed when dropped.
pub struct Served {
    child: Child,
    /// Where it serves.
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    log_path: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl Served {
    /// Starts `edgefn serve ARGS... --listen 127.0.0.1:0 --workers 2` and waits (bounded by
    /// `limit`, which must cover a project build when serving one) until it listens.
    pub fn start(args: &[&str], envs: &[(&str, &Path)], limit: Duration) -> Served {
        let log_dir = tempfile::tempdir().unwrap();
        let log_path = log_dir.path().join("edgefn.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_edgefn"));
        command
            .arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--workers", "2"])
            .env("RUST_LOG", "info")
            .env_remove("EDGEFN_CACHE_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log_path).unwrap());
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn edgefn serve");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut served = Served {
            child,
            addr: "127.0.0.1:0".parse().unwrap(),
            lines,
            log_path,
            _log_dir: log_dir,
        };
        let started = Instant::now();
        loop {
            if let Some(addr) = served.stdout_line("edgefn listening on http://") {
                served.addr = addr.trim().parse().unwrap();
                return served;
            }
            if let Ok(Some(status)) = served.child.try_wait() {
                panic!("edgefn serve exited ({status}):\n{}", served.log());
            }
            assert!(
                started.elapsed() < limit,
                "edgefn serve did not listen within {limit:?}:\n{}",
                served.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The rest of the first stdout line starting with `prefix`, if printed yet.
    pub fn stdout_line(&self, prefix: &str) -> Option<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
    }

    /// Every stdout line so far.
    pub fn stdout(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits (bounded) until `count` stdout lines start with `prefix`.
    pub fn wait_for_lines(&self, prefix: &str, count: usize, limit: Duration) {
        let started = Instant::now();
        while self
            .stdout()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
            < count
        {
            assert!(
                started.elapsed() < limit,
                "no {count} stdout line(s) starting with {prefix:?} within {limit:?}; stdout:\n{}\nlog:\n{}",
                self.stdout().join("\n"),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The log (stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends GETs to `path` from `threads` threads until `stop` is set; each thread's replies
/// (status, body) in order.
pub struct Load {
    stop: Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Vec<(u16, String)>>>,
}

impl Load {
    /// Starts the load.
    pub fn start(addr: SocketAddr, path: &str, threads: usize) -> Load {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                let path = path.to_owned();
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        seen.push(get(addr, &path));
                    }
                    seen
                })
            })
            .collect();
        Load { stop, threads }
    }

    /// Stops the load and returns what each thread saw.
    pub fn finish(self) -> Vec<Vec<(u16, String)>> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect()
    }
}

/// One HTTP/1.1 GET on a new connection (std only, bounded): status and body.
pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let answer = request(addr, "GET", path, &[], b"");
    (answer.status, answer.body)
}

/// A response as received.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Status line and headers.
    pub head: String,
    /// Body (the host sends a content-length for every response, and closes after it).
    pub body: String,
}

impl Answer {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

/// One HTTP/1.1 request on a new connection with `Connection: close`.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to edgefn");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("a response");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {raw:?}"));
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

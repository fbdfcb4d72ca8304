//! Test harness: starts the real `edgefn` binary on an ephemeral loopback port and speaks real HTTP
//! to it.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Folder holding the built guests (`make guests`).
pub fn guests_dir() -> PathBuf {
    let dir = std::env::var_os("EDGEFN_GUESTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/guests"));
    assert!(
        dir.join("hello.wasm").is_file(),
        "guests are not built in {}: run `make guests` first (`make test` does)",
        dir.display()
    );
    dir
}

/// Path of one built guest.
pub fn guest(name: &str) -> PathBuf {
    guests_dir().join(format!("{name}.wasm"))
}

/// An artifact cache shared by tests that do not test the cache itself, so each guest compiles
/// once per run rather than once per test. Entries are written atomically, so sharing is safe.
pub fn shared_cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifact-cache")
}

/// The edgefn binary under test.
pub fn edgefn_bin() -> &'static str {
    env!("CARGO_BIN_EXE_edgefn")
}

/// A response as received.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
    pub fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one HTTP/1.1 request on a new connection, with a `host` header for `addr`.
pub fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Reply {
    let host = addr.to_string();
    let mut with_host: Vec<(&str, &[u8])> = vec![("host", host.as_bytes())];
    with_host.extend_from_slice(headers);
    send_exact(addr, method, path, &with_host, body)
}

/// Sends one HTTP/1.1 request with exactly these headers (no implicit `host`), as a platform's
/// own client may. Waits at most 60 s for the response and again for its body.
pub fn send_exact(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Reply {
    try_send_exact(addr, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} {path} to {addr}: {e}"))
}

/// [`send_exact`], with what went wrong as the error, so a caller can add the logs that explain it.
pub fn try_send_exact(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Result<Reply, String> {
    const LIMIT: Duration = Duration::from_secs(60);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut sender = connect(addr).await?;
        let mut request = http::Request::builder().method(method).uri(path);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = tokio::time::timeout(LIMIT, sender.send_request(request))
            .await
            .map_err(|_| format!("no response within {LIMIT:?}"))?
            .map_err(|e| format!("no response: {e}"))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect();
        let body = tokio::time::timeout(LIMIT, response.into_body().collect())
            .await
            .map_err(|_| format!("the body did not end within {LIMIT:?}"))?
            .map_err(|e| format!("reading the body: {e}"))?
            .to_bytes()
            .to_vec();
        Ok(Reply {
            status,
            headers,
            body,
        })
    })
}

/// An HTTP/1.1 connection to `addr`, driven on the current runtime; requests go one after another.
pub async fn connect<B>(
    addr: SocketAddr,
) -> Result<hyper::client::conn::http1::SendRequest<B>, String>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    Ok(sender)
}

/// A running `edgefn` process; terminated when dropped.
pub struct Host {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub log_path: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Host {
    /// Starts `edgefn serve` with a manifest written from `manifest` (guest paths may use
    /// `{guests}` for the guests folder) and a fresh cache dir.
    pub fn with_manifest(manifest: &str) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let text = manifest.replace("{guests}", &guests_dir().display().to_string());
        std::fs::write(dir.path().join("edgefn.toml"), text).unwrap();
        let cache = shared_cache_dir();
        let manifest = dir.path().join("edgefn.toml");
        Host::start(
            dir,
            &[
                manifest.as_os_str().to_str().unwrap(),
                "--cache-dir",
                cache.to_str().unwrap(),
            ],
        )
        .expect("host starts")
    }

    /// Starts `edgefn serve ARGS... --listen 127.0.0.1:0`; `Err(log)` if it exits before listening.
    /// Unless ARGS give `--state-dir`, its key-value store is in `dir/state`: one process at a time
    /// can hold a state directory, and tests run in parallel from the same folder.
    pub fn start(dir: tempfile::TempDir, args: &[&str]) -> Result<Host, String> {
        let log_path = dir.path().join(format!("host-{}.log", fastrand::u32(..)));
        let log = std::fs::File::create(&log_path).unwrap();
        let state_dir = dir.path().join("state");
        let mut command = Command::new(edgefn_bin());
        command.arg("serve").args(args);
        if !args.contains(&"--state-dir") {
            command.arg("--state-dir").arg(&state_dir);
        }
        let mut child = command
            .args(["--listen", "127.0.0.1:0", "--workers", "2"])
            .env("RUST_LOG", "info")
            .env_remove("EDGEFN_CACHE_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn edgefn");
        let stdout = child.stdout.take().unwrap();
        // Every stdout line is kept in `stdout.txt` (tests read the admin line from it).
        let stdout_copy = dir.path().join("stdout.txt");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut copy = std::fs::File::create(stdout_copy).unwrap();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(copy, "{line}");
                let _ = copy.flush();
                if let Some(addr) = line.strip_prefix("edgefn listening on http://") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => Ok(Host {
                child: Some(child),
                addr: addr.parse().unwrap(),
                log_path,
                dir,
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(std::fs::read_to_string(&log_path).unwrap_or_default())
            }
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        send(self.addr, "GET", path, &[], b"")
    }

    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Reply {
        send(self.addr, method, path, headers, body)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("host still running");
        signal(child.id(), "TERM");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > Duration::from_secs(40) {
                let _ = child.kill();
                panic!("edgefn did not exit within 40 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends a signal by name with `kill(1)`.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Writes raw bytes on a new connection (ignoring a server that closes early) and returns all it
/// answers until it closes or `timeout` passes.
pub fn raw(addr: SocketAddr, request: &[u8], timeout: Duration) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(timeout)).unwrap();
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

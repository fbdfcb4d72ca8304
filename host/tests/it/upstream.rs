//! A real HTTP/1.1 server on 127.0.0.1 for guests to call: the upstream of the outbound HTTP tests
//! on every platform. One thread per connection, `Connection: close` after each answer, so it
//! needs nothing but std and shows exactly what arrived.
//!
//! Routes (path before `?`):
//! - `/echo`: 200; `x-seen-method`, `x-seen-header-<i>: name: value` for the i-th request header
//!   (numbered: a client such as the Fetch API joins repeated headers), and the request body as
//!   the body;
//! - `/headers`: 200 with repeated `set-cookie` and `x-multi` headers;
//! - `/redirect`: 302 to `/echo` (a client that follows ends there);
//! - `/slow?ms=N`: answers after N ms;
//! - `/big?bytes=N`: N bytes (`i % 251`);
//! - `/json`: a small JSON document, for the example guests;
//! - anything else: 404.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// The JSON `/json` serves.
pub const JSON_DOCUMENT: &str =
    r#"{"name":"edgefn","stars":42,"tags":["wasm","edge"],"owner":{"login":"edgefn-dev"}}"#;

/// A running upstream; stops accepting when dropped.
pub struct Upstream {
    pub addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Upstream {
    pub fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the upstream");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopping) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let count = count.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &count);
                });
            }
        });
        Upstream {
            addr,
            requests,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The same with the name `localhost`, which resolves to loopback.
    pub fn localhost_url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.addr.port())
    }

    /// Requests received so far (each counted before it is answered).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    if chunked {
        body = read_chunked(&mut reader)?;
    }
    Ok(Request {
        method,
        target,
        headers,
        body,
    })
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

fn query_number(target: &str, key: &str) -> usize {
    target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn serve(mut stream: TcpStream, count: &AtomicUsize) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = read_request(&stream)?;
    // Counted before answering, so a caller that has the answer sees its request counted.
    count.fetch_add(1, Ordering::SeqCst);
    let path = request.target.split('?').next().unwrap_or("");
    let mut headers: Vec<(String, String)> = Vec::new();
    let (status, body): (&str, Vec<u8>) = match path {
        "/echo" => {
            headers.push(("x-seen-method".into(), request.method.clone()));
            for (index, (name, value)) in request.headers.iter().enumerate() {
                headers.push((
                    format!("x-seen-header-{}", index + 1),
                    format!("{}: {value}", name.to_ascii_lowercase()),
                ));
            }
            headers.push(("content-type".into(), "application/octet-stream".into()));
            ("200 OK", request.body)
        }
        "/headers" => {
            for (name, value) in [
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
                ("x-multi", "one"),
                ("x-multi", "two"),
            ] {
                headers.push((name.into(), value.into()));
            }
            ("200 OK", b"headers".to_vec())
        }
        "/redirect" => {
            headers.push(("location".into(), "/echo".into()));
            ("302 Found", Vec::new())
        }
        "/slow" => {
            std::thread::sleep(Duration::from_millis(
                query_number(&request.target, "ms") as u64
            ));
            ("200 OK", b"slow".to_vec())
        }
        "/big" => {
            let n = query_number(&request.target, "bytes");
            ("200 OK", (0..n).map(|i| (i % 251) as u8).collect())
        }
        "/json" => {
            headers.push(("content-type".into(), "application/json".into()));
            ("200 OK", JSON_DOCUMENT.as_bytes().to_vec())
        }
        _ => ("404 Not Found", b"no such route".to_vec()),
    };
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in &headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes())?;
    // A client that gave up (a timeout, a size cap) closes early; that is not an error here.
    let _ = stream.write_all(&body);
    Ok(())
}

//! Outbound HTTP on the local host (`edgefn_v1.http_send`, `result_read`), end to end through
//! `edgefn serve`, with small WAT guests (no SDK involved) and an upstream of the test's own on
//! 127.0.0.1. The guest runs a little program sent as its request body, so each test says which
//! calls it makes, with which pointers, and reads back every return code and result.

use crate::common::{Host, Reply, send, shared_cache_dir};
use edgefn_abi::{HttpRequestEnvelope, HttpResponseEnvelope};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The probe guest. Its request body is a program (ops of three `u32`s, then a `u32` trailer with
/// the program's length); its response body is the two init results (0 without init) followed by
/// one record per op. Memory: request at 64 KiB, response at 4 MiB, free scratch from 8 MiB.
const PROBE: &str = r#"
(module
  (import "edgefn_v1" "http_send" (func $send (param i32 i32) (result i64)))
  (import "edgefn_v1" "result_read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 256)
  (global $out (mut i32) (i32.const 0))
  (func (export "edgefn_v1_alloc") (param i32) (result i32) (i32.const 0x10000))
  (func $emit64 (param $v i64)
    (i64.store (global.get $out) (local.get $v))
    (global.set $out (i32.add (global.get $out) (i32.const 8))))
  (func $copy (param $src i32) (param $n i32)
    (memory.copy (global.get $out) (local.get $src) (local.get $n))
    (global.set $out (i32.add (global.get $out) (local.get $n))))
  INIT
  (func (export "edgefn_v1_handle") (param $p i32) (param $n i32) (result i64)
    (local $end i32) (local $at i32) (local $op i32) (local $a i32) (local $b i32) (local $r i64)
    (global.set $out (i32.const 0x400010))
    (call $emit64 (i64.load (i32.const 0x100)))
    (call $emit64 (i64.load (i32.const 0x108)))
    (local.set $end (i32.sub (i32.add (local.get $p) (local.get $n)) (i32.const 4)))
    (local.set $at (i32.sub (local.get $end) (i32.load (local.get $end))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $op (i32.load (local.get $at)))
        (local.set $a (i32.load offset=4 (local.get $at)))
        (local.set $b (i32.load offset=8 (local.get $at)))
        (local.set $at (i32.add (local.get $at) (i32.const 12)))
        ;; 1: http_send(a, b) as given
        (if (i32.eq (local.get $op) (i32.const 1))
          (then (call $emit64 (call $send (local.get $a) (local.get $b)))))
        ;; 2: http_send of the a bytes that follow the op
        (if (i32.eq (local.get $op) (i32.const 2))
          (then
            (call $emit64 (call $send (local.get $at) (local.get $a)))
            (local.set $at (i32.add (local.get $at) (local.get $a)))))
        ;; 3: result_read(a, b), then the bytes it copied
        (if (i32.eq (local.get $op) (i32.const 3))
          (then
            (local.set $r (i64.extend_i32_s (call $read (local.get $a) (local.get $b))))
            (call $emit64 (local.get $r))
            (if (i64.ge_s (local.get $r) (i64.const 0))
              (then (call $copy (local.get $a) (i32.wrap_i64 (local.get $r)))))))
        ;; 4: b bytes of memory at a
        (if (i32.eq (local.get $op) (i32.const 4))
          (then (call $copy (local.get $a) (local.get $b))))
        ;; 5: http_send of the a bytes that follow the op, then b bytes of filler (a body
        ;; larger than the request that carried the program), built at 0xa00000
        (if (i32.eq (local.get $op) (i32.const 5))
          (then
            (memory.copy (i32.const 0xa00000) (local.get $at) (local.get $a))
            (memory.fill (i32.add (i32.const 0xa00000) (local.get $a)) (i32.const 0x61) (local.get $b))
            (call $emit64 (call $send (i32.const 0xa00000) (i32.add (local.get $a) (local.get $b))))
            (local.set $at (i32.add (local.get $at) (local.get $a)))))
        (br $next)))
    (i32.store (i32.const 0x400000) (i32.const 0x31534645))
    (i32.store (i32.const 0x400004) (i32.const 200))
    (i32.store (i32.const 0x400008) (i32.const 0))
    (i32.store (i32.const 0x40000c) (i32.sub (global.get $out) (i32.const 0x400010)))
    (i64.or
      (i64.shl (i64.const 0x400000) (i64.const 32))
      (i64.extend_i32_u (i32.sub (global.get $out) (i32.const 0x400000))))))
"#;

/// Both constructors call out; the handler reports what they got.
const INIT: &str = r#"
  (func (export "_initialize")
    (i64.store (i32.const 0x100) (call $send (i32.const 0) (i32.const 0))))
  (func (export "edgefn_v1_init")
    (i64.store (i32.const 0x108) (call $send (i32.const 0) (i32.const 0))))
"#;

/// Scratch buffers in the probe's memory, each free for `result_read`.
const S1: u32 = 0x80_0000;
const S2: u32 = 0x90_0000;
const S3: u32 = 0xb0_0000;
/// Where the probe's memory ends (256 pages).
const MEMORY_END: u32 = 256 * 65536;

const DENIED: i64 = -1;
const INVALID: i64 = -3;
const LIMIT: i64 = -4;
const TIMEOUT: i64 = -5;
const UNAVAILABLE: i64 = -6;
const UNSUPPORTED: i64 = -8;

enum Op {
    Send(u32, u32),
    SendInline(Vec<u8>),
    Read(u32, u32),
    Dump(u32, u32),
    /// An envelope whose body (of this many filler bytes) the guest appends.
    SendFilled(Vec<u8>, u32),
}

/// What one op returned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Code(i64),
    Read(i64, Vec<u8>),
    Memory(Vec<u8>),
}

impl Got {
    fn code(&self) -> i64 {
        match self {
            Got::Code(code) | Got::Read(code, _) => *code,
            Got::Memory(_) => panic!("a dump has no code"),
        }
    }

    fn text(&self) -> String {
        match self {
            Got::Read(_, bytes) | Got::Memory(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            Got::Code(_) => panic!("a send has no bytes"),
        }
    }
}

fn program(ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::new();
    let word = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());
    for op in ops {
        match op {
            Op::Send(a, b) => [1, *a, *b].iter().for_each(|v| word(&mut out, *v)),
            Op::SendInline(bytes) => {
                [2, bytes.len() as u32, 0]
                    .iter()
                    .for_each(|v| word(&mut out, *v));
                out.extend_from_slice(bytes);
            }
            Op::Read(a, b) => [3, *a, *b].iter().for_each(|v| word(&mut out, *v)),
            Op::Dump(a, b) => [4, *a, *b].iter().for_each(|v| word(&mut out, *v)),
            Op::SendFilled(envelope, filler) => {
                // The envelope without its (empty) body, then the body's length.
                let head = &envelope[..envelope.len() - 4];
                [5, head.len() as u32 + 4, *filler]
                    .iter()
                    .for_each(|v| word(&mut out, *v));
                out.extend_from_slice(head);
                word(&mut out, *filler);
            }
        }
    }
    let len = out.len() as u32;
    word(&mut out, len);
    out
}

/// The probe's answer: its init results, then one record per op.
fn parse(ops: &[Op], reply: &Reply) -> ([i64; 2], Vec<Got>) {
    assert_eq!(reply.status, 200, "the probe answers: {}", reply.text());
    let body = &reply.body;
    let i64_at = |at: usize| i64::from_le_bytes(body[at..at + 8].try_into().unwrap());
    let init = [i64_at(0), i64_at(8)];
    let mut at = 16;
    let mut got = Vec::new();
    for op in ops {
        match op {
            Op::Send(..) | Op::SendInline(_) | Op::SendFilled(..) => {
                got.push(Got::Code(i64_at(at)));
                at += 8;
            }
            Op::Read(..) => {
                let code = i64_at(at);
                at += 8;
                let n = code.max(0) as usize;
                got.push(Got::Read(code, body[at..at + n].to_vec()));
                at += n;
            }
            Op::Dump(_, n) => {
                got.push(Got::Memory(body[at..at + *n as usize].to_vec()));
                at += *n as usize;
            }
        }
    }
    assert_eq!(at, body.len(), "the whole answer was read");
    (init, got)
}

fn run(addr: SocketAddr, path: &str, headers: &[(&str, &[u8])], ops: &[Op]) -> Vec<Got> {
    let reply = send(addr, "POST", path, headers, &program(ops));
    parse(ops, &reply).1
}

/// An outbound request envelope.
fn request(method: &str, url: &str, headers: &[(&str, &[u8])], timeout_ms: u32) -> Vec<u8> {
    HttpRequestEnvelope {
        timeout_ms,
        method,
        url,
        headers: headers.to_vec(),
        body: b"",
    }
    .encode()
}

fn get(url: &str) -> Vec<u8> {
    request("GET", url, &[], 0)
}

/// A send and the read of its result, the way an SDK calls.
fn call(envelope: Vec<u8>) -> [Op; 2] {
    [Op::SendInline(envelope), Op::Read(S1, 4 << 20)]
}

/// Header fields as the guest gets them.
type Headers = Vec<(String, Vec<u8>)>;

/// The decoded response of a successful call: status, headers, body.
fn response(got: &Got) -> (u16, Headers, Vec<u8>) {
    let Got::Read(code, bytes) = got else {
        panic!("not a read: {got:?}")
    };
    assert!(*code >= 0, "the call failed: {}", got.text());
    let decoded = HttpResponseEnvelope::decode(bytes).expect("an EHS1 envelope");
    (
        decoded.status,
        decoded
            .headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
            .collect(),
        decoded.body.to_vec(),
    )
}

/// Writes the probe (with or without constructors that call out) into `dir`.
fn probe(dir: &Path, with_init: bool) -> PathBuf {
    let text = PROBE.replace("INIT", if with_init { INIT } else { "" });
    let name = if with_init {
        "probe-init.wasm"
    } else {
        "probe.wasm"
    };
    let path = dir.join(name);
    std::fs::write(&path, wat::parse_str(text).expect("the probe assembles")).unwrap();
    path
}

/// `edgefn serve` on a manifest whose `{probe}` and `{probe-init}` name the probe modules.
fn serve(manifest: &str, extra: &[&str]) -> Host {
    serve_with(manifest, extra, &[])
}

/// [`serve`] with more modules, given as WAT, written into its folder (`{dir}`) first.
fn serve_with(manifest: &str, extra: &[&str], modules: &[(&str, &str)]) -> Host {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in modules {
        let wasm = wat::parse_str(text).expect("the module assembles");
        std::fs::write(dir.path().join(name), wasm).unwrap();
    }
    let text = manifest
        .replace("{probe}", &probe(dir.path(), false).display().to_string())
        .replace(
            "{probe-init}",
            &probe(dir.path(), true).display().to_string(),
        )
        .replace("{dir}", &dir.path().display().to_string());
    let manifest = dir.path().join("edgefn.toml");
    std::fs::write(&manifest, text).unwrap();
    let cache = shared_cache_dir();
    let mut args = vec![
        manifest.to_str().unwrap().to_owned(),
        "--cache-dir".into(),
        cache.to_str().unwrap().to_owned(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Host::start(dir, &args).unwrap_or_else(|log| panic!("edgefn serve did not start:\n{log}"))
}

/// An HTTP/1.1 upstream on 127.0.0.1 answering by path, each answer closing its connection. It
/// counts connections and keeps every request head it read; it stops when dropped.
struct Upstream {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Upstream {
    fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, seen, stopping) = (connections.clone(), heads.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let seen = seen.clone();
                std::thread::spawn(move || answer(stream, &seen));
            }
        });
        Upstream {
            addr,
            connections,
            heads,
            stop,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn answer(mut stream: TcpStream, heads: &Mutex<Vec<String>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    heads.lock().unwrap().push(head.clone());
    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
    let fixed = |status: &str, extra: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let reply = match path.as_str() {
        "/hello" => fixed("200 OK", "Content-Type: text/plain\r\nX-Upstream: yes\r\n", "hello"),
        "/echo" => fixed("200 OK", "", &head),
        "/redirect" => fixed("302 Found", "Location: /hello\r\n", ""),
        "/chunked" => "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n".to_owned(),
        "/big" => fixed("200 OK", "", &"x".repeat(5000)),
        "/big-chunked" => {
            let chunk = format!("3e8\r\n{}\r\n", "y".repeat(1000));
            format!(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{}0\r\n\r\n",
                chunk.repeat(5)
            )
        }
        "/slow" => {
            std::thread::sleep(Duration::from_secs(5));
            fixed("200 OK", "", "late")
        }
        _ => fixed("404 Not Found", "", "no such path"),
    };
    let _ = stream.write_all(reply.as_bytes());
}

const ALLOWED: &str =
    r#"allowed_hosts = ["http://127.0.0.1:*", "http://localhost:*", "https://127.0.0.1:*"]"#;

#[test]
fn misuse_is_an_error_code_never_a_trap_and_the_host_keeps_serving() {
    let host = serve("[[function]]\nname = \"probe\"\nwasm = \"{probe}\"\n", &[]);
    let ops = [
        // Nothing pending yet.
        Op::Read(S1, 4096),
        // A request envelope past the end of memory, then one whose length overflows.
        Op::Send(MEMORY_END - 8, 64),
        Op::Read(S1, 4096),
        Op::Send(0x100, u32::MAX),
        // Garbage: a short buffer leaves the message pending and memory alone.
        Op::SendInline(b"not an envelope".to_vec()),
        Op::Read(S2, 4),
        Op::Dump(S2, 8),
        Op::Read(S2, 4096),
        // Read twice: the second finds nothing.
        Op::Read(S3, 4096),
        // A read into memory the guest does not have keeps the result pending.
        Op::SendInline(b"EHQ1".to_vec()),
        Op::Read(MEMORY_END - 4, 4096),
        Op::Read(u32::MAX - 2, 4096),
        Op::Read(S3, 4096),
    ];
    for _ in 0..2 {
        let got = run(host.addr, "/probe", &[], &ops);
        assert_eq!(got[0].code(), INVALID, "nothing pending");
        assert_eq!(got[1].code(), INVALID, "past memory");
        assert!(
            got[2].text().contains("not inside the guest's memory"),
            "{}",
            got[2].text()
        );
        assert_eq!(got[3].code(), INVALID, "length overflow");
        assert_eq!(got[4].code(), INVALID, "garbage");
        assert_eq!(got[5].code(), INVALID, "short buffer");
        assert_eq!(
            got[6],
            Got::Memory(vec![0; 8]),
            "a short read writes nothing"
        );
        assert!(got[7].code() > 4, "the message is still pending");
        assert!(got[7].text().contains("bad-magic"), "{}", got[7].text());
        assert_eq!(got[8].code(), INVALID, "a result is read once");
        assert_eq!(got[9].code(), INVALID, "truncated envelope");
        assert_eq!(got[10].code(), INVALID, "a read past memory");
        assert_eq!(got[11].code(), INVALID, "a read whose range wraps");
        assert!(got[12].text().contains("truncated"), "{}", got[12].text());
    }
    assert_eq!(run(host.addr, "/probe", &[], &[]), Vec::<Got>::new());
}

#[test]
fn outbound_private_addresses_need_allow_private_networks() {
    let upstream = Upstream::start();
    let host = serve(
        &format!(
            "[[function]]\nname = \"closed\"\nwasm = \"{{probe}}\"\noutbound = {{ {ALLOWED} }}\n\
             [[function]]\nname = \"open\"\nwasm = \"{{probe}}\"\noutbound = {{ {ALLOWED}, allow_private_networks = true }}\n\
             [[function]]\nname = \"nothing\"\nwasm = \"{{probe}}\"\n"
        ),
        &[],
    );
    let by_ip = get(&upstream.url("/hello"));
    let by_name = get(&format!("http://localhost:{}/hello", upstream.addr.port()));

    let got = run(host.addr, "/closed", &[], &call(by_ip.clone()));
    assert_eq!(got[0].code(), DENIED);
    assert!(
        got[1].text().contains("127.0.0.1 is not a public address"),
        "{}",
        got[1].text()
    );
    assert!(
        got[1].text().contains("allow_private_networks"),
        "{}",
        got[1].text()
    );
    let got = run(host.addr, "/closed", &[], &call(by_name.clone()));
    assert_eq!(got[0].code(), DENIED);
    assert!(
        got[1]
            .text()
            .contains("localhost resolves only to addresses that are not public"),
        "{}",
        got[1].text()
    );
    assert!(got[1].text().contains("127.0.0.1"), "{}", got[1].text());
    let got = run(host.addr, "/nothing", &[], &call(by_ip.clone()));
    assert_eq!(got[0].code(), DENIED, "nothing is allowed by default");
    assert!(
        got[1].text().contains("outbound.allowed_hosts"),
        "{}",
        got[1].text()
    );
    assert_eq!(upstream.connections(), 0, "a denied call never connects");

    for envelope in [by_ip, by_name] {
        let got = run(host.addr, "/open", &[], &call(envelope));
        let (status, headers, body) = response(&got[1]);
        assert_eq!((status, body.as_slice()), (200, &b"hello"[..]));
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "x-upstream" && v == b"yes"),
            "{headers:?}"
        );
        assert!(
            headers.iter().all(|(k, _)| k == &k.to_ascii_lowercase()),
            "{headers:?}"
        );
        assert!(
            !headers.iter().any(|(k, _)| k == "connection"),
            "{headers:?}"
        );
    }
    assert_eq!(upstream.connections(), 2);
}

#[test]
fn outbound_responses_come_back_whole_and_redirects_are_not_followed() {
    let upstream = Upstream::start();
    let host = serve(
        &format!(
            "[[function]]\nname = \"open\"\nwasm = \"{{probe}}\"\noutbound = {{ {ALLOWED}, allow_private_networks = true }}\n"
        ),
        &[],
    );
    let got = run(
        host.addr,
        "/open",
        &[],
        &call(get(&upstream.url("/redirect"))),
    );
    let (status, headers, _) = response(&got[1]);
    assert_eq!(status, 302, "the redirect is the answer");
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "location" && v == b"/hello"),
        "{headers:?}"
    );
    assert_eq!(
        upstream.heads.lock().unwrap().len(),
        1,
        "and it was not followed"
    );

    let got = run(
        host.addr,
        "/open",
        &[],
        &call(get(&upstream.url("/chunked"))),
    );
    let (status, headers, body) = response(&got[1]);
    assert_eq!((status, body.as_slice()), (200, &b"hello"[..]));
    assert!(
        !headers.iter().any(|(k, _)| k == "transfer-encoding"),
        "{headers:?}"
    );

    // The guest's headers go out (values never reach the log), the host sets host and passes
    // on the invocation's traceparent.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let secret = "Bearer do-not-log-this-value";
    let echo = request(
        "GET",
        &upstream.url("/echo"),
        &[("Authorization", secret.as_bytes())],
        0,
    );
    let got = run(
        host.addr,
        "/open",
        &[("traceparent", traceparent.as_bytes())],
        &call(echo),
    );
    let (_, _, body) = response(&got[1]);
    let seen = String::from_utf8_lossy(&body).to_ascii_lowercase();
    assert!(seen.starts_with("get /echo http/1.1\r\n"), "{seen}");
    assert!(
        seen.contains(&format!("host: {}\r\n", upstream.addr)),
        "{seen}"
    );
    assert!(
        seen.contains(&format!("traceparent: {traceparent}\r\n")),
        "{seen}"
    );
    assert!(
        seen.contains(&format!(
            "authorization: {}\r\n",
            secret.to_ascii_lowercase()
        )),
        "{seen}"
    );
    // A traceparent of the guest's own wins.
    let own = "00-11111111111111111111111111111111-2222222222222222-01";
    let echo = request(
        "GET",
        &upstream.url("/echo"),
        &[("traceparent", own.as_bytes())],
        0,
    );
    let got = run(
        host.addr,
        "/open",
        &[("traceparent", traceparent.as_bytes())],
        &call(echo),
    );
    let seen = String::from_utf8_lossy(&response(&got[1]).2).into_owned();
    assert!(seen.contains(own) && !seen.contains(traceparent), "{seen}");

    // Headers the host owns, bad URLs and methods are the guest's mistake.
    for envelope in [
        request("GET", &upstream.url("/hello"), &[("Host", b"evil.test")], 0),
        request(
            "POST",
            &upstream.url("/hello"),
            &[("content-length", b"5")],
            0,
        ),
        request("GET", "ftp://127.0.0.1/x", &[], 0),
        request("GET", "/relative", &[], 0),
        request("BAD METHOD", &upstream.url("/hello"), &[], 0),
        request("CONNECT", &upstream.url("/hello"), &[], 0),
    ] {
        let got = run(host.addr, "/open", &[], &call(envelope));
        assert_eq!(got[0].code(), INVALID, "{}", got[1].text());
    }
    // Nothing listens: unavailable. Plain HTTP where TLS is expected: the handshake fails.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let got = run(
        host.addr,
        "/open",
        &[],
        &call(get(&format!("http://{closed}/"))),
    );
    assert_eq!(got[0].code(), UNAVAILABLE, "{}", got[1].text());
    let not_tls = TcpListener::bind("127.0.0.1:0").unwrap();
    let not_tls_addr = not_tls.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = not_tls.accept() {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
        }
    });
    let tls = format!("https://{not_tls_addr}/hello");
    let got = run(host.addr, "/open", &[], &call(get(&tls)));
    assert_eq!(got[0].code(), UNAVAILABLE, "{}", got[1].text());
    assert!(got[1].text().contains("TLS"), "{}", got[1].text());

    let log = host.log();
    assert!(log.contains("outbound request"), "{log}");
    assert!(log.contains("/echo") || log.contains("127.0.0.1"), "{log}");
    assert!(
        !log.contains("do-not-log-this-value"),
        "a header value reached the log:\n{log}"
    );
}

#[test]
fn outbound_timeouts_caps_and_counts() {
    let upstream = Upstream::start();
    let host = serve(
        &format!(
            "[[function]]\nname = \"open\"\nwasm = \"{{probe}}\"\noutbound = {{ {ALLOWED}, allow_private_networks = true, max_response_bytes = 1000 }}\n\
             [[function]]\nname = \"quick\"\nwasm = \"{{probe}}\"\nlimits = {{ deadline_ms = 1000 }}\noutbound = {{ {ALLOWED}, allow_private_networks = true }}\n\
             [[function]]\nname = \"few\"\nwasm = \"{{probe}}\"\nwarm = {{ max_instances = 1 }}\nlimits = {{ max_request_bytes = 1024 }}\noutbound = {{ allowed_hosts = [\"http://127.0.0.1:1\"], allow_private_networks = true, max_requests = 2 }}\n"
        ),
        &[],
    );
    // The envelope's timeout.
    let started = Instant::now();
    let got = run(
        host.addr,
        "/open",
        &[],
        &call(request("GET", &upstream.url("/slow"), &[], 300)),
    );
    assert_eq!(got[0].code(), TIMEOUT, "{}", got[1].text());
    assert!(
        got[1].text().contains("the request's timeout"),
        "{}",
        got[1].text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The invocation's deadline caps the function's 10 s default: the call gives up at the
    // deadline, so the invocation ends then (504) rather than when the upstream answers.
    let started = Instant::now();
    let reply = send(
        host.addr,
        "POST",
        "/quick",
        &[],
        &program(&call(get(&upstream.url("/slow")))),
    );
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // Bodies over the cap, announced or streamed.
    for path in ["/big", "/big-chunked"] {
        let got = run(host.addr, "/open", &[], &call(get(&upstream.url(path))));
        assert_eq!(got[0].code(), LIMIT, "{path}: {}", got[1].text());
        assert!(
            got[1].text().contains("max_response_bytes"),
            "{}",
            got[1].text()
        );
    }

    // A request body over the function's max_request_bytes (the guest makes it: the request
    // that carries the program is itself under the limit).
    let post = request("POST", "http://127.0.0.1:1/", &[], 0);
    let got = run(
        host.addr,
        "/few",
        &[],
        &[Op::SendFilled(post.clone(), 2048), Op::Read(S1, 4096)],
    );
    assert_eq!(got[0].code(), LIMIT, "{}", got[1].text());
    assert!(
        got[1].text().contains("max_request_bytes"),
        "{}",
        got[1].text()
    );
    let got = run(
        host.addr,
        "/few",
        &[],
        &[Op::SendFilled(post, 1000), Op::Read(S1, 4096)],
    );
    assert_eq!(
        got[0].code(),
        UNAVAILABLE,
        "a body within the limit is sent (nobody listens)"
    );

    // Requests per invocation: only those sent count (as Workers counts subrequests), and a
    // warm instance starts each invocation with a fresh count and no pending result.
    let nobody = || Op::SendInline(get("http://127.0.0.1:1/"));
    let ops = [
        Op::Read(S1, 64),
        Op::SendInline(b"x".to_vec()),
        nobody(),
        Op::SendInline(get("https://elsewhere.test/")),
        nobody(),
        nobody(),
        Op::Read(S1, 4096),
    ];
    for _ in 0..2 {
        let got = run(host.addr, "/few", &[], &ops);
        assert_eq!(
            got[0].code(),
            INVALID,
            "nothing pending from the last invocation"
        );
        assert_eq!(
            got[1].code(),
            INVALID,
            "refused before it is sent: not counted"
        );
        assert_eq!(got[2].code(), UNAVAILABLE, "sent: the first of two");
        assert_eq!(
            got[3].code(),
            DENIED,
            "refused before it is sent: not counted"
        );
        assert_eq!(got[4].code(), UNAVAILABLE, "sent: the second of two");
        assert_eq!(got[5].code(), LIMIT, "a third is over max_requests = 2");
        assert!(got[6].text().contains("max_requests"), "{}", got[6].text());
    }
}

#[test]
fn outbound_calls_while_initializing_are_unsupported_with_and_without_preinit() {
    let host = serve(
        "[[function]]\nname = \"snapshot\"\nwasm = \"{probe-init}\"\n\
         [[function]]\nname = \"per-instance\"\nwasm = \"{probe-init}\"\npreinit = false\n",
        &[],
    );
    for path in ["/snapshot", "/per-instance"] {
        let reply = send(host.addr, "POST", path, &[], &program(&[]));
        let (init, _) = parse(&[], &reply);
        assert_eq!(
            init,
            [UNSUPPORTED, UNSUPPORTED],
            "{path}: _initialize, edgefn_v1_init"
        );
    }
}

#[test]
fn a_module_importing_an_edgefn_v1_name_this_host_lacks_is_refused_at_load() {
    let newer = r#"(module
      (import "edgefn_v1" "nope" (func (param i32 i32) (result i64)))
      (memory (export "memory") 1)
      (func (export "edgefn_v1_alloc") (param i32) (result i32) (i32.const 0))
      (func (export "edgefn_v1_handle") (param i32 i32) (result i64) (i64.const 0)))"#;
    let host = serve_with(
        "[[function]]\nname = \"newer\"\nwasm = \"{dir}/newer.wasm\"\n\
         [[function]]\nname = \"probe\"\nwasm = \"{probe}\"\n",
        &[],
        &[("newer.wasm", newer)],
    );
    let log = host.log();
    let message = format!(
        "imports edgefn_v1.nope, which this host (edgefn {}) does not provide: upgrade edgefn",
        env!("CARGO_PKG_VERSION")
    );
    assert!(log.contains(&message) && log.contains("newer"), "{log}");
    assert_eq!(
        host.get("/newer").status,
        404,
        "the refused function is not routed"
    );
    assert_eq!(
        run(host.addr, "/probe", &[], &[]),
        Vec::<Got>::new(),
        "the others serve"
    );
}

#[test]
fn outbound_calls_are_counted_by_outcome_in_metrics() {
    const TOKEN: &str = "outbound-metrics-token";
    let upstream = Upstream::start();
    let host = serve(
        &format!(
            "[[function]]\nname = \"open\"\nwasm = \"{{probe}}\"\noutbound = {{ {ALLOWED}, allow_private_networks = true, max_requests = 2 }}\n\
             [[function]]\nname = \"per-instance\"\nwasm = \"{{probe-init}}\"\npreinit = false\n"
        ),
        &["--admin-listen", "127.0.0.1:0", "--admin-token", TOKEN],
    );
    let ops = [
        Op::SendInline(get(&upstream.url("/hello"))),
        Op::SendInline(get("http://192.0.2.1/")),
        Op::SendInline(b"x".to_vec()),
        Op::SendInline(get(&upstream.url("/hello"))),
        Op::SendInline(get(&upstream.url("/hello"))),
    ];
    let got = run(host.addr, "/open", &[], &ops);
    let codes: Vec<i64> = got.iter().map(Got::code).collect();
    // Two sent (max_requests = 2), two refused before sending, the fifth over the limit.
    assert_eq!(codes[1..], [DENIED, INVALID, codes[3], LIMIT]);
    assert!(codes[0] > 0 && codes[3] > 0, "{codes:?}");
    assert_eq!(
        send(host.addr, "POST", "/per-instance", &[], &program(&[])).status,
        200
    );

    let stdout = std::fs::read_to_string(host.dir.path().join("stdout.txt")).unwrap();
    let admin: SocketAddr = stdout
        .lines()
        .find_map(|l| l.strip_prefix("edgefn admin on http://"))
        .and_then(|rest| rest.split(' ').next())
        .expect("the admin address is printed")
        .parse()
        .unwrap();
    let auth = format!("Bearer {TOKEN}");
    let metrics = send(
        admin,
        "GET",
        "/metrics",
        &[("authorization", auth.as_bytes())],
        b"",
    );
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    for (function, outcome, count) in [
        ("open", "ok", 2),
        ("open", "denied", 1),
        ("open", "invalid", 1),
        ("open", "limit", 1),
        ("open", "timeout", 0),
        ("open", "unavailable", 0),
        ("per-instance", "unsupported", 2),
    ] {
        let series = format!(
            "edgefn_outbound_requests_total{{function=\"{function}\",outcome=\"{outcome}\"}} {count}\n"
        );
        assert!(text.contains(&series), "no {series} in:\n{text}");
    }
}

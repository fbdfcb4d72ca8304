//! The Azure Functions custom handler, driven over loopback HTTP the way the Functions host drives
//! it: the real `edgefn azure-functions` process started with `FUNCTIONS_CUSTOMHANDLER_PORT`,
//! polled on `GET /` until ready, then sent forwarded requests (`enableForwardingHttpRequest`, with
//! the headers the host adds) and invocation payloads (`POST /<FunctionName>`, the JSON the host
//! builds). Every example guest must answer exactly as it does on the local host. The packaging
//! test checks the generated app against the documented host.json/function.json schema and then
//! starts the packaged handler from its own host.json.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{Host, Reply, guest, shared_cache_dir};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the Functions host waits for a custom handler to start.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);
/// How often the Functions host polls `GET /` while it waits.
const READINESS_POLL: Duration = Duration::from_millis(25);
/// The `Host` header clients use, on both hosts, so echoed headers compare equal.
const CLIENT_HOST: &str = "edgefn-test.azurewebsites.net";
/// A Functions host version, as it appears in the headers it adds.
const HOST_VERSION: &str = "4.1036.1.23224";
const GREETING: &str = "configured hello";

const LOCAL_MANIFEST: &str = r#"
[[function]]
name = "hello"
wasm = "{guests}/hello.wasm"

[[function]]
name = "echo"
wasm = "{guests}/echo.wasm"

[[function]]
name = "json"
wasm = "{guests}/json.wasm"

[[function]]
name = "config"
wasm = "{guests}/config.wasm"
env = { GREETING = "configured hello" }
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running custom handler; killed when dropped.
struct Handler {
    child: Child,
    addr: SocketAddr,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
    started: Duration,
}

impl Handler {
    /// `edgefn azure-functions` for one guest, in an empty app folder (no host.json), sharing the
    /// test artifact cache.
    fn start(guest_name: &str, extra: &[&str], env: &[(&str, &str)]) -> Handler {
        let wasm = guest(guest_name);
        let cache = shared_cache_dir();
        let mut args: Vec<String> = vec![
            "azure-functions".into(),
            "--wasm".into(),
            wasm.display().to_string(),
            "--artifacts".into(),
            cache.display().to_string(),
            "--workers".into(),
            "2".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let dir = tempfile::tempdir().unwrap();
        Handler::spawn(common::edgefn_bin(), &args, dir, None, env)
    }

    /// Starts `program ARGS` as the Functions host does (port, worker id and app root in the
    /// environment, working directory `cwd` or the app folder) and polls `GET /` until it answers.
    /// A port taken in between is retried with another.
    fn spawn(
        program: &str,
        args: &[String],
        dir: tempfile::TempDir,
        cwd: Option<&Path>,
        env: &[(&str, &str)],
    ) -> Handler {
        for _ in 0..3 {
            let port = free_port();
            let log_path = dir.path().join(format!("handler-{port}.log"));
            let log = std::fs::File::create(&log_path).unwrap();
            let spawned_at = Instant::now();
            let mut command = Command::new(program);
            command
                .args(args)
                .current_dir(cwd.unwrap_or(dir.path()))
                .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
                .env("FUNCTIONS_CUSTOMHANDLER_WORKER_ID", "worker-1")
                .env("RUST_LOG", "info")
                .env_remove("FUNCTIONS_APP_ROOT_PATH")
                .env_remove("EDGEFN_CACHE_DIR")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            if let Some(root) = cwd {
                command.env("FUNCTIONS_APP_ROOT_PATH", root);
            }
            for (key, value) in env {
                command.env(key, value);
            }
            let mut child = command.spawn().expect("spawn the custom handler");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: retried below with another port
                }
                if spawned_at.elapsed() > STARTUP_LIMIT {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "the handler did not answer GET / within {STARTUP_LIMIT:?}:\n{}",
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    );
                }
                if std::net::TcpStream::connect_timeout(&addr, READINESS_POLL).is_ok() {
                    let ready = common::send_exact(addr, "GET", "/", &[], b"");
                    assert_eq!(ready.status, 200, "readiness: {}", ready.text());
                    return Handler {
                        child,
                        addr,
                        log_path,
                        _dir: dir,
                        started: spawned_at.elapsed(),
                    };
                }
                std::thread::sleep(READINESS_POLL);
            }
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            assert!(
                log.contains("cannot listen"),
                "the handler exited at startup:\n{log}"
            );
        }
        panic!("no free loopback port after three tries");
    }

    /// A client request as the Functions host forwards it: at `/api<path>`, with the invocation
    /// id, the host version and its product token on `User-Agent`.
    fn forward(&self, case: &Case, invocation_id: &str) -> Reply {
        let mut headers: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut user_agent = None;
        for (name, value) in &case.headers {
            if name.eq_ignore_ascii_case("user-agent") {
                user_agent = Some(String::from_utf8(value.clone()).unwrap());
            } else {
                headers.push((name, value.clone()));
            }
        }
        let product = format!("Azure-Functions-Host/{HOST_VERSION}");
        let user_agent = match user_agent {
            Some(client) => format!("{client} {product}"),
            None => product,
        };
        headers.push(("User-Agent", user_agent.into_bytes()));
        headers.push(("X-Azure-Functions-HostVersion", HOST_VERSION.into()));
        headers.push(("X-Azure-Functions-InvocationId", invocation_id.into()));
        let headers: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, &v[..])).collect();
        common::send_exact(
            self.addr,
            case.method,
            &format!("/api{}", case.path),
            &headers,
            &case.body,
        )
    }

    /// Posts an invocation payload to `/<function>` as the Functions host does.
    fn invoke(&self, function: &str, payload: &[u8], invocation_id: &str) -> Reply {
        let product = format!("Azure-Functions-Host/{HOST_VERSION}");
        let length = payload.len().to_string();
        common::send_exact(
            self.addr,
            "POST",
            &format!("/{function}"),
            &[
                ("Host", format!("127.0.0.1:{}", self.addr.port()).as_bytes()),
                ("Content-Type", b"application/json; charset=utf-8"),
                ("Content-Length", length.as_bytes()),
                ("User-Agent", product.as_bytes()),
                ("X-Azure-Functions-HostVersion", HOST_VERSION.as_bytes()),
                ("X-Azure-Functions-InvocationId", invocation_id.as_bytes()),
            ],
            payload,
        )
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One client request, as a client sends it to either host.
struct Case {
    method: &'static str,
    /// Path and query on the local host; the same URL on Azure is `/api` + this.
    path: &'static str,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
}

impl Case {
    fn new(method: &'static str, path: &'static str) -> Case {
        Case {
            method,
            path,
            headers: vec![("Host", CLIENT_HOST.into())],
            body: Vec::new(),
        }
    }

    fn header(mut self, name: &'static str, value: &[u8]) -> Case {
        self.headers.push((name, value.to_vec()));
        self
    }

    fn body(mut self, body: &[u8]) -> Case {
        let length = body.len().to_string();
        self.body = body.to_vec();
        self.header("Content-Length", length.as_bytes())
    }

    fn local(&self, host: &Host) -> Reply {
        let headers: Vec<(&str, &[u8])> = self.headers.iter().map(|(k, v)| (*k, &v[..])).collect();
        common::send_exact(host.addr, self.method, self.path, &headers, &self.body)
    }

    fn content_type(&self) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| String::from_utf8_lossy(v).to_lowercase())
    }

    /// The payload the Functions host builds for this request in invocation mode: `Headers` as
    /// arrays, `Query` as an object with repeats comma-joined, `Params` from the `{*path}` route,
    /// `Body` base64 for octet-stream and multipart, else text.
    fn invocation_payload(&self) -> Vec<u8> {
        let (path, query) = self.path.split_once('?').unwrap_or((self.path, ""));
        let mut headers: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (name, value) in &self.headers {
            headers
                .entry(name)
                .or_default()
                .push(String::from_utf8(value.clone()).expect("text header values"));
        }
        let mut query_object: BTreeMap<String, String> = BTreeMap::new();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            query_object
                .entry(key.into_owned())
                .and_modify(|joined| {
                    joined.push(',');
                    joined.push_str(&value)
                })
                .or_insert_with(|| value.into_owned());
        }
        let mut request = json!({
            "Url": format!("https://{CLIENT_HOST}/api{}", self.path),
            "Method": self.method,
            "Query": query_object,
            "Headers": headers,
            "Params": { "path": path.trim_start_matches('/') },
            "Identities": [],
        });
        if !self.body.is_empty() {
            let binary = self.content_type().is_some_and(|ct| {
                ct.starts_with("application/octet-stream") || ct.contains("multipart/")
            });
            request["Body"] = if binary {
                json!(BASE64.encode(&self.body))
            } else {
                json!(String::from_utf8(self.body.clone()).expect("a text body"))
            };
        }
        serde_json::to_vec(&json!({
            "Data": { "req": request },
            "Metadata": {
                "Query": query_object,
                "Headers": headers,
                "sys": {
                    "MethodName": "fn",
                    "UtcNow": "2026-01-01T00:00:00.0000000Z",
                    "RandGuid": "24ad4c06-24ad-4e5b-8294-3da9714877e9",
                },
            },
        }))
        .unwrap()
    }
}

/// Headers that legitimately differ between two runs of the same request.
const PER_RUN_HEADERS: [&str; 3] = ["date", "x-edgefn-request-id", "x-echo-request-id"];

/// What the Azure side must answer, from the local answer: the guest names its platform
/// (`hello` says "on local" locally), which changes the body and its length and nothing else.
fn expected_on_azure(local: &Reply) -> Reply {
    let body = String::from_utf8(local.body.clone())
        .map(|text| {
            text.replace(" on local!", " on azure-functions!")
                .into_bytes()
        })
        .unwrap_or_else(|_| local.body.clone());
    let headers = local
        .headers
        .iter()
        .map(|(k, v)| {
            if k == "content-length" {
                (k.clone(), body.len().to_string().into_bytes())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    Reply {
        status: local.status,
        headers,
        body,
    }
}

/// Headers to compare, readable in a failure message: values as text (bytes when not UTF-8).
fn comparable(headers: &[(String, Vec<u8>)]) -> Vec<(String, String)> {
    let mut kept: Vec<_> = headers
        .iter()
        .filter(|(k, _)| !PER_RUN_HEADERS.contains(&k.as_str()))
        .map(|(k, v)| {
            let value =
                String::from_utf8(v.clone()).unwrap_or_else(|e| format!("{:?}", e.into_bytes()));
            (k.clone(), value)
        })
        .collect();
    kept.sort_by(|a, b| a.0.cmp(&b.0)); // stable: repeats keep their order
    kept
}

/// The local answer's headers as invocation mode carries them: one joined value per name,
/// without the framing headers the Functions host writes itself.
fn joined_headers(reply: &Reply) -> BTreeMap<String, String> {
    let mut joined: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in comparable(&reply.headers) {
        if ["content-length", "transfer-encoding", "connection"].contains(&name.as_str()) {
            continue;
        }
        joined
            .entry(name)
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value)
            })
            .or_insert(value);
    }
    joined
}

fn invocation_id() -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        fastrand::u32(..),
        fastrand::u16(..),
        fastrand::u16(..0xfff),
        fastrand::u16(..0xfff),
        fastrand::u64(..1 << 48)
    )
}

/// Runs `case` on the local host and through the handler in both modes, and checks that status,
/// headers and body agree.
fn assert_same_everywhere(local_host: &Host, handler: &Handler, function: &str, case: &Case) {
    let what = format!("{} {} ({function})", case.method, case.path);
    let local = case.local(local_host);
    let expected = expected_on_azure(&local);

    let id = invocation_id();
    let forwarded = handler.forward(case, &id);
    assert_eq!(
        forwarded.status, expected.status,
        "{what}: forwarded status"
    );
    assert_eq!(
        comparable(&forwarded.headers),
        comparable(&expected.headers),
        "{what}: forwarded headers"
    );
    assert_eq!(forwarded.body, expected.body, "{what}: forwarded body");
    assert_eq!(forwarded.header("x-edgefn-request-id"), Some(id.clone()));
    if function == "echo" {
        assert_eq!(
            forwarded.header("x-echo-request-id"),
            Some(id),
            "{what}: the invocation id is the guest's request id"
        );
    }

    let id = invocation_id();
    let reply = handler.invoke(function, &case.invocation_payload(), &id);
    assert_eq!(
        reply.status,
        200,
        "{what}: invocation answer: {}",
        reply.text()
    );
    assert_eq!(
        reply.header("content-type").as_deref(),
        Some("application/json")
    );
    let result: Value = serde_json::from_slice(&reply.body).unwrap();
    let res = &result["Outputs"]["res"];
    assert_eq!(
        res["statusCode"],
        expected.status.to_string(),
        "{what}: invocation status"
    );
    let headers: BTreeMap<String, String> = serde_json::from_value(res["headers"].clone()).unwrap();
    let mut headers_without_ids = headers.clone();
    for name in PER_RUN_HEADERS {
        headers_without_ids.remove(name);
    }
    assert_eq!(
        headers_without_ids,
        joined_headers(&expected),
        "{what}: invocation headers"
    );
    assert_eq!(headers["x-edgefn-request-id"], id);
    assert_eq!(
        res["body"].as_str().unwrap().as_bytes(),
        &expected.body[..],
        "{what}: invocation body"
    );
    assert!(result["Logs"].is_array(), "{what}: Logs: {result}");
    assert!(result["ReturnValue"].is_null());
}

#[test]
fn example_guests_answer_as_on_the_local_host_in_both_modes() {
    let local = Host::with_manifest(LOCAL_MANIFEST);
    let text_body = "grüße, ✓ and \"quotes\"\n".as_bytes();

    let hello = Handler::start("hello", &["--name", "hello"], &[]);
    assert!(
        hello.started < Duration::from_secs(10),
        "readiness took {:?}",
        hello.started
    );
    for case in [
        Case::new("GET", "/hello"),
        Case::new("GET", "/hello/any/sub/path?x=1"),
        Case::new("POST", "/hello").body(b"ignored"),
    ] {
        assert_same_everywhere(&local, &hello, "hello", &case);
    }

    let echo = Handler::start("echo", &["--name", "echo"], &[]);
    for case in [
        Case::new("GET", "/echo"),
        Case::new("DELETE", "/echo/a/b?x=1&y=two"),
        Case::new("PUT", "/echo/text")
            .header("Content-Type", b"text/plain; charset=utf-8")
            .header("User-Agent", b"edgefn-tests/1.0")
            .header("X-Multi", b"one")
            .header("X-Multi", b"two")
            .body(text_body),
        Case::new("POST", "/echo/json?q=1")
            .header("Content-Type", b"application/json")
            .body(br#"{"a":[1,2,3],"b":"\u00e9"}"#),
    ] {
        assert_same_everywhere(&local, &echo, "echo", &case);
    }

    let json = Handler::start("json", &["--name", "json"], &[]);
    for case in [
        Case::new("POST", "/json")
            .header("Content-Type", b"application/json")
            .body(br#"{"name":"Ada","count":2}"#),
        Case::new("POST", "/json").body(b"{not json"),
    ] {
        assert_same_everywhere(&local, &json, "json", &case);
    }

    // Variables come from EDGEFN_VAR_* app settings only; the rest of the environment
    // (FUNCTIONS_CUSTOMHANDLER_PORT, PATH, ...) stays out of the guest.
    let config = Handler::start(
        "config",
        &["--name", "config"],
        &[("EDGEFN_VAR_GREETING", GREETING)],
    );
    let reply = config.forward(&Case::new("GET", "/config"), &invocation_id());
    let value: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(value["greeting"], GREETING);
    assert_eq!(value["variables"], json!(["GREETING"]));
    assert_same_everywhere(&local, &config, "config", &Case::new("GET", "/config"));
}

#[test]
fn binary_bodies_and_queries_survive() {
    let local = Host::with_manifest(LOCAL_MANIFEST);
    let echo = Handler::start("echo", &["--name", "echo"], &[]);
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(256 * 64).collect();
    let binary = Case::new("PUT", "/echo/bin")
        .header("Content-Type", b"application/octet-stream")
        .body(&every_byte);

    // Forwarding mode: binary both ways, byte for byte, as on the local host.
    let expected = binary.local(&local);
    let forwarded = echo.forward(&binary, &invocation_id());
    assert_eq!(forwarded.status, 200);
    assert_eq!(forwarded.body, every_byte);
    assert_eq!(
        comparable(&forwarded.headers),
        comparable(&expected.headers)
    );

    // Invocation mode: the binary request arrives base64 and reaches the guest as bytes; the
    // protocol has no binary responses, so the echo goes back base64, marked, with a log line.
    let reply = echo.invoke("echo", &binary.invocation_payload(), &invocation_id());
    assert_eq!(reply.status, 200);
    let result: Value = serde_json::from_slice(&reply.body).unwrap();
    let res = &result["Outputs"]["res"];
    assert_eq!(res["statusCode"], "200");
    assert_eq!(res["headers"]["x-edgefn-body-encoding"], "base64");
    assert_eq!(res["headers"]["content-type"], "application/octet-stream");
    assert_eq!(
        BASE64.decode(res["body"].as_str().unwrap()).unwrap(),
        every_byte
    );
    assert!(
        result["Logs"][0]
            .as_str()
            .unwrap()
            .contains("enableForwardingHttpRequest"),
        "{}",
        result["Logs"]
    );

    // Multipart bodies are base64 in the payload too.
    let multipart =
        b"--x\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n\xff\xfe\r\n--x--\r\n";
    let case = Case::new("POST", "/echo/upload")
        .header("Content-Type", b"multipart/form-data; boundary=x")
        .body(multipart);
    let reply = echo.invoke("echo", &case.invocation_payload(), &invocation_id());
    let result: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        BASE64
            .decode(result["Outputs"]["res"]["body"].as_str().unwrap())
            .unwrap(),
        multipart
    );

    // The raw query from Url reaches the guest, repeated keys and escapes included.
    let case = Case::new("GET", "/echo/q?a=1&a=2&e=%F0%9F%98%80");
    let reply = echo.invoke("echo", &case.invocation_payload(), &invocation_id());
    let result: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        result["Outputs"]["res"]["headers"]["x-echo-query"],
        "a=1&a=2&e=%F0%9F%98%80"
    );
    assert_eq!(
        result["Outputs"]["res"]["headers"]["x-echo-path"],
        "/echo/q"
    );
}

#[test]
fn hostile_guests_get_500_and_the_handler_keeps_serving() {
    for (name, extra) in [
        ("panic", &[][..]),
        ("busy-loop", &["--function-timeout", "00:00:00.500"][..]),
        ("memory-hog", &[][..]),
        ("stack-overflow", &[][..]),
    ] {
        let args = [&["--name", name][..], extra].concat();
        let mut handler = Handler::start(name, &args, &[]);
        for round in 0..2 {
            let started = Instant::now();
            let id = invocation_id();
            let reply = handler.forward(&Case::new("GET", "/x"), &id);
            assert_eq!(reply.status, 500, "{name} round {round}: {}", reply.text());
            assert!(
                reply.text().contains(&id),
                "{name}: the client is told the request id: {}",
                reply.text()
            );
            assert!(
                !reply.text().contains("secret"),
                "{name}: guest internals leaked: {}",
                reply.text()
            );
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{name} took {:?}",
                started.elapsed()
            );

            let id = invocation_id();
            let payload = Case::new("GET", "/x").invocation_payload();
            let reply = handler.invoke(name, &payload, &id);
            assert_eq!(
                reply.status, 200,
                "{name}: the Functions host gets a result"
            );
            let result: Value = serde_json::from_slice(&reply.body).unwrap();
            let res = &result["Outputs"]["res"];
            assert_eq!(res["statusCode"], "500", "{name}: {result}");
            assert!(!res["body"].as_str().unwrap().contains("secret"));
            let logs: Vec<&str> = result["Logs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap())
                .collect();
            assert!(
                logs.iter()
                    .any(|l| l.starts_with("edgefn: invocation failed")),
                "{name}: {logs:?}"
            );
            if name == "panic" {
                assert!(
                    logs.iter().any(|l| l.contains("panicked")),
                    "the guest's own output reaches Logs: {logs:?}"
                );
            }
            assert!(handler.alive(), "{name}: the handler died");
            assert_eq!(
                common::send_exact(handler.addr, "GET", "/", &[], b"").status,
                200
            );
        }
        if name == "busy-loop" {
            assert!(
                handler.log().contains("budget_ms=450"),
                "the deadline is functionTimeout less its margin:\n{}",
                handler.log()
            );
        }
    }
}

#[test]
fn malformed_invocations_get_a_clear_400_and_the_handler_survives() {
    let mut handler = Handler::start("hello", &["--name", "hello"], &[]);
    let malformed: [(&[u8], &str); 9] = [
        (b"", "EOF"),
        (b"\xff\xfe not json", "expected"),
        (b"[1, 2]", "Data"),
        (br#"{"Metadata": {}}"#, "Data"),
        (br#"{"Data": {"other": 1}}"#, "Data.req"),
        (br#"{"Data": {"req": {"Method": "GET"}}}"#, "Url"),
        (
            br#"{"Data": {"req": {"Url": "http://h/api/hello", "Method": "GE T"}}}"#,
            "Method",
        ),
        (
            br#"{"Data": {"req": {"Url": "http://h/api/hello", "Method": "GET", "Headers": {"x": {"nested": 1}}}}}"#,
            "Headers.x",
        ),
        (
            br#"{"Data": {"req": {"Url": "http://h/api/hello", "Method": "POST", "Headers": {"Content-Type": ["application/octet-stream"]}, "Body": "not base64!"}}}"#,
            "base64",
        ),
    ];
    for (payload, named) in malformed {
        let reply = handler.invoke("hello", payload, &invocation_id());
        assert_eq!(
            reply.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(payload),
            reply.text()
        );
        let text = reply.text();
        assert!(
            text.contains("invalid invocation payload") && text.contains(named),
            "{:?} should name {named:?}: {text}",
            String::from_utf8_lossy(payload)
        );
        assert!(handler.alive());
    }
    // Still serving, both modes.
    let reply = handler.invoke(
        "hello",
        &Case::new("GET", "/hello").invocation_payload(),
        &invocation_id(),
    );
    let result: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        result["Outputs"]["res"]["body"],
        "Hello from hello on azure-functions!\n"
    );
    let reply = handler.forward(&Case::new("GET", "/hello"), &invocation_id());
    assert_eq!(reply.text(), "Hello from hello on azure-functions!\n");
    // Not a call this handler serves: said plainly.
    let reply = common::send_exact(handler.addr, "GET", "/elsewhere", &[], b"");
    assert_eq!(reply.status, 404);
    assert!(reply.text().contains("POST /hello"), "{}", reply.text());
}

/// Checks `host.json` against the documented fields (schemastore host.json, v2): what the custom
/// handler section may hold and their types, the `functionTimeout` pattern, and no extension bundle.
fn check_host_json(host: &Value) -> Result<(), String> {
    let object = host.as_object().ok_or("host.json must be an object")?;
    for key in object.keys() {
        if ![
            "version",
            "functionTimeout",
            "customHandler",
            "extensions",
            "logging",
        ]
        .contains(&key.as_str())
        {
            return Err(format!("unexpected top-level key {key}"));
        }
    }
    if host["version"] != "2.0" {
        return Err("version must be \"2.0\"".into());
    }
    if object.contains_key("extensionBundle") {
        return Err("an HTTP-only app needs no extension bundle".into());
    }
    if let Some(timeout) = object.get("functionTimeout") {
        let timeout = timeout.as_str().ok_or("functionTimeout must be a string")?;
        let b = timeout.as_bytes();
        let hh_mm_ss = b.len() == 8
            && b[2] == b':'
            && b[5] == b':'
            && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
            && (b[0] < b'2' || (b[0] == b'2' && b[1] <= b'3'))
            && b[3] <= b'5'
            && b[6] <= b'5';
        if !(timeout == "-1" || hh_mm_ss) {
            return Err(format!("functionTimeout {timeout:?} is not hh:mm:ss"));
        }
    }
    let handler = host["customHandler"]
        .as_object()
        .ok_or("customHandler must be an object")?;
    for key in handler.keys() {
        if !["description", "enableForwardingHttpRequest"].contains(&key.as_str()) {
            return Err(format!("customHandler allows no property {key}"));
        }
    }
    let description = handler["description"]
        .as_object()
        .ok_or("customHandler.description must be an object")?;
    for key in description.keys() {
        if !["defaultExecutablePath", "workingDirectory", "arguments"].contains(&key.as_str()) {
            return Err(format!(
                "customHandler.description allows no property {key}"
            ));
        }
    }
    match description.get("defaultExecutablePath") {
        Some(Value::String(path)) if !path.is_empty() => {}
        _ => return Err("defaultExecutablePath must be a non-empty string".into()),
    }
    if let Some(dir) = description.get("workingDirectory")
        && !dir.is_string()
    {
        return Err("workingDirectory must be a string".into());
    }
    match description.get("arguments") {
        None => {}
        Some(Value::Array(args)) if args.iter().all(Value::is_string) => {}
        Some(_) => return Err("arguments must be an array of strings".into()),
    }
    if handler.get("enableForwardingHttpRequest") != Some(&json!(true)) {
        return Err("enableForwardingHttpRequest must be the boolean true".into());
    }
    if let Some(http) = host.pointer("/extensions/http")
        && !http["routePrefix"].is_string()
    {
        return Err("extensions.http requires the string routePrefix".into());
    }
    Ok(())
}

/// Checks `function.json` against the documented binding fields (schemastore function.json):
/// every binding has string name/type/direction; the HTTP trigger's authLevel and methods come
/// from their enums; the HTTP output is named `res`.
fn check_function_json(function: &Value) -> Result<(), String> {
    let bindings = function["bindings"]
        .as_array()
        .ok_or("bindings must be an array")?;
    for binding in bindings {
        for key in ["name", "type", "direction"] {
            if !binding[key].is_string() {
                return Err(format!("binding {binding} needs the string {key}"));
            }
        }
        if !["in", "out", "inout"].contains(&binding["direction"].as_str().unwrap()) {
            return Err(format!("binding {binding} has an unknown direction"));
        }
    }
    let trigger = bindings
        .iter()
        .find(|b| b["type"] == "httpTrigger")
        .ok_or("no httpTrigger binding")?;
    if trigger["direction"] != "in" || trigger["name"] != "req" {
        return Err("the httpTrigger binding must be in, named req".into());
    }
    if !["anonymous", "function", "admin"].contains(&trigger["authLevel"].as_str().unwrap_or("")) {
        return Err("authLevel must be anonymous, function or admin".into());
    }
    let methods = trigger["methods"]
        .as_array()
        .ok_or("methods must be an array")?;
    let allowed = [
        "get", "post", "delete", "head", "patch", "put", "options", "trace",
    ];
    for method in methods {
        if !method.as_str().is_some_and(|m| allowed.contains(&m)) {
            return Err(format!("method {method} is not one of {allowed:?}"));
        }
    }
    for required in ["get", "post", "put", "delete", "patch", "head", "options"] {
        if !methods.contains(&json!(required)) {
            return Err(format!("all methods must be routed; {required} is missing"));
        }
    }
    if trigger["route"] != "{*path}" {
        return Err("the route must catch every path: {*path}".into());
    }
    let output = bindings
        .iter()
        .find(|b| b["type"] == "http")
        .ok_or("no http output binding")?;
    if output["direction"] != "out" || output["name"] != "res" {
        return Err("the http output must be out, named res".into());
    }
    Ok(())
}

#[test]
fn schema_checks_catch_mistakes() {
    let good_host = json!({"version": "2.0", "functionTimeout": "00:03:50",
        "customHandler": {"description": {"defaultExecutablePath": "edgefn", "arguments": ["a"]},
        "enableForwardingHttpRequest": true}, "extensions": {"http": {"routePrefix": "api"}}});
    check_host_json(&good_host).unwrap();
    for (pointer, bad) in [
        ("/version", json!("3.0")),
        ("/functionTimeout", json!("00:60:00")),
        ("/functionTimeout", json!(230)),
        ("/customHandler/enableForwardingHttpRequest", json!("true")),
        ("/customHandler/description/arguments", json!("a b")),
        (
            "/customHandler/description/defaultExecutablePath",
            json!(""),
        ),
        ("/extensions/http/routePrefix", json!(null)),
    ] {
        let mut host = good_host.clone();
        *host.pointer_mut(pointer).unwrap() = bad.clone();
        assert!(check_host_json(&host).is_err(), "{pointer} = {bad}");
    }
    let mut bundled = good_host.clone();
    bundled["extensionBundle"] = json!({"id": "Microsoft.Azure.Functions.ExtensionBundle"});
    assert!(check_host_json(&bundled).is_err());

    let good_function = json!({"bindings": [
        {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous",
         "methods": ["get", "post", "put", "delete", "patch", "head", "options"], "route": "{*path}"},
        {"type": "http", "direction": "out", "name": "res"}]});
    check_function_json(&good_function).unwrap();
    for (pointer, bad) in [
        ("/bindings/0/authLevel", json!("public")),
        ("/bindings/0/methods/0", json!("fetch")),
        ("/bindings/0/route", json!("hello")),
        ("/bindings/1/name", json!("$return")),
        ("/bindings/1/direction", json!("sideways")),
    ] {
        let mut function = good_function.clone();
        *function.pointer_mut(pointer).unwrap() = bad.clone();
        assert!(check_function_json(&function).is_err(), "{pointer} = {bad}");
    }
}

/// `%NAME%` in host.json arguments, expanded from the environment as the Functions host does.
fn expand_app_settings(argument: &str) -> String {
    let mut out = String::new();
    let mut rest = argument;
    while let Some(start) = rest.find('%') {
        let Some(len) = rest[start + 1..].find('%') else {
            break;
        };
        let name = &rest[start + 1..start + 1 + len];
        out.push_str(&rest[..start]);
        out.push_str(&std::env::var(name).unwrap_or_else(|_| format!("%{name}%")));
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

#[test]
fn package_writes_a_function_app_that_starts_from_its_host_json() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    let output = Command::new(common::edgefn_bin())
        .args(["package", "--target", "azure-functions"])
        .arg(guest("hello"))
        .arg("--out")
        .arg(&app)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("func azure functionapp publish"),
        "{stdout}"
    );
    assert!(
        stdout.contains("az functionapp deployment source config-zip"),
        "{stdout}"
    );

    let read = |path: PathBuf| -> Value {
        serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
    };
    let host_json = read(app.join("host.json"));
    check_host_json(&host_json).unwrap_or_else(|e| panic!("host.json: {e}\n{host_json:#}"));
    let function_json = read(app.join("hello").join("function.json"));
    check_function_json(&function_json)
        .unwrap_or_else(|e| panic!("hello/function.json: {e}\n{function_json:#}"));
    let settings = read(app.join("local.settings.json"));
    assert_eq!(settings["Values"]["FUNCTIONS_WORKER_RUNTIME"], "Custom");

    let description = &host_json["customHandler"]["description"];
    let executable = app.join(description["defaultExecutablePath"].as_str().unwrap());
    use std::os::unix::fs::PermissionsExt as _;
    let metadata = std::fs::metadata(&executable).unwrap();
    assert!(
        metadata.permissions().mode() & 0o111 != 0,
        "the handler must be executable"
    );
    if Command::new("strip").arg("--version").output().is_ok() {
        assert!(
            metadata.len() < 64 << 20,
            "the handler was not stripped: {} bytes",
            metadata.len()
        );
    }
    assert!(app.join("hello.wasm").is_file());
    let artifacts: Vec<String> = std::fs::read_dir(app.join("artifacts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        artifacts.iter().any(|f| f.ends_with(".cwasm")),
        "{artifacts:?}"
    );
    assert!(
        artifacts.iter().any(|f| f.ends_with(".cwasm.sha256")),
        "{artifacts:?}"
    );

    // Start the app the way the Functions host does: host.json's executable and arguments, in
    // the app root, with the port and app root in the environment.
    let arguments: Vec<String> = description["arguments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| expand_app_settings(a.as_str().unwrap()))
        .collect();
    let handler = Handler::spawn(
        executable.to_str().unwrap(),
        &arguments,
        tempfile::tempdir().unwrap(),
        Some(&app),
        &[],
    );
    let reply = handler.forward(&Case::new("GET", "/hello"), &invocation_id());
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "Hello from hello on azure-functions!\n");
    let log = handler.log();
    assert!(
        log.contains("artifact=\"hit\""),
        "the packaged artifact must load without compiling:\n{log}"
    );
    assert!(
        log.contains("budget_ms=229000"),
        "functionTimeout 00:03:50 from host.json, less the margin:\n{log}"
    );
}

//! Azure Functions as a [`Target`]: the real `edgefn azure-functions` custom handler, driven over
//! loopback HTTP the way the Functions host drives it: started with `FUNCTIONS_CUSTOMHANDLER_PORT`,
//! polled on `GET /` until ready, then sent forwarded requests (`enableForwardingHttpRequest`, with
//! the headers the host adds) and invocation payloads (`POST /<FunctionName>`, the JSON the host
//! builds).

use super::{
    CLIENT_HOST, Case, Comparable, FRAMING_HEADERS, PER_RUN_HEADERS, Process, Target, free_port,
    split_settings,
};
use crate::common::{Reply, edgefn_bin, guest, send_exact, shared_cache_dir};
use crate::lib_api::BODY_ENCODING_HEADER;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the Functions host waits for a custom handler to start.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);
/// How often the Functions host polls `GET /` while it waits.
const READINESS_POLL: Duration = Duration::from_millis(25);
/// A Functions host version, as it appears in the headers it adds.
pub const HOST_VERSION: &str = "4.1036.1.23224";

/// A running custom handler; killed when dropped.
pub struct Handler {
    process: Process,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
    /// How long it took to answer `GET /`.
    pub started: Duration,
}

impl Handler {
    /// `edgefn azure-functions` for one guest, in an empty app folder (no host.json), sharing the
    /// test artifact cache.
    pub fn start(guest_name: &str, extra: &[&str], env: &[(&str, &str)]) -> Handler {
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
        Handler::spawn(edgefn_bin(), &args, dir, None, env)
    }

    /// A packaged function app started the way the Functions host starts it: `host.json`'s
    /// `customHandler` executable and arguments (`%NAME%` expanded from `env`, then this process's
    /// environment), in the app root, with `env` (the app settings) as its environment.
    pub fn start_app(app: &Path, env: &[(&str, &str)]) -> Handler {
        let host_json: Value =
            serde_json::from_slice(&std::fs::read(app.join("host.json")).unwrap()).unwrap();
        let description = &host_json["customHandler"]["description"];
        let executable = app.join(description["defaultExecutablePath"].as_str().unwrap());
        let arguments: Vec<String> = description["arguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| expand_app_settings(a.as_str().unwrap(), env))
            .collect();
        Handler::spawn(
            executable.to_str().unwrap(),
            &arguments,
            tempfile::tempdir().unwrap(),
            Some(app),
            env,
        )
    }

    /// Starts `program ARGS` as the Functions host does (port, worker id and app root in the
    /// environment, working directory `cwd` or the app folder) and polls `GET /` until it answers.
    /// A port taken in between is retried with another.
    pub fn spawn(
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
                    let ready = crate::common::send(addr, "GET", "/", &[], b"");
                    assert_eq!(ready.status, 200, "readiness: {}", ready.text());
                    return Handler {
                        process: Process {
                            child,
                            log: log_path,
                        },
                        addr,
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
    pub fn forward(&self, case: &Case, invocation_id: &str) -> Reply {
        let mut headers: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut user_agent = None;
        for (name, value) in &case.headers {
            if name.eq_ignore_ascii_case("user-agent") {
                user_agent = Some(String::from_utf8(value.clone()).unwrap());
            } else {
                headers.push((name.as_str(), value.clone()));
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
        send_exact(
            self.addr,
            &case.method,
            &format!("/api{}", case.path),
            &headers,
            &case.body,
        )
    }

    /// Posts an invocation payload to `/<function>` as the Functions host does.
    pub fn invoke(&self, function: &str, payload: &[u8], invocation_id: &str) -> Reply {
        let product = format!("Azure-Functions-Host/{HOST_VERSION}");
        let length = payload.len().to_string();
        send_exact(
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

    pub fn alive(&mut self) -> bool {
        self.process.is_running()
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// The payload the Functions host builds for this request in invocation mode: `Headers` as
/// arrays, `Query` as an object with repeats comma-joined, `Params` from the `{*path}` route,
/// `Body` base64 for octet-stream and multipart, else text.
pub fn invocation_payload(case: &Case) -> Vec<u8> {
    let (path, query) = case
        .path
        .split_once('?')
        .unwrap_or((case.path.as_str(), ""));
    let mut headers: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, value) in &case.headers {
        headers
            .entry(name.as_str())
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
        "Url": format!("https://{CLIENT_HOST}/api{}", case.path),
        "Method": case.method,
        "Query": query_object,
        "Headers": headers,
        "Params": { "path": path.trim_start_matches('/') },
        "Identities": [],
    });
    if !case.body.is_empty() {
        let binary = case
            .header_value("content-type")
            .map(|ct| ct.to_lowercase())
            .is_some_and(|ct| {
                ct.starts_with("application/octet-stream") || ct.contains("multipart/")
            });
        request["Body"] = if binary {
            json!(BASE64.encode(&case.body))
        } else {
            json!(String::from_utf8(case.body.clone()).expect("a text body"))
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

/// The local answer's headers as invocation mode carries them: one joined value per name,
/// without the framing headers the Functions host writes itself.
pub fn joined_headers(reply: &Reply) -> BTreeMap<String, String> {
    let mut joined: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in Comparable::of(reply, PER_RUN_HEADERS, false).headers {
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

pub fn invocation_id() -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        fastrand::u32(..),
        fastrand::u16(..),
        fastrand::u16(..0xfff),
        fastrand::u16(..0xfff),
        fastrand::u64(..1 << 48)
    )
}

/// One guest behind its own custom handler, reached in forwarding mode (as a client's request
/// forwarded by the Functions host); [`Target::check`] also runs each case in invocation mode.
pub struct Azure {
    pub handler: Handler,
    guest: String,
    /// The Table storage emulator behind the guest's key-value stores, when it is granted any.
    _azurite: Option<std::sync::Arc<crate::kv_azure::Azurite>>,
}

impl Target for Azure {
    const PLATFORM: &'static str = "azure-functions";

    /// Variables are `EDGEFN_VAR_<NAME>` app settings, platform settings (`EDGEFN_OUTBOUND_*`)
    /// app settings of their own name; the rest of the environment
    /// (FUNCTIONS_CUSTOMHANDLER_PORT, PATH, ...) stays out of the guest. A guest granted stores
    /// (`EDGEFN_KV_STORES`) gets the shared Azurite as `AzureWebJobsStorage`, in a table of its
    /// own, so each deployment starts with empty stores as the local host does.
    fn start(guest: &str, env: &[(&str, &str)]) -> Azure {
        let (platform, vars) = split_settings(env);
        let grants_stores = platform
            .iter()
            .any(|(k, v)| *k == "EDGEFN_KV_STORES" && !v.trim().is_empty());
        let azurite = grants_stores.then(crate::kv_azure::Azurite::shared);
        let storage: Vec<(String, String)> = match &azurite {
            Some(azurite) => vec![
                ("AzureWebJobsStorage".into(), azurite.connection_string()),
                (
                    "EDGEFN_KV_AZURE_TABLE".into(),
                    format!("kv{:016x}", fastrand::u64(..)),
                ),
            ],
            None => Vec::new(),
        };
        let settings: Vec<(String, &str)> = vars
            .iter()
            .map(|(k, v)| (format!("EDGEFN_VAR_{k}"), *v))
            .chain(platform.iter().map(|(k, v)| (k.to_string(), *v)))
            .chain(storage.iter().map(|(k, v)| (k.clone(), v.as_str())))
            .collect();
        let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let handler = Handler::start(guest, &["--name", guest], &settings);
        assert!(
            handler.started < Duration::from_secs(10),
            "readiness took {:?}",
            handler.started
        );
        Azure {
            handler,
            guest: guest.to_owned(),
            _azurite: azurite,
        }
    }

    /// Forwarding mode; the invocation id the Functions host sends is the request id the client
    /// and the guest see.
    fn send(&self, case: &Case) -> Reply {
        let id = invocation_id();
        let reply = self.handler.forward(case, &id);
        let what = case.what();
        assert_eq!(
            reply.header("x-edgefn-request-id"),
            Some(id.clone()),
            "{what}"
        );
        if reply.header("x-echo-request-id").is_some() {
            assert_eq!(
                reply.header("x-echo-request-id"),
                Some(id),
                "{what}: the invocation id is the guest's request id"
            );
        }
        reply
    }

    /// Every header but what differs per run and the framing: the local host streams a large
    /// component body (chunked) where the Functions handler, like the Functions host, answers it
    /// whole (with its length).
    fn comparable(&self, reply: &Reply) -> Comparable {
        Comparable::of(reply, &[PER_RUN_HEADERS, FRAMING_HEADERS].concat(), false)
    }

    /// The same case in invocation mode: the result's status, headers (joined per name, without
    /// the framing the Functions host writes itself) and body are the expected ones.
    fn check(&self, case: &Case, expected: &Reply, _forwarded: &Reply) {
        let what = format!("{} ({})", case.what(), self.guest);
        let id = invocation_id();
        let reply = self
            .handler
            .invoke(&self.guest, &invocation_payload(case), &id);
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
        let headers: BTreeMap<String, String> =
            serde_json::from_value(res["headers"].clone()).unwrap();
        let mut headers_without_ids = headers.clone();
        for name in PER_RUN_HEADERS {
            headers_without_ids.remove(*name);
        }
        // The protocol carries only text: a body that is not UTF-8 travels base64, marked.
        let binary = std::str::from_utf8(&expected.body).is_err();
        let mut expected_headers = joined_headers(expected);
        if binary {
            expected_headers.insert(BODY_ENCODING_HEADER.to_owned(), "base64".to_owned());
        }
        assert_eq!(
            headers_without_ids, expected_headers,
            "{what}: invocation headers"
        );
        assert_eq!(headers["x-edgefn-request-id"], id);
        let body = res["body"].as_str().unwrap();
        let body = if binary {
            BASE64.decode(body).unwrap()
        } else {
            body.as_bytes().to_vec()
        };
        assert!(
            body == expected.body,
            "{what}: invocation body ({} bytes, {} expected)",
            body.len(),
            expected.body.len()
        );
        assert!(result["Logs"].is_array(), "{what}: Logs: {result}");
        assert!(result["ReturnValue"].is_null());
    }

    fn assert_running(&mut self) {
        assert!(self.handler.alive(), "the handler exited: {}", self.log());
    }

    fn log(&self) -> String {
        self.handler.log()
    }
}

/// `%NAME%` in a host.json argument, expanded as the Functions host does: from the app settings
/// (`settings`), else the environment.
fn expand_app_settings(argument: &str, settings: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = argument;
    while let Some(start) = rest.find('%') {
        let Some(len) = rest[start + 1..].find('%') else {
            break;
        };
        let name = &rest[start + 1..start + 1 + len];
        out.push_str(&rest[..start]);
        let setting = settings
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string());
        out.push_str(
            &setting
                .or_else(|| std::env::var(name).ok())
                .unwrap_or_else(|| format!("%{name}%")),
        );
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

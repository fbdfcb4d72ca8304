//! One harness for every platform a function deploys to: the local host, AWS Lambda (through
//! cargo-lambda's Runtime API emulator), Azure Functions (through the custom-handler protocol) and
//! Cloudflare Workers (through workerd). Each is a [`Target`]: started for one guest, sent a
//! [`Case`], and told what it must answer given the local host's answer. [`Pair`] runs a case on
//! the local host and on a target and asserts the two agree; `conformance.rs` builds on it.

pub mod azure;
pub mod lambda;
pub mod local;
pub mod workers;

pub use azure::Azure;
pub use lambda::Lambda;
pub use local::Local;
pub use workers::Workers;

use crate::common::{self, Reply};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Child;

/// The `Host` header every case sends, to every platform, so echoed headers compare equal.
pub const CLIENT_HOST: &str = "edgefn-test.azurewebsites.net";

/// A platform serving one guest.
/// `Sync`, so a case can send requests to one deployment from several threads at once.
pub trait Target: Sized + Sync {
    /// The platform name the guest reports (`Context::platform`, in hello's greeting).
    const PLATFORM: &'static str;

    /// Deploys `guest` with the variables `env` (as this platform configures variables) and waits
    /// until it serves.
    fn start(guest: &str, env: &[(&str, &str)]) -> Self;

    /// Sends `case` the way a client of this platform does (through its front door: a Function
    /// URL, the Functions host forwarding, a Worker's fetch), and returns the answer the client gets.
    fn send(&self, case: &Case) -> Reply;

    /// What this platform must answer given the local host's answer to the same case: by default
    /// the same, but for the platform name a guest may report (which changes the length too).
    fn expected(&self, local: &Reply) -> Reply {
        renamed(local, Self::PLATFORM)
    }

    /// The part of a reply that must be equal to the expected one on this platform.
    fn comparable(&self, reply: &Reply) -> Comparable;

    /// Checks beyond equality with the expected answer (ids, the platform's other invocation
    /// modes); none by default.
    fn check(&self, _case: &Case, _expected: &Reply, _reply: &Reply) {}

    /// Fails when the platform's process has exited.
    fn assert_running(&mut self);

    /// The platform's log so far, for failure messages.
    fn log(&self) -> String;
}

/// One client request, sent alike to every platform.
#[derive(Clone, Debug)]
pub struct Case {
    pub method: String,
    /// Path and query, as on the local host.
    pub path: String,
    /// Exactly the headers sent (a `Host` first, and `Content-Length` when there is a body).
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Case {
    pub fn new(method: &str, path: &str) -> Case {
        Case {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: vec![("Host".to_owned(), CLIENT_HOST.into())],
            body: Vec::new(),
        }
    }

    pub fn get(path: &str) -> Case {
        Case::new("GET", path)
    }

    pub fn post(path: &str) -> Case {
        Case::new("POST", path)
    }

    pub fn header(mut self, name: &str, value: &[u8]) -> Case {
        self.headers.push((name.to_owned(), value.to_vec()));
        self
    }

    pub fn body(mut self, body: &[u8]) -> Case {
        let length = body.len().to_string();
        self.body = body.to_vec();
        self.header("Content-Length", length.as_bytes())
    }

    /// The headers as `send_exact` takes them.
    pub fn header_refs(&self) -> Vec<(&str, &[u8])> {
        self.headers
            .iter()
            .map(|(k, v)| (k.as_str(), &v[..]))
            .collect()
    }

    /// The value of the first header named `name` (any case), as text.
    pub fn header_value(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    /// Sends the case, exactly, to a server at `addr` under `path` (instead of the case's own).
    pub fn send_to(&self, addr: std::net::SocketAddr, path: &str) -> Reply {
        common::send_exact(addr, &self.method, path, &self.header_refs(), &self.body)
    }

    /// `METHOD path`, for failure messages.
    pub fn what(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A reply reduced to what must be equal on two platforms.
#[derive(Debug, PartialEq)]
pub struct Comparable {
    pub status: u16,
    /// `(name, value)` sorted by name; a name's repeats keep their order (or are joined, see
    /// [`Comparable::of`]). Values are text, or their bytes when not UTF-8.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Headers whose values differ between two runs of the same request: when the response was made,
/// and the random id of each invocation.
pub const PER_RUN_HEADERS: &[&str] = &["date", "x-edgefn-request-id", "x-echo-request-id"];

/// Message framing, each server's own choice (the bodies are compared byte for byte instead).
pub const FRAMING_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
];

impl Comparable {
    /// `reply` without the headers named in `without`; with `join`, a name's repeats become one
    /// value joined with ", " (as the Fetch API and some platforms join them; RFC 9110 makes the
    /// two forms equivalent), except set-cookie, whose values stay a list. An error page names the
    /// request id, which differs per run: the body is compared with the id blanked out.
    pub fn of(reply: &Reply, without: &[&str], join: bool) -> Comparable {
        let mut comparable = Comparable::in_order(reply, without, join);
        comparable.headers.sort_by(|a, b| a.0.cmp(&b.0)); // stable: repeats keep their order
        comparable
    }

    /// [`Comparable::of`], with the headers in the order they came (for two answers from the same
    /// server, which must agree on the order too).
    pub fn in_order(reply: &Reply, without: &[&str], join: bool) -> Comparable {
        let mut headers: Vec<(String, String)> = Vec::new();
        for (name, value) in &reply.headers {
            if without.contains(&name.as_str()) {
                continue;
            }
            let value = header_text(value);
            let repeat = headers.iter_mut().find(|(k, _)| k == name);
            match repeat {
                Some((_, joined)) if join && name != "set-cookie" => {
                    joined.push_str(", ");
                    joined.push_str(&value);
                }
                _ => headers.push((name.clone(), value)),
            }
        }
        let mut body = reply.body.clone();
        if let Some(id) = reply.header("x-edgefn-request-id") {
            body = replace(&body, id.as_bytes(), b"<request-id>");
        }
        Comparable {
            status: reply.status,
            headers,
            body,
        }
    }
}

/// A header value as text, or its bytes when it is not UTF-8 (so nothing is lost).
pub fn header_text(value: &[u8]) -> String {
    String::from_utf8(value.to_vec()).unwrap_or_else(|e| format!("{:?}", e.into_bytes()))
}

/// `local` as a guest on `platform` answers it: the guest names its platform (`hello` says
/// "on local!" locally), which changes the body and its length and nothing else.
pub fn renamed(local: &Reply, platform: &str) -> Reply {
    let body = replace(
        &local.body,
        b" on local!",
        format!(" on {platform}!").as_bytes(),
    );
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

/// `haystack` with every `needle` replaced by `with`.
pub fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut at = 0;
    while at < haystack.len() {
        if !needle.is_empty() && haystack[at..].starts_with(needle) {
            out.extend_from_slice(with);
            at += needle.len();
        } else {
            out.push(haystack[at]);
            at += 1;
        }
    }
    out
}

/// A guest served by the local host and by a target side by side.
pub struct Pair<T: Target> {
    pub guest: String,
    pub local: Local,
    pub target: T,
}

impl<T: Target> Pair<T> {
    /// Serves `guest` with variables `env` on the local host and on `T`.
    pub fn serve(guest: &str, env: &[(&str, &str)]) -> Pair<T> {
        Pair {
            guest: guest.to_owned(),
            local: Local::start(guest, env),
            target: T::start(guest, env),
        }
    }

    /// Sends `case` to both and asserts the target answers what it must given the local answer:
    /// status, headers and body. Returns the target's reply.
    pub fn same(&mut self, case: &Case) -> Reply {
        let what = format!("{} {} on {}", self.guest, case.what(), T::PLATFORM);
        let local = self.local.send(case);
        let expected = self.target.expected(&local);
        let reply = self.target.send(case);
        for (side, answer) in [("local", &local), (T::PLATFORM, &reply)] {
            if let Some(seen) = answer.header("x-echo-h-host") {
                assert_eq!(
                    Some(seen),
                    case.header_value("host"),
                    "{what}: the guest sees the host it was sent ({side})"
                );
            }
        }
        let want = self.target.comparable(&expected);
        let got = self.target.comparable(&reply);
        assert_eq!(
            got.status,
            want.status,
            "{what}: status differs: {}\nlog:\n{}",
            reply.text(),
            self.target.log()
        );
        assert_eq!(got.headers, want.headers, "{what}: headers differ");
        assert!(
            got.body == want.body,
            "{what}: bodies differ ({} bytes here, {} expected): {:?} vs {:?}",
            got.body.len(),
            want.body.len(),
            String::from_utf8_lossy(&got.body[..got.body.len().min(200)]),
            String::from_utf8_lossy(&want.body[..want.body.len().min(200)]),
        );
        self.target.check(case, &expected, &reply);
        self.target.assert_running();
        reply
    }

    /// [`Pair::same`] for each case in turn; the target's replies.
    pub fn all_same(&mut self, cases: &[Case]) -> Vec<Reply> {
        cases.iter().map(|case| self.same(case)).collect()
    }
}

/// A [`Target::check`]: the reply names the invocation in `x-edgefn-request-id`.
pub fn assert_names_the_invocation(case: &Case, reply: &Reply) {
    assert!(
        reply.header("x-edgefn-request-id").is_some(),
        "{}: the platform names the invocation",
        case.what()
    );
}

/// A variable: name and value.
pub type Var<'a> = (&'a str, &'a str);

/// `env` split into platform settings (`EDGEFN_*`: Lambda environment, Azure app settings and
/// Worker vars the edgefn runtime reads, never the guest's) and the guest's own variables.
pub fn split_settings<'a>(env: &[Var<'a>]) -> (Vec<Var<'a>>, Vec<Var<'a>>) {
    env.iter()
        .partition(|(name, _)| name.starts_with("EDGEFN_"))
}

/// A free loopback port (free when asked: callers that can, let the server pick its own).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (and reaped) when dropped, with its output in a log file.
pub struct Process {
    pub child: Child,
    pub log: PathBuf,
}

impl Process {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

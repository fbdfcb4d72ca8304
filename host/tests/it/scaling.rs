//! Scaling past one machine: the probes a load balancer or Kubernetes routes by, driven against a
//! real `edgefn serve` through startup, reloads and the SIGTERM drain; and the container image
//! (`Dockerfile`) and Kubernetes manifests (`deploy/kubernetes/`), validated with
//! kubernetes-validate (`scripts/setup.sh k8s`) and checked against what the host does.

use crate::common::{Reply, guest, guests_dir, send, signal, try_send_exact};
use crate::dx_support::{repo_root, run_bounded};
use crate::lib_api::{DEFAULT_SHUTDOWN_GRACE, Manifest};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, atomic::AtomicBool, atomic::Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "scaling-test-admin-token";

/// A running `edgefn serve` whose stdout is read line by line as it comes, so the test can act
/// before the host listens. Killed when dropped.
struct Replica {
    child: Option<Child>,
    lines: Receiver<String>,
    stdout: Vec<String>,
    log: PathBuf,
    admin: SocketAddr,
}

impl Replica {
    /// Starts `edgefn serve ARGS...` with the admin listener on a loopback port, and waits for
    /// the admin line (printed before the functions are deployed).
    fn start(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Replica {
        let log = dir.join(format!("serve-{}.log", fastrand::u32(..)));
        let mut command = Command::new(env!("CARGO_BIN_EXE_edgefn"));
        command
            .arg("serve")
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("EDGEFN_CACHE_DIR")
            .env_remove("EDGEFN_ADMIN_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn edgefn serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut replica = Replica {
            child: Some(child),
            lines,
            stdout: Vec::new(),
            log,
            admin: "127.0.0.1:0".parse().unwrap(),
        };
        let admin = replica.wait_line("edgefn admin on http://", Duration::from_secs(30));
        let (addr, _) = admin
            .split_once(' ')
            .expect("admin line: ADDR (Authorization: ...)");
        replica.admin = addr.parse().unwrap();
        replica
    }

    /// Waits (bounded) for a stdout line starting with `prefix`; returns the rest of it.
    fn wait_line(&mut self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(rest) = self.stdout.iter().find_map(|l| l.strip_prefix(prefix)) {
                return rest.trim().to_owned();
            }
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => self.stdout.push(line),
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no stdout line starting with {prefix:?} within {limit:?}; stdout: {:?}\nlog:\n{}",
                    self.stdout,
                    self.log()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "edgefn serve exited before printing {prefix:?}; stdout: {:?}\nlog:\n{}",
                    self.stdout,
                    self.log()
                ),
            }
        }
    }

    /// The public address, once it listens.
    fn wait_listening(&mut self) -> SocketAddr {
        self.wait_line("edgefn listening on http://", Duration::from_secs(60))
            .parse()
            .unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Waits (bounded) for the process to exit.
    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("still running");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "edgefn serve did not exit within {limit:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// GET on the admin listener, with the token.
    fn admin(&self, method: &str, path: &str) -> Reply {
        let auth = format!("Bearer {TOKEN}");
        send(
            self.admin,
            method,
            path,
            &[("authorization", auth.as_bytes())],
            b"",
        )
    }

    /// `GET /readyz` (no token: probes send none).
    fn readyz(&self) -> Reply {
        probe(self.admin, "/readyz").unwrap_or_else(|e| panic!("GET /readyz: {e}"))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A GET without credentials, as a kubelet sends it; `Err` if the listener refuses.
fn probe(addr: SocketAddr, path: &str) -> Result<Reply, String> {
    let host = addr.to_string();
    try_send_exact(addr, "GET", path, &[("host", host.as_bytes())], b"")
}

/// Makes a named pipe with mkfifo(1): a module that arrives when the test writes it, so the
/// deploy waits for as long as the test wants.
fn fifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success(), "mkfifo {} failed", path.display());
}

fn write_manifest(dir: &Path, functions: &[(&str, &Path)], extra: &str) -> PathBuf {
    let mut text = String::new();
    for (name, wasm) in functions {
        text.push_str(&format!(
            "[[function]]\nname = \"{name}\"\nwasm = \"{}\"\n{}\n",
            wasm.display(),
            if *name == "hello" { extra } else { "" }
        ));
    }
    let path = dir.join("edgefn.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn readyz_follows_startup_reloads_and_the_sigterm_drain() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let late = dir.path().join("late.wasm");
    fifo(&late);
    let not_wasm = dir.path().join("not.wasm");
    std::fs::write(&not_wasm, b"not a module").unwrap();
    let (hello, slow, echo) = (guest("hello"), guest("slow"), guest("echo"));
    let manifest = write_manifest(
        dir.path(),
        &[("hello", &hello), ("slow", &slow), ("late", &late)],
        "",
    );
    let mut replica = Replica::start(
        dir.path(),
        &[
            manifest.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--admin-listen",
            "127.0.0.1:0",
            "--admin-token",
            TOKEN,
            "--shutdown-delay-ms",
            "1500",
        ],
        &[],
    );

    // Startup: the deploy is held on `late`'s module. Alive, not ready, and it says why.
    for _ in 0..5 {
        assert_eq!(probe(replica.admin, "/healthz").unwrap().status, 200);
        let ready = replica.readyz();
        assert_eq!(ready.status, 503, "{}", ready.text());
        assert_eq!(
            ready.text(),
            "not ready: deploying the manifest's functions\n"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(&late, std::fs::read(&echo).unwrap()).unwrap();
    let addr = replica.wait_listening();
    let started = Instant::now();
    let ready = loop {
        let ready = replica.readyz();
        if ready.status == 200 || started.elapsed() > Duration::from_secs(10) {
            break ready;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(
        (ready.status, ready.text().as_str()),
        (200, "ready\n"),
        "{}",
        replica.log()
    );
    assert_eq!(send(addr, "GET", "/late", &[], b"").status, 200);

    // A reload that adds a function whose module is refused: not ready, while the rest serve.
    write_manifest(
        dir.path(),
        &[
            ("hello", &hello),
            ("slow", &slow),
            ("late", &echo),
            ("extra", &not_wasm),
        ],
        "",
    );
    let reload = replica.admin("POST", "/reload");
    assert_eq!(reload.status, 422, "{}", reload.text());
    let ready = replica.readyz();
    assert_eq!(ready.status, 503);
    assert_eq!(
        ready.text(),
        "not ready: 1 function(s) of the manifest are not deployed (refused: see the log; fix them and POST /reload)\n"
    );
    assert!(
        !ready.text().contains("extra"),
        "an unauthenticated probe names no function"
    );
    assert_eq!(send(addr, "GET", "/hello", &[], b"").status, 200);

    // Fixed by the next reload: ready again.
    write_manifest(
        dir.path(),
        &[
            ("hello", &hello),
            ("slow", &slow),
            ("late", &echo),
            ("extra", &echo),
        ],
        "",
    );
    let reload = replica.admin("POST", "/reload");
    assert_eq!(reload.status, 200, "{}", reload.text());
    assert_eq!(replica.readyz().status, 200);
    assert_eq!(send(addr, "GET", "/extra", &[], b"").status, 200);

    // A reload that changes one function and refuses the new version of another, sampled all
    // along: ready throughout (the refused one keeps serving its old version).
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (sampling, admin) = (sampling.clone(), replica.admin);
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while sampling.load(Ordering::Relaxed) {
                answers.push(probe(admin, "/readyz").map(|r| (r.status, r.text())));
            }
            answers
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    write_manifest(
        dir.path(),
        &[
            ("hello", &hello),
            ("slow", &slow),
            ("late", &echo),
            ("extra", &not_wasm),
        ],
        "env = { CHANGED = \"1\" }\n",
    );
    let reload = replica.admin("POST", "/reload");
    assert_eq!(reload.status, 422, "{}", reload.text());
    let report: Value = serde_json::from_slice(&reload.body).unwrap();
    assert_eq!(report["deployed"], serde_json::json!(["hello"]), "{report}");
    assert_eq!(report["failed"][0][0], "extra", "{report}");
    std::thread::sleep(Duration::from_millis(50));
    sampling.store(false, Ordering::Relaxed);
    let answers = sampler.join().unwrap();
    assert!(answers.len() >= 10, "only {} samples", answers.len());
    let not_ready: Vec<_> = answers
        .iter()
        .filter(|a| !matches!(a, Ok((200, _))))
        .collect();
    assert!(
        not_ready.is_empty(),
        "not ready during a reload: {not_ready:?}"
    );
    assert_eq!(send(addr, "GET", "/extra", &[], b"").status, 200);

    // SIGTERM with a request in flight: unready at once, still serving for the shutdown delay,
    // then the listener closes, the probes answer until the in-flight request is done, exit 0.
    let in_flight = std::thread::spawn(move || send(addr, "GET", "/slow?ms=2500", &[], b""));
    let started = Instant::now();
    loop {
        let functions: Value = serde_json::from_slice(&replica.admin("GET", "/functions").body)
            .expect("/functions is JSON");
        let slow = functions
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "slow")
            .expect("slow is deployed");
        if slow["in_flight"] == 1 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{functions}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let signalled = Instant::now();
    signal(replica.pid(), "TERM");
    let unready = loop {
        let ready = replica.readyz();
        if ready.status == 503 {
            assert_eq!(ready.text(), "not ready: shutting down\n");
            break signalled.elapsed();
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(1),
            "still ready 1 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    // The listener still takes new connections after /readyz turned 503: the order a balancer
    // needs to stop routing here before anything is refused.
    let reply = send(addr, "GET", "/hello", &[], b"");
    assert_eq!(reply.status, 200);
    assert!(
        signalled.elapsed() < Duration::from_millis(1400),
        "the check above ran too late to show the delay"
    );
    assert_eq!(probe(replica.admin, "/healthz").unwrap().status, 200);
    let closed = loop {
        match TcpStream::connect(addr) {
            Ok(stream) => drop(stream),
            Err(_) => break signalled.elapsed(),
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(5),
            "the listener still accepted 5 s after SIGTERM with a 1.5 s shutdown delay"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        closed >= Duration::from_millis(1450) && unready < closed,
        "unready after {unready:?}, listener closed after {closed:?}; want unready first and the listener open for the 1.5 s delay"
    );
    // Draining the in-flight request: the probes still answer, unready and alive.
    assert!(
        !in_flight.is_finished(),
        "the 2.5 s request ended before the listener closed"
    );
    assert_eq!(replica.readyz().status, 503);
    assert_eq!(probe(replica.admin, "/healthz").unwrap().status, 200);
    let reply = in_flight.join().expect("the in-flight request was cut");
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (200, "slept 2500 ms\n")
    );
    let status = replica.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit {status:?}:\n{}", replica.log());
    assert!(
        probe(replica.admin, "/healthz").is_err(),
        "the admin listener outlived the process"
    );
}

// ---- The image and the manifests ----

/// kubernetes-validate and its Python, installed by `scripts/setup.sh k8s`.
fn k8s_tool(name: &str) -> PathBuf {
    let path = repo_root().join("target/tools/k8s-venv/bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `scripts/setup.sh k8s` (`make test` does)",
        path.display()
    );
    path
}

fn manifest_files() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join("deploy/kubernetes"))
        .expect("deploy/kubernetes")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Oldest and newest Kubernetes the bundled schemas cover: the manifests hold across the range.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.25.0", "1.37.0"];

fn kubernetes_validate(version: &str, files: &[PathBuf]) -> std::process::Output {
    run_bounded(
        Command::new(k8s_tool("kubernetes-validate"))
            .args(["--strict", "--no-warn", "--kubernetes-version", version])
            .args(files),
        Duration::from_secs(60),
    )
}

#[test]
fn kubernetes_manifests_validate_against_the_api_schemas() {
    let files = manifest_files();
    assert!(files.len() >= 5, "manifests: {files:?}");
    for version in KUBERNETES_VERSIONS {
        let out = kubernetes_validate(version, &files);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "Kubernetes {version}:\n{said}");
        for file in &files {
            assert!(
                said.contains(&format!("{} passed", file.display())),
                "{} not reported as passed:\n{said}",
                file.display()
            );
        }
    }
    // The validator does catch a mistake in these files: a misspelled probe field.
    let dir = tempfile::tempdir().unwrap();
    let deployment = std::fs::read_to_string(repo_root().join("deploy/kubernetes/deployment.yaml"))
        .unwrap()
        .replacen("periodSeconds:", "periodSecs:", 1);
    let bad = dir.path().join("deployment.yaml");
    std::fs::write(&bad, deployment).unwrap();
    let out = kubernetes_validate(KUBERNETES_VERSIONS[1], &[bad]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success() && said.contains("'periodSecs' was unexpected"),
        "a misspelled field passed:\n{said}"
    );
}

/// Every document of the manifests, as JSON (read with the venv's PyYAML).
fn resources() -> Vec<Value> {
    let out = run_bounded(
        Command::new(k8s_tool("python"))
            .args([
                "-c",
                "import json, sys, yaml\n\
                 docs = [d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d is not None]\n\
                 json.dump(docs, sys.stdout)",
            ])
            .args(manifest_files()),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn one<'a>(resources: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<_> = resources.iter().filter(|r| r["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "want one {kind} in deploy/kubernetes/");
    found[0]
}

/// The facts of the Dockerfile's final stage the manifests depend on.
#[derive(Debug, Default)]
struct Image {
    stages: usize,
    env: Vec<(String, String)>,
    user: String,
    expose: Vec<u16>,
    volumes: Vec<String>,
    copies: Vec<Copied>,
    entrypoint: Vec<String>,
    /// `(destination, text)` of each `COPY <<EOF` file.
    heredocs: Vec<(String, String)>,
    /// Every RUN of every stage, joined.
    runs: String,
}

fn json_or_words(rest: &str) -> Vec<String> {
    serde_json::from_str(rest)
        .unwrap_or_else(|_| rest.split_whitespace().map(str::to_owned).collect())
}

/// One `COPY [--flag...] SOURCE... DESTINATION`.
#[derive(Debug)]
struct Copied {
    flags: Vec<String>,
    sources: Vec<String>,
    destination: String,
}

/// Reads the instructions this test checks; continuations (`\`) and `<<EOF` here-documents
/// included. Each FROM starts a new stage: what is kept is the last stage's.
fn dockerfile() -> Image {
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).expect("Dockerfile");
    let mut image = Image::default();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let mut line = line.trim().to_owned();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        while line.ends_with('\\') {
            line.pop();
            let next = lines.next().expect("a continuation line");
            if !next.trim_start().starts_with('#') {
                line.push(' ');
                line.push_str(next.trim());
            }
        }
        let (instruction, rest) = line.split_once(' ').unwrap_or((&line, ""));
        let rest = rest.trim();
        match instruction.to_ascii_uppercase().as_str() {
            "FROM" => {
                let runs = std::mem::take(&mut image.runs);
                image = Image {
                    stages: image.stages + 1,
                    runs,
                    ..Image::default()
                };
            }
            "ENV" => {
                for pair in rest.split_whitespace() {
                    let (k, v) = pair.split_once('=').expect("ENV KEY=VALUE");
                    image
                        .env
                        .push((k.to_owned(), v.trim_matches('"').to_owned()));
                }
            }
            "USER" => image.user = rest.to_owned(),
            "EXPOSE" => image.expose.extend(rest.split_whitespace().map(|p| {
                p.trim_end_matches("/tcp")
                    .parse::<u16>()
                    .expect("EXPOSE port")
            })),
            "VOLUME" => image.volumes.extend(json_or_words(rest)),
            "ENTRYPOINT" => image.entrypoint = json_or_words(rest),
            "RUN" => {
                image.runs.push_str(rest);
                image.runs.push('\n');
            }
            "COPY" => {
                let words: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
                if let Some(marker) = words.iter().find_map(|w| w.strip_prefix("<<")) {
                    let end = marker.trim_matches(|c| c == '\'' || c == '"');
                    let body: Vec<&str> = lines.by_ref().take_while(|l| *l != end).collect();
                    image
                        .heredocs
                        .push((words.last().unwrap().clone(), body.join("\n")));
                    continue;
                }
                let (flags, paths): (Vec<String>, Vec<String>) =
                    words.into_iter().partition(|w| w.starts_with("--"));
                let (destination, sources) = paths.split_last().expect("COPY SRC... DEST");
                image.copies.push(Copied {
                    flags,
                    sources: sources.to_vec(),
                    destination: destination.clone(),
                });
            }
            _ => {}
        }
    }
    image
}

impl Image {
    fn env(&self, key: &str) -> &str {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("the Dockerfile's final stage sets no {key}"))
    }

    /// Where the final stage copies a source whose path ends in `name`.
    fn copied_to(&self, name: &str) -> &str {
        self.copies
            .iter()
            .find(|c| {
                c.sources
                    .iter()
                    .any(|s| s.trim_end_matches('/').ends_with(name))
            })
            .map(|c| c.destination.as_str())
            .unwrap_or_else(|| panic!("the Dockerfile's final stage copies no {name}"))
    }
}

/// The value after `flag` in a container's args.
fn arg<'a>(args: &'a [String], flag: &str) -> &'a str {
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("the container's args have no {flag}: {args:?}"));
    &args[at + 1]
}

fn port_of(listen: &str) -> u16 {
    listen.parse::<SocketAddr>().expect("ADDR:PORT").port()
}

/// A probe's or Service's port (a number or a container port's name) as a number.
fn resolve_port(port: &Value, container: &Value) -> u16 {
    if let Some(n) = port.as_u64() {
        return n as u16;
    }
    let name = port.as_str().expect("a port number or name");
    container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("no container port named {name}")) as u16
}

/// Checks that each function of `manifest` is a module the image builds and carries in
/// `functions_dir`.
fn check_functions_come_from_the_image(manifest: &Manifest, image: &Image, functions_dir: &str) {
    for spec in &manifest.functions {
        let wasm = spec.wasm();
        assert_eq!(
            wasm.parent(),
            Some(Path::new(functions_dir.trim_end_matches('/'))),
            "{}'s module {} is not in the image's {functions_dir}",
            spec.name(),
            wasm.display()
        );
        let stem = wasm.file_stem().unwrap().to_str().unwrap();
        assert!(
            image.runs.contains(&format!("-p {stem} "))
                || image.runs.contains(&format!("-p {stem}\n")),
            "the Dockerfile does not build the guest {stem}"
        );
    }
}

#[test]
fn the_manifests_match_the_host_and_the_image() {
    let resources = resources();
    let image = dockerfile();
    let deployment = one(&resources, "Deployment");
    let pod = &deployment["spec"]["template"];
    let spec = &pod["spec"];
    let containers = spec["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let args: Vec<String> = serde_json::from_value(container["args"].clone()).unwrap();

    // The image: built in stages, run as a non-root user, the Deployment's command its own.
    assert!(image.stages >= 2, "the Dockerfile is not multi-stage");
    let (uid, gid) = image
        .user
        .split_once(':')
        .unwrap_or((image.user.as_str(), ""));
    let uid: u64 = uid
        .parse()
        .expect("USER is numeric, so runAsNonRoot can check it");
    assert_ne!(uid, 0, "the image runs as root");
    let security = &spec["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["runAsUser"], uid);
    if !gid.is_empty() {
        assert_eq!(security["runAsGroup"].to_string(), gid);
    }
    assert!(
        container["command"].is_null(),
        "the image's ENTRYPOINT runs"
    );
    let binary = image.copied_to("/edgefn");
    assert_eq!(
        image.entrypoint.first().map(String::as_str),
        Some(binary),
        "ENTRYPOINT is not the binary the image carries"
    );
    assert_eq!(args[0], "serve");

    // The artifact cache: where the image points EDGEFN_CACHE_DIR, a volume, writable by the
    // user, and a pod volume mounted there (the container does not point elsewhere).
    let cache_dir = image.env("EDGEFN_CACHE_DIR");
    assert!(image.volumes.iter().any(|v| v == cache_dir), "{image:?}");
    let flags = &image
        .copies
        .iter()
        .find(|c| c.destination.trim_end_matches('/') == cache_dir)
        .expect("the cache folder is made in the image")
        .flags;
    assert!(
        flags.iter().any(|f| f
            .strip_prefix("--chown=")
            .is_some_and(|o| o.starts_with(&uid.to_string()))),
        "the cache folder is not owned by the runtime user: {flags:?}"
    );
    assert!(!args.contains(&"--cache-dir".to_owned()), "{args:?}");
    let mounts = container["volumeMounts"].as_array().unwrap();
    let cache_mount = mounts
        .iter()
        .find(|m| m["mountPath"] == cache_dir)
        .unwrap_or_else(|| panic!("nothing is mounted at {cache_dir}"));
    assert_ne!(cache_mount["readOnly"], true);
    let volume = |name: &Value| {
        spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| &v["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no pod volume {name}"))
    };
    assert!(volume(&cache_mount["name"])["emptyDir"].is_object());

    // Ports: the container's, the image's EXPOSE, the Service's target and the probes agree
    // with what `serve` is told to listen on.
    let public = port_of(arg(&args, "--listen"));
    let admin = port_of(arg(&args, "--admin-listen"));
    assert_eq!(
        resolve_port(&Value::from("http"), container),
        public,
        "the container port `http` is not the port `serve --listen` is given"
    );
    for port in [public, admin] {
        assert!(
            image.expose.contains(&port),
            "EXPOSE {:?} lacks {port}",
            image.expose
        );
    }
    let service = one(&resources, "Service");
    let service_ports = service["spec"]["ports"].as_array().unwrap();
    assert_eq!(
        service_ports.len(),
        1,
        "the admin port stays off the Service"
    );
    assert_eq!(
        resolve_port(&service_ports[0]["targetPort"], container),
        public,
        "the Service does not target the port `serve --listen` is given"
    );
    let labels = &pod["metadata"]["labels"];
    let selects = |selector: &Value| {
        selector
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| &labels[k] == v)
    };
    assert!(
        selects(&service["spec"]["selector"]),
        "the Service selects other pods"
    );
    let readiness = &container["readinessProbe"];
    let liveness = &container["livenessProbe"];
    assert_eq!(readiness["httpGet"]["path"], "/readyz");
    assert_eq!(liveness["httpGet"]["path"], "/healthz");
    for declared in [readiness, liveness] {
        assert_eq!(
            resolve_port(&declared["httpGet"]["port"], container),
            admin,
            "a probe is not sent to the admin listener's port"
        );
    }

    // Shutdown: unready probes take the pod out within the shutdown delay, and the grace period
    // covers the delay plus the host's own wait for in-flight requests.
    let delay = Duration::from_millis(arg(&args, "--shutdown-delay-ms").parse().unwrap());
    // Kubernetes' defaults where a field is not set.
    let field = |v: &Value, default: u64| v.as_u64().unwrap_or(default);
    let noticed = Duration::from_secs(
        field(&readiness["periodSeconds"], 10) * field(&readiness["failureThreshold"], 3)
            + field(&readiness["timeoutSeconds"], 1),
    );
    assert!(
        noticed <= delay,
        "readiness notices a drain after up to {noticed:?}, past the {delay:?} shutdown delay"
    );
    let grace = Duration::from_secs(field(&spec["terminationGracePeriodSeconds"], 30));
    assert!(
        grace > delay + DEFAULT_SHUTDOWN_GRACE,
        "terminationGracePeriodSeconds {grace:?} does not exceed the shutdown delay {delay:?} plus the host's drain of {DEFAULT_SHUTDOWN_GRACE:?}"
    );
    let rolling = &deployment["spec"]["strategy"]["rollingUpdate"];
    assert_eq!(
        rolling["maxUnavailable"], 0,
        "rollouts keep every ready pod until its successor is ready"
    );

    // The admin token comes from a Secret, never from the manifest.
    let token = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "EDGEFN_ADMIN_TOKEN")
        .expect("EDGEFN_ADMIN_TOKEN is set: a non-loopback admin listener needs it");
    assert!(token["value"].is_null() && token["valueFrom"]["secretKeyRef"].is_object());

    // The manifest: a ConfigMap mounted where --manifest reads it, an edgefn manifest whose
    // modules the image carries; the Dockerfile's own default manifest too.
    let manifest_path = Path::new(arg(&args, "--manifest"));
    let config_map = one(&resources, "ConfigMap");
    let manifest_mount = mounts
        .iter()
        .find(|m| Path::new(m["mountPath"].as_str().unwrap()) == manifest_path.parent().unwrap())
        .expect("the manifest's folder is mounted");
    let manifest_volume = volume(&manifest_mount["name"]);
    assert_eq!(
        manifest_volume["configMap"]["name"],
        config_map["metadata"]["name"]
    );
    let key = manifest_path.file_name().unwrap().to_str().unwrap();
    let text = config_map["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("the ConfigMap has no {key}"));
    let parsed = Manifest::parse(text, Path::new("/"))
        .unwrap_or_else(|e| panic!("the ConfigMap's {key} is not a valid manifest: {e:#}"));
    let functions_dir = image.copied_to("/functions");
    check_functions_come_from_the_image(&parsed, &image, functions_dir);
    let (_, baked) = image
        .heredocs
        .iter()
        .find(|(dest, _)| Path::new(dest) == manifest_path)
        .expect("the image has a default manifest where --manifest reads it");
    let baked = Manifest::parse(baked, Path::new("/"))
        .unwrap_or_else(|e| panic!("the Dockerfile's manifest is invalid: {e:#}"));
    check_functions_come_from_the_image(&baked, &image, functions_dir);

    // The autoscaler owns the replica count of this Deployment, by CPU against a request; the
    // disruption budget covers the same pods.
    let hpa = one(&resources, "HorizontalPodAutoscaler");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["name"],
        deployment["metadata"]["name"]
    );
    assert!(
        deployment["spec"]["replicas"].is_null(),
        "the HPA owns replicas"
    );
    assert!(hpa["spec"]["minReplicas"].as_u64().unwrap() >= 2);
    assert!(container["resources"]["requests"]["cpu"].is_string());
    let pdb = one(&resources, "PodDisruptionBudget");
    assert!(selects(&pdb["spec"]["selector"]["matchLabels"]));

    // The Deployment's own args, on loopback, with the ConfigMap's manifest pointed at the built
    // guests: the probes it declares answer as declared, and a SIGTERM is over well within the
    // grace period.
    let dir = tempfile::tempdir().unwrap();
    let local_manifest = dir.path().join(key);
    std::fs::write(
        &local_manifest,
        text.replace(
            functions_dir.trim_end_matches('/'),
            guests_dir().to_str().unwrap(),
        ),
    )
    .unwrap();
    let mut local_args = args.clone();
    for (flag, value) in [
        ("--manifest", local_manifest.to_str().unwrap()),
        ("--listen", "127.0.0.1:0"),
        ("--admin-listen", "127.0.0.1:0"),
    ] {
        let at = local_args.iter().position(|a| a == flag).unwrap();
        local_args[at + 1] = value.to_owned();
    }
    let cache = dir.path().join("cache");
    let local_args: Vec<&str> = local_args[1..].iter().map(String::as_str).collect();
    let mut replica = Replica::start(
        dir.path(),
        &local_args,
        &[
            ("EDGEFN_ADMIN_TOKEN", TOKEN),
            ("EDGEFN_CACHE_DIR", cache.to_str().unwrap()),
        ],
    );
    let addr = replica.wait_listening();
    let path = |declared: &Value| declared["httpGet"]["path"].as_str().unwrap().to_owned();
    assert_eq!(probe(replica.admin, &path(liveness)).unwrap().status, 200);
    let started = Instant::now();
    while replica.readyz().status != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}",
            replica.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(probe(replica.admin, &path(readiness)).unwrap().status, 200);
    for function in &parsed.functions {
        let route = &function.routes()[0];
        let reply = send(addr, "POST", route, &[], br#"{"name":"k8s"}"#);
        assert_eq!(reply.status, 200, "{route}: {}", reply.text());
    }
    assert!(
        std::fs::read_dir(&cache).unwrap().next().is_some(),
        "nothing was compiled into EDGEFN_CACHE_DIR"
    );
    let signalled = Instant::now();
    signal(replica.pid(), "TERM");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(probe(replica.admin, &path(readiness)).unwrap().status, 503);
    assert_eq!(probe(replica.admin, &path(liveness)).unwrap().status, 200);
    let status = replica.wait_exit(grace);
    assert!(status.success(), "exit {status:?}:\n{}", replica.log());
    let took = signalled.elapsed();
    assert!(
        took >= delay && took < grace,
        "SIGTERM to exit took {took:?}: want the {delay:?} delay and less than the {grace:?} grace"
    );
}

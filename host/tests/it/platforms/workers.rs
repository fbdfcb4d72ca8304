//! Cloudflare Workers as a [`Target`]: a guest packaged with `edgefn package --target
//! cloudflare-workers`, served by real `workerd` on a loopback port. workerd comes from npm
//! (`scripts/setup.sh workers`, run by `make test`). A guest granted key-value stores
//! (`EDGEFN_KV_STORES`) gets each bound to a local KV namespace: a Worker speaking Workers KV's
//! protocol over a SQLite-backed Durable Object on disk (`workers/test/support/kv_service.mjs`).

use super::{
    Case, Comparable, FRAMING_HEADERS, PER_RUN_HEADERS, Process, Target,
    assert_names_the_invocation,
};
use crate::common::{Reply, edgefn_bin, guest, send};
use crate::lib_api::{CAPNP_VARS_MARKER, COMPATIBILITY_DATE};
use edgefn_host::package::cloudflare_workers::{JCO_VARIABLE, kv_binding};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long workerd may take to load a bundle and listen.
const STARTUP: Duration = Duration::from_secs(30);

/// The workerd binary from `workers/node_modules`. The platform package's binary is preferred to
/// `.bin/workerd`, which is a node launcher when npm skipped the package's install script: killing
/// that launcher would leave the real server running.
pub fn workerd_bin() -> PathBuf {
    let modules = node_modules();
    let platform_binary = std::fs::read_dir(modules.join("@cloudflare"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin/workerd"))
        .find(|path| path.is_file());
    let launcher = modules.join(".bin/workerd");
    platform_binary
        .or_else(|| launcher.is_file().then_some(launcher))
        .unwrap_or_else(|| {
            panic!(
                "workerd is not installed in {}: run `scripts/setup.sh workers` (make test does)",
                modules.display()
            )
        })
}

/// The Workers adapter's npm packages (`workers/node_modules`).
fn node_modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../workers/node_modules")
}

/// The bundle `edgefn package` wrote and what it printed.
pub struct Bundle {
    pub dir: PathBuf,
    pub printed: String,
}

pub fn package(name: &str, out: &Path) -> Bundle {
    package_wasm(&guest(name), out)
}

/// [`package`] for a module at any path (a test's own WAT, say).
pub fn package_wasm(wasm: &Path, out: &Path) -> Bundle {
    package_wasm_with(wasm, out, &[])
}

/// [`package_wasm`] with `--env NAME=VALUE` for each of `env`.
pub fn package_wasm_with(wasm: &Path, out: &Path, env: &[(&str, &str)]) -> Bundle {
    let name = wasm.display();
    let output = Command::new(edgefn_bin())
        .args(["package", "--target", "cloudflare-workers"])
        .arg(wasm)
        // A component is transpiled by the jco `scripts/setup.sh workers` installs.
        .env(JCO_VARIABLE, node_modules().join(".bin/jco"))
        .arg("--out")
        .arg(out)
        .args(
            env.iter()
                .flat_map(|(k, v)| ["--env".to_owned(), format!("{k}={v}")]),
        )
        .output()
        .expect("run edgefn package");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "edgefn package failed for {name}: {printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Bundle {
        dir: out.to_owned(),
        printed,
    }
}

/// A `workerd serve` of one packaged bundle; killed when dropped.
pub struct Workerd {
    process: Process,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Workerd {
    /// Packages guest `name`, adds `vars` the way a user would (in config.capnp, under the
    /// marker line), and serves it on a free loopback port.
    pub fn start(name: &str, vars: &[(&str, &str)]) -> Workerd {
        Workerd::start_wasm(&guest(name), vars)
    }

    /// [`Workerd::start`] for a module at any path. Every store `EDGEFN_KV_STORES` in `vars`
    /// grants is bound to a local KV namespace of its own.
    pub fn start_wasm(wasm: &Path, vars: &[(&str, &str)]) -> Workerd {
        let granted = granted_stores(vars);
        let stores: Vec<&str> = granted.iter().map(String::as_str).collect();
        Workerd::start_wasm_with_kv(wasm, vars, &stores)
    }

    /// [`Workerd::start_wasm`] binding only `stores` to local KV namespaces, granted or not.
    pub fn start_wasm_with_kv(wasm: &Path, vars: &[(&str, &str)], stores: &[&str]) -> Workerd {
        let name = wasm.display();
        let dir = tempfile::tempdir().unwrap();
        let bundle = package_wasm(wasm, &dir.path().join("bundle"));
        let config = bundle.dir.join("config.capnp");
        let mut text = std::fs::read_to_string(&config).unwrap();
        assert!(text.contains(CAPNP_VARS_MARKER), "config.capnp: {text}");
        for (key, value) in vars {
            let binding = format!("(name = {key:?}, text = {value:?}),\n    {CAPNP_VARS_MARKER}");
            text = text.replace(CAPNP_VARS_MARKER, &binding);
        }
        if !stores.is_empty() {
            text = bind_local_kv(&text, &bundle.dir, &dir.path().join("kv"), stores);
        }
        std::fs::write(&config, text).unwrap();

        // Port 0 and --control-fd 1: workerd picks a free port and reports it on stdout, so there
        // is no window in which another process could take a port chosen in advance.
        let log_path = dir.path().join("workerd.log");
        let mut child = Command::new(workerd_bin())
            .arg("serve")
            .arg(&config)
            .args(["--socket-addr", "http=127.0.0.1:0", "--control-fd", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .expect("spawn workerd");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout_log = log_path.with_extension("stdout.log");
        std::thread::spawn(move || {
            // Keep reading so console.log output never fills the pipe and blocks workerd.
            let mut log = std::fs::File::create(stdout_log).unwrap();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = listen_port(&line) {
                    let _ = tx.send(port);
                }
                let _ = writeln!(log, "{line}");
            }
        });
        let port = match rx.recv_timeout(STARTUP) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "workerd did not listen within {STARTUP:?} for {name}: {}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
        };
        Workerd {
            process: Process {
                child,
                log: log_path,
            },
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _dir: dir,
        }
    }

    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Reply {
        send(self.addr, method, path, headers, body)
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    pub fn assert_running(&mut self) {
        assert!(self.process.is_running(), "workerd exited: {}", self.log());
    }
}

/// The stores `EDGEFN_KV_STORES` among `vars` grants, as the adapter splits them.
fn granted_stores(vars: &[(&str, &str)]) -> Vec<String> {
    vars.iter()
        .filter(|(k, _)| *k == "EDGEFN_KV_STORES")
        .flat_map(|(_, v)| v.split([',', ' ', '\t', '\n']))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The KV-protocol Worker each local namespace runs.
fn kv_service_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../workers/test/support/kv_service.mjs")
}

/// `config` (a packaged config.capnp) with each of `stores` bound as its adapter expects
/// (`EDGEFN_KV_<STORE>`) to a KV namespace of its own: a service running the KV-protocol Worker
/// (copied into `bundle`) with one SQLite Durable Object, all stored under `storage`, as
/// miniflare does for `wrangler dev`.
fn bind_local_kv(config: &str, bundle: &Path, storage: &Path, stores: &[&str]) -> String {
    const SERVICE_FILE: &str = "edgefn-test-kv-service.mjs";
    const DISK: &str = "edgefn-test-kv-disk";
    std::fs::copy(kv_service_source(), bundle.join(SERVICE_FILE)).expect("copy the KV service");
    std::fs::create_dir_all(storage).unwrap();
    let mut services = format!(
        "services = [\n    (name = {DISK:?}, disk = (path = {:?}, writable = true)),\n",
        storage.display().to_string()
    );
    let mut bindings = String::new();
    let mut workers = String::new();
    for (i, store) in stores.iter().enumerate() {
        let service = format!("edgefn-test-kv-{store}");
        services.push_str(&format!(
            "    (name = {service:?}, worker = .kvStore{i}),\n"
        ));
        bindings.push_str(&format!(
            "(name = {:?}, kvNamespace = {service:?}),\n    ",
            kv_binding(store)
        ));
        workers.push_str(&format!(
            r#"
const kvStore{i} :Workerd.Worker = (
  modules = [(name = "kv_service.mjs", esModule = embed {SERVICE_FILE:?})],
  compatibilityDate = {COMPATIBILITY_DATE:?},
  durableObjectNamespaces = [(className = "KvStore", uniqueKey = "edgefn-test-kv-{store}", enableSql = true)],
  durableObjectStorage = (localDisk = {DISK:?}),
  bindings = [(name = "STORE", durableObjectNamespace = "KvStore")],
);
"#
        ));
    }
    assert!(config.contains("services = [\n"), "config.capnp: {config}");
    let mut text = config.replacen("services = [\n", &services, 1);
    text = text.replace(CAPNP_VARS_MARKER, &format!("{bindings}{CAPNP_VARS_MARKER}"));
    text.push_str(&workers);
    text
}

/// The port in workerd's control message `{"event":"listen","socket":"http","port":N}`.
pub fn listen_port(line: &str) -> Option<u16> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    (value["event"] == "listen" && value["socket"] == "http").then_some(())?;
    value["port"].as_u64().and_then(|p| u16::try_from(p).ok())
}

/// One guest in its own workerd, sent requests as a Worker's clients send them.
pub struct Workers {
    pub worker: Workerd,
}

impl Target for Workers {
    const PLATFORM: &'static str = "cloudflare-workers";

    /// Variables are Worker vars (text bindings in config.capnp).
    fn start(guest: &str, env: &[(&str, &str)]) -> Workers {
        Workers {
            worker: Workerd::start(guest, env),
        }
    }

    fn send(&self, case: &Case) -> Reply {
        case.send_to(self.worker.addr, &case.path)
    }

    /// Everything but what differs per run and the framing; a name's repeats joined, as the
    /// Fetch API joins them (set-cookie excepted).
    fn comparable(&self, reply: &Reply) -> Comparable {
        Comparable::of(reply, &[PER_RUN_HEADERS, FRAMING_HEADERS].concat(), true)
    }

    /// The Worker names the invocation.
    fn check(&self, case: &Case, _expected: &Reply, reply: &Reply) {
        assert_names_the_invocation(case, reply);
    }

    fn assert_running(&mut self) {
        self.worker.assert_running();
    }

    fn log(&self) -> String {
        self.worker.log()
    }
}

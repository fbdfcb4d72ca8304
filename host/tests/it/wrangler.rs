//! Cloudflare Workers with the tool users deploy with. Every example package (`edgefn package
//! --target cloudflare-workers`, the Rust examples and the Go ones) passes `wrangler deploy
//! --dry-run`: wrangler reads its `wrangler.toml`, bundles the adapter and the module, and stops
//! before uploading. And the Rust examples serve under `wrangler dev`, wrangler's local runtime
//! (offline, on loopback), exactly what `edgefn serve` answers for the same guest: `shortener`
//! keeps its links in the KV namespace wrangler simulates for its `[[kv_namespaces]]` binding, and
//! `fetch-json` calls a loopback upstream from there.
//!
//! wrangler 4 and the Node 22 it needs come from npm into `target/tools/wrangler`
//! (`scripts/setup.sh wrangler`, run by `make test`); the Go examples from `make guests-go`. One
//! `wrangler dev` per package, started side by side: each start costs seconds.

use crate::common::{Reply, guest, guests_dir};
use crate::platforms::{
    Case, Comparable, FRAMING_HEADERS, Local, PER_RUN_HEADERS, Pair, Target,
    assert_names_the_invocation, split_settings,
};
use crate::upstream::{JSON_DOCUMENT, Upstream};
use edgefn_host::package::cloudflare_workers::{FREE_PLAN_LIMIT_BYTES, PAID_PLAN_LIMIT_BYTES};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Rust example packages without outbound HTTP, served under `wrangler dev` side by side.
const EXAMPLES: [&str; 6] = ["hello", "echo", "json", "config", "axum", "shortener"];
/// The example that calls an upstream.
const OUTBOUND_EXAMPLE: &str = "fetch-json";
/// A wasi:http/proxy component (`guests/fixtures/wasi-http`), transpiled by jco when packaged.
const COMPONENT: &str = "wasi-http";
/// The Go examples (`guests/examples/go/NAME`, built as `go-NAME` by `make guests-go`).
const GO_EXAMPLES: [&str; 5] = [
    "go-hello",
    "go-echo",
    "go-fetch",
    "go-nethttp",
    "go-counter",
];
/// The examples that keep their data in the key-value store `default`.
const KV_EXAMPLES: [&str; 2] = ["shortener", "go-counter"];
/// The setting that grants those examples their store, as docs/deploy-cloudflare-workers.md has
/// users package them: `edgefn package` then declares the store's `[[kv_namespaces]]` binding.
const KV_GRANT: (&str, &str) = ("EDGEFN_KV_STORES", "default");
/// How long wrangler may take to bundle and start its runtime (seconds each when the machine is
/// idle; several start at once here, beside other tests).
const STARTUP: Duration = Duration::from_secs(120);
/// `GREETING` for the `config` guest.
const GREETING: &str = "configured under wrangler";

/// Where `scripts/setup.sh wrangler` installs wrangler and Node 22.
fn tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/wrangler/node_modules")
}

/// `node wrangler.js` with the environment every run gets: Node 22 first on `PATH`, no
/// telemetry, no look-up of the `Request.cf` object on the network, wrangler's logs in `home`
/// rather than the user's home, never interactive.
fn wrangler(home: &Path) -> Command {
    let node = tools().join(".bin/node");
    let cli = tools().join("wrangler/bin/wrangler.js");
    assert!(
        node.is_file() && cli.is_file(),
        "wrangler and Node 22 are not installed in {}: run `scripts/setup.sh wrangler` (make test does)",
        tools().display()
    );
    let path = format!(
        "{}:{}",
        tools().join(".bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new(node);
    command
        .arg(cli)
        .env("PATH", path)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("XDG_CONFIG_HOME", home)
        .env("CI", "true")
        .env_remove("CLOUDFLARE_API_TOKEN")
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .stdin(Stdio::null());
    command
}

/// Packages `name` for Workers into `out` as a user configures a Worker: the platform settings
/// among `vars` (`EDGEFN_*`) given to `edgefn package --env`, which also writes the KV namespace
/// binding of each store they grant, and the function's own variables added under `[vars]` in its
/// wrangler.toml. Returns the size `edgefn package` printed, and what it printed.
fn package(name: &str, out: &Path, vars: &[(&str, &str)]) -> (u64, String) {
    let wasm = guest(name);
    assert!(
        wasm.is_file(),
        "the guest {name} is not built in {}: run `make guests` and `make guests-go` (`make test` does)",
        guests_dir().display()
    );
    let (settings, vars) = split_settings(vars);
    let printed = crate::platforms::workers::package_wasm_with(&wasm, out, &settings).printed;
    let config = out.join("wrangler.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("\n[vars]\n"), "wrangler.toml: {text}");
    let mut added = String::from("\n[vars]\n");
    for (key, value) in vars {
        added.push_str(&format!("{key} = {}\n", toml::Value::from(value)));
    }
    std::fs::write(&config, text.replacen("\n[vars]\n", &added, 1)).unwrap();
    let size = printed
        .lines()
        .find_map(|l| l.strip_prefix("packaged "))
        .and_then(|l| l.rsplit_once(" ("))
        .and_then(|(_, n)| n.strip_suffix(" bytes)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no size in: {printed}"));
    (size, printed)
}

/// The variables an example is packaged with in the dry run: a variable of its own, and the grant
/// of its store for one that keeps data.
fn dry_run_vars(name: &str) -> Vec<(&'static str, &'static str)> {
    let mut vars = vec![("GREETING", GREETING)];
    if KV_EXAMPLES.contains(&name) {
        vars.push(KV_GRANT);
    }
    vars
}

/// The `gzip: N KiB` of wrangler's `Total Upload: ... / gzip: N KiB` line, in bytes.
fn wrangler_gzip_bytes(printed: &str) -> Option<u64> {
    let line = printed.lines().find(|l| l.starts_with("Total Upload:"))?;
    let kib: f64 = line
        .split("gzip: ")
        .nth(1)?
        .strip_suffix(" KiB")?
        .trim()
        .parse()
        .ok()?;
    Some((kib * 1024.0) as u64)
}

/// Every example package, Rust and Go, and a wasi:http component's, deploys as far as wrangler goes without an account: its
/// configuration is valid, the bundle builds, each core module is uploaded as it is (a
/// compiled-Wasm module, not bundled into the JavaScript), the variables are its bindings and so is the KV
/// namespace of a store it is granted, and `edgefn package` printed no less than the compressed
/// size wrangler counts against the plan's limit, so its warnings never come late.
///
/// Every one fits the Paid plan's 10 MB. A Go example that links `net/http`'s client (`go-fetch`)
/// is over the Free plan's 3 MB: wrangler cannot know the account's plan and accepts it, and
/// `edgefn package` must have said that it deploys on the Paid plan only. (wrangler accepts the
/// placeholder namespace id `edgefn package` writes, too: only a real `wrangler deploy` asks
/// Cloudflare for the namespace.)
#[test]
fn deploy_dry_run_accepts_every_example_package() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<&str> = EXAMPLES
        .iter()
        .copied()
        .chain([OUTBOUND_EXAMPLE, COMPONENT])
        .chain(GO_EXAMPLES)
        .collect();
    let runs: Vec<_> = names
        .iter()
        .map(|&name| {
            let bundle = dir.path().join(name);
            let (printed_size, packaged) = package(name, &bundle, &dry_run_vars(name));
            let outdir = dir.path().join(format!("{name}-upload"));
            let child = wrangler(dir.path())
                .args(["deploy", "--dry-run", "--outdir"])
                .arg(&outdir)
                .current_dir(&bundle)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start wrangler deploy --dry-run");
            (name, bundle, outdir, printed_size, packaged, child)
        })
        .collect();
    let mut paid_only = Vec::new();
    for (name, bundle, outdir, printed_size, packaged, child) in runs {
        let output = child.wait_with_output().unwrap();
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success(),
            "wrangler deploy --dry-run refused {name}:\n{printed}"
        );
        assert!(printed.contains("--dry-run: exiting now."), "{printed}");
        let mut bindings = vec![
            format!("env.EDGEFN_FUNCTION_NAME (\"{name}\")"),
            format!("env.GREETING (\"{GREETING}\")"),
        ];
        if KV_EXAMPLES.contains(&name) {
            bindings.push(format!("env.EDGEFN_KV_STORES (\"{}\")", KV_GRANT.1));
        }
        for binding in bindings {
            assert!(
                printed.contains(&binding),
                "{name}: {binding} in:\n{printed}"
            );
        }
        let namespace = printed
            .lines()
            .find(|l| l.trim_start().starts_with("env.EDGEFN_KV_DEFAULT ("));
        assert_eq!(
            namespace.is_some_and(|l| l.contains("KV Namespace")),
            KV_EXAMPLES.contains(&name),
            "{name}: the store's KV namespace is bound exactly when the store is granted:\n{printed}"
        );
        let uploaded: Vec<PathBuf> = std::fs::read_dir(&outdir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let config: toml::Value =
            toml::from_str(&std::fs::read_to_string(bundle.join("wrangler.toml")).unwrap())
                .unwrap();
        let main = config["main"].as_str().unwrap();
        assert!(
            uploaded.iter().any(|p| p.ends_with(main)),
            "{name}: the entry {main} is uploaded: {uploaded:?}"
        );
        // function.wasm, or a component's core modules (component/*.wasm).
        let modules: Vec<PathBuf> = [bundle.clone(), bundle.join("component")]
            .iter()
            .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        assert!(
            !modules.is_empty(),
            "{name}: no module in {}",
            bundle.display()
        );
        for module in modules {
            let file = module.file_name().unwrap().to_str().unwrap();
            let bytes = std::fs::read(&module).unwrap();
            assert!(
                uploaded.iter().any(|p| p
                    .to_str()
                    .is_some_and(|p| p.ends_with(&format!("-{file}")))
                    && std::fs::read(p).unwrap() == bytes),
                "{name}: {file} is uploaded as a module of its own, unchanged: {uploaded:?}"
            );
        }
        let counted = wrangler_gzip_bytes(&printed)
            .unwrap_or_else(|| panic!("no `Total Upload: ... gzip:` line in:\n{printed}"));
        eprintln!("{name}: edgefn package printed {printed_size} bytes, wrangler counts {counted}");
        // wrangler rounds to 0.01 KiB.
        assert!(
            printed_size + 11 >= counted,
            "{name}: edgefn package printed {printed_size} bytes, under the {counted} wrangler counts"
        );
        assert!(
            counted <= PAID_PLAN_LIMIT_BYTES,
            "{name}: {counted} bytes compressed, over the Paid plan's limit: it cannot be deployed"
        );
        if counted > FREE_PLAN_LIMIT_BYTES {
            assert!(
                packaged.contains("over the Free plan's limit")
                    && packaged.contains("Paid plan only"),
                "{name}: {counted} bytes compressed and no warning that it needs the Paid plan:\n{packaged}"
            );
            paid_only.push(name);
        }
    }
    // The Rust examples fit the Free plan: a framework or a store costs little.
    assert!(
        paid_only.iter().all(|name| name.starts_with("go-")),
        "Rust examples over the Free plan's limit: {paid_only:?}"
    );
    eprintln!("deploy on the Paid plan only: {paid_only:?}");
}

/// A process started as the leader of its own process group: the group (wrangler's node, its
/// esbuild service, the workerd processes) is stopped when this is dropped, also when a test fails
/// before a `wrangler dev` it started is ready.
struct Group(Child);

impl Group {
    fn is_running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && self.is_running() {
            std::thread::sleep(Duration::from_millis(50));
        }
        // The leader may be gone while its children still shut down: the whole group, always.
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}

/// One guest under `wrangler dev`, started and not yet known to be ready.
struct Starting {
    guest: String,
    group: Group,
    dir: tempfile::TempDir,
    ready: std::sync::mpsc::Receiver<u16>,
}

/// Packages `guest` with `vars` and starts `wrangler dev --local` on it: loopback only, a port the
/// system picks (wrangler prints it), the inspector on a free port too, the local KV namespaces
/// (and any other state) in `state` beside the bundle, in a process group of its own so that it
/// and its workerd children stop together.
fn start(guest: &str, vars: &[(&str, &str)]) -> Starting {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    package(guest, &bundle, vars);
    let state = dir.path().join("state");
    let log = dir.path().join("wrangler.log");
    let mut child = wrangler(dir.path())
        .args([
            "dev",
            "--local",
            "--ip",
            "127.0.0.1",
            "--port",
            "0",
            "--inspector-port",
            "0",
            "--show-interactive-dev-session=false",
            "--log-level",
            "info",
            "--persist-to",
        ])
        .arg(&state)
        .current_dir(&bundle)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log.with_extension("stderr.log")).unwrap())
        .process_group(0)
        .spawn()
        .expect("start wrangler dev");
    let stdout = child.stdout.take().unwrap();
    let (tx, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Write as _;
        // Keep reading, so the Worker's console output never fills the pipe.
        let mut copy = std::fs::File::create(log).unwrap();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(port) = ready_port(&line) {
                let _ = tx.send(port);
            }
            let _ = writeln!(copy, "{line}");
        }
    });
    Starting {
        guest: guest.to_owned(),
        group: Group(child),
        dir,
        ready,
    }
}

/// The port of wrangler's `Ready on http://127.0.0.1:PORT` line.
fn ready_port(line: &str) -> Option<u16> {
    let at = line.find("Ready on http://127.0.0.1:")? + "Ready on http://127.0.0.1:".len();
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

impl Starting {
    /// Waits until wrangler serves.
    fn ready(self) -> WranglerDev {
        let started = Instant::now();
        let port = self.ready.recv_timeout(STARTUP);
        let mut dev = WranglerDev {
            group: self.group,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir: self.dir,
        };
        match port {
            Ok(port) => dev.addr.set_port(port),
            Err(_) => panic!(
                "wrangler dev did not serve {} within {STARTUP:?}:\n{}",
                self.guest,
                dev.log()
            ),
        }
        eprintln!(
            "wrangler dev serves {} on {} after {:.1} s",
            self.guest,
            dev.addr,
            started.elapsed().as_secs_f64()
        );
        dev
    }
}

/// A `wrangler dev` serving one guest; its process group is stopped when dropped.
struct WranglerDev {
    group: Group,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl WranglerDev {
    fn log(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("wrangler.log"), read("wrangler.stderr.log"))
    }
}

impl Target for WranglerDev {
    const PLATFORM: &'static str = "cloudflare-workers";

    /// Variables are `[vars]` in wrangler.toml.
    fn start(guest: &str, env: &[(&str, &str)]) -> WranglerDev {
        start(guest, env).ready()
    }

    fn send(&self, case: &Case) -> Reply {
        case.send_to(self.addr, &case.path)
    }

    /// The local answer, with the headers wrangler's runtime adds to every request as Cloudflare
    /// does (`cf-connecting-ip`, and `accept-encoding: br, gzip` for a client that sent none),
    /// which the echo guest reflects. wrangler's proxy Worker also sends a request that has no
    /// body on with `content-length: 0`, except for GET and HEAD, which cannot have one.
    fn expected(&self, local: &Reply) -> Reply {
        let mut expected = crate::platforms::renamed(local, Self::PLATFORM);
        if let Some(method) = local.header("x-echo-method") {
            if local.header("x-echo-h-accept-encoding").is_none() {
                expected
                    .headers
                    .push(("x-echo-h-accept-encoding".into(), b"br, gzip".to_vec()));
            }
            if local.header("x-echo-h-content-length").is_none()
                && !matches!(method.as_str(), "GET" | "HEAD")
            {
                expected
                    .headers
                    .push(("x-echo-h-content-length".into(), b"0".to_vec()));
            }
            expected
                .headers
                .push(("x-echo-h-cf-connecting-ip".into(), b"127.0.0.1".to_vec()));
        }
        expected
    }

    /// As for Workers: everything but what differs per run and the framing, a name's repeats
    /// joined as the Fetch API joins them.
    fn comparable(&self, reply: &Reply) -> Comparable {
        Comparable::of(reply, &[PER_RUN_HEADERS, FRAMING_HEADERS].concat(), true)
    }

    fn check(&self, case: &Case, _expected: &Reply, reply: &Reply) {
        assert_names_the_invocation(case, reply);
    }

    fn assert_running(&mut self) {
        assert!(
            self.group.is_running(),
            "wrangler dev exited: {}",
            self.log()
        );
    }

    fn log(&self) -> String {
        WranglerDev::log(self)
    }
}

/// The cases each example answers, as in `conformance` and `frameworks_rust`.
fn cases(guest: &str) -> Vec<Case> {
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(256 * 16).collect();
    let json = |path: &str, body: &[u8]| {
        Case::post(path)
            .header("content-type", b"application/json")
            .body(body)
    };
    match guest {
        "hello" => vec![
            Case::get("/hello"),
            Case::get("/hello/any/sub/path?x=1"),
            Case::post("/hello").body(b"ignored"),
        ],
        "echo" => vec![
            Case::get("/echo"),
            Case::new("DELETE", "/echo/a/b?x=1&y=two"),
            Case::post("/echo/some/path?x=1&x=2&y=a%20b")
                .header("content-type", b"text/plain; charset=utf-8")
                .header("x-multi", b"one")
                .header("x-multi", b"two")
                .body("grüße, ✓\n".as_bytes()),
            Case::post("/echo/bytes")
                .header("content-type", b"application/octet-stream")
                .body(&every_byte),
        ],
        "json" => vec![
            json("/json", br#"{"name":"edge","count":2}"#),
            Case::post("/json").body(b"{not json"),
        ],
        "config" => vec![Case::get("/config")],
        // A path parameter, JSON in and out and axum's rejections, the method a route does not
        // take, a panic, and the echoing fallback.
        "axum" => vec![
            Case::get("/axum/hello/a%20b"),
            json("/axum/greet", br#"{"name":"Ada","count":2}"#),
            json("/axum/greet", b"{nope"),
            json("/axum/greet", b"{}"),
            Case::get("/axum/greet"),
            Case::get("/axum/panic"),
            Case::new("DELETE", "/axum/a/b?x=1&x=2")
                .header("x-multi", b"one")
                .header("x-multi", b"two")
                .body(&every_byte),
        ],
        other => panic!("no cases for {other}"),
    }
}

/// The variables an example is served with under `wrangler dev` and `edgefn serve`.
fn dev_vars(guest: &str) -> &'static [(&'static str, &'static str)] {
    match guest {
        "config" => &[("GREETING", GREETING)],
        "shortener" => &[KV_GRANT],
        _ => &[],
    }
}

/// The shortener on both, each with an empty store: a link is created, then followed in a later
/// request (what one request wrote, the next reads from wrangler's local KV namespace) and created
/// again unchanged; a code never created is not found; the codes are listed with a second link's;
/// a body that is no URL is refused. Every answer is `edgefn serve`'s.
fn shorten_and_follow(pair: &mut Pair<WranglerDev>) {
    let url = "https://example.com/a?b=c";
    let listed = pair.same(&Case::get("/shortener"));
    assert_eq!(listed.text(), r#"{"codes":[]}"#, "the store starts empty");
    let created = pair.same(&Case::post("/shortener").body(url.as_bytes()));
    assert_eq!(created.status, 201, "{}", created.text());
    let code = created.text();
    let link = format!("/shortener/{code}");
    let followed = pair.same(&Case::get(&link));
    assert_eq!(followed.status, 302, "{}", followed.text());
    assert_eq!(followed.header("location").as_deref(), Some(url));
    let again = pair.same(&Case::post("/shortener").body(url.as_bytes()));
    assert_eq!(
        (again.status, again.text()),
        (201, code.clone()),
        "the same URL, the same code"
    );
    let missing = pair.same(&Case::get("/shortener/AAAAAAA"));
    assert_eq!(missing.status, 404, "{}", missing.text());
    let other = pair.same(&Case::post("/shortener").body(b"http://example.org/other"));
    assert_eq!(other.status, 201, "{}", other.text());
    let listed = pair.same(&Case::get("/shortener"));
    let value: serde_json::Value = serde_json::from_slice(&listed.body).unwrap();
    let mut codes = vec![code, other.text()];
    codes.sort();
    assert_eq!(value["codes"], serde_json::json!(codes), "{value}");
    let refused = pair.same(&Case::post("/shortener").body(b"not a url"));
    assert_eq!(refused.status, 400, "{}", refused.text());
}

/// The Rust examples under `wrangler dev` answer every case as `edgefn serve` does; the
/// shortener's links are in the KV namespace its wrangler.toml binds, kept on disk where
/// `--persist-to` says.
#[test]
fn dev_serves_every_example_as_edgefn_serve_does() {
    let starting: Vec<Starting> = EXAMPLES.iter().map(|&g| start(g, dev_vars(g))).collect();
    for starting in starting {
        let guest = starting.guest.clone();
        let mut pair = Pair {
            guest: guest.clone(),
            local: Local::start(&guest, dev_vars(&guest)),
            target: starting.ready(),
        };
        if guest == "shortener" {
            shorten_and_follow(&mut pair);
            let kv = pair.target.dir.path().join("state/v3/kv");
            let stored = std::fs::read_dir(&kv)
                .unwrap_or_else(|e| panic!("no local KV namespaces in {}: {e}", kv.display()))
                .filter_map(|e| std::fs::read_dir(e.unwrap().path().join("blobs")).ok())
                .map(Iterator::count)
                .sum::<usize>();
            assert!(
                stored >= 2,
                "the two links are values of a local KV namespace in {}: {stored} found",
                kv.display()
            );
            continue;
        }
        let replies = pair.all_same(&cases(&guest));
        match guest.as_str() {
            "config" => {
                let value: serde_json::Value = serde_json::from_slice(&replies[0].body).unwrap();
                assert_eq!(value["greeting"], GREETING, "{value}");
                assert_eq!(
                    value["variables"],
                    serde_json::json!(["GREETING"]),
                    "{value}"
                );
            }
            "axum" => {
                let value: serde_json::Value = serde_json::from_slice(&replies[0].body).unwrap();
                assert_eq!(
                    value["message"], "Hello, a b, from axum on cloudflare-workers!",
                    "{value}"
                );
                let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
                assert_eq!(statuses, [200, 200, 400, 422, 405, 500, 200]);
            }
            _ => {}
        }
    }
}

/// fetch-json under `wrangler dev` calls a real upstream on 127.0.0.1 (allowed, with the private
/// network opt-in, by the outbound variables of docs/manifest.md, given to `edgefn package --env`)
/// and answers what `edgefn serve` answers; the upstream saw the call.
#[test]
fn dev_runs_outbound_fetch_against_a_loopback_upstream() {
    let upstream = Upstream::start();
    let url = upstream.url("/json");
    let origin = format!("http://{}", upstream.addr);
    let env: &[(&str, &str)] = &[
        ("UPSTREAM_URL", &url),
        ("EDGEFN_OUTBOUND_ALLOWED_HOSTS", &origin),
        ("EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true"),
    ];
    let target = start(OUTBOUND_EXAMPLE, env);
    let mut pair = Pair {
        guest: OUTBOUND_EXAMPLE.to_owned(),
        local: Local::start(OUTBOUND_EXAMPLE, env),
        target: target.ready(),
    };
    let before = upstream.requests();
    let reply = pair.same(&Case::get("/fetch-json"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let summary: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    let document: serde_json::Value = serde_json::from_str(JSON_DOCUMENT).unwrap();
    assert_eq!(summary["stars"], document["stars"], "{summary}");
    // The upstream counts a call once it has answered, which the caller may see first.
    let deadline = Instant::now() + Duration::from_secs(10);
    while upstream.requests() < before + 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        upstream.requests(),
        before + 2,
        "the upstream answered both calls, the local host's and the Worker's"
    );
}

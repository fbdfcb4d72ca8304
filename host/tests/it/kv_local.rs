//! The local key-value store (`kv.redb` in the state directory): shared by concurrent writers on
//! every thread and instance, durable across SIGKILL (every acknowledged write is there after a
//! restart), kept across restarts and hot redeploys, held by one process at a time (a second
//! host is refused naming the folder and `--state-dir`), and reachable with `edgefn kv` both
//! through a running host's admin listener and in the file.

use crate::common::{Host, Reply, edgefn_bin, send, shared_cache_dir};
use crate::lib_api::{FileStore, Owner};
use edgefn_host::runtime::capabilities::kv::KvBackend;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A guest that stores its request body's key under itself in store "default": the body is the
/// key then its length as a `u32` (the body ends the request envelope, so the length is the
/// envelope's last 4 bytes). It answers 200 with the `kv_set` code when that is 0, else 500 with
/// the code and the message, so a 200 is an acknowledged write.
const SETTER: &str = r#"
(module
  (import "edgefn_v1" "kv_set" (func $set (param i32 i32 i32 i32 i32 i32 i32) (result i64)))
  (import "edgefn_v1" "result_read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0x100) "default")
  (func (export "edgefn_v1_alloc") (param i32) (result i32) (i32.const 0x1000))
  (func (export "edgefn_v1_handle") (param $p i32) (param $n i32) (result i64)
    (local $end i32) (local $len i32) (local $key i32) (local $rc i64) (local $msg i32)
    (local.set $end (i32.sub (i32.add (local.get $p) (local.get $n)) (i32.const 4)))
    (local.set $len (i32.load (local.get $end)))
    (local.set $key (i32.sub (local.get $end) (local.get $len)))
    (local.set $rc (call $set (i32.const 0x100) (i32.const 7)
                              (local.get $key) (local.get $len)
                              (local.get $key) (local.get $len) (i32.const 0)))
    (i64.store (i32.const 0x10010) (local.get $rc))
    (local.set $msg (i32.const 0))
    (if (i64.lt_s (local.get $rc) (i64.const 0))
      (then (local.set $msg (call $read (i32.const 0x10018) (i32.const 0x1000)))))
    (if (i32.lt_s (local.get $msg) (i32.const 0)) (then (local.set $msg (i32.const 0))))
    ;; "EFS1", status, 0 headers, body = code (8 bytes) + message
    (i32.store (i32.const 0x10000) (i32.const 0x31534645))
    (i32.store (i32.const 0x10004)
      (select (i32.const 200) (i32.const 500) (i64.eqz (local.get $rc))))
    (i32.store (i32.const 0x10008) (i32.const 0))
    (i32.store (i32.const 0x1000c) (i32.add (i32.const 8) (local.get $msg)))
    (i64.or (i64.shl (i64.const 0x10000) (i64.const 32))
            (i64.extend_i32_u (i32.add (i32.const 24) (local.get $msg))))))
"#;

fn block<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// A folder with the setter's module and a manifest granting it "default", and one function
/// more when `extra` is given (a redeploy adds it).
fn project(dir: &Path, extra: bool) {
    std::fs::write(
        dir.join("setter.wasm"),
        wat::parse_str(SETTER).expect("the setter assembles"),
    )
    .unwrap();
    let mut manifest = String::from(
        "[[function]]\nname = \"setter\"\nwasm = \"setter.wasm\"\nkv = { stores = [\"default\"] }\n",
    );
    if extra {
        manifest.push_str(
            "[[function]]\nname = \"setter2\"\nwasm = \"setter.wasm\"\nkv = { stores = [\"default\"] }\n",
        );
    }
    std::fs::write(dir.join("edgefn.toml"), manifest).unwrap();
}

/// `edgefn serve` of `project` (in a fresh folder) on `state`, with `extra` arguments.
fn serve(state: &Path, extra: &[&str]) -> Result<Host, String> {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), false);
    let manifest = dir.path().join("edgefn.toml").display().to_string();
    let cache = shared_cache_dir().display().to_string();
    let state = state.display().to_string();
    let mut args = vec![
        manifest.as_str(),
        "--cache-dir",
        cache.as_str(),
        "--state-dir",
        state.as_str(),
    ];
    args.extend(extra);
    Host::start(dir, &args)
}

fn set_through(addr: std::net::SocketAddr, route: &str, key: &str) -> Result<Reply, String> {
    let mut body = key.as_bytes().to_vec();
    body.extend_from_slice(&(key.len() as u32).to_le_bytes());
    crate::common::try_send_exact(addr, "POST", route, &[("host", b"kv".as_slice())], &body)
}

/// `edgefn kv ARGS...` in `cwd`, with no token in the environment.
fn kv_cli(cwd: &Path, args: &[&str]) -> Output {
    Command::new(edgefn_bin())
        .current_dir(cwd)
        .arg("kv")
        .args(args)
        .env_remove("EDGEFN_ADMIN_TOKEN")
        .env_remove("EDGEFN_STATE_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "edgefn kv failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Reads the store in `state` straight from the file (no host may hold it).
fn values_in(state: &Path) -> FileStore {
    let store = FileStore::new(state, Owner::this_process("test"));
    store.open().expect("the store opens once the host is gone");
    store
}

/// Every key of a listing, page after page.
fn all_keys(store: &dyn KvBackend, name: &str, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor = None;
    loop {
        let page = block(store.list(name, prefix, cursor.as_deref(), 1000)).unwrap();
        keys.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return keys,
        }
    }
}

#[test]
fn concurrent_writers_on_many_threads_all_land() {
    let state = tempfile::tempdir().unwrap();
    let store = FileStore::new(state.path(), Owner::this_process("test"));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                // Each thread its own runtime, as each host worker has, with 200 writes in flight.
                block(async move {
                    let writes: Vec<_> = (0..200)
                        .map(|i| {
                            let store = store.clone();
                            tokio::spawn(async move {
                                let key = format!("t{t}/k{i:03}");
                                store.set("default", &key, key.as_bytes(), 0).await
                            })
                        })
                        .collect();
                    for write in writes {
                        write.await.unwrap().unwrap();
                    }
                })
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let mut expected: Vec<String> = (0..8)
        .flat_map(|t| (0..200).map(move |i| format!("t{t}/k{i:03}")))
        .collect();
    expected.sort();
    let check = |store: &FileStore| {
        for key in &expected {
            assert_eq!(
                block(store.get("default", key)).unwrap().as_deref(),
                Some(key.as_bytes()),
                "{key}"
            );
        }
        assert_eq!(all_keys(store, "default", ""), expected);
        assert_eq!(all_keys(store, "default", "t3/").len(), 200);
    };
    check(&store);
    // And in the file: a new handle once this one is closed sees every write.
    drop(store);
    check(&values_in(state.path()));
}

#[test]
fn a_second_host_on_the_same_state_directory_is_refused_naming_it() {
    let state = tempfile::tempdir().unwrap();
    let _first = serve(state.path(), &[]).expect("the first host starts");
    let log = match serve(state.path(), &[]) {
        Ok(_) => panic!("a second host started on the same state directory"),
        Err(log) => log,
    };
    assert!(
        log.contains(&state.path().display().to_string()) && log.contains("--state-dir"),
        "the refusal names the folder and --state-dir:\n{log}"
    );
    assert!(
        log.contains("edgefn serve (pid"),
        "it names the holder:\n{log}"
    );
}

#[test]
fn every_acknowledged_write_survives_sigkill_and_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let host = serve(state.path(), &[]).expect("host starts");
    let addr = host.addr;
    let stop = Arc::new(AtomicBool::new(false));
    // Several clients at once: writes from several instances on both workers.
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("c{c}/{i:05}");
                    match set_through(addr, "/setter", &key) {
                        Ok(reply) if reply.status == 200 => acknowledged.push(key),
                        Ok(reply) => panic!("a write failed: {} {}", reply.status, reply.text()),
                        // The host was killed under this request: not acknowledged.
                        Err(_) => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    // Kill it mid-writes, once a fair number are through.
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    crate::common::signal(host.pid(), "KILL");
    let killed_after = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let acknowledged: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(
        acknowledged.len() >= 20,
        "only {} writes were acknowledged in {killed_after:?}",
        acknowledged.len()
    );
    let mut host = host;
    let started = Instant::now();
    while host.is_running() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "SIGKILL did not end the host"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(host);
    // Restarted on the same state directory, with an admin listener: edgefn kv reaches the
    // store through it and finds every acknowledged write.
    let restarted = serve(state.path(), &["--admin-listen", "127.0.0.1:0"]).expect("restart");
    let listed = ok(&kv_cli(
        state.path(),
        &[
            "--state-dir",
            &state.path().display().to_string(),
            "list",
            "default",
        ],
    ));
    let listed: std::collections::HashSet<&str> = listed.lines().collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|k| !listed.contains(k.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes are missing after SIGKILL, e.g. {:?}",
        lost.len(),
        acknowledged.len(),
        &lost[..lost.len().min(5)]
    );
    let sample = &acknowledged[acknowledged.len() / 2];
    let value = ok(&kv_cli(
        state.path(),
        &[
            "--state-dir",
            &state.path().display().to_string(),
            "get",
            "default",
            sample,
        ],
    ));
    assert_eq!(&value, sample);
    // The restarted host writes on where the killed one stopped.
    assert_eq!(
        set_through(restarted.addr, "/setter", "after-restart")
            .unwrap()
            .status,
        200
    );
    drop(restarted);
    let store = values_in(state.path());
    assert_eq!(
        block(store.get("default", "after-restart"))
            .unwrap()
            .as_deref(),
        Some(b"after-restart".as_slice())
    );
}

#[test]
fn a_hot_redeploy_keeps_the_store() {
    let state = tempfile::tempdir().unwrap();
    let host = serve(state.path(), &["--admin-listen", "127.0.0.1:0"]).expect("host starts");
    assert_eq!(
        set_through(host.addr, "/setter", "before").unwrap().status,
        200
    );
    // A new version of the function (a variable changed) and a second one on the same store.
    project(host.dir.path(), true);
    let manifest = std::fs::read_to_string(host.dir.path().join("edgefn.toml")).unwrap();
    std::fs::write(
        host.dir.path().join("edgefn.toml"),
        manifest.replacen(
            "name = \"setter\"\n",
            "name = \"setter\"\nenv = { VERSION = \"2\" }\n",
            1,
        ),
    )
    .unwrap();
    let owner = Owner::read(state.path()).expect("the host wrote host.json");
    let admin: std::net::SocketAddr = owner
        .admin
        .unwrap()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let auth = format!("Bearer {}", owner.admin_token.unwrap());
    let reload = send(
        admin,
        "POST",
        "/reload",
        &[("authorization", auth.as_bytes())],
        b"",
    );
    assert_eq!(reload.status, 200, "{}", reload.text());
    assert!(reload.text().contains("setter2"), "{}", reload.text());
    assert_eq!(
        set_through(host.addr, "/setter", "after").unwrap().status,
        200
    );
    assert_eq!(
        set_through(host.addr, "/setter2", "from-the-new-one")
            .unwrap()
            .status,
        200
    );
    let dir = state.path().display().to_string();
    let listed = ok(&kv_cli(
        state.path(),
        &["--state-dir", &dir, "list", "default"],
    ));
    assert_eq!(listed, "after\nbefore\nfrom-the-new-one\n");
}

#[test]
fn edgefn_kv_works_on_the_file_and_through_a_running_host() {
    // No host: the file itself, in the default state directory of the current folder.
    let project = tempfile::tempdir().unwrap();
    let cwd = project.path();
    ok(&kv_cli(cwd, &["put", "default", "a/1", "one"]));
    let value = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(value.path(), [0u8, 159, 146, 150]).unwrap();
    let data = format!("@{}", value.path().display());
    ok(&kv_cli(
        cwd,
        &[
            "put", "default", "a/2 ü?#", "--data", &data, "--ttl", "3600",
        ],
    ));
    ok(&kv_cli(cwd, &["put", "other", "a/3", "three"]));
    assert!(cwd.join(".edgefn/state/kv.redb").is_file());
    assert_eq!(ok(&kv_cli(cwd, &["get", "default", "a/1"])), "one");
    let raw = kv_cli(cwd, &["get", "default", "a/2 ü?#"]);
    assert!(raw.status.success());
    assert_eq!(raw.stdout, [0u8, 159, 146, 150]);
    assert_eq!(ok(&kv_cli(cwd, &["list", "default"])), "a/1\na/2 ü?#\n");
    let page = kv_cli(cwd, &["list", "default", "--limit", "1"]);
    assert_eq!(ok(&page), "a/1\n");
    assert!(String::from_utf8_lossy(&page.stderr).contains("next page: --cursor a/1"));
    assert_eq!(
        ok(&kv_cli(cwd, &["list", "default", "--cursor", "a/1"])),
        "a/2 ü?#\n"
    );
    ok(&kv_cli(cwd, &["delete", "default", "a/1"]));
    let missing = kv_cli(cwd, &["get", "default", "a/1"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("is not in store"));
    let refused = kv_cli(cwd, &["put", "default", "k", "v", "--ttl", "5"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("at least 60"));

    let state = cwd.join(".edgefn/state");
    let state_arg = state.display().to_string();
    // A host without an admin listener holds the file: refused, saying what to do.
    {
        let _host = serve(&state, &[]).expect("host starts");
        let held = kv_cli(cwd, &["get", "default", "a/2 ü?#"]);
        assert!(!held.status.success());
        let message = String::from_utf8_lossy(&held.stderr);
        assert!(
            message.contains("no admin listener") && message.contains("--admin-listen"),
            "{message}"
        );
    }
    // With one, every command goes through it while it runs, beside the functions' writes.
    let host = serve(&state, &["--admin-listen", "127.0.0.1:0"]).expect("host starts");
    assert_eq!(
        set_through(host.addr, "/setter", "a/4").unwrap().status,
        200
    );
    ok(&kv_cli(cwd, &["put", "default", "a/5", "five"]));
    assert_eq!(ok(&kv_cli(cwd, &["get", "default", "a/4"])), "a/4");
    assert_eq!(ok(&kv_cli(cwd, &["get", "default", "a/5"])), "five");
    let raw = kv_cli(cwd, &["get", "default", "a/2 ü?#"]);
    assert_eq!(raw.stdout, [0u8, 159, 146, 150]);
    assert_eq!(
        ok(&kv_cli(cwd, &["list", "default", "--prefix", "a/"])),
        "a/2 ü?#\na/4\na/5\n"
    );
    ok(&kv_cli(cwd, &["delete", "default", "a/4"]));
    assert_eq!(ok(&kv_cli(cwd, &["list", "default"])), "a/2 ü?#\na/5\n");
    assert_eq!(ok(&kv_cli(cwd, &["list", "other"])), "a/3\n");
    // A wrong token is refused by the host, and says so.
    let owner = Owner::read(&state).unwrap();
    let wrong = kv_cli(
        cwd,
        &[
            "--admin",
            owner.admin.as_deref().unwrap(),
            "--admin-token",
            "wrong-token-0123456789",
            "list",
            "default",
        ],
    );
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("401"));
    drop(host);
    // The data stays in the file once the host is gone.
    assert_eq!(
        ok(&kv_cli(
            cwd,
            &["--state-dir", &state_arg, "get", "default", "a/5"]
        )),
        "five"
    );
}

/// Where `edgefn invoke` puts its store: the same file `serve` uses.
#[test]
fn edgefn_invoke_writes_to_the_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), false);
    let state: PathBuf = dir.path().join("state");
    let mut body = b"from-invoke".to_vec();
    body.extend_from_slice(&11u32.to_le_bytes());
    let body_file = dir.path().join("body");
    std::fs::write(&body_file, body).unwrap();
    let output = Command::new(edgefn_bin())
        .args(["invoke", "--name", "setter", "--cache-dir"])
        .arg(shared_cache_dir())
        .arg("--state-dir")
        .arg(&state)
        .arg("--data")
        .arg(format!("@{}", body_file.display()))
        .arg(dir.path().join("edgefn.toml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let store = values_in(&state);
    assert_eq!(
        block(store.get("default", "from-invoke"))
            .unwrap()
            .as_deref(),
        Some(b"from-invoke".as_slice())
    );
}

//! Pre-initialization end to end: a guest's `edgefn_v1_init` runs once at deploy and fresh
//! instances start from its snapshot; `preinit = false` runs it in every instance instead; the
//! snapshot is cached across restarts; an init that fails is refused at deploy with the way out
//! named, and a module that cannot be snapshotted (or whose init declines) runs its init per
//! instance, with a warning.

use crate::common;

use common::{Host, Reply, guest};

/// The slow-init guest's answer: its table entry, how often init ran in the instance, and init's
/// clock stamp.
#[derive(Debug, PartialEq, Eq)]
struct InitReport {
    entry: String,
    init_runs: String,
    stamp: String,
    served: String,
}

fn report(reply: &Reply) -> InitReport {
    assert_eq!(reply.status, 200, "{}", reply.text());
    let text = reply.text();
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {name} in {text:?}"))
            .to_owned()
    };
    InitReport {
        entry: field("entry"),
        init_runs: field("init_runs"),
        stamp: field("init_stamp"),
        served: field("served"),
    }
}

fn serve(manifest: &str, cache: &std::path::Path) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edgefn.toml");
    let text = manifest.replace("{guest}", guest("slow-init").to_str().unwrap());
    std::fs::write(&path, text).unwrap();
    Host::start(
        dir,
        &[
            path.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
    )
    .expect("host starts")
}

const MANIFEST: &str = r#"
[[function]]
name = "snapshot"
wasm = "{guest}"

[[function]]
name = "every-instance"
wasm = "{guest}"
preinit = false
"#;

#[test]
fn fresh_instances_start_from_the_init_snapshot_which_survives_a_restart() {
    let cache = tempfile::tempdir().unwrap();
    let mut first = serve(MANIFEST, cache.path());
    let log = first.log();
    assert_eq!(
        log.matches("pre-initialized: ran edgefn_v1_init once")
            .count(),
        1,
        "one snapshot, for the function that did not opt out: {log}"
    );

    // Fresh instance per request, yet init ran once, before any of them: every request sees the
    // same stamp and a count of 1.
    let snapshot: Vec<InitReport> = (0..3)
        .map(|_| report(&first.get("/snapshot?i=7")))
        .collect();
    assert!(snapshot.iter().all(|r| r.init_runs == "1"), "{snapshot:?}");
    // ... and starts from the snapshot, not from what the previous request left behind.
    assert!(snapshot.iter().all(|r| r.served == "1"), "{snapshot:?}");
    assert!(
        snapshot.windows(2).all(|w| w[0].stamp == w[1].stamp),
        "{snapshot:?}"
    );

    // Opted out: each fresh instance runs init itself, so each request has a new stamp.
    let every: Vec<InitReport> = (0..3)
        .map(|_| report(&first.get("/every-instance?i=7")))
        .collect();
    assert!(every.iter().all(|r| r.init_runs == "1"), "{every:?}");
    assert!(
        every.windows(2).all(|w| w[0].stamp != w[1].stamp),
        "{every:?}"
    );
    // Same module, same answers either way.
    assert!(every.iter().all(|r| r.entry == snapshot[0].entry));

    assert!(first.terminate().success());

    // A restart loads the cached snapshot: init does not run again, and the stamp is the one
    // taken at the first deploy.
    let second = serve(MANIFEST, cache.path());
    let log = second.log();
    assert!(!log.contains("pre-initialized"), "{log}");
    assert_eq!(report(&second.get("/snapshot?i=7")), snapshot[0]);
}

/// A module whose handler answers 200 with the one byte at 32, `?` until an init writes another
/// there.
fn write_wat(dir: &std::path::Path, name: &str, init_body: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.wasm"));
    let wat = format!(
        r#"(module
            (import "edgefn_v1" "snapshot_decline" (func $decline (param i32 i32) (result i32)))
            (memory (export "memory") 1)
            (table 1 funcref)
            ;; A response envelope (docs/abi.md): EFS1, status 200, no headers, a 1-byte body.
            (data (i32.const 16) "EFS1\c8\00\00\00\00\00\00\00\01\00\00\00?")
            (func (export "edgefn_v1_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "edgefn_v1_handle") (param i32 i32) (result i64)
                i64.const 68719476753) ;; 16 << 32 | 17
            (func (export "edgefn_v1_init") {init_body}))"#
    );
    std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
    path
}

#[test]
fn an_init_that_fails_is_refused_at_deploy_and_one_that_cannot_be_snapshotted_runs_per_instance() {
    let dir = tempfile::tempdir().unwrap();
    let traps = write_wat(dir.path(), "traps", "unreachable");
    // Wizer cannot capture a table the init changed: no snapshot, and the init runs in each
    // instance, where it writes the byte the handler answers.
    let mutates_table = write_wat(
        dir.path(),
        "mutates-table",
        "(table.set 0 (i32.const 0) (ref.null func)) (i32.store8 (i32.const 32) (i32.const 105))",
    );
    // An init declining with a reason outside memory still declines (the import answers -3
    // then), and in each instance, where no snapshot is taken, the import answers 1: the init
    // stores 64 + the answer.
    let declines = write_wat(
        dir.path(),
        "declines",
        "(i32.store8 (i32.const 32) (i32.add (i32.const 64) (call $decline (i32.const -16) (i32.const 64))))",
    );
    let hello = guest("hello");
    let cache = dir.path().join("cache");
    let host = Host::start(
        tempfile::tempdir().unwrap(),
        &[
            traps.to_str().unwrap(),
            mutates_table.to_str().unwrap(),
            declines.to_str().unwrap(),
            hello.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
    )
    .expect("the good functions are served even though one was refused");
    assert_eq!(host.get("/hello").status, 200);
    assert_eq!(host.get("/traps").status, 404);
    for _ in 0..2 {
        let reply = host.get("/mutates-table");
        assert_eq!((reply.status, reply.text().as_str()), (200, "i"));
        let reply = host.get("/declines");
        assert_eq!((reply.status, reply.text().as_str()), (200, "A"));
    }
    let log = host.log();
    assert!(
        log.contains("\"traps\": its edgefn_v1_init failed at deploy"),
        "{log}"
    );
    assert_eq!(log.matches("set `preinit = false`").count(), 1, "{log}");
    let warning = |function: &str| {
        log.lines()
            .find(|line| line.contains("not pre-initialized") && line.contains(function))
            .unwrap_or_else(|| panic!("no warning for {function}:\n{log}"))
    };
    let table = warning("mutates-table");
    assert!(
        table.contains("WARN")
            && table.contains("cannot be snapshotted")
            && table.contains("table.set"),
        "{table}"
    );
    let declined = warning("\"declines\"");
    assert!(
        declined.contains("its init declined a snapshot")
            && declined.contains("outside its memory")
            && declined.contains("as with `preinit = false`"),
        "{declined}"
    );
}

#[test]
fn an_evicted_function_whose_module_changed_on_disk_is_not_reloaded_from_the_new_bytes() {
    // Evicted functions reload from their artifact; without one they recompile from the file, and
    // a file that no longer matches what was deployed must not be run (or snapshotted) silently.
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let first = dir.path().join("first.wasm");
    let second = dir.path().join("second.wasm");
    std::fs::copy(guest("slow-init"), &first).unwrap();
    std::fs::copy(guest("hello"), &second).unwrap();
    let host = Host::start(
        tempfile::tempdir().unwrap(),
        &[
            first.to_str().unwrap(),
            second.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--max-loaded",
            "1",
        ],
    )
    .unwrap();
    assert_eq!(host.get("/second").status, 200, "evicts first");
    std::fs::remove_dir_all(&cache).unwrap();
    std::fs::copy(guest("counter"), &first).unwrap();
    let reply = host.get("/first");
    assert_eq!(reply.status, 500, "{}", reply.text());
    let log = host.log();
    assert!(
        log.contains("the module changed on disk since it was deployed"),
        "{log}"
    );
}

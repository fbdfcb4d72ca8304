//! `edgefn new` → the project's own unit test → `edgefn build` → `edgefn invoke` →
//! `edgefn serve --watch PROJECT`, for a Rust and a Go project, as a new user would run them.
//!
//! Cargo builds of the scaffolded project share `target/scaffold-test` (not the workspace's
//! target dir, whose lock the running `cargo test` may hold), so only the first run compiles the
//! SDK's dependencies.

use crate::dx_support;

use dx_support::{Load, Served, get, repo_root, run_bounded, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Longest a scaffolded project's build or test may take (a cold first run compiles serde & co).
const BUILD_LIMIT: Duration = Duration::from_secs(600);

fn scaffold_target_dir() -> PathBuf {
    repo_root().join("target/scaffold-test")
}

/// `edgefn ARGS...` in `cwd`, with the scaffold target dir and a private artifact cache.
fn edgefn_in(cwd: &Path, cache: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_edgefn"));
    command
        .args(args)
        .current_dir(cwd)
        .env("CARGO_TARGET_DIR", scaffold_target_dir())
        .env("EDGEFN_CACHE_DIR", cache)
        .env_remove("EDGEFN_SDK");
    run_bounded(&mut command, BUILD_LIMIT)
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn assert_fails_saying(out: &Output, what: &str, says: &str) {
    assert!(!out.status.success(), "{what} must fail");
    assert!(
        text(&out.stderr).contains(says),
        "{what} must say {says:?}:\n{}",
        text(&out.stderr)
    );
}

/// The path after `label` on a line of `build`'s summary.
fn summary_path(stdout: &str, label: &str) -> PathBuf {
    let line = stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{stdout}"));
    PathBuf::from(line.trim_start().split("  ").next().unwrap())
}

#[test]
fn rust_project_from_new_to_hot_reload() {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");

    let created = edgefn_in(work.path(), &cache, &["new", "greet"]);
    assert_ok(&created, "edgefn new");
    let project = work.path().join("greet");
    let stdout = text(&created.stdout);
    assert!(stdout.contains("created greet (Rust) in greet"), "{stdout}");
    assert!(stdout.contains("serve --watch ."), "{stdout}");
    let cargo_toml = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    let sdk = repo_root().join("sdk/rust").canonicalize().unwrap();
    assert!(
        cargo_toml.contains(&format!("edgefn = {{ path = \"{}\" }}", sdk.display())),
        "the SDK is found next to the binary:\n{cargo_toml}"
    );

    // The project's own unit test passes as generated.
    let mut cargo_test = Command::new(env!("CARGO"));
    cargo_test
        .arg("test")
        .current_dir(&project)
        .env("CARGO_TARGET_DIR", scaffold_target_dir());
    let tested = run_bounded(&mut cargo_test, BUILD_LIMIT);
    assert_ok(&tested, "cargo test in the new project");
    assert!(text(&tested.stdout).contains("test tests::greets_by_name ... ok"));

    // build: a module, its size, and a precompiled artifact.
    let built = edgefn_in(&project, &cache, &["build"]);
    assert_ok(&built, "edgefn build");
    let stdout = text(&built.stdout);
    assert!(stdout.starts_with("built greet (Rust) in "), "{stdout}");
    assert!(
        stdout.contains("module    target/edgefn/greet.wasm  ("),
        "{stdout}"
    );
    assert!(text(&built.stderr).contains("==> cargo build --release --target wasm32-wasip1"));
    let wasm = project.join("target/edgefn/greet.wasm");
    assert!(std::fs::read(&wasm).unwrap().starts_with(b"\0asm"));
    let artifact = summary_path(&stdout, "artifact");
    assert!(
        artifact.starts_with(&cache) && artifact.is_file(),
        "{artifact:?}"
    );
    assert!(stdout.contains("precompiled now"), "{stdout}");
    let again = edgefn_in(&project, &cache, &["build", project.to_str().unwrap()]);
    assert_ok(&again, "edgefn build, again");
    assert!(text(&again.stdout).contains("unchanged, already cached"));

    // The module works.
    let invoked = edgefn_in(
        &project,
        &cache,
        &["invoke", "target/edgefn/greet.wasm", "/greet?name=test"],
    );
    assert_ok(&invoked, "edgefn invoke");
    assert_eq!(text(&invoked.stdout), "Hello, test, from greet on local!\n");

    // serve --watch on the project: an edit is rebuilt and swapped in while requests flow.
    let served = Served::start(
        &[
            project.to_str().unwrap(),
            "--watch",
            "--cache-dir",
            cache.to_str().unwrap(),
        ],
        &[("CARGO_TARGET_DIR", &scaffold_target_dir())],
        BUILD_LIMIT,
    );
    served.wait_for_lines("watching ", 1, Duration::from_secs(10));
    assert_eq!(
        get(served.addr, "/greet?name=a"),
        (200, "Hello, a, from greet on local!\n".to_owned())
    );
    let load = Load::start(served.addr, "/greet?name=a", 2);
    let lib = project.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, source.replace("\"Hello, {name}", "\"Howdy, {name}")).unwrap();
    let started = Instant::now();
    while get(served.addr, "/greet?name=a").1 != "Howdy, a, from greet on local!\n" {
        assert!(
            started.elapsed() < BUILD_LIMIT,
            "the edit was not served:\n{}",
            served.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let seen = load.finish();
    assert!(
        seen.iter().flatten().all(|(status, _)| *status == 200),
        "no request failed during the rebuild and swap"
    );
    served.wait_for_lines("reloaded in ", 1, Duration::from_secs(5));

    // A broken edit does not stop the server: the last good version keeps serving.
    std::fs::write(&lib, "this is not Rust").unwrap();
    let started = Instant::now();
    while !served
        .log()
        .contains("rebuild failed; the previous version keeps serving")
    {
        assert!(started.elapsed() < BUILD_LIMIT, "{}", served.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get(served.addr, "/greet?name=a").0, 200);
}

#[test]
fn go_project_from_new_to_invoke() {
    let go = repo_root().join("scripts/go.sh");
    let found = run_bounded(Command::new(&go).arg("--path"), Duration::from_secs(60));
    assert!(
        found.status.success(),
        "no Go 1.24+ toolchain: run scripts/setup.sh go (make test does)"
    );
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let project = work.path().join("hello-go");
    let created = edgefn_in(
        work.path(),
        &cache,
        &[
            "new",
            "greet-go",
            "--lang",
            "go",
            "--path",
            project.to_str().unwrap(),
        ],
    );
    assert_ok(&created, "edgefn new --lang go");
    assert!(text(&created.stdout).contains("created greet-go (Go)"));
    let go_mod = std::fs::read_to_string(project.join("go.mod")).unwrap();
    let sdk = repo_root().join("sdk/go").canonicalize().unwrap();
    assert!(
        go_mod.contains(&format!(
            "replace edgefn.dev/sdk/go/edgefn => {}",
            sdk.display()
        )),
        "{go_mod}"
    );

    let tested = run_bounded(
        Command::new(&go)
            .args(["test", "./..."])
            .current_dir(&project),
        BUILD_LIMIT,
    );
    assert_ok(&tested, "go test in the new project");

    let built = edgefn_in(&project, &cache, &["build"]);
    assert_ok(&built, "edgefn build (Go)");
    assert!(text(&built.stdout).starts_with("built greet-go (Go) in "));
    let invoked = edgefn_in(
        &project,
        &cache,
        &[
            "invoke",
            "target/edgefn/greet-go.wasm",
            "/greet-go?name=gopher",
        ],
    );
    assert_ok(&invoked, "edgefn invoke (Go)");
    assert_eq!(
        text(&invoked.stdout),
        "Hello, gopher, from greet-go on local!\n"
    );
}

#[test]
fn mistakes_are_refused_with_what_to_do() {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let run = |args: &[&str]| edgefn_in(work.path(), &cache, args);

    assert_fails_saying(
        &run(&["new", "1st"]),
        "a name starting with a digit",
        "edgefn new greet",
    );
    std::fs::create_dir(work.path().join("taken")).unwrap();
    std::fs::write(work.path().join("taken/file"), "").unwrap();
    assert_fails_saying(
        &run(&["new", "taken"]),
        "new into a non-empty folder",
        "already exists and is not empty",
    );
    assert_fails_saying(
        &run(&["new", "x", "--sdk", "/nonexistent"]),
        "a wrong --sdk",
        "is not the edgefn Rust SDK",
    );
    std::fs::create_dir(work.path().join("empty")).unwrap();
    assert_fails_saying(
        &run(&["build", "empty"]),
        "build outside a project",
        "edgefn new NAME",
    );
    assert_fails_saying(
        &run(&["serve", "empty"]),
        "serve of a folder that is not a project",
        "not a function project",
    );
}

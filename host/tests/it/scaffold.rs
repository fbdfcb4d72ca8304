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
            "replace github.com/edgefn-dev/edgefn/sdk/go => {}",
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

/// `edgefn ARGS...` in `cwd` run from a copy of the binary outside any checkout, as after
/// `cargo install edgefn-host`.
fn installed_edgefn_in(bin_dir: &Path, cwd: &Path, args: &[&str]) -> Output {
    let installed = bin_dir.join("edgefn");
    if !installed.exists() {
        std::fs::create_dir_all(bin_dir).unwrap();
        std::fs::hard_link(env!("CARGO_BIN_EXE_edgefn"), &installed)
            .or_else(|_| std::fs::copy(env!("CARGO_BIN_EXE_edgefn"), &installed).map(drop))
            .unwrap();
    }
    let mut command = Command::new(&installed);
    command.args(args).current_dir(cwd).env_remove("EDGEFN_SDK");
    run_bounded(&mut command, Duration::from_secs(60))
}

/// A Cargo.toml's `[dependencies]` table.
fn dependencies(project: &Path) -> toml::Table {
    let text = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    manifest["dependencies"].as_table().unwrap().clone()
}

/// Away from a checkout the projects depend on the published SDK of the binary's version (they do
/// not build offline, so only what is written is checked); `--sdk-version` picks another.
#[test]
fn an_installed_edgefn_scaffolds_against_the_published_sdk() {
    let version = env!("CARGO_PKG_VERSION");
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin");
    let new = |args: &[&str]| {
        let out = installed_edgefn_in(&bin, work.path(), args);
        assert_ok(&out, &format!("edgefn {args:?}"));
        text(&out.stdout)
    };

    let stdout = new(&["new", "greet"]);
    assert!(
        stdout.contains(&format!("using edgefn {version} from crates.io")),
        "{stdout}"
    );
    let deps = dependencies(&work.path().join("greet"));
    assert_eq!(deps["edgefn"].as_str(), Some(version), "{deps:?}");

    new(&["new", "web", "--template", "axum"]);
    let deps = dependencies(&work.path().join("web"));
    assert_eq!(deps["edgefn"].as_str(), Some(version), "{deps:?}");
    assert_eq!(deps["edgefn-tower"].as_str(), Some(version), "{deps:?}");

    for (name, template) in [("greet-go", "default"), ("mux", "net-http")] {
        let stdout = new(&["new", name, "--lang", "go", "--template", template]);
        assert!(stdout.contains("go mod tidy"), "{stdout}");
        let go_mod = std::fs::read_to_string(work.path().join(name).join("go.mod")).unwrap();
        assert!(
            go_mod.contains(&format!(
                "\nrequire github.com/edgefn-dev/edgefn/sdk/go v{version}\n"
            )),
            "{go_mod}"
        );
        assert!(!go_mod.contains("\nreplace "), "{go_mod}");
    }

    // --sdk-version, from an installed binary or a checkout's, with or without Go's `v`.
    new(&["new", "pinned", "--sdk-version", "v0.2.0"]);
    let deps = dependencies(&work.path().join("pinned"));
    assert_eq!(deps["edgefn"].as_str(), Some("0.2.0"), "{deps:?}");
    let cache = work.path().join("cache");
    let out = edgefn_in(
        work.path(),
        &cache,
        &["new", "pinned-go", "--lang", "go", "--sdk-version", "0.2.0"],
    );
    assert_ok(&out, "edgefn new --sdk-version from a checkout");
    let go_mod = std::fs::read_to_string(work.path().join("pinned-go/go.mod")).unwrap();
    assert!(
        go_mod.contains("require github.com/edgefn-dev/edgefn/sdk/go v0.2.0\n")
            && !go_mod.contains("\nreplace "),
        "{go_mod}"
    );

    // --sdk still points an installed binary at a checkout.
    let sdk = repo_root().join("sdk/rust").canonicalize().unwrap();
    new(&["new", "local", "--sdk", repo_root().to_str().unwrap()]);
    let deps = dependencies(&work.path().join("local"));
    assert_eq!(
        deps["edgefn"].get("path").and_then(|p| p.as_str()),
        Some(sdk.to_str().unwrap()),
        "{deps:?}"
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
    assert_fails_saying(
        &run(&["new", "x", "--sdk-version", "latest"]),
        "a --sdk-version that is not a version",
        "is not a version: give one like",
    );
    assert_fails_saying(
        &run(&["new", "x", "--sdk", ".", "--sdk-version", "0.1.0"]),
        "both --sdk and --sdk-version",
        "cannot be used with",
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

//! An axum `Router` served through `edgefn-tower` (`guests/examples/axum`) on every platform, with
//! the cases the SDK's own `echo`, `json` and `panic` guests go through (`conformance.rs`), and
//! `edgefn new --template axum` from a new project to an invocation.

use crate::common::Reply;
use crate::dx_support::{repo_root, run_bounded, text};
use crate::platforms::{Case, Target};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const JSON: &[u8] = b"application/json";

fn json(reply: &Reply) -> serde_json::Value {
    serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", reply.text()))
}

conformance!(
    /// Methods, paths, queries, headers and bodies (every byte value among them) reach the router
    /// as sent, and come back the same on every platform.
    axum_echo_answers_as_on_the_local_host,
    |serve| {
        let mut axum = serve("axum", &[]);
        let every_byte: Vec<u8> = (0..=255u8).cycle().take(256 * 16).collect();
        for case in [
            Case::get("/axum"),
            Case::new("DELETE", "/axum/a/b?x=1&y=two"),
            Case::new("PATCH", "/axum/some/path?x=1&x=2&y=a%20b")
                .header("content-type", b"text/plain; charset=utf-8")
                .header("x-custom", b"v")
                .body("a text body, ünïcode too\n".as_bytes()),
            Case::post("/axum/bytes")
                .header("content-type", b"application/octet-stream")
                .body(&every_byte),
        ] {
            let reply = axum.same(&case);
            assert_eq!(reply.status, 200, "{}", case.what());
            assert_eq!(reply.body, case.body, "body must arrive byte for byte");
            assert_eq!(
                reply.header("x-echo-method").as_deref(),
                Some(case.method.as_str())
            );
        }
    }
);

conformance!(
    /// Repeated request headers reach the router once per value, set-cookie included. Not on
    /// Lambda: cargo-lambda's Function URL emulation keeps only the first value.
    axum_sees_repeated_and_non_ascii_request_headers,
    [local, azure_functions, cloudflare_workers],
    |serve| {
        let mut axum = serve("axum", &[]);
        let reply = axum.same(
            &Case::post("/axum/headers")
                .header("x-multi", b"one")
                .header("x-multi", b"two")
                .header("set-cookie", b"a=1")
                .header("set-cookie", b"b=2")
                .header("x-utf8", "café ☕".as_bytes())
                .header("x-empty", b"")
                .body(b"hi"),
        );
        assert_eq!(reply.all("x-echo-h-set-cookie"), ["a=1", "b=2"]);
        assert_eq!(reply.body, b"hi");
    }
);

conformance!(
    /// A path parameter and JSON: the same objects, and axum's rejections (400 bad JSON, 422
    /// wrong fields, 415 no JSON content type, 405 wrong method) the same everywhere.
    axum_path_parameters_json_and_rejections_are_the_same,
    |serve| {
        let mut axum = serve("axum", &[]);
        let hello = axum.same(&Case::get("/axum/hello/edge"));
        assert_eq!(hello.status, 200);
        assert_eq!(
            json(&hello)["message"],
            format!("Hello, edge, from axum on {}!", T::PLATFORM)
        );
        let decoded = axum.same(&Case::get("/axum/hello/a%20b"));
        assert!(json(&decoded)["message"].as_str().unwrap().starts_with("Hello, a b,"));

        let greet = |body: &[u8]| {
            Case::post("/axum/greet")
                .header("content-type", JSON)
                .body(body)
        };
        let ok = axum.same(&greet(br#"{"name":"Ada","count":2}"#));
        assert_eq!(ok.status, 200);
        assert_eq!(json(&ok)["message"], "Hello, Ada! Hello, Ada!");
        for (case, status) in [
            (greet(b"{not json"), 400),
            (greet(b"{nope"), 400),
            (greet(b"{}"), 422),
            (Case::post("/axum/greet").body(br#"{"name":"x"}"#), 415),
        ] {
            let rejected = axum.same(&case);
            assert_eq!(rejected.status, status, "{}", rejected.text());
            assert!(json(&rejected)["error"].is_string(), "{}", rejected.text());
        }
        let wrong_method = axum.same(&Case::get("/axum/greet"));
        assert_eq!(wrong_method.status, 405);
        assert_eq!(wrong_method.header("allow").as_deref(), Some("POST"));
    }
);

conformance!(
    /// A panicking handler is a server error without its message, and the function keeps
    /// serving. Lambda's Function URL answers a failed invocation with its own 5xx, so there only
    /// the status class is checked; elsewhere the answer is the local host's but for the request
    /// id it names (which is why this is not `same`: Azure's invocation-mode check compares error
    /// pages byte for byte, ids included).
    axum_panic_is_a_server_error_and_the_function_keeps_serving,
    |serve| {
        let mut axum = serve("axum", &[]);
        let case = Case::get("/axum/panic");
        let local = axum.local.send(&case);
        assert_eq!(local.status, 500, "{}", local.text());
        let reply = axum.target.send(&case);
        assert_no_detail(&local);
        assert_no_detail(&reply);
        if T::PLATFORM == "aws-lambda" {
            assert!(reply.status >= 500, "{}: {}", reply.status, reply.text());
        } else {
            let expected = axum.target.expected(&local);
            assert_eq!(
                axum.target.comparable(&reply),
                axum.target.comparable(&expected),
                "the same 500 as on the local host"
            );
        }
        axum.target.assert_running();
        assert_eq!(axum.same(&Case::get("/axum/hello/again")).status, 200);
    }
);

fn assert_no_detail(reply: &Reply) {
    assert!(
        !reply.text().contains("secret detail"),
        "the panic message stays in the log: {}",
        reply.text()
    );
}

/// Longest a scaffolded project's build or test may take (a cold first run compiles axum & co).
const BUILD_LIMIT: Duration = Duration::from_secs(600);

/// `edgefn ARGS...` in `cwd`, with the scaffold tests' target dir (so their dependencies are
/// compiled once) and a private artifact cache.
fn edgefn_in(cwd: &Path, cache: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_edgefn"));
    command
        .args(args)
        .current_dir(cwd)
        .env("CARGO_TARGET_DIR", repo_root().join("target/scaffold-test"))
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

#[test]
fn axum_template_from_new_to_invoke() {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let created = edgefn_in(work.path(), &cache, &["new", "--template", "axum", "demo"]);
    assert_ok(&created, "edgefn new --template axum");
    assert!(
        text(&created.stdout).contains("created demo (Rust, axum) in demo"),
        "{}",
        text(&created.stdout)
    );
    let project = work.path().join("demo");
    let cargo_toml = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    let tower = repo_root().join("sdk/tower").canonicalize().unwrap();
    assert!(
        cargo_toml.contains(&format!(
            "edgefn-tower = {{ path = \"{}\" }}",
            tower.display()
        )),
        "the adapter is found beside the SDK:\n{cargo_toml}"
    );

    let mut cargo_test = Command::new(env!("CARGO"));
    cargo_test
        .arg("test")
        .current_dir(&project)
        .env("CARGO_TARGET_DIR", repo_root().join("target/scaffold-test"));
    let tested = run_bounded(&mut cargo_test, BUILD_LIMIT);
    assert_ok(&tested, "cargo test in the new project");
    assert!(
        text(&tested.stdout).contains("test result: ok. 2 passed"),
        "{}",
        text(&tested.stdout)
    );

    assert_ok(&edgefn_in(&project, &cache, &["build"]), "edgefn build");
    let wasm = "target/edgefn/demo.wasm";
    let hello = edgefn_in(&project, &cache, &["invoke", wasm, "/demo/hello/edge"]);
    assert_ok(&hello, "edgefn invoke /demo/hello/edge");
    assert_eq!(
        text(&hello.stdout),
        r#"{"message":"Hello, edge, from demo on local!"}"#
    );
    let greet = edgefn_in(
        &project,
        &cache,
        &[
            "invoke",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"name":"Ada"}"#,
            wasm,
            "/demo/greet",
        ],
    );
    assert_ok(&greet, "edgefn invoke POST /demo/greet");
    assert_eq!(text(&greet.stdout), r#"{"message":"Hello, Ada!"}"#);
}

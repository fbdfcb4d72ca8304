//! `edgefn invoke`: one invocation without a server. The request is built from the flags byte for
//! byte, the response body alone goes to stdout (head on stderr), `--json` gives scripts one
//! object, and an invocation failure exits non-zero naming its kind.

use crate::common;
use crate::dx_support;

use dx_support::{edgefn, edgefn_stdin, text};

fn guest(name: &str) -> String {
    common::guest(name).display().to_string()
}

fn json(stdout: &[u8]) -> serde_json::Value {
    serde_json::from_slice(stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(stdout)))
}

#[test]
fn builds_the_request_from_flags_and_prints_the_body_raw() {
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..=255u8).chain(*b"\r\n\0end").collect();
    let body_file = dir.path().join("body.bin");
    std::fs::write(&body_file, &body).unwrap();
    let data = format!("@{}", body_file.display());
    let out = edgefn(&[
        "invoke",
        &guest("echo"),
        "/echo/a%20b?x=1&y",
        "--method",
        "put",
        "--header",
        "x-a: 1",
        "-H",
        "x-a:2",
        "--header",
        "content-type: application/x-test",
        "--data",
        &data,
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(out.stdout, body, "stdout is the body, byte for byte");
    for line in [
        "HTTP/1.1 200 OK",
        "x-echo-method: PUT",
        "x-echo-path: /echo/a%20b",
        "x-echo-query: x=1&y",
        "x-echo-h-x-a: 1",
        "x-echo-h-x-a: 2",
        "content-type: application/x-test",
    ] {
        assert!(
            stderr.lines().any(|l| l == line),
            "{line:?} in stderr:\n{stderr}"
        );
    }
}

#[test]
fn reads_the_body_from_stdin_or_the_flag_and_defaults_the_path() {
    let out = edgefn_stdin(&["invoke", &guest("echo"), "--data", "-"], b"from stdin\0");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, b"from stdin\0");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("x-echo-method: POST"),
        "--data implies POST:\n{stderr}"
    );
    assert!(
        stderr.contains("x-echo-path: /echo\n"),
        "the default path is /NAME:\n{stderr}"
    );

    let out = edgefn(&["invoke", &guest("echo"), "/x", "-d", "plain text"]);
    assert_eq!(out.stdout, b"plain text");
}

#[test]
fn json_output_for_scripts() {
    let out = edgefn(&[
        "invoke",
        "--json",
        &guest("context"),
        "--platform",
        "aws-lambda",
        "-H",
        "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "--deadline-ms",
        "1500",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result = json(&out.stdout);
    assert_eq!(result["status"], 200);
    assert!(
        result["headers"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(["content-type", "application/json"]))
    );
    let seen: serde_json::Value = serde_json::from_str(result["body"].as_str().unwrap()).unwrap();
    assert_eq!(seen["platform"], "aws-lambda");
    assert_eq!(seen["function_name"], "context");
    assert_eq!(seen["request_id"], result["request_id"]);
    assert_eq!(
        seen["traceparent"],
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
    assert_eq!(seen["cold_start"], true);
    assert!(seen["remaining_ms"].as_u64().unwrap() <= 1500);
    assert!(
        result["logs"]["stdout"]
            .as_str()
            .unwrap()
            .starts_with("context guest answering ")
    );
    assert!(result["duration_ms"].as_f64().unwrap() > 0.0);

    // A body that is not UTF-8 comes back as base64.
    let out = edgefn(&["invoke", "--json", &guest("echo"), "-d", "\u{1}"]);
    let result = json(&out.stdout);
    assert_eq!(result["body"], "\u{1}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b"), [0xff, 0x00]).unwrap();
    let data = format!("@{}", dir.path().join("b").display());
    let result = json(&edgefn(&["invoke", "--json", &guest("echo"), "-d", &data]).stdout);
    assert_eq!(result["body_base64"], "/wA=");
}

#[test]
fn env_and_manifests_configure_the_function() {
    let out = edgefn(&[
        "invoke",
        &guest("config"),
        "--env",
        "GREETING=hej",
        "-e",
        "B=2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let seen = json(&out.stdout);
    assert_eq!(seen["greeting"], "hej");
    assert_eq!(seen["variables"], serde_json::json!(["B", "GREETING"]));

    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("edgefn.toml");
    std::fs::write(
        &manifest,
        format!(
            "[[function]]\nname = \"greeter\"\nwasm = {:?}\nenv = {{ GREETING = \"from the manifest\" }}\n\n\
             [[function]]\nname = \"other\"\nwasm = {:?}\n",
            guest("config"),
            guest("hello")
        ),
    )
    .unwrap();
    let manifest = manifest.to_str().unwrap();
    let out = edgefn(&["invoke", manifest, "--name", "greeter"]);
    assert_eq!(json(&out.stdout)["greeting"], "from the manifest");
    let out = edgefn(&["invoke", manifest, "--name", "other"]);
    assert_eq!(text(&out.stdout), "Hello from other on local!\n");

    let out = edgefn(&["invoke", manifest]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("pick one with --name (greeter, other)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn failures_exit_non_zero_with_their_kind_and_what_to_do() {
    let cases = [
        (
            "busy-loop",
            &["--deadline-ms", "200"][..],
            "timeout",
            "--deadline-ms",
        ),
        (
            "memory-hog",
            &["--memory-mb", "16"][..],
            "memory",
            "--memory-mb",
        ),
        ("panic", &[][..], "trap", "panicked"),
    ];
    for (name, flags, kind, hint) in cases {
        let module = guest(name);
        let mut args = vec!["invoke", module.as_str()];
        args.extend_from_slice(flags);
        let out = edgefn(&args);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{name} must fail");
        assert!(
            stderr.contains(&format!("error: invocation failed ({kind}")),
            "{name}:\n{stderr}"
        );
        assert!(stderr.contains(hint), "{name} says what to do:\n{stderr}");
        assert!(out.stdout.is_empty(), "no body on failure");

        args.push("--json");
        let out = edgefn(&args);
        assert!(!out.status.success());
        assert_eq!(json(&out.stdout)["error"]["kind"], kind);
    }
    let out = edgefn(&["invoke", "/no/such/module.wasm"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("edgefn build"),
        "{}",
        text(&out.stderr)
    );
}

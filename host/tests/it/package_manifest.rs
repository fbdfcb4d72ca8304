//! `edgefn package --target T edgefn.toml`: every function of a manifest packaged with the env,
//! limits, outbound and kv it was tested with, each into OUT/<name>/, for each platform; the
//! settings a platform cannot honour named in warnings; a bad manifest refused clearly; and a bare
//! `.wasm` packaged as before.

use crate::common::{edgefn_bin, guest};
use crate::platforms::Case;
use crate::platforms::azure::{Handler, invocation_id};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Two functions: `greeter` with everything a package carries, `hello` with what no platform
/// honours (routes, warm).
fn manifest(dir: &Path) -> PathBuf {
    let text = format!(
        r#"
[[function]]
name = "greeter"
wasm = {config:?}
env = {{ GREETING = "Hej from the manifest" }}
limits = {{ deadline_ms = 2500, memory_mb = 64 }}
outbound = {{ allowed_hosts = ["https://api.example.com"], max_requests = 5 }}
kv = {{ stores = ["default"] }}

[[function]]
name = "hello"
wasm = {hello:?}
routes = ["/hi"]
warm = {{}}
"#,
        config = guest("config").display().to_string(),
        hello = guest("hello").display().to_string(),
    );
    let path = dir.join("edgefn.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str], manifest: &Path, out: &Path) -> Output {
    Command::new(edgefn_bin())
        .arg("package")
        .args(args)
        .arg(manifest)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run edgefn package")
}

/// Packages the test manifest for `target`; returns the output folder and what was printed.
fn package(target: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(dir.path());
    let out = dir.path().join("dist");
    let output = run(&["--target", target, "--arch", "x86_64"], &manifest, &out);
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "edgefn package --target {target} failed: {printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (dir, printed)
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(path: PathBuf) -> Value {
    serde_json::from_str(&read(path)).unwrap()
}

fn assert_warns(printed: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            printed
                .lines()
                .any(|l| l.starts_with("warning: ") && l.contains(needle)),
            "a warning about {needle:?} in:\n{printed}"
        );
    }
}

#[test]
fn lambda_packages_carry_the_manifest_env_and_limits() {
    let (dir, printed) = package("aws-lambda");
    let dist = dir.path().join("dist");
    let template = read(dist.join("greeter/greeter-aws-lambda.yaml"));
    for line in [
        "EDGEFN_DEADLINE_MS: \"2500\"",
        "EDGEFN_MEMORY_MB: \"64\"",
        "GREETING: \"Hej from the manifest\"",
        "EDGEFN_OUTBOUND_ALLOWED_HOSTS: \"https://api.example.com\"",
        "EDGEFN_OUTBOUND_MAX_REQUESTS: \"5\"",
        "EDGEFN_KV_STORES: \"default\"",
        "Timeout: 4",
        "MemorySize: 128",
        "KvTable:",
    ] {
        assert!(template.contains(line), "{line} in:\n{template}");
    }
    assert!(dist.join("greeter/greeter-aws-lambda.zip").is_file());
    assert!(dist.join("hello/hello-aws-lambda.zip").is_file());
    let hello = read(dist.join("hello/hello-aws-lambda.yaml"));
    assert!(!hello.contains("GREETING"), "{hello}");
    assert_warns(
        &printed,
        &["function \"hello\": routes /hi", "function \"hello\": warm"],
    );
}

#[test]
fn workers_packages_carry_the_manifest_vars_and_cpu_limit() {
    let (dir, printed) = package("cloudflare-workers");
    let dist = dir.path().join("dist");
    let wrangler: toml::Table = toml::from_str(&read(dist.join("greeter/wrangler.toml"))).unwrap();
    let vars = &wrangler["vars"];
    assert_eq!(vars["GREETING"].as_str(), Some("Hej from the manifest"));
    assert_eq!(vars["EDGEFN_DEADLINE_MS"].as_str(), Some("2500"));
    assert_eq!(
        vars["EDGEFN_OUTBOUND_ALLOWED_HOSTS"].as_str(),
        Some("https://api.example.com")
    );
    assert_eq!(vars["EDGEFN_KV_STORES"].as_str(), Some("default"));
    assert_eq!(wrangler["limits"]["cpu_ms"].as_integer(), Some(2500));
    assert_eq!(
        wrangler["kv_namespaces"][0]["binding"].as_str(),
        Some("EDGEFN_KV_DEFAULT")
    );
    let hello: toml::Table = toml::from_str(&read(dist.join("hello/wrangler.toml"))).unwrap();
    assert_eq!(hello["vars"]["EDGEFN_DEADLINE_MS"].as_str(), Some("10000"));
    assert_eq!(hello["limits"]["cpu_ms"].as_integer(), Some(10000));
    assert!(hello["vars"].get("GREETING").is_none());
    assert_warns(
        &printed,
        &[
            "function \"greeter\": limits.memory_mb = 64",
            "function \"hello\": routes /hi",
            "function \"hello\": warm",
            "store \"default\" needs a KV namespace",
        ],
    );
}

#[test]
fn azure_apps_carry_the_manifest_settings_and_run_with_them() {
    let (dir, printed) = package("azure-functions");
    let app = dir.path().join("dist/greeter");
    let host = json(app.join("host.json"));
    assert_eq!(host["functionTimeout"], "00:00:04");
    let values = &json(app.join("local.settings.json"))["Values"];
    assert_eq!(values["FUNCTIONS_WORKER_RUNTIME"], "Custom");
    assert_eq!(values["EDGEFN_VAR_GREETING"], "Hej from the manifest");
    assert_eq!(
        values["EDGEFN_OUTBOUND_ALLOWED_HOSTS"],
        "https://api.example.com"
    );
    assert_eq!(values["EDGEFN_OUTBOUND_MAX_REQUESTS"], "5");
    assert_eq!(values["EDGEFN_KV_STORES"], "default");
    let hello = json(dir.path().join("dist/hello/host.json"));
    assert_eq!(hello["functionTimeout"], "00:00:11");
    assert_warns(
        &printed,
        &[
            "function \"greeter\": limits.memory_mb = 64",
            "function \"greeter\": limits.deadline_ms = 2500 becomes functionTimeout 00:00:04",
            "function \"hello\": routes /hi",
        ],
    );
    assert!(
        printed.contains("--publish-local-settings"),
        "the deploy command publishes the settings: {printed}"
    );

    // The app as the Functions host starts it, with local.settings.json's Values as its
    // environment (as `func start` sets them): the guest sees the manifest's variable.
    let env: Vec<(&str, &str)> = values
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
        .collect();
    let handler = Handler::start_app(&app, &env);
    let reply = handler.forward(&Case::new("GET", "/greeter"), &invocation_id());
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body: Value = serde_json::from_str(&reply.text()).unwrap();
    assert_eq!(body["greeting"], "Hej from the manifest");
    assert!(
        handler.log().contains("budget_ms=3600"),
        "functionTimeout 00:00:04, less the margin:\n{}",
        handler.log()
    );
}

#[test]
fn one_function_is_picked_with_name_and_bad_input_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(dir.path());
    let out = dir.path().join("dist");
    let workers = ["--target", "cloudflare-workers"];
    let picked = run(
        &[&workers[..], &["--name", "hello"]].concat(),
        &manifest,
        &out,
    );
    assert!(picked.status.success(), "{picked:?}");
    assert!(out.join("hello/wrangler.toml").is_file());
    assert!(!out.join("greeter").exists());

    let refused = |args: &[&str], manifest: &Path, needles: &[&str]| {
        let output = run(&[&workers[..], args].concat(), manifest, &out);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} must be refused");
        for needle in needles {
            assert!(stderr.contains(needle), "{needle:?} in: {stderr}");
        }
    };
    refused(
        &["--name", "nobody"],
        &manifest,
        &["has no function \"nobody\"", "greeter, hello"],
    );
    refused(
        &["--deadline-ms", "5"],
        &manifest,
        &["cannot be given with a manifest", "edgefn.toml"],
    );
    refused(&["--env", "A=1"], &manifest, &["--env"]);

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[function]]\nname = 'a'\nwasm = 'a.wasm'\nbogus = 1\n",
    )
    .unwrap();
    refused(&[], &bad, &["invalid manifest", "bad.toml", "bogus"]);
    std::fs::write(&bad, "[[function]]\nname = 'a'\nwasm = 'missing.wasm'\n").unwrap();
    refused(
        &[],
        &bad,
        &["function \"a\"", "missing.wasm", "does not exist"],
    );
    std::fs::write(
        &bad,
        format!(
            "[[function]]\nname = 'a'\nwasm = {:?}\nenv = {{ EDGEFN_MODE = 'x' }}\n",
            guest("hello").display().to_string()
        ),
    )
    .unwrap();
    refused(&[], &bad, &["function \"a\"", "EDGEFN_MODE", "rename"]);
    assert!(
        !out.join("a").exists(),
        "nothing is written for a refused manifest"
    );
}

#[test]
fn a_bare_module_is_packaged_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(edgefn_bin())
        .args(["package", "--target", "cloudflare-workers"])
        .arg(guest("hello"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = read(dir.path().join("wrangler.toml"));
    let wrangler: toml::Table = toml::from_str(&text).unwrap();
    assert!(wrangler.get("limits").is_none(), "{text}");
    assert!(text.contains("# cpu_ms = 30000"), "{text}");
    assert_eq!(
        wrangler["vars"]["EDGEFN_DEADLINE_MS"].as_str(),
        Some("30000")
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("warning:"));
}

//! The CloudFormation template `edgefn package --target aws-lambda` writes beside the zip: for
//! every example package (with and without the Lambda flags, for both architectures) it passes
//! cfn-lint, which checks each resource against CloudFormation's schemas; it describes the function
//! the flags asked for; and the packaged bootstrap, started with what the template sets (memory
//! size, handler, environment), serves the guest those settings make: its variables, its outbound
//! grant. cfn-lint comes from PyPI into `target/tools/cfn-venv` (`scripts/setup.sh cfn-lint`, run
//! by `make test`).

use crate::common::{Reply, edgefn_bin, guest};
use crate::platforms::lambda::{Emulator, Package, start_bootstrap};
use crate::upstream::Upstream;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The venv `scripts/setup.sh cfn-lint` makes.
fn venv() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/cfn-venv");
    assert!(
        venv.join("bin/cfn-lint").is_file(),
        "cfn-lint is not installed in {}: run `scripts/setup.sh cfn-lint` (make test does)",
        venv.display()
    );
    venv
}

/// A Lambda package as written: the folder with the zip and the template, and what was printed.
struct Written {
    dir: tempfile::TempDir,
    name: String,
    printed: String,
}

impl Written {
    fn template_path(&self) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}-aws-lambda.yaml", self.name))
    }

    /// The template, read by a YAML parser (PyYAML, cfn-lint's own) into JSON.
    fn template(&self) -> Value {
        let script =
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)";
        let output = Command::new(venv().join("bin/python"))
            .args(["-c", script])
            .arg(self.template_path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{} is not YAML: {}",
            self.template_path().display(),
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// The zip, unzipped as Lambda unzips it.
    fn unzipped(&self) -> Package {
        let zip = self
            .dir
            .path()
            .join(format!("{}-aws-lambda.zip", self.name));
        let task_root = tempfile::tempdir().unwrap();
        zip::ZipArchive::new(std::fs::File::open(&zip).unwrap())
            .unwrap()
            .extract(task_root.path())
            .unwrap();
        Package {
            task_root,
            zip_bytes: std::fs::metadata(&zip).unwrap().len(),
            stdout: self.printed.clone(),
        }
    }
}

/// `edgefn package --target aws-lambda FLAGS target/guests/GUEST.wasm`, named `name`.
fn package(guest_name: &str, name: &str, flags: &[&str]) -> Written {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(edgefn_bin())
        .args(["package", "--target", "aws-lambda", "--name", name])
        .args(flags)
        .arg(guest(guest_name))
        .arg("--out")
        .arg(dir.path())
        .output()
        .expect("run edgefn package");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "edgefn package {flags:?} failed for {guest_name}: {printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Written {
        dir,
        name: name.to_owned(),
        printed,
    }
}

/// cfn-lint on `templates`: its exit status and its findings, one per line (`file:line:col:...`).
/// W3002 ("this code may only work with the package cli command") is left out: the template names
/// the zip beside it, which `sam deploy` (or `aws cloudformation package`) uploads and replaces by
/// its S3 location, as the template's first lines say.
fn cfn_lint(templates: &[PathBuf]) -> (bool, String) {
    let output = Command::new(venv().join("bin/cfn-lint"))
        .args(["--format", "parseable", "--ignore-checks", "W3002", "--"])
        .args(templates)
        .output()
        .expect("run cfn-lint");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// What one package's template must say about its function.
struct Expect {
    guest: &'static str,
    name: &'static str,
    flags: Vec<String>,
    architecture: &'static str,
    memory_size: u64,
    timeout: u64,
    environment: Value,
}

fn expectations() -> Vec<Expect> {
    let defaults = json!({"EDGEFN_DEADLINE_MS": "10000", "EDGEFN_MEMORY_MB": "128"});
    let native = if std::env::consts::ARCH == "aarch64" {
        "arm64"
    } else {
        "x86_64"
    };
    let plain = |guest: &'static str| Expect {
        guest,
        name: guest,
        flags: Vec::new(),
        architecture: native,
        memory_size: 176,
        timeout: 11,
        environment: defaults.clone(),
    };
    vec![
        plain("hello"),
        Expect {
            name: "hello_arm",
            flags: vec!["--arch".into(), "arm64".into()],
            architecture: "arm64",
            ..plain("hello")
        },
        Expect {
            flags: ["--memory-mb", "64", "--deadline-ms", "2500"]
                .map(String::from)
                .to_vec(),
            memory_size: 128,
            timeout: 4,
            environment: json!({"EDGEFN_DEADLINE_MS": "2500", "EDGEFN_MEMORY_MB": "64"}),
            ..plain("echo")
        },
        Expect {
            flags: ["--memory-mb", "512"].map(String::from).to_vec(),
            memory_size: 560,
            environment: json!({"EDGEFN_DEADLINE_MS": "10000", "EDGEFN_MEMORY_MB": "512"}),
            ..plain("json")
        },
        Expect {
            flags: vec!["--env".into(), "GREETING=Hej, \"quoted\": yes".into()],
            environment: json!({"EDGEFN_DEADLINE_MS": "10000", "EDGEFN_MEMORY_MB": "128",
                "GREETING": "Hej, \"quoted\": yes"}),
            ..plain("config")
        },
        // As its source describes deploying it.
        Expect {
            flags: [
                "--env",
                "UPSTREAM_URL=https://api.example.com/repos/edgefn",
                "--env",
                "EDGEFN_OUTBOUND_ALLOWED_HOSTS=https://api.example.com",
                "--env",
                "EDGEFN_OUTBOUND_TIMEOUT_MS=3000",
            ]
            .map(String::from)
            .to_vec(),
            environment: json!({"EDGEFN_DEADLINE_MS": "10000", "EDGEFN_MEMORY_MB": "128",
                "UPSTREAM_URL": "https://api.example.com/repos/edgefn",
                "EDGEFN_OUTBOUND_ALLOWED_HOSTS": "https://api.example.com",
                "EDGEFN_OUTBOUND_TIMEOUT_MS": "3000"}),
            ..plain("fetch-json")
        },
    ]
}

/// Checks what the template says about the function against what the flags asked for.
fn check_template(expect: &Expect, written: &Written) {
    let template = written.template();
    let what = format!("{} ({:?})", expect.name, expect.flags);
    let resources = &template["Resources"];
    let function = &resources["Function"];
    assert_eq!(function["Type"], "AWS::Lambda::Function", "{what}");
    let p = &function["Properties"];
    assert_eq!(p["FunctionName"], expect.name, "{what}");
    assert_eq!(p["Runtime"], "provided.al2023", "{what}");
    assert_eq!(p["Architectures"], json!([expect.architecture]), "{what}");
    assert_eq!(p["MemorySize"], expect.memory_size, "{what}");
    assert_eq!(p["Timeout"], expect.timeout, "{what}");
    assert_eq!(p["Environment"]["Variables"], expect.environment, "{what}");
    assert_eq!(
        p["Role"],
        json!({"Fn::GetAtt": ["ExecutionRole", "Arn"]}),
        "{what}"
    );
    // Code is the zip beside the template, and the handler a module in it.
    let zip = written.dir.path().join(p["Code"].as_str().unwrap());
    assert!(zip.is_file(), "{what}: Code names {}", zip.display());
    let archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    let handler = p["Handler"].as_str().unwrap();
    assert_eq!(handler, format!("{}.wasm", expect.guest), "{what}");
    assert!(
        archive.index_for_name(handler).is_some() && archive.index_for_name("bootstrap").is_some(),
        "{what}: the zip holds bootstrap and {handler}"
    );
    let role = &resources["ExecutionRole"]["Properties"];
    assert_eq!(
        role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
        "lambda.amazonaws.com",
        "{what}"
    );
    let url = &resources["FunctionUrl"];
    assert_eq!(url["Type"], "AWS::Lambda::Url", "{what}");
    assert_eq!(url["Properties"]["AuthType"], "NONE", "{what}");
    // A public Function URL needs both permissions.
    let permissions: Vec<&Value> = resources
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Lambda::Permission")
        .map(|r| &r["Properties"])
        .collect();
    for (action, condition, value) in [
        (
            "lambda:InvokeFunctionUrl",
            "FunctionUrlAuthType",
            json!("NONE"),
        ),
        (
            "lambda:InvokeFunction",
            "InvokedViaFunctionUrl",
            json!(true),
        ),
    ] {
        assert!(
            permissions.iter().any(|p| p["Action"] == action
                && p["Principal"] == "*"
                && p[condition] == value
                && p["FunctionName"] == json!({"Ref": "Function"})),
            "{what}: a permission for {action} with {condition}: {permissions:?}"
        );
    }
    assert_eq!(
        template["Outputs"]["FunctionUrl"]["Value"],
        json!({"Fn::GetAtt": ["FunctionUrl", "FunctionUrl"]}),
        "{what}"
    );
    let template_path = written.template_path();
    for command in [
        format!(
            "sam deploy --template-file {} --stack-name edgefn-{} ",
            template_path.display(),
            expect.name.replace('_', "-")
        ),
        format!(
            "--memory-size {} --timeout {}",
            expect.memory_size, expect.timeout
        ),
    ] {
        assert!(
            written.printed.contains(&command),
            "{command:?} in: {}",
            written.printed
        );
    }
}

/// Every example's template passes cfn-lint and says what its flags asked for; a template with
/// mistakes CloudFormation would refuse fails cfn-lint, so passing means something.
#[test]
fn every_example_template_passes_cfn_lint_and_describes_the_function() {
    let expectations = expectations();
    let written: Vec<Written> = expectations
        .iter()
        .map(|e| {
            let flags: Vec<&str> = e.flags.iter().map(String::as_str).collect();
            package(e.guest, e.name, &flags)
        })
        .collect();
    for (expect, written) in expectations.iter().zip(&written) {
        check_template(expect, written);
    }

    // The same linter on a copy with two mistakes: a memory size below Lambda's minimum and an
    // architecture Lambda does not have.
    let broken_dir = tempfile::tempdir().unwrap();
    let broken = broken_dir.path().join("broken.yaml");
    let text = std::fs::read_to_string(written[0].template_path()).unwrap();
    let mutated = text.replace("MemorySize: 176", "MemorySize: 100").replace(
        &format!("- \"{}\"", expectations[0].architecture),
        "- \"amd64\"",
    );
    assert_ne!(mutated, text);
    std::fs::write(&broken, mutated).unwrap();

    let mut paths: Vec<PathBuf> = written.iter().map(Written::template_path).collect();
    paths.push(broken.clone());
    let (passed, findings) = cfn_lint(&paths);
    assert!(!passed, "cfn-lint failed nothing:\n{findings}");
    let (on_broken, on_ours): (Vec<&str>, Vec<&str>) = findings
        .lines()
        .filter(|l| !l.trim().is_empty())
        .partition(|l| l.starts_with(broken.to_str().unwrap()));
    assert!(
        on_ours.is_empty(),
        "cfn-lint on the packaged templates:\n{findings}"
    );
    for mistake in ["100", "amd64"] {
        assert!(
            on_broken.iter().any(|l| l.contains(mistake)),
            "cfn-lint names {mistake:?}:\n{findings}"
        );
    }
}

/// The bootstrap started as the template configures the function (its environment, memory size
/// and handler) serves the guest with exactly that configuration: the variables given with --env
/// reach the guest and nothing else does, and the outbound grant lets the guest call the allowed
/// upstream and nothing else.
#[test]
fn the_bootstrap_runs_as_the_template_configures_it() {
    let upstream = Upstream::start();
    let other = Upstream::start();
    let config = package("config", "config", &["--env", "GREETING=from the template"]);
    let outbound = package(
        "outbound",
        "outbound",
        &[
            "--env",
            &format!("EDGEFN_OUTBOUND_ALLOWED_HOSTS=http://{}", upstream.addr),
            "--env",
            "EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS=true",
            "--memory-mb",
            "64",
            "--deadline-ms",
            "5000",
        ],
    );
    let emulator = Emulator::start();
    let started: Vec<_> = [&config, &outbound]
        .into_iter()
        .map(|written| {
            let template = written.template();
            let properties = &template["Resources"]["Function"]["Properties"];
            let mut env: Vec<(String, String)> = properties["Environment"]["Variables"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            env.push((
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
                properties["MemorySize"].to_string(),
            ));
            env.push((
                "_HANDLER".into(),
                properties["Handler"].as_str().unwrap().into(),
            ));
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let package = written.unzipped();
            let bootstrap = start_bootstrap(&emulator, &package, &written.name, &env);
            (package, bootstrap)
        })
        .collect();
    let log = |i: usize| started[i].1.log();

    let reply = emulator.url("config", "GET", "/config", &[], b"");
    assert_eq!(reply.status, 200, "{}\n{}", reply.text(), log(0));
    let value: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(value["greeting"], "from the template", "{value}");
    assert_eq!(value["variables"], json!(["GREETING"]), "{value}");

    let call = |url: String| -> Reply {
        emulator.url(
            "outbound",
            "GET",
            "/outbound",
            &[("x-call-url", url.as_bytes())],
            b"",
        )
    };
    let allowed = call(upstream.url("/json"));
    assert_eq!(allowed.status, 200, "{}\n{}", allowed.text(), log(1));
    assert_eq!(allowed.header("x-upstream-status").as_deref(), Some("200"));
    assert_eq!(allowed.text(), crate::upstream::JSON_DOCUMENT);
    let refused = call(other.url("/json"));
    assert_eq!(refused.status, 502, "{}", refused.text());
    assert_eq!(refused.header("x-call-error").as_deref(), Some("denied"));
    assert_eq!(other.requests(), 0, "the other upstream was never called");
}

/// The Lambda flags belong to Lambda: another target refuses them and says where its settings go.
#[test]
fn the_lambda_flags_are_refused_for_other_targets() {
    let dir = tempfile::tempdir().unwrap();
    for target in ["azure-functions", "cloudflare-workers"] {
        let output = Command::new(edgefn_bin())
            .args(["package", "--target", target, "--memory-mb", "64"])
            .arg(guest("hello"))
            .arg("--out")
            .arg(dir.path().join(target))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{target}: {stderr}");
        assert!(
            stderr.contains("apply to --target aws-lambda only"),
            "{target}: {stderr}"
        );
        assert!(
            !dir.path().join(target).exists(),
            "{target}: nothing written"
        );
    }
}

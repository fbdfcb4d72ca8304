//! AWS Lambda as a [`Target`]: the real packaged `bootstrap` (`edgefn package --target aws-lambda`,
//! unzipped) against cargo-lambda's Lambda Runtime API emulator (`cargo-lambda lambda watch
//! --only-lambda-apis`) on loopback, reached through the emulated Function URL.
//!
//! cargo-lambda is installed by `scripts/setup.sh lambda` (which `make test` runs); without it these
//! tests fail and say so rather than skip. A guest granted key-value stores gets a DynamoDB table
//! on moto_server (`scripts/setup.sh dynamodb`, started by `crate::kv_dynamodb::Moto`).

use super::{Case, Comparable, FRAMING_HEADERS, PER_RUN_HEADERS, Process, Target, free_port};
use crate::common::{Reply, edgefn_bin, guest, send, try_send_exact};
use crate::kv_dynamodb::Moto;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Every guest a test here deploys: cargo-lambda only knows functions named after binaries of the
/// Cargo package it runs in, so the stub package has one (never built) per name.
pub const FUNCTIONS: &[&str] = &[
    "hello",
    "echo",
    "json",
    "config",
    "outbound",
    "axum",
    "go-nethttp",
    "panic",
    "busy-loop",
    "memory-hog",
    "big-response",
    "kv",
    "shortener",
    "go-counter",
    "go-random",
    "go-random-declined",
    "wasi-http",
    "wasi-http-js",
];
/// How long anything here may take to come up.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// `cargo-lambda lambda watch --only-lambda-apis` on a free loopback port.
pub struct Emulator {
    process: Process,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Emulator {
    pub fn start() -> Emulator {
        let version = Command::new("cargo-lambda")
            .args(["lambda", "--version"])
            .output();
        assert!(
            version.is_ok_and(|o| o.status.success()),
            "cargo-lambda is not installed (it is the Lambda Runtime API emulator these tests run against): run `scripts/setup.sh lambda` (`make test` does)"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"edgefn-lambda-emulator-stub\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n",
        )
        .unwrap();
        let bins = dir.path().join("src/bin");
        std::fs::create_dir_all(&bins).unwrap();
        for name in FUNCTIONS {
            std::fs::write(bins.join(format!("{name}.rs")), "fn main() {}\n").unwrap();
        }
        // `free_port` can hand two tests running at once the same port; the emulator that loses
        // the race exits, while a connect would reach the other test's emulator. So: connect,
        // then make sure the process we started is the one still running, or try another port.
        let (process, addr) = (0..5)
            .find_map(|_| {
                let port = free_port();
                let log = dir.path().join("emulator.log");
                let child = Command::new("cargo-lambda")
                    .args([
                        "lambda",
                        "watch",
                        "--only-lambda-apis",
                        "-A",
                        "127.0.0.1",
                        "-P",
                    ])
                    .arg(port.to_string())
                    .current_dir(dir.path())
                    .stdin(Stdio::null())
                    .stdout(std::fs::File::create(&log).unwrap())
                    .stderr(std::fs::File::create(dir.path().join("emulator.err")).unwrap())
                    .spawn()
                    .expect("start cargo-lambda");
                let mut process = Process { child, log };
                let addr: SocketAddr = ([127, 0, 0, 1], port).into();
                let started = Instant::now();
                while TcpStream::connect(addr).is_err() {
                    if !process.is_running() {
                        return None;
                    }
                    assert!(
                        started.elapsed() < STARTUP_TIMEOUT,
                        "cargo-lambda did not listen on {addr} within {STARTUP_TIMEOUT:?}"
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
                std::thread::sleep(Duration::from_millis(300));
                process.is_running().then_some((process, addr))
            })
            .unwrap_or_else(|| {
                panic!(
                    "cargo-lambda exited on five ports in a row: {}",
                    std::fs::read_to_string(dir.path().join("emulator.err")).unwrap_or_default()
                )
            });
        Emulator {
            process,
            addr,
            _dir: dir,
        }
    }

    /// `AWS_LAMBDA_RUNTIME_API` for one function: the emulator serves each under `/.rt/<name>`.
    pub fn runtime_api(&self, function: &str) -> String {
        format!("{}/.rt/{function}", self.addr)
    }

    /// A direct invoke (`aws lambda invoke`).
    pub fn invoke(&self, function: &str, payload: &[u8]) -> Reply {
        send(
            self.addr,
            "POST",
            &format!("/2015-03-31/functions/{function}/invocations"),
            &[("content-type", b"application/json")],
            payload,
        )
    }

    /// A request through the emulated Function URL (a payload 2.0 event).
    pub fn url(
        &self,
        function: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &[u8])],
        body: &[u8],
    ) -> Reply {
        self.try_url(function, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Emulator::url`], failing with the emulator's log when no answer comes.
    pub fn try_url(
        &self,
        function: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &[u8])],
        body: &[u8],
    ) -> Result<Reply, String> {
        let host = self.addr.to_string();
        let mut with_host: Vec<(&str, &[u8])> = vec![("host", host.as_bytes())];
        with_host.extend_from_slice(headers);
        let target = format!("/lambda-url/{function}{path}");
        try_send_exact(self.addr, method, &target, &with_host, body).map_err(|e| {
            format!(
                "{method} {target} through cargo-lambda at {}: {e}\nemulator log:\n{}\n{}",
                self.addr,
                self.process.log(),
                std::fs::read_to_string(self._dir.path().join("emulator.err")).unwrap_or_default()
            )
        })
    }
}

/// An unzipped package.
pub struct Package {
    pub task_root: tempfile::TempDir,
    pub zip_bytes: u64,
    pub stdout: String,
}

pub fn package(name: &str) -> Package {
    package_with(name, &[])
}

/// [`package`] with more `edgefn package` flags (`--arch arm64`).
pub fn package_with(name: &str, flags: &[&str]) -> Package {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(edgefn_bin())
        .args(["package", "--target", "aws-lambda"])
        .args(flags)
        .arg(guest(name))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "edgefn package failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let zip_path = out.path().join(format!("{name}-aws-lambda.zip"));
    let zip_bytes = std::fs::metadata(&zip_path).unwrap().len();
    let task_root = tempfile::tempdir().unwrap();
    zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap())
        .unwrap()
        .extract(task_root.path())
        .unwrap();
    Package {
        task_root,
        zip_bytes,
        stdout,
    }
}

/// Starts the package's `bootstrap` the way Lambda does: no arguments, Lambda's variables only.
pub fn start_bootstrap(
    emulator: &Emulator,
    package: &Package,
    function: &str,
    extra_env: &[(&str, &str)],
) -> Process {
    let root = package.task_root.path();
    let log = root.join(format!("bootstrap-{}.log", fastrand::u32(..)));
    let child = bootstrap_command(&root.join("bootstrap"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", emulator.runtime_api(function))
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("_HANDLER", format!("{function}.wasm"))
        .env("LAMBDA_TASK_ROOT", root)
        .env("RUST_LOG", "info")
        .envs(extra_env.iter().copied())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::OpenOptions::new().append(true).open(&log).unwrap())
        .spawn()
        .expect("start the packaged bootstrap");
    Process { child, log }
}

/// The ELF machine of an executable (`EM_X86_64` 62, `EM_AARCH64` 183).
pub fn elf_machine(path: &std::path::Path) -> u16 {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..4],
        b"\x7fELF",
        "{} is not an ELF executable",
        path.display()
    );
    u16::from_le_bytes([bytes[18], bytes[19]])
}

/// How to start `bootstrap`: directly, or, for an arm64 one on an x86-64 machine, under
/// `qemu-aarch64` with Debian's arm64 libc as its root (`scripts/setup.sh arm64`).
pub fn bootstrap_command(bootstrap: &std::path::Path) -> Command {
    const EM_AARCH64: u16 = 183;
    if elf_machine(bootstrap) == EM_AARCH64 && std::env::consts::ARCH != "aarch64" {
        let mut command = Command::new("qemu-aarch64");
        command
            .args(["-L", "/usr/aarch64-linux-gnu"])
            .arg(bootstrap);
        command
    } else {
        Command::new(bootstrap)
    }
}

/// One function deployed on the emulator.
pub struct Deployed {
    pub bootstrap: Process,
    _package: Package,
}

pub fn deploy(emulator: &Emulator, function: &str, extra_env: &[(&str, &str)]) -> Deployed {
    let package = package(function);
    let bootstrap = start_bootstrap(emulator, &package, function, extra_env);
    Deployed {
        bootstrap,
        _package: package,
    }
}

/// Headers cargo-lambda's Function URL emulation adds, which a real Function URL does not.
const EMULATOR_HEADERS: &[&str] = &[
    "access-control-allow-credentials",
    "vary",
    "x-echo-h-lambda-runtime-aws-request-id",
    // The same header as the wasi:http fixture echoes it.
    "x-echo-lambda-runtime-aws-request-id",
];

/// One guest deployed on its own emulator, called through its Function URL (a payload 2.0 event).
pub struct Lambda {
    pub deployed: Deployed,
    pub emulator: Emulator,
    /// The DynamoDB table behind the guest's stores when it is granted any, kept (with the moto
    /// it is on) as long as the deployment.
    _kv: Option<LambdaKv>,
    guest: String,
}

/// A table of its own on the moto_server every granted Lambda deployment of the run shares (one
/// start instead of one per test; it stops when the last deployment using it is dropped).
pub struct LambdaKv {
    pub moto: Arc<Moto>,
    pub table: String,
}

impl LambdaKv {
    fn start() -> LambdaKv {
        static SHARED: Mutex<Weak<Moto>> = Mutex::new(Weak::new());
        let moto = {
            let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
            shared.upgrade().unwrap_or_else(|| {
                let moto = Arc::new(Moto::start());
                *shared = Arc::downgrade(&moto);
                moto
            })
        };
        let table = format!("edgefn-kv-{:08x}", fastrand::u32(..));
        moto.create_table(&table);
        LambdaKv { moto, table }
    }
}

impl Target for Lambda {
    const PLATFORM: &'static str = "aws-lambda";

    /// Variables are the function's environment. A guest granted stores (`EDGEFN_KV_STORES`) gets
    /// a DynamoDB table on moto_server, its settings and credentials in the bootstrap's
    /// environment as Lambda and the template give them.
    fn start(guest: &str, env: &[(&str, &str)]) -> Lambda {
        let granted = env
            .iter()
            .any(|(k, v)| *k == "EDGEFN_KV_STORES" && !v.trim().is_empty());
        let kv = granted.then(LambdaKv::start);
        let kv_env = kv
            .as_ref()
            .map(|kv| kv.moto.lambda_env(&kv.table))
            .unwrap_or_default();
        let mut env = env.to_vec();
        env.extend(kv_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let emulator = Emulator::start();
        let deployed = deploy(&emulator, guest, &env);
        Lambda {
            deployed,
            emulator,
            _kv: kv,
            guest: guest.to_owned(),
        }
    }

    fn send(&self, case: &Case) -> Reply {
        let path = format!("/lambda-url/{}{}", self.guest, case.path);
        case.send_to(self.emulator.addr, &path)
    }

    /// Everything but what differs per run, the framing (the emulator's own), and what the
    /// emulator's Function URL adds: its CORS answer headers, and the request id header it puts
    /// in the event (which echo reports).
    fn comparable(&self, reply: &Reply) -> Comparable {
        Comparable::of(
            reply,
            &[PER_RUN_HEADERS, FRAMING_HEADERS, EMULATOR_HEADERS].concat(),
            false,
        )
    }

    fn assert_running(&mut self) {
        assert!(
            self.deployed.bootstrap.is_running(),
            "the bootstrap exited: {}",
            self.log()
        );
    }

    fn log(&self) -> String {
        self.deployed.bootstrap.log()
    }
}

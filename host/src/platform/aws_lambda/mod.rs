//! AWS Lambda custom runtime (`provided.al2023`): the `edgefn` executable is the `bootstrap`.
//!
//! At start it loads `$LAMBDA_TASK_ROOT/$_HANDLER` (the `.wasm`), from the precompiled artifact in
//! `$LAMBDA_TASK_ROOT/artifacts` when `edgefn package` put one there, and reports a module that
//! cannot load to `/runtime/init/error` before exiting. Then it serves invocations one at a time
//! (`handler`): each event is mapped to a request by its shape ([`events`]), the guest runs
//! under the earlier of Lambda's deadline and its own (`context`), and the answer goes back in the
//! shape of the event ([`response`]) or as an error (`errors`) through the Runtime API
//! (`runtime_api`).

pub(crate) mod context;
pub mod dynamodb;
pub(crate) mod errors;
pub mod events;
pub(crate) mod handler;
pub mod response;
pub(crate) mod runtime_api;
pub mod sigv4;

use crate::deploy::host::HostBuilder;
use crate::deploy::invoker::FunctionInvoker;
use crate::runtime::artifact::ARTIFACTS_DIR;
use crate::runtime::capabilities::Backends;
use crate::runtime::capabilities::kv::{KvBackend, Unconfigured};
use crate::runtime::limits::{DEFAULT_DEADLINE, DEFAULT_MEMORY_BYTES, Limits, MAX_MEMORY_BYTES};
use crate::runtime::spec::{FunctionSpec, KvGrant, OutboundPolicy};
use crate::runtime::traces::TraceConfig;
use anyhow::Context as _;
pub use dynamodb::{DynamoDbConfig, DynamoDbStore};
use edgefn_abi::Platform;
use errors::{ErrorReport, error_type};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set by Lambda (and emulators) to the Runtime API address; its presence with no arguments
/// means the binary was started as `bootstrap`.
pub const RUNTIME_API_VAR: &str = "AWS_LAMBDA_RUNTIME_API";
/// Instance pool slots: Lambda sends one invocation at a time, so a couple suffice.
pub const LAMBDA_POOL_SLOTS: u32 = 2;
/// Memory left to the runtime itself when the guest's limit is derived from the function's
/// Lambda memory size.
pub const RUNTIME_MEMORY_HEADROOM_MB: u64 = 48;
/// Smallest guest memory limit derived from the Lambda memory size.
pub const MIN_GUEST_MEMORY_MB: u64 = 16;
/// Where artifacts are compiled to when the package has no `artifacts/` folder (the task root
/// is read-only on Lambda; `/tmp` is not).
const FALLBACK_CACHE_DIR: &str = "edgefn-artifacts";

/// Options of the Lambda runtime. Lambda starts `bootstrap` without arguments, so each one is read
/// from an environment variable set in the function's configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The function's own time limit per invocation, in milliseconds [default: 10000]. The guest
    /// is stopped at the earlier of this and Lambda's deadline.
    #[arg(long, env = "EDGEFN_DEADLINE_MS")]
    pub deadline_ms: Option<u64>,
    /// Guest memory limit in MiB [default: the function's Lambda memory less 48 MiB for the
    /// runtime, between 16 and 128].
    #[arg(long, env = "EDGEFN_MEMORY_MB")]
    pub memory_mb: Option<u64>,
    /// Instance pool slots; 0 allocates each instance on demand.
    #[arg(long, env = "EDGEFN_POOL_SLOTS", default_value_t = LAMBDA_POOL_SLOTS)]
    pub pool_slots: u32,
}

/// True when the process was started the way Lambda starts `bootstrap`: no arguments and
/// `AWS_LAMBDA_RUNTIME_API` set.
pub fn started_as_bootstrap() -> bool {
    std::env::args_os().len() <= 1 && std::env::var_os(RUNTIME_API_VAR).is_some()
}

/// Runs the Lambda runtime until the Runtime API goes away. Returns an error (and the process
/// exits non-zero) when the module cannot be loaded, after reporting it to `/runtime/init/error`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let runtime_api = std::env::var(RUNTIME_API_VAR).map_err(|_| {
        anyhow::anyhow!(
            "{RUNTIME_API_VAR} is not set: `edgefn aws-lambda` is the Lambda runtime and is started by Lambda as `bootstrap` (package with `edgefn package --target aws-lambda`); to run a function locally use `edgefn serve`"
        )
    })?;
    let mut api = runtime_api::RuntimeApi::new(&runtime_api)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let runner = match load_function(&args) {
            Ok(runner) => runner,
            Err(error) => {
                let report = ErrorReport::new(error_type::INIT, format!("{error:#}"));
                if let Err(post) = api.post_init_error(&report).await {
                    tracing::error!(error = %format!("{post:#}"), "could not report the init error to the Runtime API");
                }
                return Err(error.context("the function could not be loaded (reported to the Lambda Runtime API as an init error)"));
            }
        };
        tracing::info!(
            function = %runner.spec().name(),
            wasm = %runner.spec().wasm().display(),
            runtime_api = %api.base_url(),
            init_ms = format_args!("{:.2}", started.elapsed().as_secs_f64() * 1e3),
            "edgefn Lambda runtime ready"
        );
        handler::Handler::new(api, runner).serve().await
    })
}

/// What Lambda's environment says about the function.
#[derive(Debug, Clone)]
pub struct LambdaEnvironment {
    /// `LAMBDA_TASK_ROOT`: the unzipped package.
    pub task_root: PathBuf,
    /// `_HANDLER`: the module's file name inside the task root.
    pub handler: String,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, MiB.
    pub memory_mb: Option<u64>,
    /// The variables the guest sees: the function's own, without Lambda's and the runtime's.
    pub guest_env: Vec<(String, String)>,
    /// What the guest may call, from the `EDGEFN_OUTBOUND_*` variables (which it does not see).
    pub outbound: OutboundPolicy,
    /// The key-value stores it may use, from the `EDGEFN_KV_*` variables.
    pub kv: KvGrant,
}

impl LambdaEnvironment {
    /// Reads the process environment.
    pub fn from_process() -> anyhow::Result<LambdaEnvironment> {
        LambdaEnvironment::from_vars(std::env::vars_os())
    }

    /// Reads an environment given as pairs.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> anyhow::Result<LambdaEnvironment> {
        let vars: Vec<(String, String)> = vars
            .into_iter()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let get = |name: &str| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let handler = get("_HANDLER").context(
            "_HANDLER is not set: Lambda sets it from the function's handler setting, which must name the module (for example hello.wasm)",
        )?;
        let task_root = get("LAMBDA_TASK_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                tracing::warn!(
                    "LAMBDA_TASK_ROOT is not set; looking for the module in the current folder"
                );
                PathBuf::from(".")
            });
        let guest_env = vars
            .iter()
            // The trace exporter's settings are the runtime's too, and one may be a credential
            // (an API key in OTEL_EXPORTER_OTLP_HEADERS).
            .filter(|(k, _)| !is_runtime_variable(k) && !k.starts_with("OTEL_"))
            .cloned()
            .collect();
        let outbound = OutboundPolicy::from_variables(get).context(
            "the function's outbound HTTP settings (Lambda environment variables) are invalid",
        )?;
        let kv = KvGrant::from_variables(get).context(
            "the function's key-value settings (Lambda environment variables) are invalid",
        )?;
        Ok(LambdaEnvironment {
            task_root,
            handler,
            function_name: get("AWS_LAMBDA_FUNCTION_NAME"),
            memory_mb: get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").and_then(|m| m.parse().ok()),
            guest_env,
            outbound,
            kv,
        })
    }

    /// The module to load: `_HANDLER` under the task root (`.wasm` appended if the handler names
    /// a file without an extension that does not exist as given).
    pub fn module_path(&self) -> PathBuf {
        let path = self.task_root.join(&self.handler);
        if !path.exists() && path.extension().is_none() {
            return path.with_extension("wasm");
        }
        path
    }

    /// The packaged artifact cache if there is one, else a writable folder under the temp dir.
    pub fn cache_dir(&self) -> PathBuf {
        let packaged = self.task_root.join(ARTIFACTS_DIR);
        if packaged.is_dir() {
            packaged
        } else {
            std::env::temp_dir().join(FALLBACK_CACHE_DIR)
        }
    }
}

/// Variables set by Lambda (`AWS_*`, `LAMBDA_*`, `_HANDLER`, `_X_AMZN_TRACE_ID`, system paths) or
/// read by this runtime (`EDGEFN_*`, `RUST_*`): none of them is the guest's business, and some are
/// credentials.
pub fn is_runtime_variable(name: &str) -> bool {
    const PREFIXES: [&str; 5] = ["AWS_", "LAMBDA_", "_", "EDGEFN_", "RUST_"];
    const NAMES: [&str; 8] = [
        "PATH",
        "LD_LIBRARY_PATH",
        "LANG",
        "TZ",
        "HOME",
        "PWD",
        "SHLVL",
        "HOSTNAME",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || NAMES.contains(&name)
}

/// The guest's memory limit: as configured, else derived from the Lambda memory size.
pub fn guest_memory_bytes(
    configured_mb: Option<u64>,
    lambda_mb: Option<u64>,
) -> anyhow::Result<u64> {
    if let Some(mb) = configured_mb {
        let bytes = mb.saturating_mul(1 << 20);
        anyhow::ensure!(
            mb > 0 && bytes <= MAX_MEMORY_BYTES,
            "EDGEFN_MEMORY_MB={mb} is out of range: give 1 to {}",
            MAX_MEMORY_BYTES >> 20
        );
        return Ok(bytes);
    }
    Ok(match lambda_mb {
        Some(mb) => {
            mb.saturating_sub(RUNTIME_MEMORY_HEADROOM_MB)
                .clamp(MIN_GUEST_MEMORY_MB, DEFAULT_MEMORY_BYTES >> 20)
                << 20
        }
        None => DEFAULT_MEMORY_BYTES,
    })
}

/// The function as this environment runs it.
pub fn function_spec(args: &Args, environment: &LambdaEnvironment) -> anyhow::Result<FunctionSpec> {
    let wasm = environment.module_path();
    let name = match &environment.function_name {
        Some(name) => name.clone(),
        None => wasm
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "function".into()),
    };
    let deadline = match args.deadline_ms {
        Some(0) => anyhow::bail!("EDGEFN_DEADLINE_MS must be at least 1"),
        Some(ms) => Duration::from_millis(ms),
        None => DEFAULT_DEADLINE,
    };
    let spec = FunctionSpec::new(name, wasm)?
        .with_routes(["/"])?
        .with_env(environment.guest_env.clone())
        .with_limits(Limits {
            deadline,
            memory_bytes: guest_memory_bytes(args.memory_mb, environment.memory_mb)?,
            ..Limits::default()
        })?
        .with_outbound(environment.outbound.clone())?
        .with_kv(environment.kv.clone())?;
    Ok(spec)
}

/// What backs each capability on AWS Lambda, from the process environment.
pub fn backends() -> Backends {
    Backends {
        kv: kv_backend(|name| std::env::var(name).ok()),
    }
}

/// The key-value store the variables (`get`) configure: the DynamoDB table
/// `EDGEFN_KV_DYNAMODB_TABLE` names, else a backend whose every call says what to set. A bad
/// setting fails the calls rather than the start, so functions granted no store still serve.
pub fn kv_backend(get: impl Fn(&str) -> Option<String>) -> Arc<dyn KvBackend> {
    let configured = DynamoDbConfig::from_variables(get)
        .and_then(|config| config.map(DynamoDbStore::new).transpose());
    match configured {
        Ok(Some(store)) => {
            tracing::debug!(store = %store.describe(), "key-value store");
            Arc::new(store)
        }
        Ok(None) => Arc::new(Unconfigured::new(format!(
            "no DynamoDB table is configured: set {} to the table's name (the CloudFormation template `edgefn package --target aws-lambda` writes declares the table and sets it when the function is granted stores)",
            dynamodb::TABLE_VAR
        ))),
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "the key-value store is not usable");
            Arc::new(Unconfigured::new(format!("{error:#}")))
        }
    }
}

fn load_function(args: &Args) -> anyhow::Result<FunctionInvoker> {
    let environment = LambdaEnvironment::from_process()?;
    let spec = function_spec(args, &environment)?;
    HostBuilder::new(environment.cache_dir())
        .pool_slots(args.pool_slots)
        .traces(TraceConfig::from_env()?)
        .single(spec, Platform::AwsLambda, backends())
        .with_context(|| {
            format!(
                "cannot load {} (LAMBDA_TASK_ROOT={}, _HANDLER={})",
                environment.module_path().display(),
                environment.task_root.display(),
                environment.handler
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn env(pairs: &[(&str, &str)]) -> LambdaEnvironment {
        LambdaEnvironment::from_vars(pairs.iter().map(|(k, v)| (k.into(), v.into()))).unwrap()
    }

    #[test]
    fn environment_and_guest_variables() {
        let e = env(&[
            ("_HANDLER", "hello.wasm"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("AWS_LAMBDA_FUNCTION_NAME", "hello-fn"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("_X_AMZN_TRACE_ID", "Root=1"),
            ("PATH", "/usr/bin"),
            ("EDGEFN_DEADLINE_MS", "100"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=secret"),
            ("GREETING", "hi"),
        ]);
        assert_eq!(e.module_path(), Path::new("/var/task/hello.wasm"));
        assert_eq!(e.function_name.as_deref(), Some("hello-fn"));
        assert_eq!(e.memory_mb, Some(256));
        assert_eq!(e.guest_env, [("GREETING".to_owned(), "hi".to_owned())]);
        let missing = LambdaEnvironment::from_vars(Vec::new()).unwrap_err();
        assert!(missing.to_string().contains("_HANDLER"));
    }

    #[test]
    fn outbound_settings_come_from_edgefn_outbound_variables_the_guest_never_sees() {
        let e = env(&[
            ("_HANDLER", "hello.wasm"),
            (
                "EDGEFN_OUTBOUND_ALLOWED_HOSTS",
                "https://api.example.com,https://*.s3.amazonaws.com",
            ),
            ("EDGEFN_OUTBOUND_TIMEOUT_MS", "1500"),
            ("EDGEFN_OUTBOUND_MAX_REQUESTS", "7"),
            ("GREETING", "hi"),
        ]);
        assert_eq!(
            e.outbound.allowed_hosts().collect::<Vec<_>>(),
            ["https://api.example.com", "https://*.s3.amazonaws.com"]
        );
        assert_eq!(e.outbound.timeout, Duration::from_millis(1500));
        assert_eq!(e.outbound.max_requests, 7);
        assert!(!e.outbound.allow_private_networks);
        assert_eq!(e.guest_env, [("GREETING".to_owned(), "hi".to_owned())]);
        let args = Args {
            deadline_ms: None,
            memory_mb: None,
            pool_slots: 0,
        };
        assert_eq!(function_spec(&args, &e).unwrap().outbound(), &e.outbound);
        // Without the variables nothing is allowed.
        let plain = env(&[("_HANDLER", "hello.wasm")]);
        assert_eq!(plain.outbound, OutboundPolicy::default());

        let invalid = LambdaEnvironment::from_vars(
            [
                ("_HANDLER", "hello.wasm"),
                ("EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "maybe"),
            ]
            .map(|(k, v)| (k.into(), v.into())),
        )
        .unwrap_err();
        assert!(
            format!("{invalid:#}").contains("EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS"),
            "{invalid:#}"
        );
    }

    #[test]
    fn memory_limit_follows_lambda_memory_unless_configured() {
        assert_eq!(guest_memory_bytes(None, Some(128)).unwrap(), 80 << 20);
        assert_eq!(
            guest_memory_bytes(None, Some(4096)).unwrap(),
            DEFAULT_MEMORY_BYTES
        );
        assert_eq!(
            guest_memory_bytes(None, Some(32)).unwrap(),
            MIN_GUEST_MEMORY_MB << 20
        );
        assert_eq!(guest_memory_bytes(Some(64), Some(128)).unwrap(), 64 << 20);
        assert!(guest_memory_bytes(Some(0), None).is_err());
    }
}

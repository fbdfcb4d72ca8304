//! Azure Functions custom handler: `edgefn azure-functions`, started by the Functions host with
//! `FUNCTIONS_WORKER_RUNTIME=Custom`.
//!
//! The handler loads one function at startup (from the app's precompiled artifact when it matches),
//! then listens on `127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT` and speaks both protocols of the host:
//! - forwarding (`enableForwardingHttpRequest: true`, what `edgefn package` writes): the client's
//!   request arrives as-is under the route prefix (`/api/hello/x`); the guest sees it without the
//!   prefix (`/hello/x`, the path the same URL has on the local host) and its response goes back
//!   as-is (`forwarding`);
//! - invocation (the default): `POST /<FunctionName>` with the request as JSON, answered with the
//!   response as JSON and the guest's output as `Logs` ([`invocation`]).
//!
//! `GET /` without an invocation id is the host's readiness probe (`dispatch`). Settings come
//! from flags, then `host.json` (`settings`); `listener` runs the HTTP server. The key-value store
//! is a table in the app's storage account ([`table_storage`], signed by `shared_key`).

pub(crate) mod contract;
pub(crate) mod dispatch;
pub(crate) mod forwarding;
pub mod invocation;
pub(crate) mod listener;
pub(crate) mod settings;
pub(crate) mod shared_key;
pub mod table_storage;

pub use settings::StorageAccount;
pub use table_storage::TableStore;

use crate::deploy::host::HostBuilder;
use crate::deploy::invoker::FunctionInvoker;
use crate::runtime::artifact::ARTIFACTS_DIR;
use crate::runtime::capabilities::Backends;
use crate::runtime::engine::DEFAULT_POOL_SLOTS;
use crate::runtime::limits::Limits;
use crate::runtime::spec::FunctionSpec;
use anyhow::Context as _;
use contract::DEFAULT_ROUTE_PREFIX;
use edgefn_abi::Platform;
use settings::HostJson;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Folder of precompiled artifacts next to the module, as `edgefn package` lays it out.
pub const DEFAULT_ARTIFACTS_DIR: &str = ARTIFACTS_DIR;

/// What backs each capability in an Azure Functions app: the key-value store is a table in the
/// storage account of `AzureWebJobsStorage` (`EDGEFN_KV_AZURE_TABLE`, default `edgefnkv`). Without
/// that setting, or with an invalid one, every store call is `unavailable` with a message saying
/// what to set; the function itself still serves.
pub fn backends() -> Backends {
    backends_from(std::env::vars())
}

/// [`backends`] from the app settings in `environment`.
fn backends_from(environment: impl IntoIterator<Item = (String, String)>) -> Backends {
    use crate::runtime::capabilities::kv::{KvBackend, Unconfigured};
    let unconfigured =
        |message: String| -> Arc<dyn KvBackend> { Arc::new(Unconfigured::new(message)) };
    let kv = match settings::kv_storage(environment).and_then(|found| {
        found
            .map(|(account, table)| TableStore::new(account, &table))
            .transpose()
    }) {
        Ok(Some(store)) => {
            tracing::debug!(store = %store.describe(), "key-value store");
            Arc::new(store) as Arc<dyn KvBackend>
        }
        Ok(None) => unconfigured(format!(
            "no key-value store is configured on this Azure Functions app: set the {} app setting to the connection string of a storage account (every Functions app has one; UseDevelopmentStorage=true for Azurite), and optionally {} to the table (default {})",
            settings::STORAGE_SETTING,
            settings::TABLE_SETTING,
            settings::DEFAULT_TABLE
        )),
        Err(error) => {
            tracing::error!("the key-value store is unavailable: {error:#}");
            unconfigured(format!("the key-value store is not usable: {error:#}"))
        }
    };
    Backends { kv }
}

/// Command-line options of `edgefn azure-functions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The function's module (relative paths start at the working directory, the app root).
    #[arg(long)]
    pub wasm: PathBuf,
    /// Function name: the name of the function's folder in the app [default: the module's file
    /// stem].
    #[arg(long)]
    pub name: Option<String>,
    /// Folder of precompiled artifacts shipped with the app; a read-only folder is fine
    /// [default: `artifacts` next to the module].
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
    /// Port to listen on (loopback only); the Functions host sets it.
    #[arg(long, env = "FUNCTIONS_CUSTOMHANDLER_PORT")]
    pub port: u16,
    /// The function app's root, where host.json lives [default: the working directory].
    #[arg(long, env = "FUNCTIONS_APP_ROOT_PATH")]
    pub app_root: Option<PathBuf>,
    /// Guest deadline as hh:mm:ss (like host.json's functionTimeout), -1, or seconds; capped at
    /// 230 s [default: host.json's functionTimeout].
    #[arg(long)]
    pub function_timeout: Option<String>,
    /// Route prefix removed from forwarded paths [default: host.json's
    /// extensions.http.routePrefix, else "api"].
    #[arg(long)]
    pub route_prefix: Option<String>,
    /// Worker threads [default: one per CPU].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Instance pool slots; 0 disables pooling.
    #[arg(long, default_value_t = DEFAULT_POOL_SLOTS)]
    pub pool_slots: u32,
}

/// Everything a request needs: the loaded function and how this app is set up.
pub struct Handler {
    /// The function.
    pub function: FunctionInvoker,
    /// The route prefix without slashes (`api`), possibly empty.
    pub route_prefix: String,
    /// How long each invocation may run.
    pub budget: Duration,
}

impl Handler {
    /// The function's name (its folder name in the app).
    pub fn function_name(&self) -> &str {
        self.function.spec().name()
    }

    /// The platform deadline of an invocation starting now.
    pub fn deadline(&self) -> SystemTime {
        SystemTime::now() + self.budget
    }
}

/// Loads the function and serves the Functions host until SIGTERM or SIGINT.
pub fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let app_root = match &args.app_root {
        Some(root) => root.clone(),
        None => std::env::current_dir().context("cannot determine the working directory")?,
    };
    let host_json = match HostJson::read(&app_root) {
        Ok(found) => found.unwrap_or_default(),
        Err(error) => {
            tracing::warn!(
                "{error:#}; using the default route prefix and timeout (pass --route-prefix and --function-timeout to set them)"
            );
            HostJson::default()
        }
    };
    let timeout_text = args
        .function_timeout
        .as_ref()
        .or(host_json.function_timeout.as_ref());
    let function_timeout = match timeout_text {
        Some(text) => settings::parse_timeout(text).context("functionTimeout")?,
        None => None,
    };
    let budget = settings::guest_budget(function_timeout);
    let route_prefix = settings::normalize_route_prefix(
        args.route_prefix
            .as_deref()
            .or(host_json.route_prefix.as_deref())
            .unwrap_or(DEFAULT_ROUTE_PREFIX),
    );

    let function = deploy(&args, budget)?;
    let name = function.spec().name().to_owned();
    let handler = Arc::new(Handler {
        function,
        route_prefix,
        budget,
    });

    let address = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
    let listener = crate::http::server::bind(address).with_context(|| {
        format!("cannot listen on {address} (FUNCTIONS_CUSTOMHANDLER_PORT): is another process using it?")
    })?;
    tracing::info!(
        function = %name,
        %address,
        route_prefix = %handler.route_prefix,
        budget_ms = budget.as_millis() as u64,
        startup_ms = started.elapsed().as_millis() as u64,
        "azure functions custom handler ready"
    );
    println!("edgefn azure-functions handler for {name} listening on http://{address}");

    let stopped = crate::http::server::stop_on_signal()?;
    let workers = args
        .workers
        .unwrap_or_else(crate::http::server::default_workers);
    listener::serve(handler, listener, workers, stopped)
}

/// Compiles or loads the module with the artifacts folder as cache; errors say which file failed.
fn deploy(args: &Args, budget: Duration) -> anyhow::Result<FunctionInvoker> {
    let spec = match &args.name {
        Some(name) => FunctionSpec::new(name.as_str(), &args.wasm)?,
        None => FunctionSpec::from_wasm_path(&args.wasm)?,
    };
    let spec = spec
        .with_env(settings::guest_variables(std::env::vars()))
        .with_limits(Limits {
            deadline: budget,
            ..Limits::default()
        })?
        .with_outbound(settings::outbound_policy(std::env::vars())?)?
        .with_kv(settings::kv_grant(std::env::vars())?)?;
    let artifacts = args.artifacts.clone().unwrap_or_else(|| {
        args.wasm
            .parent()
            .unwrap_or(Path::new("."))
            .join(DEFAULT_ARTIFACTS_DIR)
    });
    // No shipped artifacts on a read-only app folder: compile into a scratch cache instead
    // (`edgefn package --target azure-functions` ships precompiled artifacts).
    HostBuilder::new(artifacts)
        .pool_slots(args.pool_slots)
        .scratch_cache_on_failure(std::env::temp_dir().join("edgefn-azure-artifacts"))
        .traces(crate::runtime::traces::TraceConfig::from_env()?)
        .single(spec, Platform::AzureFunctions, backends())
}

//! `edgefn serve`: deploys the functions of a manifest, of `.wasm` files or of a project folder,
//! and serves them over HTTP (with `--watch`, rebuilding and hot-reloading on change), with the
//! admin listener when asked for.

use crate::deploy::host::HostBuilder;
use crate::deploy::manifest::FunctionSource;
use crate::deploy::registry::{DEFAULT_MAX_LOADED, Registry};
use crate::http::server::{self, ServerOptions};
use crate::local::admin::{self, Admin, Readiness};
use crate::local::kv_file::{FileStore, Owner};
use crate::runtime::artifact::default_cache_dir;
use crate::runtime::engine::EngineOptions;
use crate::runtime::traces::TraceConfig;
use anyhow::{Context as _, bail};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Longest shutdown waits for the last trace spans to be exported.
const TRACE_FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// Address `edgefn serve` listens on unless told otherwise.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Engine and artifact cache options.
#[derive(Debug, clap::Args)]
pub(crate) struct EngineArgs {
    /// Artifact cache folder [default: $EDGEFN_CACHE_DIR, else ~/.cache/edgefn].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Instance pool slots (concurrent instances across all functions); 0 disables pooling.
    #[arg(long, default_value_t = crate::runtime::engine::DEFAULT_POOL_SLOTS)]
    pool_slots: u32,
    /// Do not use the PAGEMAP_SCAN ioctl to reset instance memory, even if the kernel has it.
    #[arg(long)]
    no_pagemap_scan: bool,
    /// Bytes of each instance's memory kept mapped and reset in place between requests; pages
    /// beyond are returned to the OS (slower to reuse, and a TLB flush on every core).
    #[arg(long, default_value_t = crate::runtime::engine::DEFAULT_KEEP_RESIDENT_BYTES)]
    keep_resident_bytes: usize,
}

impl EngineArgs {
    fn registry(
        &self,
        max_loaded: usize,
        kv: &FileStore,
        traces: Option<TraceConfig>,
    ) -> anyhow::Result<Arc<Registry>> {
        let options = EngineOptions {
            pool_slots: self.pool_slots,
            pagemap_scan: !self.no_pagemap_scan,
            keep_resident_bytes: self.keep_resident_bytes,
            ..EngineOptions::default()
        };
        let cache_dir = self.cache_dir.clone().unwrap_or_else(default_cache_dir);
        HostBuilder::new(cache_dir)
            .engine(options)
            .max_loaded(max_loaded)
            .traces(traces)
            .registry(crate::local::backends(kv))
    }
}

/// Options of `edgefn serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// `.wasm` files to serve, or one manifest (`.toml`).
    #[arg(value_name = "FUNCTION")]
    functions: Vec<PathBuf>,
    /// Manifest listing the functions to serve.
    #[arg(long, short)]
    manifest: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Worker threads [default: one per CPU].
    #[arg(long)]
    workers: Option<usize>,
    /// Functions kept loaded in memory; the least recently used beyond this are evicted.
    #[arg(long, default_value_t = DEFAULT_MAX_LOADED)]
    max_loaded: usize,
    /// Serve the admin endpoints (metrics, functions, reload) on this address; loopback unless
    /// you also set a token. Off when not given.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = admin::DEFAULT_ADMIN_LISTEN)]
    admin_listen: Option<SocketAddr>,
    /// Bearer token the admin endpoints require [default: a random one, printed at start].
    #[arg(long, env = "EDGEFN_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Milliseconds between SIGTERM (or SIGINT) and closing the listener, during which /readyz
    /// answers 503 and requests are still served, so load balancers stop routing here first.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    shutdown_delay_ms: u64,
    /// Milliseconds a client has to send its request headers before the connection is closed.
    #[arg(long, default_value_t = server::DEFAULT_HEADER_READ_TIMEOUT.as_millis() as u64)]
    header_read_timeout_ms: u64,
    /// Open connections accepted at once; more are closed immediately.
    #[arg(long, default_value_t = server::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Largest request line plus headers, in bytes (431 beyond).
    #[arg(long, default_value_t = server::DEFAULT_MAX_HEADER_BYTES)]
    max_header_bytes: usize,
    /// Task polls each worker makes between looks at its sockets; 1 keeps requests from waiting
    /// behind guests that run long, higher trades that latency for a little throughput.
    #[arg(long, default_value_t = server::DEFAULT_IO_POLL_INTERVAL, value_name = "POLLS")]
    io_poll_interval: u32,
    /// Watch the functions' files (the manifest, each .wasm, a project's sources) and hot-reload
    /// on change; a project folder is rebuilt first.
    #[arg(long)]
    watch: bool,
    /// Folder of what outlives the process: the key-value store, `kv.redb` [default:
    /// $EDGEFN_STATE_DIR, else .edgefn/state in the current folder].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Export a trace span per invocation and per outbound call to this OpenTelemetry collector
    /// (OTLP/HTTP with protobuf, to <URL>/v1/traces) [default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
    /// as it is, else $OTEL_EXPORTER_OTLP_ENDPOINT; none when neither is set].
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
    #[command(flatten)]
    engine: EngineArgs,
}

fn function_source(
    manifest: Option<PathBuf>,
    paths: Vec<PathBuf>,
) -> anyhow::Result<FunctionSource> {
    let is_toml = |p: &PathBuf| p.extension().is_some_and(|e| e == "toml");
    match (manifest, paths.as_slice()) {
        (Some(m), []) => Ok(FunctionSource::Manifest(m)),
        (Some(_), _) => bail!("give either --manifest or .wasm files, not both"),
        (None, [one]) if is_toml(one) => Ok(FunctionSource::Manifest(one.clone())),
        (None, many) if many.iter().any(is_toml) => bail!(
            "a manifest (.toml) cannot be mixed with other files; list every function in the manifest"
        ),
        (None, []) => bail!(
            "nothing to serve: give .wasm files or a manifest (edgefn serve --manifest edgefn.toml)"
        ),
        (None, _) => Ok(FunctionSource::WasmFiles(paths)),
    }
}

/// Deploys and serves until SIGTERM or SIGINT.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let mut functions = args.functions;
    // A project folder is built first (and rebuilt by --watch); what it built is served.
    let project = super::watch::build_project_argument(&mut functions)?;
    let source = function_source(args.manifest, functions)?;
    let specs = source.load()?;
    // One store for the life of the process: every function, worker thread and redeploy shares
    // it (the registry keeps its backends across redeploys).
    let state_dir = args
        .state_dir
        .unwrap_or_else(crate::local::default_state_dir);
    let kv = FileStore::new(&state_dir, Owner::this_process("serve"));
    let traces = TraceConfig::from_flag_or_env(args.otlp_endpoint.as_deref())?;
    let registry = args.engine.registry(args.max_loaded, &kv, traces)?;
    // The admin listener (with the probes) comes up before the deploy, so a deploy that compiles
    // for a while is seen as alive and not yet ready rather than as a port that refuses.
    let readiness = Arc::new(Readiness::default());
    let (stop_admin, admin_stopped) = watch::channel(false);
    let admin_thread = match args.admin_listen {
        Some(admin_addr) => {
            let token = match args.admin_token {
                Some(token) => token,
                None if admin_addr.ip().is_loopback() => admin::generate_token()?,
                None => bail!(
                    "the admin listener on {admin_addr} is not loopback: set --admin-token (or EDGEFN_ADMIN_TOKEN) so it is not open to anyone who can reach it"
                ),
            };
            let admin_listener = server::bind(admin_addr)
                .with_context(|| format!("cannot listen on {admin_addr} for the admin endpoints (pick another with --admin-listen)"))?;
            let admin_url = format!("http://{}", admin_listener.local_addr()?);
            println!("edgefn admin on {admin_url} (Authorization: Bearer {token})");
            // `edgefn kv` finds the running host through the store's owner record.
            kv.set_owner(Owner {
                admin: Some(admin_url),
                admin_token: Some(token.clone()),
                ..Owner::this_process("serve")
            });
            let admin = Arc::new(Admin::new(
                registry.clone(),
                source.clone(),
                token,
                readiness.clone(),
            )?);
            Some(admin.spawn(admin_listener, admin_stopped)?)
        }
        None => None,
    };
    // A function granted a store gets it now, so a second host on the same state directory fails
    // here, saying so, rather than on its functions' first calls. Without any grant the file is
    // opened on first use (a redeploy may add one), and hosts that use no store never touch it.
    if specs.iter().any(|spec| !spec.kv().stores().is_empty()) {
        kv.open()?;
        println!("edgefn key-value store {}", kv.path().display());
    }
    let total = specs.len();
    let failures = registry.deploy_all(specs);
    if failures.len() == total {
        bail!("none of the {total} functions could be deployed (see the errors above)");
    }
    let listener = server::bind(args.listen).with_context(|| {
        format!(
            "cannot listen on {} (is another server using it? pick another with --listen)",
            args.listen
        )
    })?;
    let addr = listener.local_addr()?;
    for deployed in registry.deployed() {
        for route in deployed.spec.routes() {
            println!("  http://{addr}{route}  ->  {}", deployed.spec.name());
        }
    }
    if !failures.is_empty() {
        println!("  ({} function(s) refused; see the log)", failures.len());
    }
    let stopped = {
        let readiness = readiness.clone();
        let delay = Duration::from_millis(args.shutdown_delay_ms);
        server::stop_on_signal_after(delay, move || readiness.draining())?
    };
    if args.watch {
        super::watch::spawn(registry.clone(), source, project, stopped.clone())?;
    }
    println!("edgefn listening on http://{addr}");
    let defaults = ServerOptions::default();
    let options = ServerOptions {
        workers: args.workers.unwrap_or(defaults.workers),
        header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
        max_connections: args.max_connections,
        max_header_bytes: args.max_header_bytes,
        io_poll_interval: args.io_poll_interval,
        ..defaults
    };
    readiness.serving();
    crate::local::router::serve(registry.clone(), listener, options, stopped)?;
    if let Some(tracer) = registry.tracer() {
        // The spans of the last requests, unless the collector takes longer than this.
        tracer.flush(TRACE_FLUSH_LIMIT);
    }
    // The probes kept answering (503) through the drain; now the admin listener goes too.
    let _ = stop_admin.send(true);
    if let Some(thread) = admin_thread
        && thread.join().is_err()
    {
        tracing::error!("the admin listener panicked while stopping");
    }
    kv.release();
    tracing::info!("stopped");
    Ok(())
}

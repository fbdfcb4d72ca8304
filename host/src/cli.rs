//! Command-line parsing and the `serve` command.

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use edgefn_host::admin::{self, Admin};
use edgefn_host::artifact::default_cache_dir;
use edgefn_host::config::{FunctionSource, FunctionSpec};
use edgefn_host::engine::{EngineOptions, HostEngine};
use edgefn_host::logging::{self, LogFormat};
use edgefn_host::registry::{DEFAULT_MAX_LOADED, Registry};
use edgefn_host::server::{self, ServerOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Address `edgefn serve` listens on unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Run WebAssembly functions locally, and package the same .wasm for AWS Lambda, Azure Functions
/// and Cloudflare Workers.
#[derive(Parser)]
#[command(name = "edgefn", version, propagate_version = true)]
struct Cli {
    /// Log format.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "EDGEFN_LOG_FORMAT"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a function project (Rust or Go) that builds and passes its unit test as is.
    New(edgefn_host::commands::new::Args),
    /// Build a function project to a .wasm module and precompile it into the artifact cache.
    Build(edgefn_host::commands::build::Args),
    /// Run one invocation of a function, no server; the response body goes to stdout.
    Invoke(edgefn_host::commands::invoke::Args),
    /// Serve functions over HTTP.
    ///
    /// Each function is reached under its routes: a plain `hello.wasm` at `/hello` (and
    /// `/hello/...`); a manifest sets names, routes, variables and limits.
    Serve(ServeArgs),
    /// Package one .wasm for a platform (AWS Lambda, Azure Functions, Cloudflare Workers).
    Package(PackageArgs),
    /// Run as the AWS Lambda custom runtime (`bootstrap`); started by Lambda, not by hand.
    #[command(name = "aws-lambda")]
    AwsLambda(edgefn_host::platform::aws_lambda::Args),
    /// Run as an Azure Functions custom handler; started by the Functions host.
    #[command(name = "azure-functions")]
    AzureFunctions(edgefn_host::platform::azure_functions::Args),
}

#[derive(Args)]
struct PackageArgs {
    /// Platform to package for.
    #[arg(long, value_enum)]
    target: edgefn_host::package::Target,
    /// The function's module.
    wasm: PathBuf,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Function name [default: the module's file stem].
    #[arg(long)]
    name: Option<String>,
}

#[derive(Args)]
struct EngineArgs {
    /// Artifact cache folder [default: $EDGEFN_CACHE_DIR, else ~/.cache/edgefn].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Instance pool slots (concurrent instances across all functions); 0 disables pooling.
    #[arg(long, default_value_t = edgefn_host::engine::DEFAULT_POOL_SLOTS)]
    pool_slots: u32,
    /// Do not use the PAGEMAP_SCAN ioctl to reset instance memory, even if the kernel has it.
    #[arg(long)]
    no_pagemap_scan: bool,
    /// Bytes of each instance's memory kept mapped and reset in place between requests; pages
    /// beyond are returned to the OS (slower to reuse, and a TLB flush on every core).
    #[arg(long, default_value_t = edgefn_host::engine::DEFAULT_KEEP_RESIDENT_BYTES)]
    keep_resident_bytes: usize,
}

impl EngineArgs {
    fn registry(&self, max_loaded: usize) -> anyhow::Result<Arc<Registry>> {
        let options = EngineOptions {
            pool_slots: self.pool_slots,
            pagemap_scan: !self.no_pagemap_scan,
            keep_resident_bytes: self.keep_resident_bytes,
            ..EngineOptions::default()
        };
        let engine = HostEngine::new(&options)?;
        tracing::info!(allocator = engine.allocator.as_str(), "engine ready");
        let cache_dir = self.cache_dir.clone().unwrap_or_else(default_cache_dir);
        Ok(Arc::new(Registry::new(engine, &cache_dir, max_loaded)?))
    }
}

#[derive(Args)]
struct ServeArgs {
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
    /// Milliseconds a client has to send its request headers before the connection is closed.
    #[arg(long, default_value_t = server::DEFAULT_HEADER_READ_TIMEOUT.as_millis() as u64)]
    header_read_timeout_ms: u64,
    /// Open connections accepted at once; more are closed immediately.
    #[arg(long, default_value_t = server::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Largest request line plus headers, in bytes (431 beyond).
    #[arg(long, default_value_t = server::DEFAULT_MAX_HEADER_BYTES)]
    max_header_bytes: usize,
    /// Watch the functions' files (the manifest, each .wasm, a project's sources) and hot-reload
    /// on change; a project folder is rebuilt first.
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // Lambda starts `bootstrap` with no arguments: that is the Lambda runtime.
    let cli = if edgefn_host::platform::aws_lambda::started_as_bootstrap() {
        Cli::parse_from(["edgefn", "aws-lambda"])
    } else {
        Cli::parse()
    };
    logging::init(cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Package(args) => package(args),
        Command::New(args) => edgefn_host::commands::new::run(args),
        Command::Build(args) => edgefn_host::commands::build::run(args),
        Command::Invoke(args) => edgefn_host::commands::invoke::run(args),
        Command::AwsLambda(args) => edgefn_host::platform::aws_lambda::run(args),
        Command::AzureFunctions(args) => edgefn_host::platform::azure_functions::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
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

fn package(args: PackageArgs) -> anyhow::Result<()> {
    let name = match args.name {
        Some(name) => name,
        None => FunctionSpec::from_wasm_path(&args.wasm)?.name,
    };
    let request = edgefn_host::package::PackageRequest {
        wasm: args.wasm,
        out: args.out,
        name,
    };
    let target = clap::ValueEnum::to_possible_value(&args.target).map(|v| v.get_name().to_owned());
    edgefn_host::commands::step(format!(
        "packaging {} ({}) for {}",
        request.name,
        request.wasm.display(),
        target.unwrap_or_default()
    ));
    let report = edgefn_host::package::package(args.target, &request)?;
    println!(
        "packaged {} ({} bytes)",
        report.artifact.display(),
        report.size_bytes
    );
    for warning in &report.warnings {
        println!("warning: {warning}");
    }
    println!("deploy with:\n  {}", report.deploy_command);
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut functions = args.functions;
    // A project folder is built first (and rebuilt by --watch); what it built is served.
    let project = edgefn_host::commands::watch::build_project_argument(&mut functions)?;
    let source = function_source(args.manifest, functions)?;
    let specs = source.load()?;
    let registry = args.engine.registry(args.max_loaded)?;
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
        for route in &deployed.spec.routes {
            println!("  http://{addr}{route}  ->  {}", deployed.spec.name);
        }
    }
    if !failures.is_empty() {
        println!("  ({} function(s) refused; see the log)", failures.len());
    }
    let stopped = server::stop_on_signal()?;
    if args.watch {
        edgefn_host::commands::watch::spawn(
            registry.clone(),
            source.clone(),
            project,
            stopped.clone(),
        )?;
    }
    if let Some(admin_addr) = args.admin_listen {
        let token = match args.admin_token {
            Some(token) => token,
            None if admin_addr.ip().is_loopback() => admin::generate_token()?,
            None => bail!(
                "the admin listener on {admin_addr} is not loopback: set --admin-token (or EDGEFN_ADMIN_TOKEN) so it is not open to anyone who can reach it"
            ),
        };
        let admin_listener = std::net::TcpListener::bind(admin_addr)
            .with_context(|| format!("cannot listen on {admin_addr} for the admin endpoints (pick another with --admin-listen)"))?;
        println!(
            "edgefn admin on http://{} (Authorization: Bearer {token})",
            admin_listener.local_addr()?
        );
        let admin = Arc::new(Admin::new(registry.clone(), source, token)?);
        admin.spawn(admin_listener, stopped.clone())?;
    }
    println!("edgefn listening on http://{addr}");
    let defaults = ServerOptions::default();
    let options = ServerOptions {
        workers: args.workers.unwrap_or(defaults.workers),
        header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
        max_connections: args.max_connections,
        max_header_bytes: args.max_header_bytes,
        ..defaults
    };
    server::serve(registry, listener, options, stopped)?;
    tracing::info!("stopped");
    Ok(())
}

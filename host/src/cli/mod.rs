//! Command-line parsing: the `edgefn` command and its subcommands, dispatched to `commands` and
//! the platform runtimes; and the much smaller `edgefn-runtime`, which is only the platform
//! runtimes (what a Lambda zip or an Azure app ships).

#[cfg(feature = "compiler")]
pub(crate) mod commands;
pub(crate) mod logging;

use clap::{Args, Parser, Subcommand};
use logging::LogFormat;
use std::process::ExitCode;

/// The options every command of both binaries takes.
#[derive(Args)]
struct LogArgs {
    /// Log format.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "EDGEFN_LOG_FORMAT"
    )]
    log_format: LogFormat,
}

/// Run WebAssembly functions locally, and package the same .wasm for AWS Lambda, Azure Functions
/// and Cloudflare Workers.
#[cfg(feature = "compiler")]
#[derive(Parser)]
#[command(name = "edgefn", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    logs: LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[cfg(feature = "compiler")]
#[derive(Subcommand)]
enum Command {
    /// Create a function project (Rust or Go) that builds and passes its unit test as is.
    New(commands::new::Args),
    /// Build a function project to a .wasm module and precompile it into the artifact cache.
    Build(commands::build::Args),
    /// Run one invocation of a function, no server; the response body goes to stdout.
    Invoke(commands::invoke::Args),
    /// Serve functions over HTTP.
    ///
    /// Each function is reached under its routes: a plain `hello.wasm` at `/hello` (and
    /// `/hello/...`); a manifest sets names, routes, variables and limits.
    Serve(commands::serve::Args),
    /// Package one .wasm for a platform (AWS Lambda, Azure Functions, Cloudflare Workers).
    Package(commands::package::Args),
    /// Read and write the local key-value store: through a running host, else in its file.
    Kv(commands::kv::Args),
    /// Run as the AWS Lambda custom runtime (`bootstrap`); started by Lambda, not by hand.
    #[command(name = "aws-lambda")]
    AwsLambda(crate::platform::aws_lambda::Args),
    /// Run as an Azure Functions custom handler; started by the Functions host.
    #[command(name = "azure-functions")]
    AzureFunctions(crate::platform::azure_functions::Args),
}

/// Entry point of the `edgefn` binary.
#[cfg(feature = "compiler")]
pub fn main() -> ExitCode {
    // Lambda starts `bootstrap` with no arguments: that is the Lambda runtime.
    let cli = if crate::platform::aws_lambda::started_as_bootstrap() {
        Cli::parse_from(["edgefn", "aws-lambda"])
    } else {
        Cli::parse()
    };
    logging::init(cli.logs.log_format);
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args),
        Command::Package(args) => commands::package::run(args),
        Command::Kv(args) => commands::kv::run(args),
        Command::New(args) => commands::new::run(args),
        Command::Build(args) => commands::build::run(args),
        Command::Invoke(args) => commands::invoke::run(args),
        Command::AwsLambda(args) => crate::platform::aws_lambda::run(args),
        Command::AzureFunctions(args) => crate::platform::azure_functions::run(args),
    };
    finish(result)
}

/// The platform runtimes of edgefn, for a package: they load precompiled artifacts and never
/// compile. Lambda starts `bootstrap` without arguments.
#[derive(Parser)]
#[command(name = "edgefn-runtime", version, propagate_version = true)]
struct RuntimeCli {
    #[command(flatten)]
    logs: LogArgs,
    #[command(subcommand)]
    command: RuntimeCommand,
}

#[derive(Subcommand)]
enum RuntimeCommand {
    /// Run as the AWS Lambda custom runtime (`bootstrap`); started by Lambda, not by hand.
    #[command(name = "aws-lambda")]
    AwsLambda(crate::platform::aws_lambda::Args),
    /// Run as an Azure Functions custom handler; started by the Functions host.
    #[command(name = "azure-functions")]
    AzureFunctions(crate::platform::azure_functions::Args),
}

/// Entry point of the `edgefn-runtime` binary.
pub fn runtime_main() -> ExitCode {
    let cli = if crate::platform::aws_lambda::started_as_bootstrap() {
        RuntimeCli::parse_from(["edgefn-runtime", "aws-lambda"])
    } else {
        RuntimeCli::parse()
    };
    logging::init(cli.logs.log_format);
    let result = match cli.command {
        RuntimeCommand::AwsLambda(args) => crate::platform::aws_lambda::run(args),
        RuntimeCommand::AzureFunctions(args) => crate::platform::azure_functions::run(args),
    };
    finish(result)
}

fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

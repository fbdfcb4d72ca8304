//! `edgefn invoke FILE [PATH]`: one invocation of a function, no server, for scripts and debugging.
//!
//! It goes through [`FunctionInvoker`], the admission path the platform adapters use, so the function runs
//! exactly as it would behind `edgefn serve`: same limits, same context, same logs. The response
//! body goes to stdout byte for byte and the status line and headers to stderr, so
//! `edgefn invoke f.wasm > out` captures the body alone; `--json` prints everything as one JSON
//! object instead.

use crate::deploy::host::HostBuilder;
use crate::deploy::invoker::{FunctionInvoker, PlatformCall};
use crate::deploy::manifest::{Manifest, is_manifest_path};
use crate::http::ids::{new_request_id, traceparent};
use crate::local::kv_file::{FileStore, Owner};
use crate::runtime::artifact::default_cache_dir;
use crate::runtime::error::InvokeError;
use crate::runtime::limits::Limits;
use crate::runtime::spec::FunctionSpec;
use anyhow::{Context as _, bail};
use base64::Engine as _;
use bytes::Bytes;
use edgefn_abi::Platform;
use http::{HeaderName, HeaderValue, Method, Request, Response};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Arguments of `edgefn invoke`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The function: a `.wasm` file, or a manifest (`.toml`) and `--name` to pick one of its
    /// functions (with its variables and limits).
    #[arg(value_name = "FILE")]
    pub function: PathBuf,
    /// Path and query the function receives [default: /NAME, as `edgefn serve` routes it].
    #[arg(value_name = "PATH")]
    pub path: Option<String>,
    /// HTTP method [default: GET, or POST with --data].
    #[arg(long, short = 'X', value_name = "M")]
    pub method: Option<String>,
    /// A request header, `Name: value`; repeat for more.
    #[arg(long = "header", short = 'H', value_name = "K:V")]
    pub headers: Vec<String>,
    /// The request body: `@FILE` for a file's bytes, `-` for stdin, anything else as is.
    #[arg(long, short = 'd', value_name = "@FILE|-|TEXT")]
    pub data: Option<String>,
    /// The platform the function is told it runs on (`ctx.platform()`).
    #[arg(long, default_value = "local", value_parser = platform_parser())]
    pub platform: Platform,
    /// A variable in the function's environment, `K=V`; repeat for more (added to a manifest's).
    #[arg(long = "env", short = 'e', value_name = "K=V")]
    pub env: Vec<String>,
    /// Which function: needed for a manifest with several [default: the file stem].
    #[arg(long)]
    pub name: Option<String>,
    /// Deadline in milliseconds [default: the manifest's, else 10000].
    #[arg(long, value_name = "MS")]
    pub deadline_ms: Option<u64>,
    /// Memory limit in MiB [default: the manifest's, else 128].
    #[arg(long, value_name = "MIB")]
    pub memory_mb: Option<u64>,
    /// Print one JSON object (status, headers, body, logs, timing, error) on stdout instead.
    #[arg(long)]
    pub json: bool,
    /// Artifact cache folder [default: $EDGEFN_CACHE_DIR, else ~/.cache/edgefn].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Folder of the key-value store, `kv.redb`, as for `edgefn serve` [default:
    /// $EDGEFN_STATE_DIR, else .edgefn/state in the current folder].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Parses `--platform`: one of [`Platform::ALL`] by its wire name, so the CLI offers exactly the
/// platforms the host has.
fn platform_parser() -> impl clap::builder::TypedValueParser<Value = Platform> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Platform::ALL.map(Platform::as_str))
        .map(|name: String| Platform::from_wire(&name).expect("offered names are platform names"))
}

/// What one invocation gave, for printing.
struct Outcome {
    result: Result<Response<Bytes>, InvokeError>,
    request_id: String,
    took: Duration,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs one invocation and prints it. An invocation failure (trap, timeout, memory, ...) is an
/// error naming its kind, so the exit status is non-zero.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let spec = function_spec(&args)?;
    let request = build_request(&args, spec.name())?;
    let cache_dir = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(crate::local::default_state_dir);
    // Opened on the function's first kv call, if it makes one.
    let kv = FileStore::new(state_dir, Owner::this_process("invoke"));
    let runner = HostBuilder::new(cache_dir).pool_slots(0).single(
        spec,
        args.platform,
        crate::local::backends(&kv),
    )?;
    let outcome = invoke_once(&runner, &request)?;
    kv.release();
    if args.json {
        print_json(&outcome)?;
    } else if let Ok(response) = &outcome.result {
        print_response(response)?;
    }
    match outcome.result {
        Ok(_) => Ok(()),
        Err(error) => Err(invocation_failed(&error, runner.spec())),
    }
}

fn invoke_once(runner: &FunctionInvoker, request: &Request<Bytes>) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let request_id = new_request_id();
    let call = PlatformCall {
        request_id: &request_id,
        deadline: None,
        traceparent: traceparent(request.headers()),
    };
    let started = Instant::now();
    let invocation = runtime.block_on(runner.invoke(request, &call));
    Ok(Outcome {
        result: invocation.result,
        took: started.elapsed(),
        request_id,
        stdout: invocation.output.stdout,
        stderr: invocation.output.stderr,
    })
}

/// The function to run: from the `.wasm` or the manifest, with the flags' overrides.
fn function_spec(args: &Args) -> anyhow::Result<FunctionSpec> {
    let spec = if is_manifest_path(&args.function) {
        from_manifest(&args.function, args.name.as_deref())?
    } else {
        if !args.function.is_file() {
            bail!(
                "{} is not a file: give a .wasm module (edgefn build prints where it put one) or a manifest",
                args.function.display()
            );
        }
        match &args.name {
            Some(name) => FunctionSpec::new(name.as_str(), &args.function)?,
            None => FunctionSpec::from_wasm_path(&args.function)?,
        }
    };
    let mut env = spec.env().to_vec();
    for pair in &args.env {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("--env {pair:?} is not KEY=VALUE"))?;
        env.retain(|(k, _)| k != key);
        env.push((key.to_owned(), value.to_owned()));
    }
    let mut limits: Limits = spec.limits().clone();
    if let Some(ms) = args.deadline_ms {
        anyhow::ensure!(ms > 0, "--deadline-ms must be at least 1");
        limits.deadline = Duration::from_millis(ms);
    }
    if let Some(mb) = args.memory_mb {
        limits.memory_bytes = mb.saturating_mul(1 << 20);
    }
    spec.with_env(env)
        .with_limits(limits)
        .context("--memory-mb or --deadline-ms is out of range")
}

fn from_manifest(path: &Path, name: Option<&str>) -> anyhow::Result<FunctionSpec> {
    let manifest = Manifest::load(path)?;
    match name {
        Some(name) => manifest.function(path, name).cloned(),
        None if manifest.functions.len() == 1 => Ok(manifest.functions[0].clone()),
        None => bail!(
            "{} defines several functions: pick one with --name ({})",
            path.display(),
            manifest.names()
        ),
    }
}

fn build_request(args: &Args, name: &str) -> anyhow::Result<Request<Bytes>> {
    let body = match args.data.as_deref() {
        None => Bytes::new(),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("cannot read the body from stdin")?;
            buf.into()
        }
        Some(data) => match data.strip_prefix('@') {
            Some(file) => std::fs::read(file)
                .with_context(|| format!("cannot read the body from {file} (--data @FILE)"))?
                .into(),
            None => Bytes::copy_from_slice(data.as_bytes()),
        },
    };
    let method = match &args.method {
        Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .with_context(|| format!("--method {m:?} is not an HTTP method"))?,
        None if args.data.is_some() => Method::POST,
        None => Method::GET,
    };
    let path = args.path.clone().unwrap_or_else(|| format!("/{name}"));
    let path = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    let mut request = Request::builder()
        .method(method)
        .uri(&path)
        .body(body)
        .with_context(|| format!("{path:?} is not a valid request path"))?;
    for header in &args.headers {
        let (key, value) = header
            .split_once(':')
            .with_context(|| format!("--header {header:?} is not `Name: value`"))?;
        let key = HeaderName::from_bytes(key.trim().as_bytes()).with_context(|| {
            format!("--header {header:?}: {:?} is not a header name", key.trim())
        })?;
        let value = HeaderValue::from_str(value.trim()).with_context(|| {
            format!("--header {header:?}: the value has characters a header cannot hold")
        })?;
        request.headers_mut().append(key, value);
    }
    Ok(request)
}

fn print_response(response: &Response<Bytes>) -> anyhow::Result<()> {
    let status = response.status();
    let mut head = format!(
        "HTTP/1.1 {} {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    for (name, value) in response.headers() {
        head.push_str(&format!(
            "{name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    eprintln!("{head}");
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(response.body())?;
    stdout.flush()?;
    Ok(())
}

fn print_json(outcome: &Outcome) -> anyhow::Result<()> {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let mut object = serde_json::json!({
        "request_id": outcome.request_id,
        "duration_ms": outcome.took.as_secs_f64() * 1e3,
        "logs": { "stdout": text(&outcome.stdout), "stderr": text(&outcome.stderr) },
    });
    match &outcome.result {
        Ok(response) => {
            let headers: Vec<_> = response
                .headers()
                .iter()
                .map(|(k, v)| serde_json::json!([k.as_str(), text(v.as_bytes())]))
                .collect();
            object["status"] = response.status().as_u16().into();
            object["headers"] = headers.into();
            // Text stays readable; anything else survives the trip through JSON as base64.
            match std::str::from_utf8(response.body()) {
                Ok(body) => object["body"] = body.into(),
                Err(_) => {
                    object["body_base64"] = base64::engine::general_purpose::STANDARD
                        .encode(response.body())
                        .into()
                }
            }
        }
        Err(error) => {
            object["error"] =
                serde_json::json!({ "kind": error.kind().as_str(), "message": error.to_string() });
        }
    }
    println!("{object}");
    Ok(())
}

/// The error `invoke` exits with: the failure's kind and detail, and what to try.
fn invocation_failed(error: &InvokeError, spec: &FunctionSpec) -> anyhow::Error {
    let next = match error {
        InvokeError::Timeout(_) => {
            "look for a loop that never ends, or allow more time with --deadline-ms (limits.deadline_ms in a manifest)".to_owned()
        }
        InvokeError::MemoryLimit(_) => {
            "allocate less, or allow more with --memory-mb (limits.memory_mb in a manifest)".to_owned()
        }
        InvokeError::Trap(_) => {
            "the function panicked or trapped: its stderr above says where".to_owned()
        }
        InvokeError::BadResponse(_) => {
            "the module answered something that is not an ABI v1 response: build it with the edgefn SDK".to_owned()
        }
        InvokeError::ResponseTooLarge { .. } => {
            "return less, or raise limits.max_response_bytes in a manifest".to_owned()
        }
        InvokeError::ConcurrencyLimit(_) | InvokeError::Overloaded(_) => "retry".to_owned(),
        InvokeError::Instantiate(_) => format!(
            "{} could not start: rebuild it with the edgefn SDK (edgefn build)",
            spec.wasm().display()
        ),
        InvokeError::Load(_) => format!(
            "{} could not be loaded: check the file, or clear its artifact from the cache (--cache-dir)",
            spec.wasm().display()
        ),
        InvokeError::RequestTooLarge(_) => "send a smaller body (--data)".to_owned(),
    };
    anyhow::anyhow!(
        "invocation failed ({}, would answer {}): {error}; {next}",
        error.kind().as_str(),
        error.status()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(argv: &[&str]) -> Args {
        Cli::parse_from(std::iter::once("invoke").chain(argv.iter().copied())).args
    }

    #[test]
    fn request_from_flags() {
        let a = args(&[
            "f.wasm", "/f/x?y=1", "-H", "x-a: 1", "-H", "x-a:2", "--data", "hi",
        ]);
        let req = build_request(&a, "f").unwrap();
        assert_eq!(req.method(), Method::POST, "--data implies POST");
        assert_eq!(req.uri(), "/f/x?y=1");
        let values: Vec<_> = req.headers().get_all("x-a").iter().collect();
        assert_eq!(values, ["1", "2"]);
        assert_eq!(req.body().as_ref(), b"hi");

        let plain = build_request(&args(&["f.wasm", "-X", "delete"]), "f").unwrap();
        assert_eq!(
            (plain.method(), plain.uri().path()),
            (&Method::DELETE, "/f")
        );
    }

    #[test]
    fn bad_flags_say_what_is_wrong() {
        let err = |argv: &[&str]| format!("{:#}", build_request(&args(argv), "f").unwrap_err());
        assert!(err(&["f.wasm", "-H", "nocolon"]).contains("is not `Name: value`"));
        assert!(err(&["f.wasm", "-d", "@/no/such/file"]).contains("--data @FILE"));
        assert!(err(&["f.wasm", "-X", "GE T"]).contains("not an HTTP method"));
    }
}

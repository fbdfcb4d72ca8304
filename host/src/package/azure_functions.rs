//! `edgefn package --target azure-functions`: a function app folder the Functions host runs as a
//! custom handler, deployable with `func azure functionapp publish` or a zip deploy:
//!
//! ```text
//! DIR/host.json                 customHandler: run `edgefn azure-functions ...`, forwarding on
//! DIR/<name>/function.json      httpTrigger on {*path}, every method, http output `res`
//! DIR/edgefn                    this executable, debug info stripped
//! DIR/<name>.wasm               the module
//! DIR/artifacts/                its precompiled artifact (loaded instead of compiling)
//! DIR/local.settings.json       FUNCTIONS_WORKER_RUNTIME=Custom, for `func start`
//! ```

use super::{PackageReport, PackageRequest, precompile_into};
use crate::platform::azure_functions::contract::{
    DEFAULT_ROUTE_PREFIX, HTTP_INPUT_BINDING, HTTP_OUTPUT_BINDING,
};
use crate::runtime::artifact::ARTIFACTS_DIR;
use anyhow::{Context as _, bail};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Name of the handler executable in the app.
pub(crate) const HANDLER_EXECUTABLE: &str = "edgefn";
/// `functionTimeout` written to `host.json`: the longest an HTTP trigger can answer on Azure
/// (230 s), which the handler also caps at. Lower it to bound a runaway function sooner.
pub(crate) const PACKAGED_FUNCTION_TIMEOUT: &str = "00:03:50";
/// Methods the function answers: all the Functions host routes.
pub(crate) const HTTP_METHODS: [&str; 7] =
    ["get", "post", "put", "delete", "patch", "head", "options"];
/// Anyone may call the function, as on the local host: the guest does its own authorization.
/// (`function` would require a key in `?code=` or `x-functions-key`.)
pub(crate) const AUTH_LEVEL: &str = "anonymous";
/// Route template catching every path under the route prefix.
pub(crate) const CATCH_ALL_ROUTE: &str = "{*path}";
/// Longest function name Azure accepts.
pub(crate) const MAX_FUNCTION_NAME: usize = 127;

/// How the app runs the function beyond its module: `host.json`'s `functionTimeout` and the app
/// settings written into `local.settings.json`'s `Values` (the guest's variables as
/// `EDGEFN_VAR_<NAME>`, the runtime's `EDGEFN_*` settings as they are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AzureSettings {
    /// `functionTimeout`, as `hh:mm:ss`.
    pub function_timeout: String,
    /// App settings, in order.
    pub app_settings: Vec<(String, String)>,
}

impl Default for AzureSettings {
    /// The longest timeout an HTTP trigger has, and no app settings.
    fn default() -> Self {
        AzureSettings {
            function_timeout: PACKAGED_FUNCTION_TIMEOUT.to_owned(),
            app_settings: Vec::new(),
        }
    }
}

/// Writes the function app folder and reports how to deploy it.
pub(crate) fn package(request: &PackageRequest) -> anyhow::Result<PackageReport> {
    package_with(request, &AzureSettings::default())
}

/// Writes the function app folder with `settings` and reports how to deploy it.
pub(crate) fn package_with(
    request: &PackageRequest,
    settings: &AzureSettings,
) -> anyhow::Result<PackageReport> {
    anyhow::ensure!(
        request.arch == super::Arch::X86_64,
        "Azure Functions custom handlers run on Linux x86_64 here; package for --arch x86_64"
    );
    let name = request.name.as_str();
    check_function_name(name)?;
    let wasm = std::fs::read(&request.wasm)
        .with_context(|| format!("cannot read {}", request.wasm.display()))?;
    let out = &request.out;
    let mut warnings = Vec::new();

    // Artifacts of earlier packages would only bloat the upload.
    let artifacts = out.join(ARTIFACTS_DIR);
    if artifacts.exists() {
        std::fs::remove_dir_all(&artifacts)
            .with_context(|| format!("cannot clear {}", artifacts.display()))?;
    }
    precompile_into(request, &wasm, out).with_context(|| {
        format!(
            "cannot precompile {} (is it an edgefn module built for wasm32-wasip1?)",
            request.wasm.display()
        )
    })?;
    let wasm_file = format!("{name}.wasm");
    write(&out.join(&wasm_file), &wasm)?;
    write(
        &out.join("host.json"),
        pretty(&host_json(name, &wasm_file, &settings.function_timeout))?.as_bytes(),
    )?;
    let function_dir = out.join(name);
    std::fs::create_dir_all(&function_dir)
        .with_context(|| format!("cannot create {}", function_dir.display()))?;
    write(
        &function_dir.join("function.json"),
        pretty(&function_json())?.as_bytes(),
    )?;
    write(
        &out.join("local.settings.json"),
        pretty(&local_settings(&settings.app_settings))?.as_bytes(),
    )?;
    copy_handler(&out.join(HANDLER_EXECUTABLE), &mut warnings)?;
    if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
        warnings.push(format!(
            "this edgefn was built for {}-{}; Azure Functions on Linux runs x86_64 Linux executables, so package with an x86_64 Linux build of edgefn",
            std::env::consts::OS,
            std::env::consts::ARCH
        ));
    }

    Ok(PackageReport {
        artifact: out.clone(),
        size_bytes: folder_size(out)?,
        deploy_command: deploy_command(out, name, &settings.app_settings),
        warnings,
    })
}

/// Azure's rule for function (folder) names, plus one of ours: the name must differ from the
/// route prefix, or invocations (`POST /<name>`) and forwarded requests (`/api/...`) could not be
/// told apart.
pub(crate) fn check_function_name(name: &str) -> anyhow::Result<()> {
    let valid = name.len() <= MAX_FUNCTION_NAME
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        bail!(
            "{name:?} is not a valid Azure Functions function name: start with a letter and use up to {MAX_FUNCTION_NAME} letters, digits, '-' or '_' (choose one with --name)"
        );
    }
    if name.eq_ignore_ascii_case(DEFAULT_ROUTE_PREFIX) {
        bail!(
            "the function cannot be named {name:?}, the HTTP route prefix of the app: choose another name with --name"
        );
    }
    Ok(())
}

/// `host.json`: run this executable as the custom handler, requests forwarded as-is.
pub(crate) fn host_json(name: &str, wasm_file: &str, function_timeout: &str) -> serde_json::Value {
    json!({
        "version": "2.0",
        "functionTimeout": function_timeout,
        "customHandler": {
            "description": {
                "defaultExecutablePath": HANDLER_EXECUTABLE,
                "arguments": [
                    "azure-functions",
                    "--wasm", wasm_file,
                    "--artifacts", ARTIFACTS_DIR,
                    "--name", name,
                ],
            },
            "enableForwardingHttpRequest": true,
        },
        "extensions": {
            "http": { "routePrefix": DEFAULT_ROUTE_PREFIX },
        },
    })
}

/// `<name>/function.json`: every method on every path under the route prefix, answered through `res`.
pub(crate) fn function_json() -> serde_json::Value {
    json!({
        "bindings": [
            {
                "type": "httpTrigger",
                "direction": "in",
                "name": HTTP_INPUT_BINDING,
                "authLevel": AUTH_LEVEL,
                "methods": HTTP_METHODS,
                "route": CATCH_ALL_ROUTE,
            },
            {
                "type": "http",
                "direction": "out",
                "name": HTTP_OUTPUT_BINDING,
            },
        ],
    })
}

/// `local.settings.json`, read by `func start` and `func azure functionapp publish`; never uploaded.
/// Its `Values` are the app settings: `func start` sets them as the handler's environment, and
/// `func azure functionapp publish --publish-local-settings` copies them to the app.
fn local_settings(app_settings: &[(String, String)]) -> serde_json::Value {
    let mut values = serde_json::Map::new();
    values.insert("FUNCTIONS_WORKER_RUNTIME".into(), "Custom".into());
    for (name, value) in app_settings {
        values.insert(name.clone(), value.as_str().into());
    }
    json!({
        "IsEncrypted": false,
        "Values": values,
    })
}

fn pretty(value: &serde_json::Value) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Copies the runtime-only `edgefn-runtime` into the app (or, when it is missing, this executable),
/// without debug line tables but with symbol names for backtraces. Copied
/// through a temporary file and renamed, so packaging from a packaged handler cannot truncate it.
fn copy_handler(target: &Path, warnings: &mut Vec<String>) -> anyhow::Result<()> {
    let exe = super::runtime_executable(super::Arch::X86_64, warnings)?;
    let temporary = target.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::copy(&exe, &temporary)
        .with_context(|| format!("cannot copy {} to {}", exe.display(), temporary.display()))?;
    if super::is_runtime_executable(&exe) {
        // Stripped by its build profile already.
    } else if let Err(why) = super::strip_executable(&temporary, "--strip-debug") {
        warnings.push(format!(
            "the handler was not stripped ({why}), so it keeps its debug info (~110 MB): install binutils (`strip`) to shrink it to ~20 MB"
        ));
    }
    std::fs::rename(&temporary, target).with_context(|| {
        let _ = std::fs::remove_file(&temporary);
        format!("cannot move the handler into place at {}", target.display())
    })
}

fn folder_size(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    let mut pending: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let entry = entry?;
            let metadata = entry.metadata()?;
            if metadata.is_dir() {
                pending.push(entry.path());
            } else {
                total += metadata.len();
            }
        }
    }
    Ok(total)
}

/// `func` publishes the folder as it is; the zip deploy needs only the Azure CLI. The zip goes
/// next to the folder, named with an absolute path so both commands agree wherever they run.
/// With app settings, `func` publishes them too, and the Azure CLI route sets them first.
fn deploy_command(out: &Path, name: &str, app_settings: &[(String, String)]) -> String {
    let out = out.canonicalize().unwrap_or_else(|_| out.to_owned());
    let zip = out
        .parent()
        .unwrap_or(Path::new("/"))
        .join(format!("{name}-azure-functions.zip"));
    let (dir, zip) = (out.display(), zip.display());
    if app_settings.is_empty() {
        return format!(
            "cd {dir} && func azure functionapp publish <APP_NAME>\n  \
             or, without Core Tools: (cd {dir} && zip -qr {zip} .) && az functionapp deployment source config-zip --resource-group <RESOURCE_GROUP> --name <APP_NAME> --src {zip}\n  \
             (create the app once, on Linux with the custom runtime: see docs/deploy-azure-functions.md)"
        );
    }
    let settings: Vec<String> = app_settings
        .iter()
        .map(|(k, v)| super::shell_quoted(&format!("{k}={v}")))
        .collect();
    format!(
        "cd {dir} && func azure functionapp publish <APP_NAME> --publish-local-settings --overwrite-settings\n  \
         or, without Core Tools: az functionapp config appsettings set --resource-group <RESOURCE_GROUP> --name <APP_NAME> --settings {settings} && (cd {dir} && zip -qr {zip} .) && az functionapp deployment source config-zip --resource-group <RESOURCE_GROUP> --name <APP_NAME> --src {zip}\n  \
         (create the app once, on Linux with the custom runtime: see docs/deploy-azure-functions.md)",
        settings = settings.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_follow_azure_rules() {
        assert!(check_function_name("hello").is_ok());
        assert!(check_function_name("busy-loop_2").is_ok());
        for bad in ["", "2fast", "a b", "é", "api", "API", &"x".repeat(128)] {
            assert!(check_function_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn zip_deploy_paths_line_up() {
        let command = deploy_command(Path::new("/srv/dist/azure"), "hello", &[]);
        assert!(command.starts_with("cd /srv/dist/azure && func azure functionapp publish"));
        assert!(command.contains("zip -qr /srv/dist/hello-azure-functions.zip ."));
        assert!(command.contains("--src /srv/dist/hello-azure-functions.zip"));
    }
}

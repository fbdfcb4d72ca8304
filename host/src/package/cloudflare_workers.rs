//! `edgefn package --target cloudflare-workers`: an ES-module Worker bundle. The folder holds the
//! Worker's JavaScript (from `workers/src/`, compiled into `edgefn`), the function as
//! `function.wasm`, a `wrangler.toml` to deploy it (with a KV namespace binding per granted
//! key-value store), a `config.capnp` to run the same files locally with `workerd serve`, and a
//! `README.md` that says how.

mod component;
mod config;
mod readme;
mod settings;
mod sources;
mod wasm;

pub use component::{JCO_VARIABLE, JCO_VERSION};
pub use config::{
    CAPNP_VARS_MARKER, LOCAL_ADDRESS, PRIVATE_NETWORK_BINDING, PRIVATE_NETWORK_SERVICE,
    PUBLIC_NETWORK_SERVICE, SOCKET_NAME, worker_name,
};
pub use settings::{KV_BINDING_PREFIX, WorkersSettings, kv_binding};
pub use wasm::WASI_PREVIEW1_FUNCTIONS;

use super::{PackageReport, PackageRequest};
use crate::deploy::host::HostBuilder;
use crate::progress::step;
use crate::runtime::guest::{GuestKind, checks::guest_kind};
use crate::runtime::preinit::Snapshot;
use crate::runtime::spec::FunctionSpec;
use anyhow::Context as _;
use config::WorkerConfig;
use sources::BundleFile;
use std::io::Write as _;
use std::path::Path;

/// `compatibility_date` of the bundle. workerd refuses dates later than its own release, so this
/// stays at or before the date `workerd --version` prints for the version `workers/package.json`
/// pins (2026-11-17).
pub const COMPATIBILITY_DATE: &str = "2026-11-01";
/// File name of the function's module inside the bundle (imported by `worker.js`).
pub const WASM_FILE: &str = "function.wasm";
/// Linear memory a guest may grow to: the Workers memory limit (128 MB per isolate).
pub const MEMORY_LIMIT_BYTES: u64 = 128 << 20;
/// Deadline budget the bundle announces to the guest (`EDGEFN_DEADLINE_MS`): the paid plan's
/// default CPU limit. Only the platform's CPU limit actually stops a guest.
pub const DEFAULT_DEADLINE_MS: u64 = 30_000;
/// Compressed bundle size the Workers Free plan accepts.
pub const FREE_PLAN_LIMIT_BYTES: u64 = 3_000_000;
/// Compressed bundle size the Workers Paid plan accepts.
pub const PAID_PLAN_LIMIT_BYTES: u64 = 10_000_000;
/// Share of a limit from which the report warns that the bundle nears it.
const NEAR_LIMIT_PERCENT: u64 = 80;

/// Binding naming the function (`Context::function_name`); Workers do not tell a script its name.
pub const FUNCTION_NAME_BINDING: &str = "EDGEFN_FUNCTION_NAME";
/// Binding with the deadline budget in milliseconds.
pub const DEADLINE_BINDING: &str = "EDGEFN_DEADLINE_MS";

/// Writes the Worker bundle for `request` into `request.out`, with no variables of its own.
pub fn package(request: &PackageRequest) -> anyhow::Result<PackageReport> {
    package_with(request, &WorkersSettings::default())
}

/// Writes the Worker bundle for `request` into `request.out`, bound to `settings`' variables and
/// key-value stores.
pub fn package_with(
    request: &PackageRequest,
    settings: &WorkersSettings,
) -> anyhow::Result<PackageReport> {
    let name = &request.name;
    let original = std::fs::read(&request.wasm)
        .with_context(|| format!("cannot read {}", request.wasm.display()))?;
    let refused = || format!("function {name:?} ({}) was refused", request.wasm.display());
    let out = &request.out;
    let function = match guest_kind(&original).with_context(refused)? {
        GuestKind::AbiV1 => {
            wasm::check_module(name, &original, MEMORY_LIMIT_BYTES)?;
            let module = if settings.init_per_instance() {
                original
            } else {
                pre_initialized(request, original)?
            };
            let capped = wasm::cap_memory(&module, MEMORY_LIMIT_BYTES)
                .with_context(|| format!("cannot cap the memory of function {name:?}"))?;
            write_file(out, WASM_FILE, &capped)?;
            Function {
                entry: &sources::ENTRY,
                modules: sources::MODULES.iter().collect(),
                notices: sources::NOTICES.iter().collect(),
                generated: Vec::new(),
                wasm: vec![(WASM_FILE.to_owned(), capped)],
            }
        }
        GuestKind::WasiHttp => {
            let transpiled = component::transpile(name, &request.wasm, out, MEMORY_LIMIT_BYTES)?;
            Function {
                entry: &sources::COMPONENT_ENTRY,
                modules: sources::MODULES
                    .iter()
                    .chain(sources::COMPONENT_MODULES)
                    .collect(),
                notices: sources::NOTICES
                    .iter()
                    .chain(sources::COMPONENT_NOTICES)
                    .collect(),
                generated: transpiled
                    .modules
                    .into_iter()
                    .zip(transpiled.sources)
                    .collect(),
                wasm: transpiled.wasm,
            }
        }
    };
    for file in std::iter::once(function.entry)
        .chain(function.modules.iter().copied())
        .chain(function.notices.iter().copied())
    {
        write_file(out, file.path, file.contents.as_bytes())?;
    }

    let worker_name = worker_name(name);
    let mut vars = vec![
        (FUNCTION_NAME_BINDING, name.clone()),
        (DEADLINE_BINDING, DEFAULT_DEADLINE_MS.to_string()),
    ];
    for (key, value) in settings.vars() {
        match vars.iter_mut().find(|(k, _)| k == key) {
            Some(existing) => existing.1.clone_from(value),
            None => vars.push((key, value.clone())),
        }
    }
    let config = WorkerConfig {
        worker_name: &worker_name,
        main: function.entry.path,
        modules: function
            .modules
            .iter()
            .map(|f| f.path)
            .chain(function.generated.iter().map(|(path, _)| path.as_str()))
            .collect(),
        wasm: function
            .wasm
            .iter()
            .map(|(path, _)| path.as_str())
            .collect(),
        compatibility_date: COMPATIBILITY_DATE,
        vars,
        kv_stores: settings.stores().iter().map(String::as_str).collect(),
        cpu_ms: settings.cpu_ms(),
    };
    write_file(
        out,
        "wrangler.toml",
        config::wrangler_toml(&config).as_bytes(),
    )?;
    write_file(
        out,
        "config.capnp",
        config::workerd_capnp(&config).as_bytes(),
    )?;
    write_file(
        out,
        "README.md",
        readme::readme(name, &worker_name).as_bytes(),
    )?;

    // What Cloudflare counts: the uploaded modules, compressed.
    let uploaded = std::iter::once(function.entry)
        .chain(function.modules.iter().copied())
        .map(|f| f.contents.as_bytes())
        .chain(
            function
                .generated
                .iter()
                .map(|(_, source)| source.as_slice()),
        )
        .chain(function.wasm.iter().map(|(_, bytes)| bytes.as_slice()));
    let compressed = gzip_size(uploaded)?;
    let mut warnings = size_warnings(compressed);
    // wrangler refuses to deploy until each placeholder id is a namespace's.
    for store in settings.stores() {
        warnings.push(format!(
            "store {store:?} needs a KV namespace: run `npx wrangler kv namespace create {store}` and put the id it prints in wrangler.toml ([[kv_namespaces]] binding = \"{}\", id = ...); functions sharing the store use the same id",
            kv_binding(store)
        ));
    }
    Ok(PackageReport {
        artifact: out.clone(),
        size_bytes: compressed,
        deploy_command: format!("cd {} && npx wrangler deploy", out.display()),
        warnings,
    })
}

/// What a bundle holds for one function: the entry and adapter modules, the licences they need,
/// modules generated for this function (path, source) and its core modules (path, contents).
struct Function {
    entry: &'static BundleFile,
    modules: Vec<&'static BundleFile>,
    notices: Vec<&'static BundleFile>,
    generated: Vec<(String, Vec<u8>)>,
    wasm: Vec<(String, Vec<u8>)>,
}

/// `original`'s deploy-time snapshot when it exports an init, as the edgefn host would run it, so
/// a Worker's fresh instance starts from it too; else (no init, or no snapshot could be taken) `original`.
fn pre_initialized(request: &PackageRequest, original: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let spec = FunctionSpec::new(request.name.as_str(), &request.wasm)?;
    // Nothing is compiled or cached: the registry only runs the init.
    let scratch = std::env::temp_dir().join(format!("edgefn-preinit-{}", std::process::id()));
    let snapshot = HostBuilder::new(&scratch).initialized_module(&spec, &original);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(match snapshot? {
        Some(Snapshot::Taken(snapshot)) => {
            step("pre-initialized the module: the Worker's instances start from its snapshot");
            snapshot
        }
        // Pre-initialization has logged why not.
        Some(Snapshot::NotTaken(_)) | None => original,
    })
}

fn write_file(dir: &Path, relative: &str, contents: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))
}

/// Size of `parts`, concatenated and gzip-compressed at the default level (as wrangler measures).
pub fn gzip_size<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> anyhow::Result<u64> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for part in parts {
        encoder.write_all(part)?;
    }
    Ok(encoder.finish()?.len() as u64)
}

/// Warnings for a bundle of `compressed` bytes near or over the Workers size limits.
pub fn size_warnings(compressed: u64) -> Vec<String> {
    let near = |limit: u64| compressed * 100 >= limit * NEAR_LIMIT_PERCENT;
    let mb = |bytes: u64| format!("{:.2} MB", bytes as f64 / 1e6);
    let size = mb(compressed);
    let warning = if compressed > PAID_PLAN_LIMIT_BYTES {
        format!(
            "the bundle is {size} compressed, over the Workers limit of {} even on the Paid plan: shrink the module (opt-level = \"s\", lto, strip, fewer dependencies)",
            mb(PAID_PLAN_LIMIT_BYTES)
        )
    } else if near(PAID_PLAN_LIMIT_BYTES) {
        format!(
            "the bundle is {size} compressed, near the Paid plan's limit of {}",
            mb(PAID_PLAN_LIMIT_BYTES)
        )
    } else if compressed > FREE_PLAN_LIMIT_BYTES {
        format!(
            "the bundle is {size} compressed, over the Free plan's limit of {}: it deploys on the Paid plan only",
            mb(FREE_PLAN_LIMIT_BYTES)
        )
    } else if near(FREE_PLAN_LIMIT_BYTES) {
        format!(
            "the bundle is {size} compressed, near the Free plan's limit of {}",
            mb(FREE_PLAN_LIMIT_BYTES)
        )
    } else {
        return Vec::new();
    };
    vec![warning]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_near_and_over_each_plan_limit() {
        assert!(size_warnings(200_000).is_empty());
        assert!(size_warnings(2_500_000)[0].contains("near the Free plan"));
        assert!(size_warnings(3_500_000)[0].contains("Paid plan only"));
        assert!(size_warnings(9_000_000)[0].contains("near the Paid plan"));
        assert!(size_warnings(12_000_000)[0].contains("even on the Paid plan"));
    }

    #[test]
    fn gzip_size_is_smaller_for_repetitive_input() {
        let zeros = vec![0u8; 100_000];
        assert!(gzip_size([zeros.as_slice()]).unwrap() < 1_000);
    }

    #[test]
    fn the_bundle_lists_every_module_the_javascript_imports() {
        let module_bundle: Vec<&BundleFile> = std::iter::once(&sources::ENTRY)
            .chain(sources::MODULES)
            .collect();
        assert_lists_its_imports(&module_bundle, &[WASM_FILE]);
        let component_bundle: Vec<&BundleFile> = std::iter::once(&sources::COMPONENT_ENTRY)
            .chain(sources::MODULES)
            .chain(sources::COMPONENT_MODULES)
            .collect();
        assert_lists_its_imports(&component_bundle, &[component::MODULES_FILE]);
    }

    /// Every relative import of `files` is one of them or of `generated`.
    fn assert_lists_its_imports(files: &[&BundleFile], generated: &[&str]) {
        let listed: Vec<&str> = files
            .iter()
            .map(|f| f.path)
            .chain(generated.iter().copied())
            .collect();
        for file in files {
            let dir = Path::new(file.path).parent().unwrap();
            for import in relative_imports(file.contents) {
                let target = normalize(&dir.join(import));
                assert!(
                    listed.contains(&target.as_str()),
                    "{} imports {import}, which the bundle does not list",
                    file.path
                );
            }
        }
    }

    #[test]
    fn the_adapter_uses_the_private_network_binding_config_capnp_declares() {
        let outbound_config = sources::MODULES
            .iter()
            .find(|f| f.path == "capabilities/outbound_config.js")
            .expect("outbound_config.js is bundled");
        assert!(
            outbound_config
                .contents
                .contains(&format!("PRIVATE_NETWORK: \"{PRIVATE_NETWORK_BINDING}\"")),
            "workers/src/capabilities/outbound_config.js names the binding {PRIVATE_NETWORK_BINDING}"
        );
    }

    fn relative_imports(source: &str) -> Vec<&str> {
        source
            .split("from")
            .skip(1)
            .filter_map(|rest| {
                let rest = rest.trim_start();
                let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
                let inner = &rest[1..];
                let end = inner.find(quote)?;
                Some(&inner[..end]).filter(|s| s.starts_with("./") || s.starts_with("../"))
            })
            .collect()
    }

    fn normalize(path: &Path) -> String {
        let mut parts: Vec<String> = Vec::new();
        for part in path.components() {
            match part {
                std::path::Component::ParentDir => {
                    parts.pop();
                }
                std::path::Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
                _ => {}
            }
        }
        parts.join("/")
    }
}

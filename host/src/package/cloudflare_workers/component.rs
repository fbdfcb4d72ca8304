//! A `wasi:http/proxy` component for a Worker: jco transpiles it into core modules and the
//! JavaScript that instantiates them (Workers run core WebAssembly only), with JSPI for every WASI
//! import that may block, so outbound HTTP and body reads suspend the guest instead of failing.
//!
//! jco runs as a program (Node), not as the `js-component-bindgen` crate: the crate's current
//! releases need wasmtime-environ 49 and Rust 1.96, and would put a second wasmparser and
//! wit-component into every `edgefn` binary, Lambda's included, for a step only Workers packages
//! take. Anyone deploying a Worker has Node for wrangler already.

use super::wasm;
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment variable naming the jco executable, when it is not `jco` on `PATH`.
pub const JCO_VARIABLE: &str = "EDGEFN_JCO";
/// The jco release the adapter is tested with (`workers/package.json`).
pub const JCO_VERSION: &str = "1.35.0";
/// Folder of the bundle the transpiled component goes into.
pub(super) const COMPONENT_DIR: &str = "component";
/// Base name jco gives the files (`function.js`, `function.core.wasm`, ...).
const NAME: &str = "function";
/// The generated module that lists the core modules for the entry (`workers/src/component.js`).
pub(super) const MODULES_FILE: &str = "component/modules.js";

/// What transpiling wrote: the ES modules and core modules, as paths inside the bundle.
pub(super) struct Transpiled {
    /// ES modules (the glue and `modules.js`), `/`-separated, inside the bundle.
    pub modules: Vec<String>,
    /// Core modules, each with its (memory-capped) contents.
    pub wasm: Vec<(String, Vec<u8>)>,
    /// The glue's source, for the size report.
    pub sources: Vec<Vec<u8>>,
}

/// Transpiles the component at `path` into `out/component/`, capping each core module's memory at
/// `memory_cap` bytes.
pub(super) fn transpile(
    name: &str,
    path: &Path,
    out: &Path,
    memory_cap: u64,
) -> anyhow::Result<Transpiled> {
    let jco = find_jco()?;
    let dir = out.join(COMPONENT_DIR);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    tracing::info!(function = name, jco = %jco.display(), "transpiling the component with jco");
    let output = Command::new(&jco)
        .arg("transpile")
        .arg(path)
        .arg("--out-dir")
        .arg(&dir)
        .args(["--name", NAME])
        // Workers compile WebAssembly at deploy time only: the entry hands over compiled modules.
        .args([
            "--instantiation",
            "async",
            "--no-nodejs-compat",
            "--no-typescript",
        ])
        // Blocking WASI calls (a body read, an outbound request) suspend the guest through JSPI.
        .args([
            "--async-mode",
            "jspi",
            "--async-wasi-imports",
            "--async-wasi-exports",
            "--quiet",
        ])
        .output()
        .with_context(|| format!("cannot run jco ({})", jco.display()))?;
    if !output.status.success() {
        bail!(
            "jco could not transpile function {name:?} ({}): {}{}",
            path.display(),
            String::from_utf8_lossy(&output.stderr).trim(),
            String::from_utf8_lossy(&output.stdout).trim()
        );
    }

    let glue_path = dir.join(format!("{NAME}.js"));
    let glue = std::fs::read(&glue_path)
        .with_context(|| format!("jco wrote no {}", glue_path.display()))?;
    let mut core: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|file| file.ends_with(".wasm"))
        .collect();
    core.sort();
    let mut wasm_files = Vec::new();
    for file in &core {
        let on_disk = dir.join(file);
        let bytes = std::fs::read(&on_disk)
            .with_context(|| format!("cannot read {}", on_disk.display()))?;
        let capped = if wasm::defines_memory(&bytes) {
            wasm::cap_memory(&bytes, memory_cap)
                .with_context(|| format!("cannot cap the memory of {file} of function {name:?}"))?
        } else {
            bytes
        };
        std::fs::write(&on_disk, &capped)
            .with_context(|| format!("cannot write {}", on_disk.display()))?;
        wasm_files.push((format!("{COMPONENT_DIR}/{file}"), capped));
    }

    let modules_js = modules_js(&core);
    std::fs::write(out.join(MODULES_FILE), &modules_js)
        .with_context(|| format!("cannot write {MODULES_FILE}"))?;
    Ok(Transpiled {
        modules: vec![
            format!("{COMPONENT_DIR}/{NAME}.js"),
            MODULES_FILE.to_owned(),
        ],
        wasm: wasm_files,
        sources: vec![glue, modules_js.into_bytes()],
    })
}

/// `component/modules.js`: imports each core module (compiled at deploy time) under the name the
/// glue asks for, and re-exports the glue's `instantiate`.
fn modules_js(core: &[String]) -> String {
    let mut out = String::from(
        "// Generated by `edgefn package`: the component's core modules, compiled by the platform at\n// deploy time, under the names jco's glue asks for.\n",
    );
    for (i, file) in core.iter().enumerate() {
        out.push_str(&format!("import core{i} from \"./{file}\";\n"));
    }
    out.push_str(&format!("export {{ instantiate }} from \"./{NAME}.js\";\n"));
    out.push_str("export const CORE_MODULES = {\n");
    for (i, file) in core.iter().enumerate() {
        out.push_str(&format!("  \"{file}\": core{i},\n"));
    }
    out.push_str("};\n");
    out
}

/// The jco to run: `EDGEFN_JCO`, else `jco` on `PATH`.
fn find_jco() -> anyhow::Result<PathBuf> {
    let missing = || {
        format!(
            "packaging a wasi:http component for Cloudflare Workers needs jco (Node 20 or later): `npm install -g @bytecodealliance/jco@{JCO_VERSION}`, or set {JCO_VARIABLE} to its path"
        )
    };
    if let Some(configured) = std::env::var_os(JCO_VARIABLE) {
        let path = PathBuf::from(configured);
        if !path.is_file() {
            bail!(
                "{JCO_VARIABLE}={} is not a file: {}",
                path.display(),
                missing()
            );
        }
        return Ok(path);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("jco"))
                .find(|candidate| candidate.is_file())
        })
        .with_context(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_js_names_each_core_module_as_the_glue_asks() {
        let js = modules_js(&["function.core.wasm".into(), "function.core2.wasm".into()]);
        assert!(js.contains("import core1 from \"./function.core2.wasm\";"));
        assert!(js.contains("\"function.core.wasm\": core0,"));
        assert!(js.contains("export { instantiate } from \"./function.js\";"));
    }
}

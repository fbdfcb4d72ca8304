//! Static checks on a binary's bytes, done once at deploy before anything is compiled: what kind of
//! guest it is, and what no guest may declare (a start function, several memories, imported
//! memories or tables, a table larger than any guest may grow one).

use super::GuestKind;
use super::wasi_http::{INCOMING_HANDLER, PROXY_WORLD};
use crate::runtime::capabilities::{EDGEFN_V1_IMPORTS, import_modules_listed};
use crate::runtime::limits::MAX_TABLE_ELEMENTS;
use anyhow::{Context as _, bail};
use edgefn_abi::INIT_EXPORT;
use edgefn_abi::imports::MODULE as EDGEFN_V1;

/// Tells what kind of guest `wasm` is, refusing files that are no guest at all before the
/// compiler sees them, with a plain reason.
pub(crate) fn guest_kind(wasm: &[u8]) -> anyhow::Result<GuestKind> {
    const MAGIC: &[u8] = b"\0asm";
    if wasm.len() < 8 || &wasm[..4] != MAGIC {
        bail!("it is not a WebAssembly module (a .wasm file starts with the bytes \\0asm)");
    }
    match wasm[4..8] {
        [1, 0, 0, 0] => Ok(GuestKind::AbiV1),
        // Component model binary: version 0x0d, layer 1.
        [0x0d, 0, 1, 0] => {
            check_world(wasm)?;
            Ok(GuestKind::WasiHttp)
        }
        _ => bail!(
            "it is a WebAssembly binary of an unknown version; edgefn runs core modules built with the edgefn SDK (wasm32-wasip1) and {PROXY_WORLD} components (wasm32-wasip2)"
        ),
    }
}

/// Refuses a component that does not export `wasi:http/incoming-handler@0.2.x`, naming the
/// world it exports instead (as far as its exports tell) and the one expected.
fn check_world(wasm: &[u8]) -> anyhow::Result<()> {
    use wasmparser::{Parser, Payload};
    let mut exports = Vec::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.context("it is not a valid WebAssembly component")? {
            // Exports of nested components and modules are theirs, not this component's.
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentExportSection(section) if depth == 0 => {
                for export in section {
                    exports.push(export?.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    let handler = |name: &String| {
        name.strip_prefix(INCOMING_HANDLER)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    };
    if exports.iter().any(handler) {
        return Ok(());
    }
    let world = if exports.iter().any(|e| e.starts_with("wasi:cli/run@")) {
        "the wasi:cli/command world".to_owned()
    } else if exports.is_empty() {
        "no interface at all".to_owned()
    } else {
        format!("a world of its own ({})", exports.join(", "))
    };
    bail!(
        "it is a component that exports {world}, but edgefn runs components of the {PROXY_WORLD} world (exporting {INCOMING_HANDLER}.x): build it as a wasi:http/proxy component (Rust: wasm32-wasip2 with wasip2::http::proxy::export!)"
    )
}

/// Static checks on the module's bytes, done once at deploy, for what the ABI checks on the
/// compiled module cannot see: a start function (it would run, unbounded by anything the user
/// configured, before every request), more than one memory, an imported memory or table, a
/// table larger than any guest may grow one, or an `edgefn_v1` import this host does not provide
/// (a module built for a newer edgefn). Returns what deploy needs to know about the module.
pub(crate) fn check_sections(name: &str, wasm: &[u8]) -> anyhow::Result<ModuleFacts> {
    use wasmparser::{ExternalKind, Parser, Payload, TypeRef};
    let mut memories = 0u32;
    let mut facts = ModuleFacts::default();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload
            .with_context(|| format!("function {name:?} is not a valid WebAssembly module"))?
        {
            Payload::StartSection { .. } => bail!(
                "function {name:?} has a start function; edgefn modules initialise in the exported _initialize (a Rust or Go reactor does), so the host can bound and report it"
            ),
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    let import = import?;
                    if import.module == EDGEFN_V1 && !EDGEFN_V1_IMPORTS.contains(&import.name) {
                        bail!(
                            "function {name:?} imports {EDGEFN_V1}.{}, which this host (edgefn {}) does not provide: upgrade edgefn",
                            import.name,
                            env!("CARGO_PKG_VERSION")
                        );
                    }
                    if matches!(import.ty, TypeRef::Memory(_) | TypeRef::Table(_)) {
                        bail!(
                            "function {name:?} imports {}::{} as a memory or table; edgefn provides only functions, from {}",
                            import.module,
                            import.name,
                            import_modules_listed()
                        );
                    }
                }
            }
            Payload::MemorySection(section) => memories += section.count(),
            Payload::ExportSection(exports) => {
                for export in exports {
                    let export = export?;
                    facts.exports_init |=
                        export.name == INIT_EXPORT && export.kind == ExternalKind::Func;
                }
            }
            Payload::TableSection(tables) => {
                for table in tables {
                    let table = table?;
                    if table.ty.initial > MAX_TABLE_ELEMENTS as u64 {
                        bail!(
                            "function {name:?} declares a table of {} elements, more than the {} any guest may have",
                            table.ty.initial,
                            MAX_TABLE_ELEMENTS
                        );
                    }
                }
            }
            _ => {}
        }
    }
    if memories > 1 {
        bail!("function {name:?} declares {memories} memories; edgefn guests have exactly one");
    }
    Ok(facts)
}

/// What [`check_sections`] learned about a module.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ModuleFacts {
    /// It exports `edgefn_v1_init`, so it can be pre-initialized.
    pub exports_init: bool,
}

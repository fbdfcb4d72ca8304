//! A function ready to run: its module checked against ABI v1 and pre-instantiated (`InstancePre`),
//! with its exports looked up once.

use crate::config::FunctionSpec;
use crate::invoke::HostState;
use crate::metrics::FunctionMetrics;
use crate::warm::WarmPool;
use anyhow::{Context as _, bail};
use edgefn_abi::{ABI_VERSION, ALLOC_EXPORT, EXPORT_PREFIX, HANDLE_EXPORT, INIT_EXPORT};
use std::sync::Arc;
use wasmtime::{ExternType, InstancePre, Linker, Module, ModuleExport, ValType};

/// Export indices of the ABI v1 entry points, resolved once per module.
#[derive(Clone)]
pub struct AbiExports {
    /// `memory`.
    pub memory: ModuleExport,
    /// `edgefn_v1_alloc`.
    pub alloc: ModuleExport,
    /// `edgefn_v1_handle`.
    pub handle: ModuleExport,
    /// `_initialize`, the reactor constructor, when the module has one.
    pub initialize: Option<ModuleExport>,
    /// `edgefn_v1_init`, when the module has one and was not pre-initialized (a snapshot no
    /// longer exports it).
    pub init: Option<ModuleExport>,
}

/// A deployed function's module, ready for fresh instances.
pub struct LoadedFunction {
    /// The function's configuration.
    pub spec: Arc<FunctionSpec>,
    /// The module, linked against the host's WASI.
    pub pre: InstancePre<HostState>,
    /// Its ABI entry points.
    pub exports: AbiExports,
    /// Live instances kept for reuse (empty unless the function opted into warm mode).
    pub warm: WarmPool,
    /// Where its invocations are counted.
    pub metrics: Arc<FunctionMetrics>,
}

fn func_signature(module: &Module, name: &str) -> Option<(Vec<ValType>, Vec<ValType>)> {
    match module.get_export(name)? {
        ExternType::Func(f) => Some((f.params().collect(), f.results().collect())),
        _ => None,
    }
}

fn same_types(got: &[ValType], want: &[ValType]) -> bool {
    got.len() == want.len() && got.iter().zip(want).all(|(a, b)| ValType::eq(a, b))
}

/// Checks that `module` implements edgefn ABI v1 and returns its entry points. Errors name the
/// function and say what was expected.
pub fn check_abi(name: &str, module: &Module, memory_cap: u64) -> anyhow::Result<AbiExports> {
    // A command whose runtime only starts in _start (Go without -buildmode=c-shared) would export
    // the handler yet fail every request; refuse it here, with the fix.
    if module.get_export("_start").is_some() {
        bail!(
            "function {name:?} is a WASI command (it exports _start), not an edgefn function: build it as a library (Rust: crate-type = [\"cdylib\"]; Go: -buildmode=c-shared) and export the handler with the SDK"
        );
    }
    if module.get_export(HANDLE_EXPORT).is_none() {
        let other_versions: Vec<String> = module
            .exports()
            .filter_map(|e| e.name().strip_prefix(EXPORT_PREFIX))
            .filter_map(|rest| rest.split('_').next())
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .map(|v| format!("v{v}"))
            .collect();
        if let Some(version) = other_versions.first() {
            bail!(
                "function {name:?} speaks edgefn ABI {version}, but this host supports ABI v{ABI_VERSION}: rebuild it against an SDK for v{ABI_VERSION} or upgrade edgefn"
            );
        }
        bail!(
            "function {name:?} does not export {HANDLE_EXPORT}: it is not an edgefn ABI v{ABI_VERSION} module (export the handler with edgefn::export!)"
        );
    }
    use ValType::{I32, I64};
    let expect =
        |export: &str, params: &[ValType], results: &[ValType], shown: &str| match func_signature(
            module, export,
        ) {
            Some((p, r)) if same_types(&p, params) && same_types(&r, results) => Ok(()),
            Some(_) => {
                bail!("function {name:?}: export {export} has the wrong type; ABI v1 wants {shown}")
            }
            None => bail!("function {name:?}: export {export} is missing; ABI v1 wants {shown}"),
        };
    expect(
        HANDLE_EXPORT,
        &[I32, I32],
        &[I64],
        "(func (param i32 i32) (result i64))",
    )?;
    expect(
        ALLOC_EXPORT,
        &[I32],
        &[I32],
        "(func (param i32) (result i32))",
    )?;
    match module.get_export("memory") {
        Some(ExternType::Memory(memory)) => {
            if memory.is_64() || memory.is_shared() {
                bail!("function {name:?}: its memory must be a plain 32-bit, unshared memory");
            }
            let declared = memory.minimum().saturating_mul(memory.page_size());
            if declared > memory_cap {
                bail!(
                    "function {name:?} declares {} MiB of initial memory, more than its limit of {} MiB: raise limits.memory_mb or shrink the module",
                    declared >> 20,
                    memory_cap >> 20
                );
            }
        }
        _ => bail!("function {name:?} does not export its linear memory as \"memory\""),
    }
    for constructor in ["_initialize", INIT_EXPORT] {
        if let Some(ExternType::Func(f)) = module.get_export(constructor)
            && (f.params().len() != 0 || f.results().len() != 0)
        {
            bail!("function {name:?}: {constructor} must take and return nothing");
        }
    }
    let index = |export: &str| {
        module
            .get_export_index(export)
            .with_context(|| format!("function {name:?}: export {export} vanished"))
    };
    Ok(AbiExports {
        memory: index("memory")?,
        alloc: index(ALLOC_EXPORT)?,
        handle: index(HANDLE_EXPORT)?,
        initialize: optional_func(module, "_initialize"),
        init: optional_func(module, INIT_EXPORT),
    })
}

fn optional_func(module: &Module, name: &str) -> Option<ModuleExport> {
    match module.get_export(name)? {
        ExternType::Func(_) => module.get_export_index(name),
        _ => None,
    }
}

/// Static checks on the module's bytes, done once at deploy, for what the ABI checks on the
/// compiled module cannot see: a start function (it would run, unbounded by anything the user
/// configured, before every request), more than one memory, an imported memory or table, or a
/// table larger than any guest may grow one. Returns what deploy needs to know about the module.
pub fn check_sections(name: &str, wasm: &[u8]) -> anyhow::Result<ModuleFacts> {
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
                    if matches!(import.ty, TypeRef::Memory(_) | TypeRef::Table(_)) {
                        bail!(
                            "function {name:?} imports {}::{} as a memory or table; edgefn provides only functions from wasi_snapshot_preview1",
                            import.module,
                            import.name
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
                    if table.ty.initial > crate::invoke::MAX_TABLE_ELEMENTS as u64 {
                        bail!(
                            "function {name:?} declares a table of {} elements, more than the {} any guest may have",
                            table.ty.initial,
                            crate::invoke::MAX_TABLE_ELEMENTS
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
pub struct ModuleFacts {
    /// It exports `edgefn_v1_init`, so it can be pre-initialized.
    pub exports_init: bool,
}

impl LoadedFunction {
    /// Checks the module's ABI and links it. Unknown imports are refused here, at load, with the
    /// import named, never at the first request.
    pub fn new(
        spec: Arc<FunctionSpec>,
        module: &Module,
        linker: &Linker<HostState>,
        metrics: Arc<FunctionMetrics>,
    ) -> anyhow::Result<LoadedFunction> {
        let exports = check_abi(&spec.name, module, spec.limits.memory_bytes)?;
        let pre = linker.instantiate_pre(module).map_err(|e| {
            anyhow::anyhow!(
                "function {:?} cannot be linked: {e} (edgefn provides only WASI preview 1, wasi_snapshot_preview1)",
                spec.name
            )
        })?;
        let warm = WarmPool::new(spec.warm.clone());
        Ok(LoadedFunction {
            spec,
            pre,
            exports,
            warm,
            metrics,
        })
    }
}

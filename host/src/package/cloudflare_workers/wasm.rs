//! The function's module as it goes into a Worker: checked at package time (ABI v1 exports, WASI
//! preview 1 and `edgefn_v1` imports only), so a bad module fails here rather than at the first
//! request after a deploy, and with its linear memory capped so a runaway guest traps instead of
//! growing the isolate past the platform's limit.

use crate::runtime::guest::abi_v1_exports::{ExportShape, Scalar, check_exports};
use anyhow::{Context as _, bail};
use edgefn_abi::imports as edgefn_v1;
use wasmparser::types::{EntityType, Types};
use wasmparser::{FuncType, ValType, Validator};

/// Bytes of one WebAssembly page.
const PAGE_BYTES: u64 = 64 << 10;
/// Every `wasi_snapshot_preview1` function. The Worker's WASI shim (`workers/src/wasi.js`, on
/// `@bjorn3/browser_wasi_shim`) provides all of them.
pub const WASI_PREVIEW1_FUNCTIONS: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "fd_advise",
    "fd_allocate",
    "fd_close",
    "fd_datasync",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_fdstat_set_rights",
    "fd_filestat_get",
    "fd_filestat_set_size",
    "fd_filestat_set_times",
    "fd_pread",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_pwrite",
    "fd_read",
    "fd_readdir",
    "fd_renumber",
    "fd_seek",
    "fd_sync",
    "fd_tell",
    "fd_write",
    "path_create_directory",
    "path_filestat_get",
    "path_filestat_set_times",
    "path_link",
    "path_open",
    "path_readlink",
    "path_remove_directory",
    "path_rename",
    "path_symlink",
    "path_unlink_file",
    "poll_oneoff",
    "proc_exit",
    "proc_raise",
    "sched_yield",
    "random_get",
    "sock_accept",
    "sock_recv",
    "sock_send",
    "sock_shutdown",
];

/// The `edgefn_v1` imports the Worker provides (`workers/src/capabilities/`), with their types
/// (`docs/abi.md`, "Host imports"): every parameter is an `i32`, so the number of them and the
/// result.
fn edgefn_v1_type(name: &str) -> Option<(usize, ValType)> {
    match name {
        edgefn_v1::HTTP_SEND => Some((2, ValType::I64)),
        edgefn_v1::RESULT_READ | edgefn_v1::SNAPSHOT_DECLINE => Some((2, ValType::I32)),
        edgefn_v1::KV_GET | edgefn_v1::KV_DELETE | edgefn_v1::KV_EXISTS => Some((4, ValType::I64)),
        edgefn_v1::KV_SET | edgefn_v1::KV_LIST => Some((7, ValType::I64)),
        _ => None,
    }
}

fn has_type(ty: &FuncType, (params, result): &(usize, ValType)) -> bool {
    ty.params().len() == *params
        && ty.params().iter().all(|p| *p == ValType::I32)
        && ty.results() == [*result]
}

/// Checks that `wasm` is an edgefn ABI v1 module whose imports the Worker provides, with at most
/// `memory_cap` bytes of initial memory. Errors name the function and say what to change.
pub(super) fn check_module(name: &str, wasm: &[u8], memory_cap: u64) -> anyhow::Result<()> {
    // Validating, as the Workers runtime does at upload, yields every import's and export's type
    // without compiling the module (seconds for a Go guest).
    let types = Validator::new().validate_all(wasm).map_err(|e| {
        anyhow::anyhow!("function {name:?} is not a valid WebAssembly module: {e:#}")
    })?;
    check_exports(name, &export_shapes(&types), memory_cap)?;
    for (module_name, import_name, ty) in types.as_ref().core_imports().into_iter().flatten() {
        let Some(ty) = func_type(&types, ty) else {
            bail!(
                "function {name:?} imports {module_name}.{import_name}, which is not a function: a Worker provides only functions"
            );
        };
        let provided = match module_name {
            "wasi_snapshot_preview1" => WASI_PREVIEW1_FUNCTIONS.contains(&import_name),
            edgefn_v1::MODULE => {
                let Some(expected) = edgefn_v1_type(import_name) else {
                    bail!(
                        "function {name:?} imports {module_name}.{import_name}, which this edgefn ({}) does not provide: upgrade edgefn (it provides {})",
                        env!("CARGO_PKG_VERSION"),
                        edgefn_v1::ALL.join(", ")
                    );
                };
                if !has_type(ty, &expected) {
                    bail!(
                        "function {name:?} imports {module_name}.{import_name} with the type (type {ty}), but it is {}: rebuild it against an edgefn SDK",
                        describe(&expected)
                    );
                }
                true
            }
            _ => false,
        };
        if !provided {
            bail!(
                "function {name:?} imports {module_name}.{import_name}, which a Worker cannot provide: edgefn functions may import only WASI preview 1 (wasi_snapshot_preview1) and edgefn_v1 functions"
            );
        }
    }
    Ok(())
}

fn func_type(types: &Types, ty: EntityType) -> Option<&FuncType> {
    match ty {
        EntityType::Func(id) | EntityType::FuncExact(id) => Some(types[id].unwrap_func()),
        _ => None,
    }
}

/// The module's exports as the ABI v1 rules see them.
fn export_shapes(types: &Types) -> Vec<(&str, ExportShape)> {
    let scalar = |ty: &ValType| match ty {
        ValType::I32 => Scalar::I32,
        ValType::I64 => Scalar::I64,
        _ => Scalar::Other,
    };
    types
        .as_ref()
        .core_exports()
        .into_iter()
        .flatten()
        .map(|(name, ty)| {
            let shape = match ty {
                EntityType::Memory(memory) => ExportShape::Memory {
                    plain: !memory.memory64 && !memory.shared,
                    initial_bytes: memory.initial.saturating_mul(u64::from(memory.page_size())),
                },
                ty => match func_type(types, ty) {
                    Some(f) => ExportShape::Func {
                        params: f.params().iter().map(scalar).collect(),
                        results: f.results().iter().map(scalar).collect(),
                    },
                    None => ExportShape::Other,
                },
            };
            (name, shape)
        })
        .collect()
}

fn describe((params, result): &(usize, ValType)) -> String {
    let params = vec!["i32"; *params];
    format!("(func (param {}) (result {result}))", params.join(" "))
}

/// Whether the core module `wasm` defines a linear memory of its own (jco's small adapter modules
/// import theirs).
pub(super) fn defines_memory(wasm: &[u8]) -> bool {
    wasmparser::Parser::new(0).parse_all(wasm).any(
        |payload| matches!(payload, Ok(wasmparser::Payload::MemorySection(s)) if s.count() > 0),
    )
}

/// Returns `wasm` with the maximum of its (single, 32-bit) linear memory lowered to `cap` bytes.
/// Everything else stays byte for byte. V8 then refuses `memory.grow` past the cap, so a guest that
/// allocates without bound traps (a 500) instead of growing until the platform kills the isolate.
pub(super) fn cap_memory(wasm: &[u8], cap: u64) -> anyhow::Result<Vec<u8>> {
    const HEADER: usize = 8;
    const MEMORY_SECTION: u8 = 5;
    if wasm.len() < HEADER || &wasm[..4] != b"\0asm" {
        bail!("not a WebAssembly module (no \\0asm header)");
    }
    let cap_pages = cap / PAGE_BYTES;
    let mut at = HEADER;
    while at < wasm.len() {
        let start = at;
        let id = wasm[at];
        at += 1;
        let size = read_leb_u32(wasm, &mut at)? as usize;
        let end = at
            .checked_add(size)
            .filter(|&end| end <= wasm.len())
            .context("a section runs past the end of the module")?;
        if id == MEMORY_SECTION {
            let memory = capped_memory_section(&wasm[at..end], cap_pages)?;
            let mut out = Vec::with_capacity(wasm.len() + 8);
            out.extend_from_slice(&wasm[..start]);
            out.push(MEMORY_SECTION);
            write_leb_u32(&mut out, memory.len() as u32);
            out.extend_from_slice(&memory);
            out.extend_from_slice(&wasm[end..]);
            return Ok(out);
        }
        at = end;
    }
    bail!("the module defines no linear memory of its own (an imported memory cannot be capped)")
}

/// Rewrites a memory section's single `limits` to `min..=min(max, cap_pages)`.
fn capped_memory_section(section: &[u8], cap_pages: u64) -> anyhow::Result<Vec<u8>> {
    const MIN_ONLY: u8 = 0x00;
    const MIN_MAX: u8 = 0x01;
    let mut at = 0;
    if read_leb_u32(section, &mut at)? != 1 {
        bail!("the module defines more than one linear memory; edgefn functions have exactly one");
    }
    let flags = *section.get(at).context("truncated memory section")?;
    at += 1;
    if flags != MIN_ONLY && flags != MIN_MAX {
        bail!(
            "the module's memory is shared, 64-bit or has custom pages; edgefn needs a plain 32-bit memory"
        );
    }
    let min = u64::from(read_leb_u32(section, &mut at)?);
    let max = if flags == MIN_MAX {
        u64::from(read_leb_u32(section, &mut at)?)
    } else {
        u64::from(u32::MAX)
    };
    if at != section.len() {
        bail!("unexpected bytes after the memory limits");
    }
    if min > cap_pages {
        bail!(
            "the module declares {} MiB of initial memory, more than the Worker's {} MiB",
            (min * PAGE_BYTES) >> 20,
            (cap_pages * PAGE_BYTES) >> 20
        );
    }
    let mut out = vec![1, MIN_MAX];
    write_leb_u32(&mut out, min as u32);
    write_leb_u32(&mut out, max.min(cap_pages) as u32);
    Ok(out)
}

fn read_leb_u32(bytes: &[u8], at: &mut usize) -> anyhow::Result<u32> {
    let mut value: u64 = 0;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(*at).context("truncated LEB128 number")?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return u32::try_from(value).context("LEB128 number does not fit 32 bits");
        }
    }
    bail!("LEB128 number longer than 5 bytes")
}

fn write_leb_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Engine, ExternType, Module};

    fn memory_limits(wasm: &[u8]) -> (u64, Option<u64>) {
        let module = Module::new(&Engine::default(), wasm).unwrap();
        match module.get_export("memory") {
            Some(ExternType::Memory(m)) => (m.minimum(), m.maximum()),
            _ => panic!("no memory export"),
        }
    }

    fn module(memory: &str) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(module (memory (export "memory") {memory}) (func (export "f")) (data (i32.const 0) "x"))"#
        ))
        .unwrap()
    }

    #[test]
    fn caps_an_unbounded_memory_and_keeps_the_rest() {
        let wasm = module("17");
        let capped = cap_memory(&wasm, 128 << 20).unwrap();
        assert_eq!(memory_limits(&capped), (17, Some(2048)));
        let module = Module::new(&Engine::default(), &capped).unwrap();
        assert!(module.get_export("f").is_some());
    }

    #[test]
    fn keeps_a_lower_maximum() {
        let capped = cap_memory(&module("1 20"), 128 << 20).unwrap();
        assert_eq!(memory_limits(&capped), (1, Some(20)));
    }

    #[test]
    fn refuses_initial_memory_over_the_cap() {
        let error = cap_memory(&module("4000"), 128 << 20).unwrap_err();
        assert!(error.to_string().contains("initial memory"), "{error}");
    }

    fn importing(imports: &str) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(module {imports}
                 (memory (export "memory") 1)
                 (func (export "edgefn_v1_alloc") (param i32) (result i32) i32.const 0)
                 (func (export "edgefn_v1_handle") (param i32 i32) (result i64) i64.const 0))"#
        ))
        .unwrap()
    }

    #[test]
    fn accepts_the_edgefn_v1_imports_the_worker_provides() {
        let wasm = importing(
            r#"(import "edgefn_v1" "http_send" (func (param i32 i32) (result i64)))
               (import "edgefn_v1" "result_read" (func (param i32 i32) (result i32)))
               (import "edgefn_v1" "kv_get" (func (param i32 i32 i32 i32) (result i64)))
               (import "edgefn_v1" "kv_set" (func (param i32 i32 i32 i32 i32 i32 i32) (result i64)))
               (import "edgefn_v1" "kv_delete" (func (param i32 i32 i32 i32) (result i64)))
               (import "edgefn_v1" "kv_exists" (func (param i32 i32 i32 i32) (result i64)))
               (import "edgefn_v1" "kv_list" (func (param i32 i32 i32 i32 i32 i32 i32) (result i64)))
               (import "edgefn_v1" "snapshot_decline" (func (param i32 i32) (result i32)))
               (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
        );
        check_module("fetcher", &wasm, 128 << 20).unwrap();
    }

    #[test]
    fn refuses_an_unknown_edgefn_v1_import_naming_it() {
        let wasm =
            importing(r#"(import "edgefn_v1" "queue_send" (func (param i32 i32) (result i64)))"#);
        let error = check_module("queue", &wasm, 128 << 20)
            .unwrap_err()
            .to_string();
        assert!(error.contains("edgefn_v1.queue_send"), "{error}");
        assert!(error.contains("upgrade edgefn"), "{error}");
    }

    #[test]
    fn refuses_an_edgefn_v1_import_of_the_wrong_type() {
        let wasm =
            importing(r#"(import "edgefn_v1" "http_send" (func (param i32 i32) (result i32)))"#);
        let error = check_module("typo", &wasm, 128 << 20)
            .unwrap_err()
            .to_string();
        assert!(error.contains("edgefn_v1.http_send"), "{error}");
        assert!(
            error.contains("with the type (type (func (param i32 i32) (result i32))), but it is (func (param i32 i32) (result i64))"),
            "{error}"
        );
        let wasm = importing(
            r#"(import "edgefn_v1" "kv_set" (func (param i32 i32 i32 i32) (result i64)))"#,
        );
        let error = check_module("typo", &wasm, 128 << 20)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("(func (param i32 i32 i32 i32 i32 i32 i32) (result i64))"),
            "{error}"
        );
    }

    #[test]
    fn refuses_imports_from_other_modules() {
        let wasm = importing(r#"(import "env" "now" (func (result i64)))"#);
        let error = check_module("env", &wasm, 128 << 20)
            .unwrap_err()
            .to_string();
        assert!(error.contains("env.now"), "{error}");
        assert!(error.contains("a Worker cannot provide"), "{error}");
    }

    #[test]
    fn refuses_an_invalid_module_naming_the_function() {
        // Well formed section by section, but a body returns an i64 where its type says i32.
        let wasm = importing(r#"(func (export "bad") (result i32) i64.const 0)"#);
        let error = check_module("broken", &wasm, 128 << 20)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(r#"function "broken" is not a valid WebAssembly module: "#),
            "{error}"
        );
        let error = check_module("cut", &wasm[..wasm.len() - 3], 128 << 20)
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a valid WebAssembly module"), "{error}");
    }

    #[test]
    fn makes_the_abi_checks_on_exports() {
        let refused = |module: &str, cap: u64| {
            let wasm = wat::parse_str(module).unwrap();
            check_module("f", &wasm, cap).unwrap_err().to_string()
        };
        let abi = r#"(func (export "edgefn_v1_alloc") (param i32) (result i32) i32.const 0)"#;
        let error = refused(
            &format!(r#"(module (memory (export "memory") 1) {abi} (func (export "_start")))"#),
            128 << 20,
        );
        assert!(error.contains("WASI command"), "{error}");
        let error = refused(
            r#"(module (memory (export "memory") 1) (func (export "edgefn_v2_handle")))"#,
            128 << 20,
        );
        assert!(error.contains("speaks edgefn ABI v2"), "{error}");
        let error = refused(
            &format!(
                r#"(module (memory (export "memory") 1) {abi} (func (export "edgefn_v1_handle") (param i32 i32) (result i32) i32.const 0))"#
            ),
            128 << 20,
        );
        assert!(
            error.contains("export edgefn_v1_handle has the wrong type"),
            "{error}"
        );
        let wasm = importing("");
        let error = check_module("f", &wasm, 0).unwrap_err().to_string();
        assert!(error.contains("MiB of initial memory"), "{error}");
        let wasm = importing(r#"(func (export "_initialize") (param i32))"#);
        let error = check_module("f", &wasm, 128 << 20).unwrap_err().to_string();
        assert!(
            error.contains("_initialize must take and return nothing"),
            "{error}"
        );
    }

    #[test]
    fn leb_round_trips() {
        for value in [0, 1, 127, 128, 16_384, u32::MAX] {
            let mut out = Vec::new();
            write_leb_u32(&mut out, value);
            assert_eq!(read_leb_u32(&out, &mut 0).unwrap(), value);
        }
    }
}

//! WASI preview 1 (`wasi_snapshot_preview1`): environment, clocks, random, stdout/stderr into the
//! log capture, and a read-only directory when granted. No sockets, no other files.

use crate::runtime::sandbox::HostState;
use wasmtime::Linker;

/// The import module guests name.
pub(crate) const IMPORT_MODULE: &str = "wasi_snapshot_preview1";

/// Adds WASI preview 1 to the linker (async, so a guest's fiber can yield inside a call).
pub(crate) fn link(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    wasmtime_wasi::p1::add_to_linker_async(linker, HostState::wasi)?;
    Ok(())
}

//! `edgefn_v1.result_read`, the pending-result rule every `edgefn_v1` import follows, and the
//! bounds-checked access to guest memory the imports share. Nothing a guest passes (a pointer past
//! memory, a length that overflows, a second read) traps or fails the host: it is error `-3`
//! (`invalid`), and memory is left alone.

use crate::runtime::sandbox::HostState;
use edgefn_abi::ImportError;
use edgefn_abi::imports::{MODULE, RESULT_READ};
use wasmtime::{Caller, Extern, Linker};

/// Adds `result_read` to the linker.
pub(crate) fn link(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    linker.func_wrap(
        MODULE,
        RESULT_READ,
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> i32 {
            result_read(&mut caller, ptr as u32, len as u32)
        },
    )?;
    Ok(())
}

/// Copies the whole pending result to `(ptr, len)` and clears it, returning its length; `-3`
/// when nothing is pending, when it does not fit in `len` (it stays pending), or when the range
/// is outside memory.
fn result_read(caller: &mut Caller<'_, HostState>, ptr: u32, len: u32) -> i32 {
    let invalid = ImportError::Invalid.code();
    // A result is capped far below 2 GiB (`MAX_OUTBOUND_RESPONSE_BYTES`), so its length fits.
    let Some(count) = caller
        .data()
        .imports
        .pending
        .as_ref()
        .and_then(|p| i32::try_from(p.len()).ok())
    else {
        return invalid;
    };
    let Some(pending) = caller.data_mut().imports.pending.take() else {
        return invalid;
    };
    if !write_guest(caller, ptr, len, &pending) {
        caller.data_mut().imports.pending = Some(pending);
        return invalid;
    }
    count
}

/// The guest's memory: kept when the instance was made, as looking the export up by name on
/// every access costs two hash lookups.
fn memory(caller: &mut Caller<'_, HostState>) -> Option<wasmtime::Memory> {
    caller
        .data()
        .imports
        .memory
        .or_else(|| caller.get_export("memory").and_then(Extern::into_memory))
}

/// A copy of `len` bytes of guest memory at `ptr`; `None` when the range is not inside memory.
pub(crate) fn read_guest(
    caller: &mut Caller<'_, HostState>,
    ptr: u32,
    len: u32,
) -> Option<Vec<u8>> {
    let memory = memory(caller)?;
    let start = ptr as usize;
    let end = start.checked_add(len as usize)?;
    memory.data(&*caller).get(start..end).map(<[u8]>::to_vec)
}

/// Writes `bytes` to guest memory at `ptr`, into the `len` bytes there; `false` (and nothing
/// written) when they do not fit in `len` or `(ptr, len)` is not inside memory.
fn write_guest(caller: &mut Caller<'_, HostState>, ptr: u32, len: u32, bytes: &[u8]) -> bool {
    let Some(memory) = memory(caller) else {
        return false;
    };
    let start = ptr as usize;
    let Some(end) = start.checked_add(len as usize) else {
        return false;
    };
    match memory.data_mut(&mut *caller).get_mut(start..end) {
        Some(target) if bytes.len() <= target.len() => {
            target[..bytes.len()].copy_from_slice(bytes);
            true
        }
        _ => false,
    }
}

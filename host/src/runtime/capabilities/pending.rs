//! `edgefn_v1.result_read`, the pending-result rule every `edgefn_v1` import follows, and the
//! bounds-checked access to guest memory the imports share. Nothing a guest passes (a pointer past
//! memory, a length that overflows, a second read) traps or fails the host: it is error `-3`
//! (`invalid`), and memory is left alone.

use crate::runtime::sandbox::HostState;
use edgefn_abi::imports::{MODULE, RESULT_READ};
use edgefn_abi::{HttpResponseEnvelope, ImportError};
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
    let Some(pending) = caller.data_mut().imports.pending.take() else {
        return invalid;
    };
    // A result is capped far below 2 GiB (`MAX_OUTBOUND_RESPONSE_BYTES`), so its length fits.
    let Ok(count) = i32::try_from(pending.len()) else {
        return invalid;
    };
    if !write_guest(caller, ptr, len, pending.len(), |out| {
        pending.write_into(out)
    }) {
        caller.data_mut().imports.pending = Some(pending);
        return invalid;
    }
    count
}

/// A result waiting for `result_read`.
pub(crate) enum Pending {
    /// Bytes to hand over as they are: an envelope or an error message.
    Bytes(Vec<u8>),
    /// An outbound response, encoded as its envelope (`len` bytes) straight into the guest's
    /// buffer: no copy of its body on the way.
    HttpResponse {
        response: http::Response<bytes::Bytes>,
        len: usize,
    },
}

impl Pending {
    /// An outbound response's envelope, to encode when the guest reads it.
    pub(crate) fn http_response(response: http::Response<bytes::Bytes>) -> Pending {
        let len = http_response_envelope(&response).encoded_len();
        Pending::HttpResponse { response, len }
    }

    /// The result's size in bytes, as the import that made it answers.
    pub(crate) fn len(&self) -> usize {
        match self {
            Pending::Bytes(bytes) => bytes.len(),
            Pending::HttpResponse { len, .. } => *len,
        }
    }

    /// Writes the result into `out`, which is [`Pending::len`] bytes.
    fn write_into(&self, out: &mut [u8]) {
        match self {
            Pending::Bytes(bytes) => out.copy_from_slice(bytes),
            Pending::HttpResponse { response, .. } => {
                http_response_envelope(response).encode_into(out);
            }
        }
    }
}

fn http_response_envelope(response: &http::Response<bytes::Bytes>) -> HttpResponseEnvelope<'_> {
    HttpResponseEnvelope {
        status: response.status().as_u16(),
        headers: response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect(),
        body: response.body(),
    }
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

/// Lets `write` fill `count` bytes of guest memory at `ptr`, into the `len` bytes there; `false`
/// (and nothing written) when they do not fit in `len` or `(ptr, len)` is not inside memory.
fn write_guest(
    caller: &mut Caller<'_, HostState>,
    ptr: u32,
    len: u32,
    count: usize,
    write: impl FnOnce(&mut [u8]),
) -> bool {
    let Some(memory) = memory(caller) else {
        return false;
    };
    let start = ptr as usize;
    let Some(end) = start.checked_add(len as usize) else {
        return false;
    };
    match memory.data_mut(&mut *caller).get_mut(start..end) {
        Some(target) if count <= target.len() => {
            write(&mut target[..count]);
            true
        }
        _ => false,
    }
}

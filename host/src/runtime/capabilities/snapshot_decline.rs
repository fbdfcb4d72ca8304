//! `edgefn_v1.snapshot_decline`: a module's init saying its state must not be snapshotted (a Go
//! runtime the SDK cannot re-seed, a package that keeps something live), so the host runs the
//! init in every instance instead of refusing the deploy (`docs/abi.md`, "Declining the
//! snapshot").

use super::pending::read_guest;
use crate::runtime::sandbox::HostState;
use edgefn_abi::ImportError;
use edgefn_abi::imports::{MODULE, SNAPSHOT_DECLINE};
use wasmtime::{Caller, Linker};

/// The longest reason kept, in bytes; the rest is dropped.
const MAX_REASON_BYTES: usize = 1024;

/// Whether this instance's state is to become a snapshot, per instance in `ImportState`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SnapshotRun {
    /// An instance serving requests: its init (if any) runs in it, nothing is snapshotted.
    None,
    /// The deploy-time run whose state becomes the snapshot.
    Taking,
    /// That run, after the module declined, with its reason.
    Declined(String),
}

/// Adds `snapshot_decline` to the linker.
pub(crate) fn link(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    linker.func_wrap(
        MODULE,
        SNAPSHOT_DECLINE,
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> i32 {
            decline(&mut caller, ptr as u32, len as u32)
        },
    )?;
    Ok(())
}

/// 0 when a snapshot was being taken (now declined), 1 when none was; `invalid` when the reason
/// is not inside memory, and a snapshot being taken is declined all the same: the module said its
/// state is not safe to freeze, and an unreadable reason does not make it so.
fn decline(caller: &mut Caller<'_, HostState>, ptr: u32, len: u32) -> i32 {
    if caller.data().imports.snapshot == SnapshotRun::None {
        return 1;
    }
    // The whole range must be inside memory, as for every import; only its head is kept. Once
    // per deploy, and under the init's memory cap.
    let reason = read_guest(caller, ptr, len);
    let (code, reason) = match reason {
        Some(mut bytes) => {
            bytes.truncate(MAX_REASON_BYTES);
            (0, String::from_utf8_lossy(&bytes).into_owned())
        }
        None => (
            ImportError::Invalid.code(),
            "(the reason it passed is outside its memory)".to_owned(),
        ),
    };
    // The first reason is the one reported; a later call changes nothing.
    if caller.data().imports.snapshot == SnapshotRun::Taking {
        caller.data_mut().imports.snapshot = SnapshotRun::Declined(reason);
    }
    code
}

//! The local host (`edgefn serve`, `edgefn invoke`): the request router over a registry, its admin
//! listener, and the capability backends it runs functions with (the key-value store in a file of
//! the state directory).

pub(crate) mod admin;
pub mod kv_file;
pub(crate) mod router;

use crate::runtime::capabilities::Backends;
use std::path::PathBuf;
use std::sync::Arc;

pub use kv_file::FileStore;

/// Environment variable naming the state directory when `--state-dir` is not given.
pub const STATE_DIR_VAR: &str = "EDGEFN_STATE_DIR";

/// Where the local host keeps what outlives it (the key-value store) unless told otherwise:
/// `$EDGEFN_STATE_DIR`, else `.edgefn/state` in the current folder, so each project has its own
/// and `edgefn kv` run from the same folder finds it.
pub fn default_state_dir() -> PathBuf {
    match std::env::var_os(STATE_DIR_VAR) {
        Some(dir) if !dir.is_empty() => dir.into(),
        _ => PathBuf::from(".edgefn").join("state"),
    }
}

/// What backs each capability on the local host: `kv`, the store every function, worker thread
/// and redeploy of this host shares.
pub fn backends(kv: &FileStore) -> Backends {
    Backends {
        kv: Arc::new(kv.clone()),
    }
}

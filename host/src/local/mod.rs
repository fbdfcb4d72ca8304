//! The local host (`edgefn serve`): the request router over a registry, its admin listener, and
//! the capability backends it runs functions with.

pub(crate) mod admin;
pub(crate) mod router;

use crate::runtime::capabilities::Backends;

/// What backs each capability on the local host.
pub fn backends() -> Backends {
    Backends {
        kv: std::sync::Arc::new(crate::runtime::capabilities::kv::MemoryStore::new()),
    }
}

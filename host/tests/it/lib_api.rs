//! Every item of the `edgefn_host` library the tests use, re-exported from one place: when the
//! library's modules move, only the paths here change.

pub use edgefn_host::Platform;
pub use edgefn_host::deploy::manifest::Manifest;
pub use edgefn_host::deploy::registry::Registry;
pub use edgefn_host::http::server::DEFAULT_SHUTDOWN_GRACE;
pub use edgefn_host::local::kv_file::{FileStore, Owner};
pub use edgefn_host::package::cloudflare_workers::{CAPNP_VARS_MARKER, COMPATIBILITY_DATE};
pub use edgefn_host::platform::aws_lambda::events::{EventShape, GuestRequest, map_event};
pub use edgefn_host::platform::aws_lambda::response::{Outcome, encode};
pub use edgefn_host::platform::azure_functions::invocation::{BODY_ENCODING_HEADER, parse};
pub use edgefn_host::runtime::artifact::ArtifactCache;
pub use edgefn_host::runtime::engine::{EngineOptions, HostEngine};
pub use edgefn_host::runtime::error::InvokeError;
pub use edgefn_host::runtime::guest::{InvocationContext, invoke};
pub use edgefn_host::runtime::spec::FunctionSpec;

/// The local host's backends, its key-value store in a state directory of its own (created only
/// if a function uses the store).
pub fn local_backends() -> edgefn_host::runtime::capabilities::Backends {
    let dir = std::env::temp_dir().join(format!(
        "edgefn-test-state-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    edgefn_host::local::backends(&FileStore::new(dir, Owner::this_process("test")))
}

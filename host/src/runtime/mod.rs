//! The runtime layer: everything that touches wasmtime, depending on nothing above it. The
//! engine and its artifact cache, limits, the validated function spec, the sandbox every instance
//! runs in with the capabilities it can import, the guest kinds and their one invocation seam,
//! pre-initialization, guest logs, metrics, trace export and the failure types.

pub mod artifact;
pub mod capabilities;
pub mod engine;
pub mod error;
pub mod guest;
pub(crate) mod guest_log;
pub mod limits;
pub mod metrics;
#[cfg(feature = "compiler")]
pub(crate) mod preinit;
pub(crate) mod sandbox;
pub mod spec;
pub mod traces;

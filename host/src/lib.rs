//! The edgefn host: runs WebAssembly functions written against the edgefn SDK, each invocation in
//! a fresh, bounded instance created from a pre-instantiated, precompiled module.
//!
//! Layers, lowest first; each module depends only on those listed before it:
//! - [`runtime`]: everything that touches wasmtime (engine, artifact cache, limits, the sandbox
//!   and its capabilities, guest kinds with the one [`runtime::guest::invoke`] seam,
//!   pre-initialization, guest logs, metrics, failure types);
//! - [`deploy`]: the manifest, the registry with its routes and LRU, the one admission path
//!   ([`deploy::invoker`]) and the [`deploy::host::HostBuilder`];
//! - front ends: the [`http`] kit, the [`local`] server and admin, the [`platform`] adapters,
//!   the [`package`]rs, and the [`cli`] commands.
//!
//! `docs/architecture.md` walks through a request and says which files to touch to add a
//! platform, a capability or a guest kind.
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod cli;
pub mod deploy;
pub mod http;
#[cfg(feature = "compiler")]
pub mod local;
#[cfg(feature = "compiler")]
pub mod package;
pub mod platform;
#[cfg(feature = "compiler")]
pub(crate) mod progress;
pub mod runtime;

pub use edgefn_abi::Platform;

//! The edgefn host: runs wasm32-wasip1 functions written against the edgefn SDK, each invocation in a
//! fresh, bounded instance created from a pre-instantiated, precompiled module.
//!
//! The path of a request: [`server`] accepts and routes it, [`registry`] finds the deployed function
//! and its loaded module (loading it from the [`artifact`] cache if it was evicted), [`invoke`] runs it
//! on a fresh instance under the limits from [`config`], on the engine set up by [`engine`].
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod artifact;
pub mod commands;
pub mod config;
pub mod engine;
pub mod function;
pub mod guest_log;
pub mod invoke;
pub mod logging;
pub mod metrics;
pub mod package;
pub mod platform;
pub mod preinit;
pub mod registry;
pub mod runner;
pub mod server;
pub mod warm;

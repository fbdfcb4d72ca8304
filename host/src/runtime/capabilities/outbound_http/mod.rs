//! Outbound HTTP from guests (`docs/abi.md`, "Outbound HTTP"): what a function may call, and the
//! client that calls it.

pub(crate) mod address;
pub(crate) mod client;
pub mod policy;

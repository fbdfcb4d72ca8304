//! Outbound HTTP from guests (`docs/abi.md`, "Outbound HTTP"): what a function may call.

pub(crate) mod address;
pub mod policy;

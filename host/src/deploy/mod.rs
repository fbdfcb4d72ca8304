//! The deploy layer, above the runtime: the manifest turned into validated specs, the registry of
//! deployed versions with its routes and loaded-module LRU, the one admission path, and the
//! builder that sets all of it up.

pub mod deployed;
pub mod host;
pub mod invoker;
pub mod manifest;
pub mod registry;
pub(crate) mod routes;

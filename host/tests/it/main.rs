//! The host's integration tests, in one test binary (`cargo test -p edgefn-host --test it`): one
//! link instead of one per file, and one place for what the files share. Filter by module to run
//! a part, e.g. `cargo test --release -p edgefn-host --test it aws_lambda_e2e::`.

// A test binary has no public API: `pub` here marks what its modules share with each other.
#![allow(
    unreachable_pub,
    reason = "a test binary's modules are all private to it"
)]

// Shared by the modules below.
mod common;
mod dx_support;
mod lib_api;
mod platforms;
mod upstream;

// `conformance!` is used by the cross-platform cases of other modules too (`outbound`).
#[macro_use]
mod conformance;

mod abi_vectors;
mod aws_lambda_e2e;
mod aws_lambda_events;
mod azure_functions;
mod azure_properties;
mod cli_docs;
mod cloudflare_workers;
mod components;
mod frameworks_go;
mod frameworks_rust;
mod go_guests;
mod invoke_cli;
mod kv;
mod kv_azure;
mod kv_dynamodb;
mod kv_faults;
mod kv_host;
mod kv_local;
mod local_host;
mod observability;
mod otlp;
mod outbound;
mod outbound_host;
mod package_manifest;
mod preinit;
mod reliability;
mod sam_template;
mod scaffold;
mod scaling;
mod serve_watch;
mod wrangler;

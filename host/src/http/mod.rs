//! The HTTP kit every HTTP-speaking front end shares (the local server and admin, the Azure
//! Functions handler): the multi-worker server, bodies read within limits, plain-text and failure
//! answers, request ids and `traceparent`; and what the two HTTP clients share (`client_io`).

pub(crate) mod body;
pub(crate) mod client_io;
mod framing_watch;
pub(crate) mod ids;
pub(crate) mod respond;
pub mod server;
pub(crate) mod strict;

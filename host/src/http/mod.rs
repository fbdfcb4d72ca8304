//! The HTTP kit every HTTP-speaking front end shares (the local server and admin, the Azure
//! Functions handler): the multi-worker server, bodies read within limits, plain-text and failure
//! answers, request ids and `traceparent`.

pub mod body;
pub mod ids;
pub mod respond;
pub mod server;

//! Platform adapters: each turns one platform's invocation protocol into calls of the one
//! admission path ([`crate::deploy::invoker`]) and the results back into that protocol, and says
//! what backs each capability on its platform (a `backends()` function per adapter), calling its
//! cloud services through [`service_client`] and signing them with `signing`.

pub mod aws_lambda;
pub mod azure_functions;
pub mod service_client;
pub(crate) mod signing;

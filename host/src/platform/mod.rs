//! Platform adapters: each turns one platform's invocation protocol into calls of a
//! [`crate::runner::FunctionRunner`] and its results back into that protocol.

pub mod aws_lambda;
pub mod azure_functions;

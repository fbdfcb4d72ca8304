//! Failed invocations as Lambda reports them: `{"errorMessage", "errorType"}` plus the
//! `Lambda-Runtime-Function-Error-Type` header, with one stable `errorType` per failure kind.

use crate::invoke::InvokeError;
use serde::Serialize;

/// The `errorType` values this runtime reports. Stable: alarms and retry policies match on them.
pub mod error_type {
    /// The guest ran past its deadline (the earlier of Lambda's and its own limit).
    pub const TIMEOUT: &str = "edgefn.Timeout";
    /// The guest needed more memory than its limit.
    pub const MEMORY_LIMIT: &str = "edgefn.MemoryLimit";
    /// The guest trapped: a panic, a stack overflow, an out-of-bounds access, `exit`.
    pub const TRAP: &str = "edgefn.Trap";
    /// The guest answered something that is not a valid response.
    pub const BAD_RESPONSE: &str = "edgefn.BadResponse";
    /// The guest's response exceeds its own limit or Lambda's payload limit.
    pub const RESPONSE_TOO_LARGE: &str = "edgefn.ResponseTooLarge";
    /// No instance could be had (concurrency limit).
    pub const OVERLOADED: &str = "edgefn.Overloaded";
    /// The instance could not be created or initialised.
    pub const INSTANTIATE: &str = "edgefn.Instantiate";
    /// The event could not be turned into a request.
    pub const INVALID_EVENT: &str = "edgefn.InvalidEvent";
    /// The guest answered a non-HTTP event with a 5xx status.
    pub const FUNCTION_ERROR: &str = "edgefn.FunctionError";
    /// The module could not be loaded when the execution environment started.
    pub const INIT: &str = "edgefn.InitError";
}

/// The body of `/runtime/invocation/{id}/error` and `/runtime/init/error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    /// What went wrong, for the person reading the invocation result or the log.
    #[serde(rename = "errorMessage")]
    pub message: String,
    /// One of [`error_type`].
    #[serde(rename = "errorType")]
    pub error_type: &'static str,
}

impl ErrorReport {
    /// A report of this type.
    pub fn new(error_type: &'static str, message: impl Into<String>) -> ErrorReport {
        ErrorReport {
            message: message.into(),
            error_type,
        }
    }

    /// The report for a failed guest invocation. The message is the host's description, which
    /// names the limit or the trap but never quotes the guest's own output (that goes to the log).
    pub fn from_invoke_error(error: &InvokeError) -> ErrorReport {
        let error_type = match error {
            InvokeError::Timeout(_) => error_type::TIMEOUT,
            InvokeError::MemoryLimit(_) => error_type::MEMORY_LIMIT,
            InvokeError::Trap(_) => error_type::TRAP,
            InvokeError::BadResponse(_) => error_type::BAD_RESPONSE,
            InvokeError::ResponseTooLarge { .. } => error_type::RESPONSE_TOO_LARGE,
            InvokeError::Overloaded(_) => error_type::OVERLOADED,
            InvokeError::Instantiate(_) => error_type::INSTANTIATE,
        };
        ErrorReport::new(error_type, error.to_string())
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn invoke_errors_have_distinct_types_and_json_shape() {
        let report = ErrorReport::from_invoke_error(&InvokeError::Timeout(Duration::from_secs(1)));
        assert_eq!(report.error_type, error_type::TIMEOUT);
        let json: serde_json::Value = serde_json::from_slice(&report.to_json()).unwrap();
        assert_eq!(json["errorType"], "edgefn.Timeout");
        assert!(json["errorMessage"].as_str().unwrap().contains("deadline"));
        assert_eq!(
            ErrorReport::from_invoke_error(&InvokeError::MemoryLimit(64 << 20)).error_type,
            error_type::MEMORY_LIMIT
        );
        assert_eq!(
            ErrorReport::from_invoke_error(&InvokeError::Trap("unreachable".into())).error_type,
            error_type::TRAP
        );
    }
}

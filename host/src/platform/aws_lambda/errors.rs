//! Failed invocations as Lambda reports them: `{"errorMessage", "errorType"}` plus the
//! `Lambda-Runtime-Function-Error-Type` header, with one stable `errorType` per failure kind.

use crate::runtime::error::InvokeError;
use serde::Serialize;

/// The `errorType` values this runtime reports besides those of failed invocations
/// ([`crate::runtime::error::FailureKind::lambda_error_type`]). Stable: alarms and retry policies match on them.
pub(crate) mod error_type {
    /// The event could not be turned into a request.
    pub(crate) const INVALID_EVENT: &str = "edgefn.InvalidEvent";
    /// The guest answered a non-HTTP event with a 5xx status.
    pub(crate) const FUNCTION_ERROR: &str = "edgefn.FunctionError";
    /// The module could not be loaded when the execution environment started.
    pub(crate) const INIT: &str = "edgefn.InitError";
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
        ErrorReport::new(error.kind().lambda_error_type(), error.to_string())
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
        assert_eq!(report.error_type, "edgefn.Timeout");
        let json: serde_json::Value = serde_json::from_slice(&report.to_json()).unwrap();
        assert_eq!(json["errorType"], "edgefn.Timeout");
        assert!(json["errorMessage"].as_str().unwrap().contains("deadline"));
        assert_eq!(
            ErrorReport::from_invoke_error(&InvokeError::MemoryLimit(64 << 20)).error_type,
            "edgefn.MemoryLimit"
        );
        assert_eq!(
            ErrorReport::from_invoke_error(&InvokeError::Trap("unreachable".into())).error_type,
            "edgefn.Trap"
        );
    }
}

//! Why an invocation produced no response: [`InvokeError`] with its detail, and [`FailureKind`], the
//! stable name every front end reports it under (HTTP status, metrics label, Lambda `errorType`).
//! The names are shared with the Workers shim through `docs/host-contract.json`.

use http::StatusCode;
use std::time::Duration;

/// The kinds of failure, each with one stable name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The deadline passed while the guest ran.
    Timeout,
    /// The guest needed more memory than its limit.
    Memory,
    /// The guest trapped: a panic, a stack overflow, an out-of-bounds access, `exit`.
    Trap,
    /// The guest answered something that is not a valid response.
    BadResponse,
    /// The guest's response body is larger than its limit.
    ResponseTooLarge,
    /// No concurrency slot or instance slot was free.
    Overload,
    /// The instance could not be created or initialised.
    Instantiate,
    /// The function's module could not be loaded from its artifact.
    Load,
    /// The request cannot be handed to the guest at all (larger than its address space).
    RequestTooLarge,
}

impl FailureKind {
    /// Every kind, in a fixed order (metrics pre-register them all).
    pub const ALL: [FailureKind; 9] = [
        FailureKind::Timeout,
        FailureKind::Memory,
        FailureKind::Trap,
        FailureKind::BadResponse,
        FailureKind::ResponseTooLarge,
        FailureKind::Overload,
        FailureKind::Instantiate,
        FailureKind::Load,
        FailureKind::RequestTooLarge,
    ];

    /// The stable name: metrics label, log field, the Workers shim's `InvokeError.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Memory => "memory",
            FailureKind::Trap => "trap",
            FailureKind::BadResponse => "bad-response",
            FailureKind::ResponseTooLarge => "response-too-large",
            FailureKind::Overload => "overload",
            FailureKind::Instantiate => "instantiate",
            FailureKind::Load => "load",
            FailureKind::RequestTooLarge => "request-too-large",
        }
    }

    /// The HTTP status a client of the local host sees.
    pub fn status(self) -> StatusCode {
        match self {
            FailureKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            FailureKind::Overload => StatusCode::SERVICE_UNAVAILABLE,
            FailureKind::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `errorType` the Lambda runtime reports. Stable: alarms and retry policies match on it.
    pub fn lambda_error_type(self) -> &'static str {
        match self {
            FailureKind::Timeout => "edgefn.Timeout",
            FailureKind::Memory => "edgefn.MemoryLimit",
            FailureKind::Trap => "edgefn.Trap",
            FailureKind::BadResponse => "edgefn.BadResponse",
            FailureKind::ResponseTooLarge => "edgefn.ResponseTooLarge",
            FailureKind::Overload => "edgefn.Overloaded",
            FailureKind::Instantiate => "edgefn.Instantiate",
            FailureKind::Load => "edgefn.LoadError",
            FailureKind::RequestTooLarge => "edgefn.RequestTooLarge",
        }
    }
}

/// Why an invocation produced no response, with what the log needs to know.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The deadline passed while the guest ran.
    #[error("function ran past its deadline of {0:?} and was stopped")]
    Timeout(Duration),
    /// The guest needed more memory than its limit.
    #[error("function exceeded its memory limit of {} MiB", .0 >> 20)]
    MemoryLimit(u64),
    /// The guest trapped (a panic, stack overflow, out-of-bounds access, ...).
    #[error("function crashed: {0}")]
    Trap(String),
    /// The guest answered something that is not a valid response envelope.
    #[error("function returned an invalid response: {0}")]
    BadResponse(String),
    /// The response body is larger than the function's limit.
    #[error("function returned {size} bytes, more than its limit of {limit} bytes")]
    ResponseTooLarge {
        /// Bytes returned.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The function is running as many invocations as its `max_concurrency` allows.
    #[error("function is at its concurrency limit of {0}")]
    ConcurrencyLimit(usize),
    /// Every instance slot of the host is busy.
    #[error("no instance slot is free: {0}")]
    Overloaded(String),
    /// The instance could not be created or initialised.
    #[error("function could not start: {0}")]
    Instantiate(String),
    /// The module could not be loaded (its artifact unreadable, its file changed, ...).
    #[error("function could not be loaded: {0}")]
    Load(String),
    /// The request does not fit the guest's 32-bit address space.
    #[error("the request of {0} bytes does not fit a 32-bit guest")]
    RequestTooLarge(usize),
}

impl InvokeError {
    /// Its kind.
    pub fn kind(&self) -> FailureKind {
        match self {
            InvokeError::Timeout(_) => FailureKind::Timeout,
            InvokeError::MemoryLimit(_) => FailureKind::Memory,
            InvokeError::Trap(_) => FailureKind::Trap,
            InvokeError::BadResponse(_) => FailureKind::BadResponse,
            InvokeError::ResponseTooLarge { .. } => FailureKind::ResponseTooLarge,
            InvokeError::ConcurrencyLimit(_) | InvokeError::Overloaded(_) => FailureKind::Overload,
            InvokeError::Instantiate(_) => FailureKind::Instantiate,
            InvokeError::Load(_) => FailureKind::Load,
            InvokeError::RequestTooLarge(_) => FailureKind::RequestTooLarge,
        }
    }

    /// The HTTP status a client of the local host sees.
    pub fn status(&self) -> StatusCode {
        self.kind().status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_every_kind_is_listed_once() {
        let names: std::collections::BTreeSet<_> =
            FailureKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), FailureKind::ALL.len());
        let types: std::collections::BTreeSet<_> = FailureKind::ALL
            .iter()
            .map(|k| k.lambda_error_type())
            .collect();
        assert_eq!(types.len(), FailureKind::ALL.len());
        for (index, kind) in FailureKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, index, "{kind:?} is out of order in ALL");
        }
    }
}

/// `docs/host-contract.json` is the one list of names the Go SDK and the Workers shim are tested
/// against; this holds the host to it, so a platform, failure kind or default limit cannot be
/// half-added.
#[cfg(test)]
mod contract {
    use super::FailureKind;
    use crate::runtime::guest_log::MAX_LINE_BYTES;
    use crate::runtime::limits::Limits;
    use edgefn_abi::Platform;
    use serde_json::Value;

    fn contract() -> Value {
        serde_json::from_str(include_str!("../../../docs/host-contract.json"))
            .expect("docs/host-contract.json is valid JSON")
    }

    fn names(value: &Value) -> Vec<&str> {
        value
            .as_array()
            .expect("a list")
            .iter()
            .map(|v| v.as_str().expect("a name"))
            .collect()
    }

    #[test]
    fn platforms_and_failure_kinds_match_the_contract() {
        let contract = contract();
        let platforms: Vec<&str> = Platform::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names(&contract["platforms"]), platforms);
        let kinds: Vec<&str> = FailureKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names(&contract["failure_kinds"]), kinds);
    }

    #[test]
    fn default_limits_match_the_contract() {
        let contract = contract();
        let limits = &contract["default_limits"];
        let defaults = Limits::default();
        let expect = [
            ("deadline_ms", defaults.deadline.as_millis() as u64),
            ("memory_bytes", defaults.memory_bytes),
            ("max_request_bytes", defaults.max_request_bytes as u64),
            ("max_response_bytes", defaults.max_response_bytes as u64),
            ("max_log_bytes", defaults.max_log_bytes as u64),
            ("max_concurrency", defaults.max_concurrency as u64),
        ];
        for (key, value) in expect {
            assert_eq!(limits[key].as_u64(), Some(value), "default_limits.{key}");
        }
        assert_eq!(
            limits.as_object().map(|o| o.len()),
            Some(expect.len()),
            "default_limits has a key the host does not check"
        );
        assert_eq!(
            contract["log_line_bytes"].as_u64(),
            Some(MAX_LINE_BYTES as u64)
        );
    }
}

//! Why a key-value call failed: the host's error code as an [`ErrorKind`], and its message.

use edgefn_abi::ImportError;
use std::fmt;

/// What kind of failure an [`Error`] is: the host's error codes for the `kv_*` imports
/// (`docs/abi.md`, "Host imports"), the same on every platform. A missing key is not an error:
/// [`Store::get`](super::Store::get) answers `Ok(None)`, [`Store::exists`](super::Store::exists)
/// `Ok(false)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The store is not granted to this function (`kv.stores` in the manifest, or
    /// `EDGEFN_KV_STORES` on a platform).
    Denied,
    /// The call breaks a rule of the contract: a store name, key, prefix, value size, time to
    /// live, page size or cursor that is refused (the message names the rule).
    Invalid,
    /// Past the function's `kv.max_operations` calls in this invocation.
    Limit,
    /// No answer before the invocation's deadline.
    Timeout,
    /// The backend could not be reached, or refused the host's credentials.
    Unavailable,
    /// The backend throttled the call (Workers KV's one write per second per key, DynamoDB's
    /// throughput, Table storage's server-busy): try again later, or write less often.
    RateLimited,
    /// The store is not available here: called while the module initializes (a snapshot must
    /// not capture stored values), or natively with no fake host installed.
    Unsupported,
    /// An error code this SDK does not know, or a host answer it could not read.
    Other,
}

impl ErrorKind {
    /// The kind's stable short name: `denied`, `invalid`, `limit`, `timeout`, `unavailable`,
    /// `rate-limited`, `unsupported` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Denied => "denied",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Limit => "limit",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Other => "other",
        }
    }

    /// The kind of an import's negative result; `not-found` where it is not an answer, and
    /// unknown codes, are [`ErrorKind::Other`].
    pub(crate) fn from_code(code: i64) -> ErrorKind {
        match ImportError::from_code(code) {
            Some(ImportError::Denied) => ErrorKind::Denied,
            Some(ImportError::Invalid) => ErrorKind::Invalid,
            Some(ImportError::Limit) => ErrorKind::Limit,
            Some(ImportError::Timeout) => ErrorKind::Timeout,
            Some(ImportError::Unavailable) => ErrorKind::Unavailable,
            Some(ImportError::RateLimited) => ErrorKind::RateLimited,
            Some(ImportError::Unsupported) => ErrorKind::Unsupported,
            Some(ImportError::NotFound) | None => ErrorKind::Other,
        }
    }

    /// The import's code for this kind; `None` for [`ErrorKind::Other`]. Only the native fake
    /// hosts encode errors.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn code(self) -> Option<i64> {
        let error = match self {
            ErrorKind::Denied => ImportError::Denied,
            ErrorKind::Invalid => ImportError::Invalid,
            ErrorKind::Limit => ImportError::Limit,
            ErrorKind::Timeout => ImportError::Timeout,
            ErrorKind::Unavailable => ImportError::Unavailable,
            ErrorKind::RateLimited => ImportError::RateLimited,
            ErrorKind::Unsupported => ImportError::Unsupported,
            ErrorKind::Other => return None,
        };
        Some(i64::from(error.code()))
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key-value call that failed: its [`ErrorKind`] and a message saying what went wrong (the
/// host's own, or the SDK's when the call never reached the host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    code: Option<i64>,
    message: String,
}

impl Error {
    /// An error the host reported with `code` (negative) and `message`.
    pub(crate) fn from_host(code: i64, message: String) -> Error {
        Error {
            kind: ErrorKind::from_code(code),
            code: Some(code),
            message,
        }
    }

    /// An error found in the guest, before or after the host call.
    pub(crate) fn local(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            code: None,
            message: message.into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What went wrong, as the host (or the SDK) said it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The import's negative error code when the host returned one; `None` when the SDK found
    /// the error itself.
    pub fn code(&self) -> Option<i64> {
        self.code
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.code) {
            (ErrorKind::Other, Some(code)) => {
                write!(f, "key-value call failed (code {code}): {}", self.message)
            }
            (kind, _) => write!(f, "key-value {kind}: {}", self.message),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_host_code_has_its_kind_and_back() {
        for kind in [
            ErrorKind::Denied,
            ErrorKind::Invalid,
            ErrorKind::Limit,
            ErrorKind::Timeout,
            ErrorKind::Unavailable,
            ErrorKind::RateLimited,
            ErrorKind::Unsupported,
        ] {
            let code = kind.code().expect("a host kind has a code");
            assert_eq!(ErrorKind::from_code(code), kind);
            assert_eq!(
                ImportError::from_code(code).map(ImportError::as_str),
                Some(kind.as_str()),
                "the SDK's name is the ABI's"
            );
        }
        for other in [-2, -9, -1000, i64::MIN] {
            assert_eq!(ErrorKind::from_code(other), ErrorKind::Other, "{other}");
        }
    }

    #[test]
    fn display_names_the_kind_or_the_unknown_code() {
        let denied = Error::from_host(-1, "store \"other\" is not granted".into());
        assert_eq!(
            denied.to_string(),
            "key-value denied: store \"other\" is not granted"
        );
        let unknown = Error::from_host(-42, "something new".into());
        assert_eq!(unknown.kind(), ErrorKind::Other);
        assert_eq!(
            unknown.to_string(),
            "key-value call failed (code -42): something new"
        );
    }
}

//! Why an outbound call failed: the host's error code as an [`ErrorKind`], and its message.

use edgefn_abi::ImportError;
use std::fmt;

/// What kind of failure an [`Error`] is. The first six are the host's error codes for
/// `http_send` (`docs/abi.md`, "Host imports"); the same on every platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Not granted: the URL's origin is not in the function's `outbound.allowed_hosts`, or its
    /// address is not public and `allow_private_networks` is off.
    Denied,
    /// The request cannot be sent as it is: not an absolute `http`/`https` URL, a header the
    /// host owns (`host`, `content-length`, `connection`, ...), or a request the `http` crate
    /// refused to build.
    Invalid,
    /// No complete answer within the call's timeout (never past the invocation's deadline).
    Timeout,
    /// A per-invocation limit: too many calls, or a request or response body over its cap.
    Limit,
    /// The upstream could not be reached: name resolution, connection, TLS, a broken response.
    Unavailable,
    /// Outbound HTTP is not available here: called while the module initializes (a snapshot
    /// must not capture network results), or natively with no fake host installed.
    Unsupported,
    /// An error code this SDK does not know, or a host answer it could not read.
    Other,
}

impl ErrorKind {
    /// The kind's stable short name: `denied`, `invalid`, `timeout`, `limit`, `unavailable`,
    /// `unsupported` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Denied => "denied",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Limit => "limit",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Other => "other",
        }
    }

    /// The kind of an import's negative result; codes reserved for other imports (`not-found`,
    /// `rate-limited`) and unknown ones are [`ErrorKind::Other`].
    pub(crate) fn from_code(code: i64) -> ErrorKind {
        match ImportError::from_code(code) {
            Some(ImportError::Denied) => ErrorKind::Denied,
            Some(ImportError::Invalid) => ErrorKind::Invalid,
            Some(ImportError::Limit) => ErrorKind::Limit,
            Some(ImportError::Timeout) => ErrorKind::Timeout,
            Some(ImportError::Unavailable) => ErrorKind::Unavailable,
            Some(ImportError::Unsupported) => ErrorKind::Unsupported,
            Some(ImportError::NotFound | ImportError::RateLimited) | None => ErrorKind::Other,
        }
    }

    /// The import's code for this kind; `None` for [`ErrorKind::Other`], which has none. Only
    /// the native fake host encodes errors.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn code(self) -> Option<i64> {
        let error = match self {
            ErrorKind::Denied => ImportError::Denied,
            ErrorKind::Invalid => ImportError::Invalid,
            ErrorKind::Timeout => ImportError::Timeout,
            ErrorKind::Limit => ImportError::Limit,
            ErrorKind::Unavailable => ImportError::Unavailable,
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

/// An outbound call that did not get a response: its [`ErrorKind`] and a message saying what
/// went wrong (the host's own, or the SDK's when the call never reached the host).
///
/// An HTTP error status (404, 500, ...) is not an `Error`: it is a response like any other.
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
                write!(f, "outbound HTTP failed (code {code}): {}", self.message)
            }
            (kind, _) => write!(f, "outbound HTTP {kind}: {}", self.message),
        }
    }
}

impl std::error::Error for Error {}

/// A request the `http` crate's builder refused (a bad URI, header or method) is
/// [`ErrorKind::Invalid`], so `?` works on the builder and on [`send`](super::send) alike.
impl From<::http::Error> for Error {
    fn from(error: ::http::Error) -> Error {
        Error::local(
            ErrorKind::Invalid,
            format!("the request could not be built: {error}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_host_code_has_its_kind_and_back() {
        for kind in [
            ErrorKind::Denied,
            ErrorKind::Invalid,
            ErrorKind::Timeout,
            ErrorKind::Limit,
            ErrorKind::Unavailable,
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
        for reserved in [-2, -7, -9, -1000, i64::MIN] {
            assert_eq!(
                ErrorKind::from_code(reserved),
                ErrorKind::Other,
                "{reserved}"
            );
        }
    }

    #[test]
    fn display_names_the_kind_or_the_unknown_code() {
        let denied = Error::from_host(-1, "http://x.example is not allowed".into());
        assert_eq!(
            denied.to_string(),
            "outbound HTTP denied: http://x.example is not allowed"
        );
        let unknown = Error::from_host(-42, "something new".into());
        assert_eq!(unknown.kind(), ErrorKind::Other);
        assert_eq!(
            unknown.to_string(),
            "outbound HTTP failed (code -42): something new"
        );
    }
}

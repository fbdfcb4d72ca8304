//! Turning what a handler returns into a [`Response`].

use crate::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

/// Anything a handler can return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from an edgefn handler",
    label = "not a response",
    note = "return text (`String`, `&'static str`), bytes (`Vec<u8>`, `Bytes`), `Json(..)`, a `StatusCode`, \
            `(StatusCode, T)`, an `edgefn::Response`, or a `Result` of one of those"
)]
pub trait IntoResponse {
    /// Converts into the HTTP response.
    fn into_response(self) -> Response;
}

pub(crate) fn with_type(body: impl Into<Bytes>, content_type: &'static str) -> Response {
    let mut response = Response::new(body.into());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Plain text for a status, e.g. `404 Not Found`.
pub(crate) fn status_text(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("");
    let mut response = with_type(
        format!("{} {reason}\n", status.as_u16()),
        "text/plain; charset=utf-8",
    );
    *response.status_mut() = status;
    response
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        with_type(self, "text/plain; charset=utf-8")
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        with_type(self, "text/plain; charset=utf-8")
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        with_type(self, "application/octet-stream")
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        with_type(self, "application/octet-stream")
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        status_text(self)
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        *response.status_mut() = self.0;
        response
    }
}

/// A JSON body (`application/json`), serialized with serde.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => with_type(body, "application/json"),
            Err(error) => {
                eprintln!("edgefn: could not serialize the JSON response: {error}");
                status_text(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

/// How an error a handler returns in `Err` becomes a response.
///
/// Any error that is `Display` is internal: it is logged and the client gets a bare
/// `500 Internal Server Error`, so internals never leak. An [`HttpError`](crate::HttpError) is
/// meant for the client: its status and message are the response.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned as a handler's error",
    label = "implement `std::fmt::Display` for it (logged, answers 500), or return an `edgefn::HttpError`",
    note = "`Err(e)` answers a bare 500 and logs `e` when `e: Display`; an `edgefn::HttpError` answers its own status and message"
)]
pub trait IntoErrorResponse {
    /// Converts the error into the response the client sees.
    fn into_error_response(self) -> Response;
}

impl<E: std::fmt::Display> IntoErrorResponse for E {
    fn into_error_response(self) -> Response {
        eprintln!("edgefn: handler error: {self}");
        status_text(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoErrorResponse for crate::HttpError {
    fn into_error_response(self) -> Response {
        self.into_response()
    }
}

/// `Ok` answers normally; `Err` answers as [`IntoErrorResponse`] says: a bare 500 for internal
/// errors (logged), the status and message of an [`HttpError`](crate::HttpError).
impl<T: IntoResponse, E: IntoErrorResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(ok) => ok.into_response(),
            Err(error) => error.into_error_response(),
        }
    }
}

//! Turning what a handler returns into a [`Response`].

use crate::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

/// Anything a handler can return.
pub trait IntoResponse {
    /// Converts into the HTTP response.
    fn into_response(self) -> Response;
}

fn with_type(body: impl Into<Bytes>, content_type: &'static str) -> Response {
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

/// `Ok` answers normally; `Err` logs the error and answers a bare 500, so internals never reach the
/// client.
impl<T: IntoResponse, E: std::fmt::Display> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(ok) => ok.into_response(),
            Err(error) => {
                eprintln!("edgefn: handler error: {error}");
                status_text(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

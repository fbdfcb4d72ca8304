//! A client of the Lambda Runtime API (`/2018-06-01/runtime/...`) over one kept-alive HTTP/1.1
//! connection.
//!
//! `AWS_LAMBDA_RUNTIME_API` is `host:port` on AWS, but emulators put a path after it (cargo-lambda:
//! `127.0.0.1:9000/.rt/<function>`), so the value is joined with the API paths, not parsed as an
//! address alone.

use super::errors::ErrorReport;
use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use std::time::Duration;

/// Version prefix of every Runtime API path.
pub(crate) const API_VERSION: &str = "2018-06-01";
/// Header carrying the failure kind on `/error` and `/init/error`.
pub(crate) const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";
/// A post to the Runtime API is answered at once; one that takes this long means it is gone.
/// (`/next` has no timeout: Lambda freezes the process while it waits.)
pub(crate) const POST_TIMEOUT: Duration = Duration::from_secs(30);

/// One invocation as `/runtime/invocation/next` hands it over.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// `Lambda-Runtime-Deadline-Ms`, Unix epoch milliseconds, if present and a number.
    pub deadline_ms: Option<u64>,
    /// `Lambda-Runtime-Trace-Id` (X-Ray), if present.
    pub trace_id: Option<String>,
    /// The event JSON.
    pub event: Bytes,
}

/// The Runtime API of this execution environment.
pub(crate) struct RuntimeApi {
    /// `host:port`, for connecting and for the `Host` header.
    authority: String,
    /// `http://` is dropped; whatever path followed the authority prefixes every API path.
    prefix: String,
    connection: Option<SendRequest<Full<Bytes>>>,
}

impl RuntimeApi {
    /// A client for the value of `AWS_LAMBDA_RUNTIME_API`. Connects lazily.
    pub(crate) fn new(runtime_api: &str) -> anyhow::Result<RuntimeApi> {
        let trimmed = runtime_api.trim();
        let without_scheme = trimmed.strip_prefix("http://").unwrap_or(trimmed);
        let (authority, path) = match without_scheme.find('/') {
            Some(slash) => without_scheme.split_at(slash),
            None => (without_scheme, ""),
        };
        anyhow::ensure!(
            !authority.is_empty() && !authority.contains(char::is_whitespace),
            "AWS_LAMBDA_RUNTIME_API={runtime_api:?} does not start with host:port (Lambda sets it; emulators use forms like 127.0.0.1:9000/.rt/<function>)"
        );
        Ok(RuntimeApi {
            authority: authority.to_owned(),
            prefix: path.trim_end_matches('/').to_owned(),
            connection: None,
        })
    }

    /// The URL base every call goes to, for logs.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}{}/{API_VERSION}", self.authority, self.prefix)
    }

    /// Waits (without a timeout) for the next invocation.
    pub(crate) async fn next_invocation(&mut self) -> anyhow::Result<Invocation> {
        let (status, headers, event) = self
            .call(Method::GET, "runtime/invocation/next", None, Bytes::new())
            .await?;
        anyhow::ensure!(
            status.is_success(),
            "the Runtime API answered /runtime/invocation/next with {status}: {}",
            String::from_utf8_lossy(&event)
        );
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header("lambda-runtime-aws-request-id")
            .filter(|id| !id.is_empty())
            .context("the Runtime API sent an invocation without Lambda-Runtime-Aws-Request-Id")?;
        Ok(Invocation {
            request_id,
            deadline_ms: header("lambda-runtime-deadline-ms").and_then(|v| v.parse().ok()),
            trace_id: header("lambda-runtime-trace-id").filter(|v| !v.is_empty()),
            event,
        })
    }

    /// Posts an invocation's result.
    pub(crate) async fn post_response(
        &mut self,
        request_id: &str,
        result: Bytes,
    ) -> anyhow::Result<()> {
        let path = format!("runtime/invocation/{}/response", escape_id(request_id));
        self.post(&path, None, result).await
    }

    /// Posts an invocation's failure.
    pub(crate) async fn post_error(
        &mut self,
        request_id: &str,
        report: &ErrorReport,
    ) -> anyhow::Result<()> {
        let path = format!("runtime/invocation/{}/error", escape_id(request_id));
        self.post(&path, Some(report.error_type), report.to_json().into())
            .await
    }

    /// Posts a failure to initialise; the process should exit afterwards.
    pub(crate) async fn post_init_error(&mut self, report: &ErrorReport) -> anyhow::Result<()> {
        self.post(
            "runtime/init/error",
            Some(report.error_type),
            report.to_json().into(),
        )
        .await
    }

    async fn post(
        &mut self,
        path: &str,
        error_type: Option<&str>,
        body: Bytes,
    ) -> anyhow::Result<()> {
        let call = self.call(Method::POST, path, error_type, body);
        let (status, _, answer) = tokio::time::timeout(POST_TIMEOUT, call)
            .await
            .with_context(|| {
                format!("the Runtime API did not answer POST /{path} within {POST_TIMEOUT:?}")
            })??;
        anyhow::ensure!(
            status.is_success(),
            "the Runtime API refused POST /{path} with {status}: {}",
            String::from_utf8_lossy(&answer)
        );
        Ok(())
    }

    async fn call(
        &mut self,
        method: Method,
        path: &str,
        error_type: Option<&str>,
        body: Bytes,
    ) -> anyhow::Result<(StatusCode, HeaderMap, Bytes)> {
        let uri = format!("{}/{API_VERSION}/{path}", self.prefix);
        let mut builder = Request::builder()
            .method(method)
            .uri(&uri)
            .header(http::header::HOST, &self.authority);
        if let Some(error_type) = error_type {
            builder = builder.header(ERROR_TYPE_HEADER, error_type);
        }
        let request = builder
            .body(Full::new(body))
            .with_context(|| format!("cannot build a Runtime API request for {uri:?}"))?;
        let response = match self.connected().await?.try_send_request(request).await {
            Ok(response) => response,
            // A kept-alive connection the server has closed fails before the request is written;
            // the request comes back and goes again on a fresh connection.
            Err(mut error) => {
                self.connection = None;
                let Some(request) = error.take_message() else {
                    return Err(error.into_error())
                        .with_context(|| format!("Runtime API call {uri} failed"));
                };
                self.connected()
                    .await?
                    .send_request(request)
                    .await
                    .with_context(|| format!("Runtime API call {uri} failed"))?
            }
        };
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .with_context(|| format!("reading the Runtime API's answer to {uri}"))?
            .to_bytes();
        Ok((parts.status, parts.headers, body))
    }

    async fn connected(&mut self) -> anyhow::Result<&mut SendRequest<Full<Bytes>>> {
        if self.connection.as_ref().is_none_or(|c| c.is_closed()) {
            let stream = tokio::net::TcpStream::connect(&self.authority)
                .await
                .with_context(|| {
                    format!(
                        "cannot connect to the Lambda Runtime API at {}",
                        self.authority
                    )
                })?;
            let _ = stream.set_nodelay(true);
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .context("HTTP handshake with the Lambda Runtime API failed")?;
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "Runtime API connection ended");
                }
            });
            self.connection = Some(sender);
        }
        let connection = self
            .connection
            .as_mut()
            .context("no Runtime API connection")?;
        // A connection the server closed in the meantime: the send below reports it and retries.
        let _ = connection.ready().await;
        Ok(connection)
    }
}

/// Request ids are UUIDs; anything else is escaped so it stays one path segment.
fn escape_id(request_id: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');
    utf8_percent_encode(request_id, KEEP).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_is_joined_not_parsed() {
        let aws = RuntimeApi::new("127.0.0.1:9001").unwrap();
        assert_eq!(aws.base_url(), "http://127.0.0.1:9001/2018-06-01");
        let emulator = RuntimeApi::new("127.0.0.1:9000/.rt/hello").unwrap();
        assert_eq!(
            emulator.base_url(),
            "http://127.0.0.1:9000/.rt/hello/2018-06-01"
        );
        let with_scheme = RuntimeApi::new("http://127.0.0.1:9000/.rt/").unwrap();
        assert_eq!(
            with_scheme.base_url(),
            "http://127.0.0.1:9000/.rt/2018-06-01"
        );
        assert!(RuntimeApi::new("").is_err());
        assert!(RuntimeApi::new("/only/a/path").is_err());
    }

    #[test]
    fn request_ids_stay_one_segment() {
        assert_eq!(
            escape_id("8476a536-e9f4-11e8-9739-2dfe598c3fcd"),
            "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
        );
        assert_eq!(escape_id("../x y"), "%2E%2E%2Fx%20y");
    }
}

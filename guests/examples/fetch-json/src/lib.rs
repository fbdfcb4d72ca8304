//! Calls another service: GETs the JSON document at the configured `UPSTREAM_URL` with
//! `edgefn::http::send_with` and answers a summary of it.
//!
//! The upstream describes a repository, `{"name": "edgefn", "stars": 42, "tags": ["wasm",
//! "edge"], "owner": {"login": "edgefn-dev"}}` (other fields are ignored); the answer is
//! `{"repository": "edgefn-dev/edgefn", "stars": 42, "tags": ["wasm", "edge"]}`.
//!
//! A function calls nothing it is not granted, so the manifest names the upstream twice: its URL
//! for the guest (`env`) and its origin for the host (`outbound`, see `docs/manifest.md`):
//!
//! ```toml
//! [[function]]
//! name = "fetch-json"
//! wasm = "target/guests/fetch-json.wasm"
//! env = { UPSTREAM_URL = "https://api.example.com/repos/edgefn" }
//! outbound = { allowed_hosts = ["https://api.example.com"], timeout_ms = 3000 }
//! ```
//!
//! On AWS Lambda, Azure Functions and Cloudflare Workers the `outbound` keys are the platform
//! variables `EDGEFN_OUTBOUND_ALLOWED_HOSTS=https://api.example.com` and so on. To try it against
//! a server on your machine, allow its origin and private addresses, which are refused otherwise:
//! `outbound = { allowed_hosts = ["http://127.0.0.1:8000"], allow_private_networks = true }`.
//!
//! Answers:
//! - 200 with the summary;
//! - 502 with `{"error": "<kind>", "message": "..."}` when the call fails (`denied`, `invalid`,
//!   `limit`, `unavailable`, ...), when the upstream answers other than 2xx (`upstream-status`)
//!   or with JSON of another shape (`upstream-json`);
//! - 504 with the same body when the call times out (`timeout`);
//! - 500 saying so when `UPSTREAM_URL` is not set or not a URL.
use edgefn::http::{self, ErrorKind, Options, Request};
use edgefn::{Context, IntoResponse, Json, Response, StatusCode};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long one call may take; the function's deadline cuts it shorter if need be.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Redirects followed (each one a new call, checked against `allowed_hosts` again).
const MAX_REDIRECTS: u32 = 3;

/// The fields of the upstream's document this function uses.
#[derive(Debug, Deserialize)]
struct Repository {
    name: String,
    stars: u64,
    #[serde(default)]
    tags: Vec<String>,
    owner: Owner,
}

#[derive(Debug, Deserialize)]
struct Owner {
    login: String,
}

/// What this function answers.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// `owner/name`.
    pub repository: String,
    /// The upstream's star count.
    pub stars: u64,
    /// The upstream's tags, in order.
    pub tags: Vec<String>,
}

/// Why there is no summary, as the client is told.
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    /// The answer's status.
    pub status: StatusCode,
    /// A short name: an outbound error kind, `upstream-status`, `upstream-json` or `config`.
    pub error: String,
    /// What went wrong.
    pub message: String,
}

impl Failure {
    fn new(status: StatusCode, error: &str, message: String) -> Failure {
        Failure {
            status,
            error: error.to_owned(),
            message,
        }
    }

    /// A failed call: 504 for a timeout, 502 with the kind for anything else.
    fn call(error: &http::Error) -> Failure {
        let status = match error.kind() {
            ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        };
        Failure::new(status, error.kind().as_str(), error.message().to_owned())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        // The log gets it too: the client may not be the one who can fix it.
        eprintln!(
            "fetch-json: {} ({}): {}",
            self.status, self.error, self.message
        );
        let body = serde_json::json!({ "error": self.error, "message": self.message });
        (self.status, Json(body)).into_response()
    }
}

/// Calls `url` and summarizes its answer.
pub fn fetch_summary(url: &str) -> Result<Summary, Failure> {
    let request = Request::get(url)
        .header("accept", "application/json")
        // Some APIs (GitHub's among them) refuse requests without one.
        .header("user-agent", "edgefn-fetch-json")
        .body(())
        .map_err(|e| {
            Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "config",
                format!("UPSTREAM_URL {url:?} is not a URL: {e}"),
            )
        })?;
    let options = Options::new()
        .timeout(CALL_TIMEOUT)
        .follow_redirects(MAX_REDIRECTS);
    let response = http::send_with(request, &options).map_err(|e| Failure::call(&e))?;
    if !response.status().is_success() {
        return Err(Failure::new(
            StatusCode::BAD_GATEWAY,
            "upstream-status",
            format!("{url} answered {}", response.status()),
        ));
    }
    let repository: Repository = serde_json::from_slice(response.body()).map_err(|e| {
        Failure::new(
            StatusCode::BAD_GATEWAY,
            "upstream-json",
            format!("{url} did not answer the expected JSON: {e}"),
        )
    })?;
    Ok(Summary {
        repository: format!("{}/{}", repository.owner.login, repository.name),
        stars: repository.stars,
        tags: repository.tags,
    })
}

/// Answers the summary of the document at `UPSTREAM_URL`.
pub fn handle(_req: edgefn::Request, ctx: &Context) -> Response {
    let Some(url) = ctx.var("UPSTREAM_URL") else {
        return Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "config",
            "UPSTREAM_URL is not set: add env = { UPSTREAM_URL = \"https://...\" } to this function in the manifest"
                .to_owned(),
        )
        .into_response();
    };
    match fetch_summary(&url) {
        Ok(summary) => Json(summary).into_response(),
        Err(failure) => failure.into_response(),
    }
}

edgefn::export!(handle);

#[cfg(test)]
mod tests {
    use super::*;
    use edgefn::Bytes;
    use edgefn::http::{Response as HttpResponse, testing};

    const URL: &str = "https://api.example.com/repos/edgefn";
    const DOCUMENT: &str = r#"{"name":"edgefn","stars":42,"tags":["wasm","edge"],"owner":{"login":"edgefn-dev"},"extra":1}"#;

    fn answering(
        status: u16,
        body: &'static str,
    ) -> impl FnMut(Request<Bytes>, Option<Duration>) -> testing::Answer {
        move |req, timeout| {
            assert_eq!(req.uri(), URL);
            assert_eq!(req.headers()["accept"], "application/json");
            assert_eq!(timeout, Some(CALL_TIMEOUT));
            Ok(HttpResponse::builder()
                .status(status)
                .body(Bytes::from_static(body.as_bytes()))
                .unwrap())
        }
    }

    #[test]
    fn summarizes_the_upstream_document() {
        let summary = testing::with_host(answering(200, DOCUMENT), || fetch_summary(URL));
        assert_eq!(
            summary,
            Ok(Summary {
                repository: "edgefn-dev/edgefn".into(),
                stars: 42,
                tags: vec!["wasm".into(), "edge".into()],
            })
        );
        let json = serde_json::to_string(&summary.unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"repository":"edgefn-dev/edgefn","stars":42,"tags":["wasm","edge"]}"#
        );
    }

    #[test]
    fn an_upstream_error_status_is_a_502() {
        let failure =
            testing::with_host(answering(404, "not here"), || fetch_summary(URL)).unwrap_err();
        assert_eq!(failure.status, StatusCode::BAD_GATEWAY);
        assert_eq!(failure.error, "upstream-status");
        assert!(failure.message.contains("404"), "{}", failure.message);
    }

    #[test]
    fn json_of_another_shape_is_a_502() {
        let failure = testing::with_host(answering(200, r#"{"name":"x"}"#), || fetch_summary(URL))
            .unwrap_err();
        assert_eq!(
            (failure.status, failure.error.as_str()),
            (StatusCode::BAD_GATEWAY, "upstream-json")
        );
        assert!(failure.message.contains("stars"), "{}", failure.message);
    }

    #[test]
    fn failed_calls_answer_their_kind() {
        for (kind, status) in [
            (ErrorKind::Timeout, StatusCode::GATEWAY_TIMEOUT),
            (ErrorKind::Denied, StatusCode::BAD_GATEWAY),
            (ErrorKind::Unavailable, StatusCode::BAD_GATEWAY),
            (ErrorKind::Limit, StatusCode::BAD_GATEWAY),
        ] {
            let failure = testing::with_host(
                move |_, _| Err((kind, format!("{kind} for the test"))),
                || fetch_summary(URL),
            )
            .unwrap_err();
            assert_eq!(failure.status, status, "{kind}");
            assert_eq!(failure.error, kind.as_str());
            assert_eq!(failure.message, format!("{kind} for the test"));

            let response = failure.into_response();
            let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
            assert_eq!(body["error"], kind.as_str());
        }
    }

    #[test]
    fn a_url_that_does_not_parse_is_a_config_error() {
        let failure = fetch_summary("not a url").unwrap_err();
        assert_eq!(
            (failure.status, failure.error.as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, "config")
        );
    }
}

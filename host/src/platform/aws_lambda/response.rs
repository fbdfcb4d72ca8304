//! Guest responses out, Lambda results in the shape of the event that came in.
//!
//! - API Gateway REST: `statusCode`, `headers` (first value of each) and `multiValueHeaders` (all
//!   values; API Gateway prefers them when both name a header), `body`, `isBase64Encoded`.
//! - HTTP API / Function URL: `statusCode`, `headers` (repeats comma-joined), `cookies` (every
//!   `Set-Cookie`, which cannot be joined), `body`, `isBase64Encoded`.
//! - ALB: `statusCode`, `statusDescription`, and `multiValueHeaders` exactly when the request used
//!   them, else `headers`.
//! - Anything else: the body itself is the result (see [`encode`]).
//!
//! Bodies with a text content type travel as text, everything else base64 with `isBase64Encoded`.

use super::errors::{ErrorReport, error_type};
use super::events::EventShape;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Response, header};
use serde::Serialize;
use serde_json::{Map, Value};

/// Largest result a synchronous invocation may return (Lambda's own limit, bytes of JSON).
pub const MAX_RESULT_BYTES: usize = 6 * 1024 * 1024;
/// Largest result an ALB accepts from a Lambda target (bytes of JSON).
pub const MAX_ALB_RESULT_BYTES: usize = 1024 * 1024;
/// How much of a failing non-HTTP answer is quoted in the error message.
const ERROR_BODY_EXCERPT_BYTES: usize = 1024;

/// What to post for an invocation the guest answered.
#[derive(Debug)]
pub enum Outcome {
    /// Post to `/response`.
    Result(Vec<u8>),
    /// Post to `/error`.
    Error(ErrorReport),
}

/// The largest result Lambda passes on for events of this shape.
pub fn max_result_bytes(shape: &EventShape) -> usize {
    match shape {
        EventShape::Alb { .. } => MAX_ALB_RESULT_BYTES,
        _ => MAX_RESULT_BYTES,
    }
}

/// Encodes the guest's response for the event shape it answers.
///
/// For a non-HTTP event the body is the result: a body that is JSON is passed through as is, other
/// UTF-8 text becomes a JSON string, other bytes a base64 JSON string, and an empty body `null`. A
/// 5xx answer to a non-HTTP event fails the invocation (so SQS and friends retry instead of
/// deleting the message).
pub fn encode(shape: &EventShape, response: &Response<Bytes>) -> Outcome {
    let json = match shape {
        EventShape::RestApi => to_json(&rest_api(response)),
        EventShape::HttpApi => to_json(&http_api(response)),
        EventShape::Alb { multi_value } => to_json(&alb(response, *multi_value)),
        EventShape::NonHttp { .. } => return non_http(response),
    };
    Outcome::Result(json)
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    // Serialising plain structs of strings, numbers and maps into memory cannot fail.
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RestApiResult {
    status_code: u16,
    headers: Map<String, Value>,
    multi_value_headers: Map<String, Value>,
    body: String,
    is_base64_encoded: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpApiResult {
    status_code: u16,
    headers: Map<String, Value>,
    // Always present, even empty: AWS takes it either way, but the Function URL emulator in
    // cargo-lambda (and AWS's own Rust types) treat a missing `cookies` as a malformed response.
    cookies: Vec<String>,
    body: String,
    is_base64_encoded: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlbResult {
    status_code: u16,
    status_description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    multi_value_headers: Option<Map<String, Value>>,
    body: String,
    is_base64_encoded: bool,
}

fn rest_api(response: &Response<Bytes>) -> RestApiResult {
    let (body, is_base64_encoded) = encode_body(response.headers(), response.body());
    RestApiResult {
        status_code: response.status().as_u16(),
        headers: first_values(response.headers()),
        multi_value_headers: all_values(response.headers()),
        body,
        is_base64_encoded,
    }
}

fn http_api(response: &Response<Bytes>) -> HttpApiResult {
    let (body, is_base64_encoded) = encode_body(response.headers(), response.body());
    let mut headers = response.headers().clone();
    let cookies = match headers.entry(header::SET_COOKIE) {
        header::Entry::Occupied(entry) => entry.remove_entry_mult().1.map(text).collect(),
        header::Entry::Vacant(_) => Vec::new(),
    };
    HttpApiResult {
        status_code: response.status().as_u16(),
        headers: joined_values(&headers),
        cookies,
        body,
        is_base64_encoded,
    }
}

fn alb(response: &Response<Bytes>, multi_value: bool) -> AlbResult {
    let (body, is_base64_encoded) = encode_body(response.headers(), response.body());
    let status = response.status();
    let headers = response.headers();
    let (single, multi) = if multi_value {
        (None, Some(all_values(headers)))
    } else {
        let cookies = headers.get_all(header::SET_COOKIE).iter().count();
        if cookies > 1 {
            // Without multi-value headers an ALB keeps one Set-Cookie; say so rather than
            // silently losing cookies.
            tracing::warn!(
                cookies,
                "the response sets {cookies} cookies but the ALB target group has multi-value headers off, so only the last reaches the client; turn on multi-value headers for the target group"
            );
        }
        (Some(joined_values(headers)), None)
    };
    AlbResult {
        status_code: status.as_u16(),
        status_description: format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Unknown")
        ),
        headers: single,
        multi_value_headers: multi,
        body,
        is_base64_encoded,
    }
}

fn non_http(response: &Response<Bytes>) -> Outcome {
    let body = response.body();
    if response.status().is_server_error() {
        let excerpt = &body[..body.len().min(ERROR_BODY_EXCERPT_BYTES)];
        return Outcome::Error(ErrorReport::new(
            error_type::FUNCTION_ERROR,
            format!(
                "the function answered HTTP {}: {}",
                response.status(),
                String::from_utf8_lossy(excerpt)
            ),
        ));
    }
    if body.is_empty() {
        return Outcome::Result(b"null".to_vec());
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        return Outcome::Result(body.to_vec());
    }
    let text = match std::str::from_utf8(body) {
        Ok(text) => text.to_owned(),
        Err(_) => base64::engine::general_purpose::STANDARD.encode(body),
    };
    Outcome::Result(to_json(&text))
}

fn text(value: http::HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

fn first_values(headers: &HeaderMap) -> Map<String, Value> {
    headers
        .keys()
        .filter_map(|name| {
            let value = headers.get(name)?;
            Some((name.to_string(), Value::String(text(value.clone()))))
        })
        .collect()
}

fn all_values(headers: &HeaderMap) -> Map<String, Value> {
    headers
        .keys()
        .map(|name| {
            let values = headers
                .get_all(name)
                .iter()
                .map(|v| Value::String(text(v.clone())))
                .collect();
            (name.to_string(), Value::Array(values))
        })
        .collect()
}

/// One string per header: repeats joined with ", ", except `Set-Cookie`, which cannot be joined
/// (its dates hold commas) and keeps its last value, as an ALB would.
fn joined_values(headers: &HeaderMap) -> Map<String, Value> {
    headers
        .keys()
        .map(|name| {
            let values: Vec<String> = headers.get_all(name).iter().cloned().map(text).collect();
            let joined = if name == header::SET_COOKIE {
                values.last().cloned().unwrap_or_default()
            } else {
                values.join(", ")
            };
            (name.to_string(), Value::String(joined))
        })
        .collect()
}

/// True for media types that are text: `text/*`, JSON, XML, JavaScript, YAML, form data, and the
/// `+json` / `+xml` structured suffixes.
pub fn is_text_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || essence.ends_with("+yaml")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/ecmascript"
                | "application/x-javascript"
                | "application/yaml"
                | "application/x-yaml"
                | "application/x-www-form-urlencoded"
                | "application/graphql"
        )
}

/// The body as Lambda carries it: `(text, false)` or `(base64, true)`. Text goes as text when its
/// content type says text (or there is none) and it is UTF-8; compressed bodies always go base64.
pub fn encode_body(headers: &HeaderMap, body: &[u8]) -> (String, bool) {
    if body.is_empty() {
        return (String::new(), false);
    }
    let compressed = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|e| !e.as_bytes().eq_ignore_ascii_case(b"identity"));
    let text_type = match headers.get(header::CONTENT_TYPE) {
        Some(ct) => ct.to_str().is_ok_and(is_text_content_type),
        None => true,
    };
    if !compressed
        && text_type
        && let Ok(text) = std::str::from_utf8(body)
    {
        return (text.to_owned(), false);
    }
    (base64::engine::general_purpose::STANDARD.encode(body), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &'static [u8]) -> Response<Bytes> {
        let mut builder = Response::builder().status(status);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(Bytes::from_static(body)).unwrap()
    }

    fn json(outcome: Outcome) -> Value {
        match outcome {
            Outcome::Result(bytes) => serde_json::from_slice(&bytes).unwrap(),
            Outcome::Error(report) => panic!("unexpected error {report:?}"),
        }
    }

    #[test]
    fn text_types() {
        for t in [
            "text/plain; charset=utf-8",
            "Application/JSON",
            "application/problem+json",
            "image/svg+xml",
            "application/javascript",
            "application/yaml",
        ] {
            assert!(is_text_content_type(t), "{t}");
        }
        for t in [
            "application/octet-stream",
            "image/png",
            "application/pdf",
            "",
        ] {
            assert!(!is_text_content_type(t), "{t}");
        }
    }

    #[test]
    fn bodies_are_text_or_base64() {
        let mut headers = HeaderMap::new();
        assert_eq!(encode_body(&headers, b"hi"), ("hi".into(), false));
        assert_eq!(encode_body(&headers, b"\xff"), ("/w==".into(), true));
        headers.insert(header::CONTENT_TYPE, "image/png".parse().unwrap());
        assert_eq!(encode_body(&headers, b"hi"), ("aGk=".into(), true));
        headers.insert(header::CONTENT_TYPE, "text/html".parse().unwrap());
        assert_eq!(encode_body(&headers, b"hi"), ("hi".into(), false));
        headers.insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
        assert_eq!(encode_body(&headers, b"hi"), ("aGk=".into(), true));
    }

    #[test]
    fn non_http_results() {
        let shape = EventShape::NonHttp {
            source: "aws:sqs".into(),
        };
        let result = |r| match encode(&shape, &r) {
            Outcome::Result(bytes) => String::from_utf8(bytes).unwrap(),
            Outcome::Error(e) => panic!("{e:?}"),
        };
        assert_eq!(result(response(200, &[], br#"{"a": 1}"#)), r#"{"a": 1}"#);
        assert_eq!(result(response(200, &[], b"plain\n")), r#""plain\n""#);
        assert_eq!(result(response(200, &[], b"")), "null");
        assert_eq!(result(response(404, &[], b"\xff")), r#""/w==""#);
        let Outcome::Error(report) = encode(&shape, &response(503, &[], b"down")) else {
            panic!("a 5xx must fail the invocation");
        };
        assert_eq!(report.error_type, error_type::FUNCTION_ERROR);
        assert!(report.message.contains("503") && report.message.contains("down"));
    }

    #[test]
    fn alb_status_description_for_unknown_codes() {
        let out = json(encode(
            &EventShape::Alb { multi_value: false },
            &response(599, &[], b""),
        ));
        assert_eq!(out["statusDescription"], "599 Unknown");
    }
}

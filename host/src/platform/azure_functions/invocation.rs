//! Invocation mode, the Functions host's default protocol: `POST /<FunctionName>` with
//! `{"Data": {"req": {"Url", "Method", "Query", "Headers", "Params", "Identities", "Body"}},
//! "Metadata": {...}}`, answered (always HTTP 200, or the host fails the invocation) with
//! `{"Outputs": {"res": {"statusCode", "headers", "body"}}, "Logs": [...], "ReturnValue": null}`.
//!
//! The request side is lossless for what the host sends: `Headers` values are arrays (repeats
//! kept), the query comes from the raw `Url`, and `Body` is base64 exactly when the host encoded it
//! (media type `application/octet-stream` or `multipart/*`), else text. The response side has
//! limits of the protocol itself: one string per header (repeats are comma-joined; extra
//! `Set-Cookie` values are dropped with a log line) and a text body (a body that is not UTF-8 goes
//! out base64-encoded, marked with [`BODY_ENCODING_HEADER`]). Forwarding mode has neither limit.

use super::Handler;
use super::contract::{HTTP_INPUT_BINDING, HTTP_OUTPUT_BINDING};
use crate::deploy::invoker::PlatformCall;
use crate::http::body::{DEFAULT_BODY_READ_TIMEOUT, read_limited};
use crate::http::ids::{tag_request_id, traceparent};
use crate::http::respond::{TimeoutStatus, failure_response, plain_bytes, plain_text};
use crate::http::server::Body;
use crate::runtime::guest_log::MAX_LINE_BYTES;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, header,
};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Set on a response whose binary body had to travel base64-encoded.
pub const BODY_ENCODING_HEADER: &str = "x-edgefn-body-encoding";
/// Prefix of the handler's own lines in `Logs`, to tell them from the guest's.
pub const LOG_PREFIX: &str = "edgefn: ";
/// How much larger than the body the JSON payload may be: JSON escapes one byte as at most six
/// (`\u00XX`), and base64 needs only 4/3.
pub const PAYLOAD_EXPANSION: usize = 6;
/// Room in the payload for everything but the body (URL, headers, metadata).
pub const PAYLOAD_OVERHEAD: usize = 1 << 20;

/// The invocation payload; `Metadata` is not needed for HTTP and is ignored.
#[derive(Debug, Deserialize)]
pub struct InvocationPayload {
    /// Trigger and input binding values by binding name.
    #[serde(rename = "Data")]
    pub data: Map<String, Value>,
}

/// The HTTP trigger's value in `Data`. `Params` and `Identities` are not passed to the guest.
#[derive(Debug, Deserialize)]
pub struct HttpTriggerData {
    /// The original URL, route prefix and raw query included.
    #[serde(rename = "Url")]
    pub url: String,
    /// The request method.
    #[serde(rename = "Method")]
    pub method: String,
    /// The query as an object (repeats comma-joined), or that object as a JSON string.
    #[serde(rename = "Query", default)]
    pub query: Value,
    /// Header name → array of values (a single string is accepted too).
    #[serde(rename = "Headers", default)]
    pub headers: Option<Map<String, Value>>,
    /// Text, JSON, or base64 for binary media types; absent when there is no body.
    #[serde(rename = "Body", default)]
    pub body: Value,
}

/// The response payload.
#[derive(Debug, Serialize, Deserialize)]
pub struct InvocationResult {
    /// Output binding values; here only the HTTP response.
    #[serde(rename = "Outputs")]
    pub outputs: BTreeMap<String, HttpOutput>,
    /// Lines for the invocation log (Application Insights on Azure).
    #[serde(rename = "Logs")]
    pub logs: Vec<String>,
    /// Unused: the response goes through the `res` binding.
    #[serde(rename = "ReturnValue")]
    pub return_value: Option<Value>,
}

/// The `res` output: an HTTP response as the Functions host reads it.
#[derive(Debug, Serialize, Deserialize)]
pub struct HttpOutput {
    /// The status code, as a string.
    #[serde(rename = "statusCode")]
    pub status_code: String,
    /// One value per header name.
    pub headers: BTreeMap<String, String>,
    /// The body as text; always present, since `res` is only an HTTP response when it has one.
    pub body: String,
}

/// Runs the guest on an invocation payload and answers the Functions host.
pub async fn handle(
    handler: &Handler,
    request: Request<Incoming>,
    request_id: &str,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body_limit = handler.function.spec().limits().max_request_bytes;
    let payload_limit = body_limit
        .saturating_mul(PAYLOAD_EXPANSION)
        .saturating_add(PAYLOAD_OVERHEAD);
    let payload = match read_limited(
        &parts.headers,
        body,
        payload_limit,
        DEFAULT_BODY_READ_TIMEOUT,
    )
    .await
    {
        Ok(payload) => payload,
        Err(response) => return response,
    };
    let guest_request = match parse(&payload, &handler.route_prefix) {
        Ok(guest_request) => guest_request,
        Err(problem) => {
            tracing::warn!(request_id, "refused an invocation payload: {problem}");
            return plain_text(
                StatusCode::BAD_REQUEST,
                &format!("invalid invocation payload: {problem}"),
            );
        }
    };
    let mut logs = Vec::new();
    let mut response = if guest_request.body().len() > body_limit {
        plain_bytes(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is larger than this function's limit of {body_limit} bytes"),
        )
    } else {
        let call = PlatformCall {
            request_id,
            deadline: Some(handler.deadline()),
            traceparent: traceparent(&parts.headers),
        };
        let invocation = handler.function.invoke(&guest_request, &call).await;
        logs = guest_log_lines(&invocation.output.stdout, &invocation.output.stderr);
        match invocation.result {
            Ok(response) => response,
            Err(error) => {
                logs.push(format!(
                    "{LOG_PREFIX}invocation failed ({}): {error}",
                    error.kind().as_str()
                ));
                failure_response(
                    handler.function_name(),
                    request_id,
                    &error,
                    TimeoutStatus::InternalError,
                )
            }
        }
    };
    tag_request_id(response.headers_mut(), request_id);
    let output = http_output(response, &mut logs);
    let result = InvocationResult {
        outputs: BTreeMap::from([(HTTP_OUTPUT_BINDING.to_owned(), output)]),
        logs,
        return_value: None,
    };
    match serde_json::to_vec(&result) {
        Ok(json) => {
            let mut response = Response::new(Body::from(Bytes::from(json)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => plain_text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("could not encode the invocation result: {error}"),
        ),
    }
}

/// Turns an invocation payload into the request the guest sees. Errors say which field is wrong.
pub fn parse(payload: &[u8], route_prefix: &str) -> Result<Request<Bytes>, String> {
    let payload: InvocationPayload = serde_json::from_slice(payload).map_err(|e| {
        format!("{e} (expected {{\"Data\": {{\"{HTTP_INPUT_BINDING}\": {{\"Url\", \"Method\", \"Headers\", \"Body\", ...}}}}, \"Metadata\": {{...}}}})")
    })?;
    let trigger = http_trigger(payload.data)?;
    let trigger: HttpTriggerData =
        serde_json::from_value(trigger).map_err(|e| format!("Data.{HTTP_INPUT_BINDING}: {e}"))?;
    guest_request(trigger, route_prefix)
}

/// `Data.req`, or else the one value of `Data` that looks like an HTTP request (a renamed binding).
fn http_trigger(mut data: Map<String, Value>) -> Result<Value, String> {
    if let Some(trigger) = data.remove(HTTP_INPUT_BINDING) {
        return Ok(trigger);
    }
    let mut candidates = data
        .into_iter()
        .filter(|(_, value)| value.get("Url").is_some() && value.get("Method").is_some());
    match (candidates.next(), candidates.next()) {
        (Some((_, trigger)), None) => Ok(trigger),
        _ => Err(format!(
            "Data holds no HTTP request: expected Data.{HTTP_INPUT_BINDING} (the httpTrigger binding's name in function.json)"
        )),
    }
}

fn guest_request(trigger: HttpTriggerData, route_prefix: &str) -> Result<Request<Bytes>, String> {
    let method = Method::from_bytes(trigger.method.as_bytes())
        .map_err(|_| format!("Method {:?} is not an HTTP method", trigger.method))?;
    let url = Uri::try_from(trigger.url.as_str())
        .map_err(|e| format!("Url {:?} is not a valid URL: {e}", trigger.url))?;
    let path = if route_prefix.is_empty() {
        url.path()
    } else {
        super::contract::strip_prefix_segment(url.path(), route_prefix).unwrap_or(url.path())
    };
    let query = match url.query() {
        Some(query) => Some(query.to_owned()),
        None => query_from_object(&trigger.query)?,
    };
    let target = super::forwarding::guest_uri(path, query.as_deref())?;
    let mut headers = HeaderMap::new();
    for (name, values) in trigger.headers.unwrap_or_default() {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("Headers: {name:?} is not a valid header name"))?;
        let values = match values {
            Value::Array(values) => values,
            single @ Value::String(_) => vec![single],
            Value::Null => Vec::new(),
            other => {
                return Err(format!(
                    "Headers.{name}: expected an array of strings, not {other}"
                ));
            }
        };
        for value in values {
            let Value::String(value) = value else {
                return Err(format!(
                    "Headers.{name}: expected an array of strings, not {value}"
                ));
            };
            let value = HeaderValue::from_str(&value)
                .map_err(|_| format!("Headers.{name}: {value:?} is not a valid header value"))?;
            headers.append(header_name.clone(), value);
        }
    }
    let body = decode_body(trigger.body, &headers)?;
    // The host re-encodes the body (text, JSON); give the guest a length that matches what it gets.
    let had_length = headers.remove(header::CONTENT_LENGTH).is_some();
    if had_length || !body.is_empty() {
        headers.remove(header::TRANSFER_ENCODING);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = target;
    *request.headers_mut() = headers;
    Ok(request)
}

/// A query string from `Query` when `Url` had none: an object, or that object serialized (the
/// docs show the string `"{}"`). Anything else is taken as a raw query string.
fn query_from_object(query: &Value) -> Result<Option<String>, String> {
    let parsed;
    let object = match query {
        Value::Null => return Ok(None),
        Value::Object(object) => object,
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => {
                parsed = object;
                &parsed
            }
            _ => {
                let raw = text.trim_start_matches('?');
                return Ok((!raw.is_empty()).then(|| raw.to_owned()));
            }
        },
        other => return Err(format!("Query: expected an object, not {other}")),
    };
    if object.is_empty() {
        return Ok(None);
    }
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in object {
        match value {
            Value::String(value) => serializer.append_pair(key, value),
            other => serializer.append_pair(key, &other.to_string()),
        };
    }
    Ok(Some(serializer.finish()))
}

/// The body bytes from `Body`: base64 when the host encoded it (its rule: media type
/// `application/octet-stream` or containing `multipart/`), else the text; a JSON value (older
/// hosts parse JSON bodies) is serialized back.
fn decode_body(body: Value, headers: &HeaderMap) -> Result<Bytes, String> {
    match body {
        Value::Null => Ok(Bytes::new()),
        Value::String(text) if is_octet_or_multipart(headers) => BASE64
            .decode(text.as_bytes())
            .map(Bytes::from)
            .map_err(|e| {
                format!("Body is not valid base64, which it must be for Content-Type application/octet-stream and multipart/*: {e}")
            }),
        Value::String(text) => Ok(Bytes::from(text)),
        json => serde_json::to_vec(&json)
            .map(Bytes::from)
            .map_err(|e| format!("Body: {e}")),
    }
}

fn is_octet_or_multipart(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media_type == "application/octet-stream" || media_type.contains("multipart/")
}

/// Framing headers the Functions host sets itself for the response it writes.
fn is_framing_header(name: &HeaderName) -> bool {
    [
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::CONNECTION,
    ]
    .contains(name)
}

/// The guest's response as the `res` output. What the protocol cannot carry is noted in `logs`.
pub fn http_output(response: Response<Bytes>, logs: &mut Vec<String>) -> HttpOutput {
    let (parts, body) = response.into_parts();
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut dropped_cookies = 0;
    for (name, value) in &parts.headers {
        if is_framing_header(name) {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes());
        match headers.get_mut(name.as_str()) {
            None => {
                headers.insert(name.as_str().to_owned(), value.into_owned());
            }
            // Cookies cannot be comma-joined (their dates contain commas).
            Some(_) if name == header::SET_COOKIE => dropped_cookies += 1,
            Some(joined) => {
                joined.push_str(", ");
                joined.push_str(&value);
            }
        }
    }
    if dropped_cookies > 0 {
        logs.push(format!(
            "{LOG_PREFIX}{dropped_cookies} Set-Cookie header(s) after the first were dropped: the invocation protocol carries one value per header (enable enableForwardingHttpRequest to keep them)"
        ));
    }
    let body = match String::from_utf8(body.to_vec()) {
        Ok(text) => text,
        Err(binary) => {
            let bytes = binary.into_bytes();
            logs.push(format!(
                "{LOG_PREFIX}the {}-byte response body is not text and was sent base64-encoded ({BODY_ENCODING_HEADER}: base64): the invocation protocol carries only text (enable enableForwardingHttpRequest for byte-exact bodies)",
                bytes.len()
            ));
            headers.insert(BODY_ENCODING_HEADER.to_owned(), "base64".to_owned());
            BASE64.encode(bytes)
        }
    };
    HttpOutput {
        status_code: parts.status.as_u16().to_string(),
        headers,
        body,
    }
}

/// The guest's stdout then stderr as log lines: split at newlines, empty lines skipped, long lines
/// split, as the host log shows them.
pub fn guest_log_lines(stdout: &[u8], stderr: &[u8]) -> Vec<String> {
    [stdout, stderr]
        .into_iter()
        .flat_map(|stream| stream.split(|&b| b == b'\n'))
        .filter(|line| !line.is_empty())
        .flat_map(|line| line.chunks(MAX_LINE_BYTES))
        .map(|chunk| {
            String::from_utf8_lossy(chunk)
                .trim_end_matches('\r')
                .to_owned()
        })
        .filter(|line| !line.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(payload: Value) -> Result<Request<Bytes>, String> {
        parse(payload.to_string().as_bytes(), "api")
    }

    #[test]
    fn the_documented_example_parses() {
        // The request from the custom handler docs, `Query` as the string "{}".
        let req = request(json!({
            "Data": {"req": {
                "Url": "http://localhost:7071/api/order",
                "Method": "POST",
                "Query": "{}",
                "Headers": {"Content-Type": ["application/json"]},
                "Params": {},
                "Body": "{\"id\":1005,\"quantity\":2,\"color\":\"black\"}"
            }},
            "Metadata": {}
        }))
        .unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri(), "/order");
        assert_eq!(req.headers()["content-type"], "application/json");
        assert_eq!(req.headers()["content-length"], "40");
        assert_eq!(
            req.body().as_ref(),
            br#"{"id":1005,"quantity":2,"color":"black"}"#
        );
    }

    #[test]
    fn query_headers_and_binary_bodies() {
        let req = request(json!({
            "Data": {"req": {
                "Url": "https://app.azurewebsites.net/api/echo/x?a=1&a=2&b=%20",
                "Method": "PUT",
                "Query": {"a": "1,2", "b": " "},
                "Headers": {"X-K": ["1", "2"], "Content-Type": ["application/octet-stream"], "Content-Length": ["3"]},
                "Body": "AAH/"
            }}
        }))
        .unwrap();
        assert_eq!(req.uri(), "/echo/x?a=1&a=2&b=%20", "raw query from Url");
        let repeated: Vec<_> = req.headers().get_all("x-k").iter().collect();
        assert_eq!(repeated, ["1", "2"]);
        assert_eq!(req.body().as_ref(), b"\x00\x01\xff");

        let multipart = request(json!({"Data": {"req": {
            "Url": "http://h/api/f", "Method": "POST",
            "Headers": {"content-type": "multipart/form-data; boundary=x"},
            "Body": "aGk="
        }}}))
        .unwrap();
        assert_eq!(multipart.body().as_ref(), b"hi");
    }

    #[test]
    fn query_object_fills_in_when_the_url_has_none() {
        let req = request(json!({"Data": {"req": {
            "Url": "http://h/api/f", "Method": "GET", "Query": {"q": "a b", "n": "1"}
        }}}))
        .unwrap();
        assert_eq!(req.uri(), "/f?n=1&q=a+b");
        let req = request(json!({"Data": {"req": {
            "Url": "http://h/api", "Method": "GET", "Query": "{\"x\":\"y\"}"
        }}}))
        .unwrap();
        assert_eq!(req.uri(), "/?x=y");
        assert!(req.body().is_empty());
        assert!(req.headers().get("content-length").is_none());
    }

    #[test]
    fn json_bodies_and_renamed_bindings() {
        let req = request(json!({"Data": {"request": {
            "Url": "http://h/api/json", "Method": "POST",
            "Headers": {"Content-Type": ["application/json"], "Content-Length": ["99"]},
            "Body": {"name": "Ada"}
        }}}))
        .unwrap();
        assert_eq!(req.body().as_ref(), br#"{"name":"Ada"}"#);
        assert_eq!(req.headers()["content-length"], "14");
    }

    #[test]
    fn malformed_payloads_name_the_problem() {
        let problem = |payload: &str| parse(payload.as_bytes(), "api").unwrap_err();
        assert!(problem("").contains("EOF"));
        assert!(problem("[1,2]").contains("Data"));
        assert!(problem(r#"{"Data": {}}"#).contains("Data.req"));
        assert!(problem(r#"{"Data": {"req": {"Method": "GET"}}}"#).contains("Url"));
        assert!(
            problem(r#"{"Data": {"req": {"Url": "http://h/", "Method": "G T"}}}"#)
                .contains("Method")
        );
        assert!(problem(r#"{"Data": {"req": {"Url": "::", "Method": "GET"}}}"#).contains("Url"));
        assert!(
            problem(r#"{"Data": {"req": {"Url": "http://h/", "Method": "GET", "Headers": {"a b": ["x"]}}}}"#)
                .contains("header name")
        );
        assert!(
            problem(
                r#"{"Data": {"req": {"Url": "http://h/", "Method": "GET", "Headers": {"x": [1]}}}}"#
            )
            .contains("Headers.x")
        );
        assert!(
            problem(r#"{"Data": {"req": {"Url": "http://h/", "Method": "GET", "Headers": {"Content-Type": ["application/octet-stream"]}, "Body": "%%%"}}}"#)
                .contains("base64")
        );
        assert!(
            problem(r#"{"Data": {"req": {"Url": "http://h/", "Method": "GET", "Query": 5}}}"#)
                .contains("Query")
        );
    }

    #[test]
    fn responses_fit_the_protocol() {
        let mut response = Response::new(Bytes::from_static(b"hello"));
        *response.status_mut() = StatusCode::CREATED;
        let headers = response.headers_mut();
        headers.append("x-k", "1".parse().unwrap());
        headers.append("x-k", "2".parse().unwrap());
        headers.append(
            "set-cookie",
            "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT"
                .parse()
                .unwrap(),
        );
        headers.append("set-cookie", "b=2".parse().unwrap());
        headers.append("content-length", "5".parse().unwrap());
        let mut logs = Vec::new();
        let output = http_output(response, &mut logs);
        assert_eq!(output.status_code, "201");
        assert_eq!(output.headers["x-k"], "1, 2");
        assert_eq!(
            output.headers["set-cookie"],
            "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT"
        );
        assert!(!output.headers.contains_key("content-length"));
        assert_eq!(output.body, "hello");
        assert_eq!(logs.len(), 1, "{logs:?}");

        let mut logs = Vec::new();
        let binary = http_output(Response::new(Bytes::from_static(b"\xff\x00")), &mut logs);
        assert_eq!(binary.body, "/wA=");
        assert_eq!(binary.headers[BODY_ENCODING_HEADER], "base64");
        assert!(logs[0].starts_with(LOG_PREFIX));
    }

    #[test]
    fn guest_output_becomes_log_lines() {
        let long = vec![b'x'; MAX_LINE_BYTES + 1];
        let mut stdout = b"one\r\n\ntwo\n".to_vec();
        stdout.extend_from_slice(&long);
        let lines = guest_log_lines(&stdout, b"oops\n");
        assert_eq!(lines.len(), 5);
        assert_eq!(&lines[..2], ["one", "two"]);
        assert_eq!(lines[2].len(), MAX_LINE_BYTES);
        assert_eq!(lines[3], "x");
        assert_eq!(lines[4], "oops");
    }
}

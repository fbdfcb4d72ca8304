//! Lambda events in, guest requests out.
//!
//! An event is recognised by its shape (as AWS's own runtimes do): `requestContext.elb` is an ALB
//! target-group event, `version: "2.0"` or `requestContext.http` is an HTTP API (payload 2.0) or
//! Function URL event, `httpMethod` is an API Gateway REST (payload 1.0) event. Anything else (SQS,
//! S3, EventBridge, a direct invoke) reaches the guest as `POST /` with the event JSON as its body and
//! [`EVENT_SOURCE_HEADER`] naming where it came from.
//!
//! Everything here parses bytes from outside: it returns [`InvalidEvent`] for what it cannot use and
//! never panics. Single headers it cannot represent are skipped with a warning rather than failing
//! the whole request.

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// Request header that tells the guest where a non-HTTP event came from (`aws:sqs`, `aws:s3`,
/// `aws.events`, ... or [`DIRECT_INVOKE_SOURCE`]).
pub const EVENT_SOURCE_HEADER: &str = "x-edgefn-event-source";
/// Source reported for events that name none (a direct `aws lambda invoke`, a Step Functions task).
pub const DIRECT_INVOKE_SOURCE: &str = "direct";
/// Event sources longer than this are not a name but something odd; they are reported as direct.
const MAX_SOURCE_LEN: usize = 128;

/// Bytes left as they are in a path taken from an event: everything valid in a URI path, including
/// `%` so that an already percent-encoded path is not encoded twice.
const PATH_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');
/// Bytes escaped in a query string that arrives already encoded (ALB, HTTP API `rawQueryString`):
/// only what a URI cannot carry.
const RAW_QUERY_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');
/// Bytes escaped in a decoded query key or value (API Gateway REST): all but RFC 3986 unreserved.
const QUERY_COMPONENT_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Which kind of event came in; it decides the shape of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventShape {
    /// API Gateway REST API (proxy integration, payload 1.0).
    RestApi,
    /// API Gateway HTTP API payload 2.0, or a Lambda Function URL (same format).
    HttpApi,
    /// Application Load Balancer target group.
    Alb {
        /// The target group has multi-value headers on (the request used `multiValueHeaders`), so
        /// the response must use them too.
        multi_value: bool,
    },
    /// Not an HTTP event: the guest got the event JSON and its answer body is the result.
    NonHttp {
        /// The event source, as sent in [`EVENT_SOURCE_HEADER`].
        source: String,
    },
}

impl EventShape {
    /// Short name for logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventShape::RestApi => "apigw-rest",
            EventShape::HttpApi => "apigw-http-or-function-url",
            EventShape::Alb { .. } => "alb",
            EventShape::NonHttp { .. } => "non-http",
        }
    }
}

/// An event turned into the request the guest receives.
#[derive(Debug)]
pub struct GuestRequest {
    /// The request handed to the guest.
    pub request: Request<Bytes>,
    /// What the event was, to answer in kind.
    pub shape: EventShape,
    /// Parts of the event that had to be left out (an unrepresentable header), for the log.
    pub skipped: Vec<String>,
}

/// An event that cannot be turned into a request; the message says what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEvent(String);

/// Maps one event (the body of `/runtime/invocation/next`) to the guest's request.
pub fn map_event(event: &[u8]) -> Result<GuestRequest, InvalidEvent> {
    // Only an object can be an HTTP event (serde would also read a struct from an array).
    let is_object = event.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let probed = match is_object {
        true => serde_json::from_slice::<Probe>(event).ok(),
        false => None,
    };
    let mut probe = match probed {
        Some(probe) => probe,
        // Valid JSON of another form (an array, a string, an object with odd types) is a direct
        // invoke payload like any other; only bytes that are not JSON at all are refused.
        None => {
            serde_json::from_slice::<IgnoredAny>(event).map_err(|e| {
                InvalidEvent(format!(
                    "the event is not JSON ({e}); Lambda events and invoke payloads must be JSON"
                ))
            })?;
            Probe::default()
        }
    };
    let context = probe.request_context.take().unwrap_or_default();
    if context.elb.is_some() {
        let parsed: V1Event = parse(event, "ALB target group")?;
        let multi_value =
            parsed.multi_value_headers.is_some() || parsed.multi_value_query.is_some();
        return parsed.into_request(
            EventShape::Alb { multi_value },
            QueryEncoding::AlreadyEncoded,
        );
    }
    let is_v2 = context.http.is_some()
        || probe
            .version
            .as_ref()
            .is_some_and(|v| v.as_str() == Some("2.0"));
    if is_v2 {
        let parsed: V2Event = parse(event, "HTTP API (payload 2.0) or Function URL")?;
        return parsed.into_request();
    }
    if probe.http_method.is_some() {
        let parsed: V1Event = parse(event, "API Gateway REST")?;
        return parsed.into_request(EventShape::RestApi, QueryEncoding::Decoded);
    }
    Ok(non_http_request(event, probe.source_name()))
}

fn parse<'de, T: Deserialize<'de>>(event: &'de [u8], kind: &str) -> Result<T, InvalidEvent> {
    serde_json::from_slice(event).map_err(|e| {
        InvalidEvent(format!(
            "the event looks like an {kind} event but does not follow that format: {e}"
        ))
    })
}

/// The few fields that tell event shapes apart; everything else is skipped unread.
#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    version: Option<serde_json::Value>,
    #[serde(default)]
    http_method: Option<IgnoredAny>,
    #[serde(default)]
    request_context: Option<ProbeContext>,
    #[serde(default, rename = "Records")]
    records: Option<Vec<ProbeRecord>>,
    #[serde(default)]
    source: Option<serde_json::Value>,
}

#[derive(Default, serde::Deserialize)]
struct ProbeContext {
    #[serde(default)]
    elb: Option<IgnoredAny>,
    #[serde(default)]
    http: Option<IgnoredAny>,
}

#[derive(serde::Deserialize)]
struct ProbeRecord {
    /// SQS, S3, DynamoDB, Kinesis, ...
    #[serde(default, rename = "eventSource")]
    event_source: Option<serde_json::Value>,
    /// SNS spells it with a capital E.
    #[serde(default, rename = "EventSource")]
    event_source_sns: Option<serde_json::Value>,
}

impl Probe {
    /// `Records[0].eventSource` (SQS, S3, ...), `Records[0].EventSource` (SNS), `source`
    /// (EventBridge), else [`DIRECT_INVOKE_SOURCE`].
    fn source_name(&self) -> String {
        let from_records = self.records.as_ref().and_then(|records| {
            let first = records.first()?;
            first
                .event_source
                .as_ref()
                .or(first.event_source_sns.as_ref())
        });
        from_records
            .or(self.source.as_ref())
            .and_then(|v| v.as_str())
            .filter(|s| {
                !s.is_empty() && s.len() <= MAX_SOURCE_LEN && HeaderValue::from_str(s).is_ok()
            })
            .unwrap_or(DIRECT_INVOKE_SOURCE)
            .to_owned()
    }
}

fn non_http_request(event: &[u8], source: String) -> GuestRequest {
    let mut request = Request::new(Bytes::copy_from_slice(event));
    *request.method_mut() = Method::POST;
    let headers = request.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = HeaderValue::from_str(&source) {
        headers.insert(EVENT_SOURCE_HEADER, value);
    }
    GuestRequest {
        request,
        shape: EventShape::NonHttp { source },
        skipped: Vec::new(),
    }
}

/// A JSON object read in document order, so repeated query keys and headers keep their order
/// without depending on how `serde_json` stores maps.
struct Pairs<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Pairs<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for PairsVisitor<V> {
            type Value = Pairs<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs<V>, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(256));
                while let Some(entry) = map.next_entry()? {
                    pairs.push(entry);
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor(PhantomData))
    }
}

/// Payload 1.0: API Gateway REST and ALB share it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Event {
    http_method: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    headers: Option<Pairs<Option<String>>>,
    #[serde(default)]
    multi_value_headers: Option<Pairs<Option<Vec<String>>>>,
    #[serde(default, rename = "queryStringParameters")]
    query: Option<Pairs<Option<String>>>,
    #[serde(default, rename = "multiValueQueryStringParameters")]
    multi_value_query: Option<Pairs<Option<Vec<String>>>>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: Option<bool>,
}

/// Payload 2.0: HTTP API and Function URLs.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct V2Event {
    #[serde(default)]
    raw_path: Option<String>,
    #[serde(default)]
    raw_query_string: Option<String>,
    #[serde(default)]
    cookies: Option<Vec<String>>,
    #[serde(default)]
    headers: Option<Pairs<Option<String>>>,
    #[serde(default)]
    request_context: Option<V2Context>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: Option<bool>,
}

#[derive(serde::Deserialize)]
struct V2Context {
    #[serde(default)]
    http: Option<V2Http>,
}

#[derive(serde::Deserialize)]
struct V2Http {
    method: String,
    #[serde(default)]
    path: Option<String>,
}

/// Whether query keys and values in an event are still percent-encoded (ALB) or decoded (REST).
#[derive(Clone, Copy)]
enum QueryEncoding {
    AlreadyEncoded,
    Decoded,
}

impl QueryEncoding {
    fn component(self, text: &str) -> String {
        match self {
            QueryEncoding::AlreadyEncoded => {
                utf8_percent_encode(text, RAW_QUERY_ESCAPES).to_string()
            }
            QueryEncoding::Decoded => {
                utf8_percent_encode(text, QUERY_COMPONENT_ESCAPES).to_string()
            }
        }
    }
}

impl V1Event {
    fn into_request(
        self,
        shape: EventShape,
        encoding: QueryEncoding,
    ) -> Result<GuestRequest, InvalidEvent> {
        let method = parse_method(&self.http_method)?;
        // Multi-value forms carry every value; the single forms only the last of each.
        let query = match (self.multi_value_query, self.query) {
            (Some(multi), _) if !multi.0.is_empty() => query_string(
                multi
                    .0
                    .iter()
                    .flat_map(|(k, vs)| vs.iter().flatten().map(move |v| (k, Some(v)))),
                encoding,
            ),
            (_, Some(single)) => {
                query_string(single.0.iter().map(|(k, v)| (k, v.as_ref())), encoding)
            }
            _ => String::new(),
        };
        let mut headers = HeaderMap::new();
        let mut skipped = Vec::new();
        match (self.multi_value_headers, self.headers) {
            (Some(multi), _) if !multi.0.is_empty() => {
                for (name, values) in &multi.0 {
                    for value in values.iter().flatten() {
                        append_header(&mut headers, name, value, &mut skipped);
                    }
                }
            }
            (_, Some(single)) => {
                for (name, value) in &single.0 {
                    if let Some(value) = value {
                        append_header(&mut headers, name, value, &mut skipped);
                    }
                }
            }
            _ => {}
        }
        let body = decode_body(self.body, self.is_base64_encoded)?;
        let path = self.path.unwrap_or_default();
        build(method, &path, &query, headers, body, shape, skipped)
    }
}

impl V2Event {
    fn into_request(self) -> Result<GuestRequest, InvalidEvent> {
        let http = self.request_context.and_then(|c| c.http).ok_or_else(|| {
            InvalidEvent(
                "the payload 2.0 event has no requestContext.http.method, so its HTTP method is unknown".into(),
            )
        })?;
        let method = parse_method(&http.method)?;
        let path = self.raw_path.or(http.path).unwrap_or_default();
        let query = utf8_percent_encode(
            self.raw_query_string.as_deref().unwrap_or(""),
            RAW_QUERY_ESCAPES,
        )
        .to_string();
        let mut headers = HeaderMap::new();
        let mut skipped = Vec::new();
        for (name, value) in self.headers.map(|h| h.0).unwrap_or_default() {
            if let Some(value) = value {
                append_header(&mut headers, &name, &value, &mut skipped);
            }
        }
        // Payload 2.0 moves cookies out of the headers; the guest gets them back as one `cookie`
        // header (Function URLs also leave a copy in the headers: the list wins, so none doubles).
        let cookies = self.cookies.unwrap_or_default();
        if !cookies.is_empty() {
            headers.remove(http::header::COOKIE);
            append_header(&mut headers, "cookie", &cookies.join("; "), &mut skipped);
        }
        let body = decode_body(self.body, self.is_base64_encoded)?;
        build(
            method,
            &path,
            &query,
            headers,
            body,
            EventShape::HttpApi,
            skipped,
        )
    }
}

fn parse_method(method: &str) -> Result<Method, InvalidEvent> {
    Method::from_bytes(method.as_bytes()).map_err(|_| {
        InvalidEvent(format!(
            "the event's HTTP method {method:?} is not a method"
        ))
    })
}

fn query_string<'a>(
    pairs: impl Iterator<Item = (&'a String, Option<&'a String>)>,
    encoding: QueryEncoding,
) -> String {
    let mut query = String::new();
    for (key, value) in pairs {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&encoding.component(key));
        if let Some(value) = value {
            query.push('=');
            query.push_str(&encoding.component(value));
        }
    }
    query
}

fn append_header(headers: &mut HeaderMap, name: &str, value: &str, skipped: &mut Vec<String>) {
    match (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        (Ok(name), Ok(value)) => {
            headers.append(name, value);
        }
        _ => skipped.push(format!(
            "header {name:?}: not a valid HTTP header name or value"
        )),
    }
}

fn decode_body(body: Option<String>, base64: Option<bool>) -> Result<Bytes, InvalidEvent> {
    let body = body.unwrap_or_default();
    if base64 != Some(true) {
        return Ok(Bytes::from(body));
    }
    // Padding is optional in what some clients send; the alphabet is not.
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine
        .decode(body.as_bytes())
        .map(Bytes::from)
        .map_err(|e| {
            InvalidEvent(format!(
                "the event says isBase64Encoded but its body is not valid base64 ({e})"
            ))
        })
}

fn build(
    method: Method,
    path: &str,
    query: &str,
    headers: HeaderMap,
    body: Bytes,
    shape: EventShape,
    skipped: Vec<String>,
) -> Result<GuestRequest, InvalidEvent> {
    let mut target = String::with_capacity(path.len() + query.len() + 2);
    if !path.starts_with('/') {
        target.push('/');
    }
    target.extend(utf8_percent_encode(path, PATH_ESCAPES));
    if !query.is_empty() {
        target.push('?');
        target.push_str(query);
    }
    let uri: http::Uri = target.parse().map_err(|e| {
        InvalidEvent(format!(
            "the event's path and query {target:?} do not form a URL path: {e}"
        ))
    })?;
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(GuestRequest {
        request,
        shape,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(json: &str) -> GuestRequest {
        map_event(json.as_bytes()).unwrap()
    }

    #[test]
    fn unknown_json_is_a_direct_invoke_and_non_json_is_refused() {
        for payload in [r#"{"a":1}"#, "[1,2]", r#""text""#, "42", r#"{"Records":5}"#] {
            let mapped = map(payload);
            assert_eq!(
                mapped.shape,
                EventShape::NonHttp {
                    source: DIRECT_INVOKE_SOURCE.into()
                },
                "{payload}"
            );
            assert_eq!(mapped.request.method(), Method::POST);
            assert_eq!(mapped.request.uri(), "/");
            assert_eq!(mapped.request.body().as_ref(), payload.as_bytes());
            assert_eq!(mapped.request.headers()[EVENT_SOURCE_HEADER], "direct");
        }
        let err = map_event(b"{not json").unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
    }

    #[test]
    fn event_sources_are_named() {
        let sqs = map(r#"{"Records":[{"eventSource":"aws:sqs","body":"x"}]}"#);
        assert_eq!(sqs.request.headers()[EVENT_SOURCE_HEADER], "aws:sqs");
        let sns = map(r#"{"Records":[{"EventSource":"aws:sns"}]}"#);
        assert_eq!(sns.request.headers()[EVENT_SOURCE_HEADER], "aws:sns");
        let bridge = map(r#"{"source":"aws.events","detail-type":"Scheduled Event"}"#);
        assert_eq!(bridge.request.headers()[EVENT_SOURCE_HEADER], "aws.events");
        let odd = map(r#"{"source":"bad\nvalue"}"#);
        assert_eq!(odd.request.headers()[EVENT_SOURCE_HEADER], "direct");
    }

    #[test]
    fn malformed_http_events_say_what_is_wrong() {
        let cases = [
            (
                r#"{"httpMethod":"GET","isBase64Encoded":true,"body":"***"}"#,
                "not valid base64",
            ),
            (r#"{"httpMethod":"G E T"}"#, "not a method"),
            (r#"{"httpMethod":7}"#, "API Gateway REST"),
            (r#"{"version":"2.0","rawPath":"/"}"#, "requestContext.http"),
            (
                r#"{"requestContext":{"elb":{}},"httpMethod":"GET","headers":[]}"#,
                "ALB",
            ),
        ];
        for (event, expected) in cases {
            let err = map_event(event.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{event}: {err}");
        }
    }

    #[test]
    fn unusable_headers_are_skipped_not_fatal() {
        let mapped = map(
            r#"{"httpMethod":"GET","path":"/p","headers":{"ok":"1","bad name":"x","bad-value":"a\u0000b"}}"#,
        );
        assert_eq!(mapped.request.headers()["ok"], "1");
        assert_eq!(mapped.request.headers().len(), 1);
        assert_eq!(mapped.skipped.len(), 2);
    }

    #[test]
    fn paths_and_queries_are_escaped_only_where_needed() {
        let mapped = map(
            r#"{"version":"2.0","rawPath":"/a b/%41?#","rawQueryString":"x=%20y z","requestContext":{"http":{"method":"GET"}}}"#,
        );
        assert_eq!(mapped.request.uri(), "/a%20b/%41%3F%23?x=%20y%20z");
        let rest = map(
            r#"{"httpMethod":"GET","path":"no-slash","multiValueQueryStringParameters":{"k":["a b","&="],"flag":null}}"#,
        );
        assert_eq!(rest.request.uri(), "/no-slash?k=a%20b&k=%26%3D");
        // An empty multi-value form does not hide the single-value one.
        let single = map(
            r#"{"httpMethod":"GET","path":"/","queryStringParameters":{"a":"1"},"multiValueQueryStringParameters":{}}"#,
        );
        assert_eq!(single.request.uri(), "/?a=1");
    }
}

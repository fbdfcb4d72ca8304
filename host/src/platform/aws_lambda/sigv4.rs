//! AWS Signature Version 4 for requests to AWS services other than S3 (DynamoDB's JSON API), by
//! hand: HMAC-SHA256 over `sha2`, which the host already links, instead of the AWS SDK, whose
//! dependencies would grow every Lambda zip (`docs/deploy-aws-lambda.md`). Checked against the
//! vectors AWS publishes (tests below) and against moto's signature checking
//! (`host/tests/it/kv_dynamodb.rs`).
//!
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv4-create-signed-request.html>

use crate::platform::signing::hmac_sha256;
use http::header::{AUTHORIZATION, HOST, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri};
use percent_encoding::percent_decode_str;
use sha2::{Digest as _, Sha256};
use std::fmt;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";

/// An access key: the execution role's on Lambda (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// `AWS_SESSION_TOKEN`, sent as `x-amz-security-token` (temporary credentials).
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    // The secret and the token never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("session_token", &self.session_token.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

/// Signs a request in place: adds `host` (from `uri`) unless present, `x-amz-date`,
/// `x-amz-security-token` when the credentials have a token, and `authorization`, which signs
/// every header then in `headers`. `unix_seconds` is the signing time (the service refuses one
/// more than 5 minutes off).
#[allow(clippy::too_many_arguments, reason = "the inputs SigV4 defines")]
pub fn sign(
    method: &Method,
    uri: &Uri,
    headers: &mut HeaderMap,
    payload: &[u8],
    credentials: &Credentials,
    region: &str,
    service: &str,
    unix_seconds: u64,
) -> Result<(), String> {
    if !headers.contains_key(HOST) {
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{uri} has no host to sign"))?;
        headers.insert(HOST, header_value(authority.as_str())?);
    }
    let (timestamp, date) = amz_timestamp(unix_seconds);
    headers.insert(X_AMZ_DATE, header_value(&timestamp)?);
    if let Some(token) = &credentials.session_token {
        headers.insert(X_AMZ_SECURITY_TOKEN, header_value(token)?);
    }
    let (canonical, signed_headers) = canonical_request(method, uri, headers, payload);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = string_to_sign(&timestamp, &scope, &canonical);
    let key = signing_key(&credentials.secret_access_key, &date, region, service);
    let signature = hex::encode(hmac_sha256(&key, to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    );
    headers.insert(AUTHORIZATION, header_value(&authorization)?);
    Ok(())
}

fn header_value(text: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(text).map_err(|_| format!("{text:?} cannot be sent as a header value"))
}

/// The canonical request and the `SignedHeaders` list (every header, by lowercase name).
fn canonical_request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    payload: &[u8],
) -> (String, String) {
    let mut names: Vec<&HeaderName> = headers.keys().collect();
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut canonical_headers = String::new();
    for name in &names {
        let values: Vec<String> = headers
            .get_all(*name)
            .iter()
            .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        canonical_headers.push_str(name.as_str());
        canonical_headers.push(':');
        canonical_headers.push_str(&values.join(","));
        canonical_headers.push('\n');
    }
    let signed_headers = names
        .iter()
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        canonical_uri(uri.path()),
        canonical_query(uri.query().unwrap_or("")),
        hex::encode(Sha256::digest(payload)),
    );
    (canonical, signed_headers)
}

/// Each path segment URI-encoded once more (what every service but S3 expects); `/` when empty.
fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    path.split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// Parameters decoded, encoded the SigV4 way and sorted by name, then value.
fn canonical_query(query: &str) -> String {
    let decode = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&decode(k)), uri_encode(&decode(v)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Every byte but the unreserved `A-Z a-z 0-9 - _ . ~` as `%XX`, upper-case hex.
fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Trimmed, with runs of spaces as one.
fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn string_to_sign(timestamp: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{timestamp}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// `("YYYYMMDDTHHMMSSZ", "YYYYMMDD")` in UTC.
fn amz_timestamp(unix_seconds: u64) -> (String, String) {
    let days = (unix_seconds / 86_400) as i64;
    let seconds = unix_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    let date = format!("{year:04}{month:02}{day:02}");
    let timestamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    (timestamp, date)
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example credentials of AWS's SigV4 test suite.
    fn suite_credentials() -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    /// 2015-08-30T12:36:00Z, the suite's signing time.
    const SUITE_TIME: u64 = 1_440_938_160;

    fn signed(method: Method, uri: &str, credentials: &Credentials) -> String {
        let uri: Uri = uri.parse().unwrap();
        let mut headers = HeaderMap::new();
        sign(
            &method,
            &uri,
            &mut headers,
            b"",
            credentials,
            "us-east-1",
            "service",
            SUITE_TIME,
        )
        .unwrap();
        assert_eq!(headers[X_AMZ_DATE], "20150830T123600Z");
        assert_eq!(headers[HOST], "example.amazonaws.com");
        headers[AUTHORIZATION].to_str().unwrap().to_owned()
    }

    #[test]
    fn the_test_suite_vectors_sign_as_aws_does() {
        // aws-sig-v4-test-suite: get-vanilla, post-vanilla, get-vanilla-query-order-key-case.
        let prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=";
        let credentials = suite_credentials();
        assert_eq!(
            signed(Method::GET, "https://example.amazonaws.com/", &credentials),
            format!("{prefix}5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        );
        assert_eq!(
            signed(Method::POST, "https://example.amazonaws.com/", &credentials),
            format!("{prefix}5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")
        );
        assert_eq!(
            signed(
                Method::GET,
                "https://example.amazonaws.com/?Param2=value2&Param1=value1",
                &credentials
            ),
            format!("{prefix}b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
        );
    }

    #[test]
    fn the_canonical_request_and_string_to_sign_match_get_vanilla() {
        let uri: Uri = "https://example.amazonaws.com/".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("example.amazonaws.com"));
        headers.insert(X_AMZ_DATE, HeaderValue::from_static("20150830T123600Z"));
        let (canonical, signed_headers) = canonical_request(&Method::GET, &uri, &headers, b"");
        assert_eq!(
            canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(signed_headers, "host;x-amz-date");
        assert_eq!(
            string_to_sign(
                "20150830T123600Z",
                "20150830/us-east-1/service/aws4_request",
                &canonical
            ),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
    }

    #[test]
    fn the_signing_key_matches_the_documented_derivation() {
        // IAM User Guide, "Examples of how to derive a signing key for Signature Version 4".
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let credentials = Credentials {
            session_token: Some("token".into()),
            ..suite_credentials()
        };
        let authorization = signed(Method::POST, "https://example.amazonaws.com/", &credentials);
        assert!(
            authorization.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"),
            "{authorization}"
        );
        assert!(!format!("{credentials:?}").contains("token\""));
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(
            amz_timestamp(SUITE_TIME),
            ("20150830T123600Z".into(), "20150830".into())
        );
        assert_eq!(
            amz_timestamp(0),
            ("19700101T000000Z".into(), "19700101".into())
        );
        // A leap day and the last second of a year.
        assert_eq!(amz_timestamp(1_709_164_800).1, "20240229");
        assert_eq!(amz_timestamp(1_735_689_599).0, "20241231T235959Z");
    }

    #[test]
    fn paths_and_queries_are_encoded_the_sigv4_way() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/a b/%2F"), "/a%20b/%252F");
        assert_eq!(canonical_query("b=2&a=x%20y&a=1"), "a=1&a=x%20y&b=2");
        assert_eq!(uri_encode("a~b-c_d.e*"), "a~b-c_d.e%2A");
    }
}

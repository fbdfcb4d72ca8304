//! HTTP/1.1 framing rules every listener enforces before a request reaches a handler, so the host
//! never disagrees with a CDN or load balancer in front of it about where a request ends or whom
//! it is for. hyper already refuses malformed framing (conflicting `Content-Length`s, obs-fold,
//! bare LF, NUL, oversized chunk sizes, `Transfer-Encoding` not ending in `chunked`); this adds
//! what it accepts but RFC 9112 §3.2 and the CDNs do not:
//! - an HTTP/1.1 request without `Host`, with more than one, or with one that is not a valid
//!   `host[:port]` (400, as the RFC says a server MUST answer);
//! - a request with both `Content-Length` and `Transfer-Encoding`, which CDNs refuse as a
//!   smuggling attempt. hyper reads such a request by its chunked body and drops the
//!   `Content-Length` header before the handler sees it, so the server finds these heads in the
//!   connection's bytes (`framing_watch`) and answers [`BOTH_FRAMINGS`]; the header check below
//!   covers a request that reaches a handler with both.
//!
//! Each refusal is a 400 that closes the connection: after a framing error nothing that follows on
//! it can be trusted.

use super::respond::{Body, plain_text};
use http::{HeaderValue, Request, Response, StatusCode, Version, header};

/// The refusal of a request whose head carries both `Content-Length` and `Transfer-Encoding`.
pub(crate) const BOTH_FRAMINGS: &str =
    "the request carries both Content-Length and Transfer-Encoding; send one of them";

/// Why a request was refused before it was handled.
pub(crate) fn violation<B>(request: &Request<B>) -> Option<&'static str> {
    let headers = request.headers();
    let mut hosts = headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if request.version() == Version::HTTP_11 => {
            return Some("an HTTP/1.1 request must carry a Host header");
        }
        (Some(_), Some(_)) => return Some("the request carries more than one Host header"),
        (Some(host), None) if !valid_host(host) => {
            return Some("the Host header is not a valid host[:port]");
        }
        _ => {}
    }
    if headers.contains_key(header::CONTENT_LENGTH)
        && headers.contains_key(header::TRANSFER_ENCODING)
    {
        return Some(BOTH_FRAMINGS);
    }
    None
}

/// `uri-host [ ":" port ]` (RFC 9110 §7.2): a reg-name, IPv4 address or bracketed IP literal, no
/// user info, no path, an optional numeric port.
fn valid_host(value: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else {
        return false;
    };
    if text.is_empty() || text.contains(['@', '/', '?', '#', ' ', '\t']) {
        return false;
    }
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((literal, after)) => {
                if literal.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                match after {
                    "" => return true,
                    _ => match after.strip_prefix(':') {
                        Some(port) => ("[ipv6]", port),
                        None => return false,
                    },
                }
            }
            None => return false,
        },
        None => match text.rsplit_once(':') {
            Some((host, port)) => (host, port),
            None => (text, ""),
        },
    };
    let host_ok = !host.is_empty()
        && (host == "[ipv6]"
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b)));
    host_ok && port.bytes().all(|b| b.is_ascii_digit()) && port.len() <= 5
}

/// The 400 for a `violation`, closing the connection.
pub(crate) fn refusal(reason: &str) -> Response<Body> {
    let mut response = plain_text(StatusCode::BAD_REQUEST, reason);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::get("/").version(version);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn host_rules() {
        let ok = |headers: &[(&str, &str)]| violation(&request(Version::HTTP_11, headers));
        assert_eq!(ok(&[("host", "example.com")]), None);
        assert_eq!(ok(&[("host", "example.com:8080")]), None);
        assert_eq!(ok(&[("host", "127.0.0.1:1")]), None);
        assert_eq!(ok(&[("host", "[::1]:8080")]), None);
        assert_eq!(ok(&[("host", "[::1]")]), None);
        assert!(ok(&[]).is_some());
        assert!(ok(&[("host", "a"), ("host", "b")]).is_some());
        for bad in [
            "",
            "a b",
            "user@host",
            "host/path",
            "host:port",
            "[::1",
            "[zz]:1",
            "h:123456",
        ] {
            assert!(ok(&[("host", bad)]).is_some(), "{bad:?}");
        }
        // HTTP/1.0 may omit it.
        assert_eq!(violation(&request(Version::HTTP_10, &[])), None);
    }

    #[test]
    fn both_framings_are_refused() {
        let both = request(
            Version::HTTP_11,
            &[
                ("host", "h"),
                ("content-length", "5"),
                ("transfer-encoding", "chunked"),
            ],
        );
        assert!(violation(&both).is_some());
    }
}

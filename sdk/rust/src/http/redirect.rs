//! Following redirects when a caller asks to ([`Options::follow_redirects`](super::Options)):
//! where a `location` points (RFC 3986 §5.2 reference resolution) and what the next request is.
//!
//! Resolution is written here rather than taken from the `url` crate, which would bring its IDNA
//! tables into every guest that sends: `http::Uri` already parses what a hop needs.

use ::http::header::{self, HeaderName};
use ::http::{Method, Request, StatusCode, Uri};
use bytes::Bytes;
use percent_encoding::{AsciiSet, CONTROLS};

/// Statuses whose `location` a client follows.
pub(super) fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Bytes a server may leave raw in a `location` that a URI may not hold (non-ASCII is always
/// encoded).
const RAW_IN_LOCATION: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Headers that describe the body, dropped when a hop drops the body.
const BODY_HEADERS: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CONTENT_LOCATION,
];

/// Credentials meant for one origin, dropped on a hop to another.
const CREDENTIAL_HEADERS: [HeaderName; 3] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::PROXY_AUTHORIZATION,
];

/// The request for the hop after `response_status` with `location`, or `None` when the location
/// does not resolve to an absolute URI (the caller then gets the redirect itself).
///
/// 303, and 301/302 after a `POST`, become a `GET` without body (as browsers do); 307 and 308
/// repeat the method and body. Credentials are not carried to another origin.
pub(super) fn next_request(
    previous: &Request<Bytes>,
    response_status: StatusCode,
    location: &[u8],
) -> Option<Request<Bytes>> {
    let target = resolve(previous.uri(), location)?;
    let mut next = Request::new(previous.body().clone());
    *next.method_mut() = previous.method().clone();
    *next.headers_mut() = previous.headers().clone();
    let to_get = match response_status.as_u16() {
        303 => previous.method() != Method::HEAD,
        301 | 302 => previous.method() == Method::POST,
        _ => false,
    };
    if to_get {
        *next.method_mut() = Method::GET;
        *next.body_mut() = Bytes::new();
        for name in &BODY_HEADERS {
            next.headers_mut().remove(name);
        }
    }
    if !same_origin(previous.uri(), &target) {
        for name in &CREDENTIAL_HEADERS {
            next.headers_mut().remove(name);
        }
    }
    *next.uri_mut() = target;
    Some(next)
}

fn same_origin(a: &Uri, b: &Uri) -> bool {
    let port = |u: &Uri| {
        u.port_u16().or(match u.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        })
    };
    a.scheme() == b.scheme()
        && a.host().map(str::to_ascii_lowercase) == b.host().map(str::to_ascii_lowercase)
        && port(a) == port(b)
}

/// Resolves `reference` (a `location` value) against the absolute `base`; `None` when the
/// result is not an absolute URI `http::Uri` accepts. The fragment is dropped: it never goes on
/// the wire.
pub(super) fn resolve(base: &Uri, reference: &[u8]) -> Option<Uri> {
    let encoded = percent_encoding::percent_encode(reference, RAW_IN_LOCATION).to_string();
    let reference = encoded.split('#').next().unwrap_or_default();
    let (scheme, authority) = (base.scheme_str()?, base.authority()?.as_str());

    let resolved = if has_scheme(reference) {
        let (scheme, rest) = reference.split_once(':')?;
        let (authority, path, query) = split_hierarchical(rest);
        join(scheme, authority?, &remove_dot_segments(path), query)
    } else if reference.starts_with("//") {
        let (authority, path, query) = split_hierarchical(reference);
        join(scheme, authority?, &remove_dot_segments(path), query)
    } else {
        let (path, query) = match reference.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (reference, None),
        };
        if path.is_empty() {
            join(scheme, authority, base.path(), query.or(base.query()))
        } else if path.starts_with('/') {
            join(scheme, authority, &remove_dot_segments(path), query)
        } else {
            // Merge (§5.2.3): the base path up to its last `/`, then the reference.
            let base_path = base.path();
            let directory = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
            let merged = format!(
                "{}{path}",
                if directory.is_empty() { "/" } else { directory }
            );
            join(scheme, authority, &remove_dot_segments(&merged), query)
        }
    };
    Uri::try_from(resolved).ok()
}

/// `scheme ":"` at the start (§3.1), as opposed to a relative path that contains a colon later.
fn has_scheme(reference: &str) -> bool {
    let Some((scheme, _)) = reference.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Splits `//authority/path?query` (the part after `scheme:`); no authority when it does not
/// start with `//`.
fn split_hierarchical(rest: &str) -> (Option<&str>, &str, Option<&str>) {
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    match rest.strip_prefix("//") {
        Some(after) => {
            let end = after.find('/').unwrap_or(after.len());
            (Some(&after[..end]), &after[end..], query)
        }
        None => (None, rest, query),
    }
}

fn join(scheme: &str, authority: &str, path: &str, query: Option<&str>) -> String {
    let path = if path.is_empty() { "/" } else { path };
    match query {
        Some(query) => format!("{scheme}://{authority}{path}?{query}"),
        None => format!("{scheme}://{authority}{path}"),
    }
}

/// §5.2.4: removes `.` and `..` segments.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut output = String::with_capacity(path.len());
    // `/..` pops the last segment written, with its leading `/`.
    let pop = |output: &mut String| output.truncate(output.rfind('/').unwrap_or(0));
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../") {
            input = rest;
        } else if let Some(rest) = input.strip_prefix("./") {
            input = rest;
        } else if input.starts_with("/./") {
            input = &input[2..];
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") {
            input = &input[3..];
            pop(&mut output);
        } else if input == "/.." {
            input = "/";
            pop(&mut output);
        } else if input == "." || input == ".." {
            input = "";
        } else {
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            output.push_str(&input[..end]);
            input = &input[end..];
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(base: &str, reference: &str) -> String {
        resolve(&Uri::try_from(base).unwrap(), reference.as_bytes())
            .map(|u| u.to_string())
            .unwrap_or_else(|| "(none)".to_owned())
    }

    #[test]
    fn resolves_the_rfc_3986_examples() {
        // RFC 3986 §5.4, with fragments dropped and `g:h` (not a URI http::Uri takes) left out.
        let base = "http://a/b/c/d;p?q";
        for (reference, want) in [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g/"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("g#s", "http://a/b/c/g"),
            ("g?y#s", "http://a/b/c/g?y"),
            (";x", "http://a/b/c/;x"),
            ("g;x", "http://a/b/c/g;x"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("../../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            (".g", "http://a/b/c/.g"),
            ("g..", "http://a/b/c/g.."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("./g/.", "http://a/b/c/g/"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
            ("g;x=1/./y", "http://a/b/c/g;x=1/y"),
            ("g;x=1/../y", "http://a/b/c/y"),
            (
                "http://other.example:8080/x/../y?z",
                "http://other.example:8080/y?z",
            ),
        ] {
            assert_eq!(resolved(base, reference), want, "{reference:?}");
        }
    }

    #[test]
    fn resolves_what_servers_send() {
        assert_eq!(
            resolved("https://api.example.com", "/v2/items"),
            "https://api.example.com/v2/items"
        );
        assert_eq!(
            resolved("https://api.example.com/a/b", "c"),
            "https://api.example.com/a/c"
        );
        assert_eq!(
            resolved("http://127.0.0.1:8080/redirect", "/echo"),
            "http://127.0.0.1:8080/echo"
        );
        assert_eq!(
            resolved("https://a.example/x", "//cdn.example/y"),
            "https://cdn.example/y"
        );
        // Raw spaces and UTF-8 are encoded rather than refused.
        assert_eq!(
            resolved("https://a.example/", "/caf\u{e9} menu"),
            "https://a.example/caf%C3%A9%20menu"
        );
        assert_eq!(resolved("https://a.example/", "mailto:x@y"), "(none)");
    }

    fn request(method: Method, uri: &str, body: &'static str) -> Request<Bytes> {
        Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "text/plain")
            .header("authorization", "Bearer secret")
            .header("x-keep", "1")
            .body(Bytes::from_static(body.as_bytes()))
            .unwrap()
    }

    #[test]
    fn see_other_becomes_a_get_without_body() {
        let post = request(Method::POST, "https://a.example/form", "x=1");
        let next = next_request(&post, StatusCode::SEE_OTHER, b"/done").unwrap();
        assert_eq!(next.method(), Method::GET);
        assert_eq!(next.uri(), "https://a.example/done");
        assert!(next.body().is_empty());
        assert!(next.headers().get("content-type").is_none());
        assert_eq!(
            next.headers()["authorization"],
            "Bearer secret",
            "same origin"
        );
        assert_eq!(next.headers()["x-keep"], "1");
    }

    #[test]
    fn temporary_and_permanent_redirects_repeat_method_and_body() {
        for status in [
            StatusCode::TEMPORARY_REDIRECT,
            StatusCode::PERMANENT_REDIRECT,
        ] {
            let put = request(Method::PUT, "https://a.example/v1/x", "data");
            let next = next_request(&put, status, b"/v2/x").unwrap();
            assert_eq!(next.method(), Method::PUT, "{status}");
            assert_eq!(next.body(), "data", "{status}");
            assert_eq!(next.headers()["content-type"], "text/plain");
        }
        let put = request(Method::PUT, "https://a.example/x", "data");
        let next = next_request(&put, StatusCode::FOUND, b"/y").unwrap();
        assert_eq!(next.method(), Method::PUT, "302 changes only a POST");
    }

    #[test]
    fn credentials_stay_with_their_origin() {
        let get = request(Method::GET, "https://a.example/x", "");
        for other in [
            "https://b.example/x",
            "http://a.example/x",
            "https://a.example:8443/x",
        ] {
            let next = next_request(&get, StatusCode::FOUND, other.as_bytes()).unwrap();
            assert!(next.headers().get("authorization").is_none(), "{other}");
            assert_eq!(next.headers()["x-keep"], "1");
        }
        let next = next_request(&get, StatusCode::FOUND, b"https://A.example:443/y").unwrap();
        assert!(
            next.headers().get("authorization").is_some(),
            "same origin, spelled differently"
        );
    }
}

//! What a function may call: its `outbound` settings (`docs/manifest.md`, "outbound"), read from a
//! manifest or a platform's `EDGEFN_OUTBOUND_*` variables, and the allow-list check of a request
//! URL. URLs are parsed by WHATWG rules (the `url` crate), as the Workers shim's `URL` parses them,
//! so both hosts agree on what `http://127.1/` or `https://API.Example.COM:443` names; a URL
//! already written as that parse would write it is recognized by a scan instead (`SimpleUrl`, tested
//! against the parse). Whether the addresses a name resolves to are public is decided later, after
//! resolution (`address.rs`).

use crate::runtime::limits::{
    DEFAULT_OUTBOUND_MAX_REQUESTS, DEFAULT_OUTBOUND_MAX_RESPONSE_BYTES, DEFAULT_OUTBOUND_TIMEOUT,
    MAX_OUTBOUND_RESPONSE_BYTES,
};
use anyhow::{anyhow, bail};
use std::fmt;
use std::time::Duration;
use url::{Host, Url};

/// Platform variable: `allowed_hosts`, patterns separated by commas or spaces.
pub const ALLOWED_HOSTS_VAR: &str = "EDGEFN_OUTBOUND_ALLOWED_HOSTS";
/// Platform variable: `allow_private_networks`, `true` or `false`.
pub const ALLOW_PRIVATE_NETWORKS_VAR: &str = "EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS";
/// Platform variable: `timeout_ms`.
pub const TIMEOUT_MS_VAR: &str = "EDGEFN_OUTBOUND_TIMEOUT_MS";
/// Platform variable: `max_requests`.
pub const MAX_REQUESTS_VAR: &str = "EDGEFN_OUTBOUND_MAX_REQUESTS";
/// Platform variable: `max_response_bytes`.
pub const MAX_RESPONSE_BYTES_VAR: &str = "EDGEFN_OUTBOUND_MAX_RESPONSE_BYTES";

/// A function's outbound HTTP settings. The default grants nothing: no host is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundPolicy {
    allowed_hosts: Vec<HostPattern>,
    /// Whether addresses that are not public (loopback, private, link-local, ...) may be reached:
    /// for local development and tests only.
    pub allow_private_networks: bool,
    /// One call's time limit when the guest gives none; never past the invocation's deadline.
    pub timeout: Duration,
    /// Calls per invocation.
    pub max_requests: u32,
    /// Largest upstream response body handed to the guest.
    pub max_response_bytes: usize,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        OutboundPolicy {
            allowed_hosts: Vec::new(),
            allow_private_networks: false,
            timeout: DEFAULT_OUTBOUND_TIMEOUT,
            max_requests: DEFAULT_OUTBOUND_MAX_REQUESTS,
            max_response_bytes: DEFAULT_OUTBOUND_MAX_RESPONSE_BYTES,
        }
    }
}

impl OutboundPolicy {
    /// Allows exactly these patterns (`scheme://host[:port]`); an invalid one is an error naming
    /// it and the rule it breaks.
    pub fn with_allowed_hosts(
        mut self,
        patterns: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> anyhow::Result<OutboundPolicy> {
        self.allowed_hosts = patterns
            .into_iter()
            .map(|p| HostPattern::parse(p.as_ref()))
            .collect::<anyhow::Result<_>>()?;
        Ok(self)
    }

    /// The allowed patterns, as written.
    pub fn allowed_hosts(&self) -> impl Iterator<Item = &str> {
        self.allowed_hosts.iter().map(|p| p.text.as_str())
    }

    /// Refuses settings no function may have; `who` names the function or the variables.
    pub fn check(&self, who: &str) -> anyhow::Result<()> {
        if self.timeout.is_zero() {
            bail!("{who}: outbound.timeout_ms must be at least 1");
        }
        if self.max_requests == 0 {
            bail!(
                "{who}: outbound.max_requests must be at least 1 (leave out allowed_hosts to allow no call)"
            );
        }
        if self.max_response_bytes > MAX_OUTBOUND_RESPONSE_BYTES {
            bail!(
                "{who}: outbound.max_response_bytes must be at most {MAX_OUTBOUND_RESPONSE_BYTES} (1 GiB)"
            );
        }
        Ok(())
    }

    /// The settings a platform gives as `EDGEFN_OUTBOUND_*` variables (Lambda's environment,
    /// Azure's app settings); `get` looks one up. Unset or empty variables keep the defaults. An
    /// invalid value is an error naming the variable, so the runtime does not start with a
    /// policy other than the one configured.
    pub fn from_variables(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<OutboundPolicy> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let mut policy = OutboundPolicy::default();
        if let Some(list) = get(ALLOWED_HOSTS_VAR) {
            policy = policy
                .with_allowed_hosts(list.split([',', ' ', '\t', '\n']).filter(|p| !p.is_empty()))
                .map_err(|e| anyhow!("{ALLOWED_HOSTS_VAR}: {e:#}"))?;
        }
        if let Some(value) = get(ALLOW_PRIVATE_NETWORKS_VAR) {
            policy.allow_private_networks = match value.trim() {
                "true" => true,
                "false" => false,
                other => bail!("{ALLOW_PRIVATE_NETWORKS_VAR}={other:?}: write true or false"),
            };
        }
        let number = |name: &str, value: String| -> anyhow::Result<u64> {
            value
                .trim()
                .parse::<u64>()
                .map_err(|_| anyhow!("{name}={value:?} is not a whole number"))
        };
        if let Some(value) = get(TIMEOUT_MS_VAR) {
            policy.timeout = Duration::from_millis(number(TIMEOUT_MS_VAR, value)?);
        }
        if let Some(value) = get(MAX_REQUESTS_VAR) {
            let n = number(MAX_REQUESTS_VAR, value)?;
            policy.max_requests = u32::try_from(n)
                .map_err(|_| anyhow!("{MAX_REQUESTS_VAR}={n} is larger than {}", u32::MAX))?;
        }
        if let Some(value) = get(MAX_RESPONSE_BYTES_VAR) {
            let n = number(MAX_RESPONSE_BYTES_VAR, value)?;
            policy.max_response_bytes = usize::try_from(n).unwrap_or(usize::MAX);
        }
        policy.check(&format!("the {ALLOWED_HOSTS_VAR} and related variables"))?;
        Ok(policy)
    }

    /// Checks a request URL against the allow-list. Returns it as it is sent (WHATWG's
    /// serialization, its fragment dropped), or why it may not be called.
    pub(crate) fn check_url(&self, url: &str) -> Result<AllowedUrl, Refusal> {
        // Most calls name a URL already written as WHATWG would serialize it; checking those
        // needs no full parse (a few µs of the call, IDNA included). Anything else, and every
        // refusal (for its message), takes the full parse below.
        if let Some(simple) = SimpleUrl::recognize(url)
            && self.allows(simple.scheme, &simple.host, simple.port)
        {
            return Ok(simple.allowed);
        }
        // Messages name the scheme or origin, never the whole URL: its path and query may hold
        // secrets, and messages are logged.
        let mut url = Url::parse(url)
            .map_err(|e| Refusal::Invalid(format!("the URL is not an absolute URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Invalid(format!(
                "only http and https URLs can be called, not {}",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Invalid(
                "a URL with credentials (user:password@) is refused: send them in a header such as authorization".into(),
            ));
        }
        let Some(host) = url.host() else {
            return Err(Refusal::Invalid("the URL has no host".into()));
        };
        if self.allows(url.scheme(), &host, url.port()) {
            url.set_fragment(None);
            Ok(AllowedUrl::from(url))
        } else {
            let origin = url.origin().ascii_serialization();
            Err(Refusal::Denied(if self.allowed_hosts.is_empty() {
                format!(
                    "{origin} is not allowed: this function may call no host (set outbound.allowed_hosts, or {ALLOWED_HOSTS_VAR} on a platform)"
                )
            } else {
                format!(
                    "{origin} is not allowed: it matches none of outbound.allowed_hosts ({})",
                    self.allowed_hosts().collect::<Vec<_>>().join(", ")
                )
            }))
        }
    }

    /// Whether some pattern allows this scheme, host and port (`None`: the scheme's default).
    fn allows(&self, scheme: &str, host: &Host<&str>, port: Option<u16>) -> bool {
        self.allowed_hosts
            .iter()
            .any(|p| p.matches(scheme, host, port))
    }
}

/// The port a URL of `scheme` (`http` or `https`) means when it names none.
fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

/// A URL the policy allows, as it is sent: WHATWG's serialization, without a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AllowedUrl {
    text: String,
}

impl AllowedUrl {
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The URL's text, to send.
    pub(crate) fn into_string(self) -> String {
        self.text
    }
}

impl From<Url> for AllowedUrl {
    fn from(url: Url) -> AllowedUrl {
        AllowedUrl { text: url.into() }
    }
}

/// A URL that WHATWG parsing would leave exactly as written: `http` or `https`, a lower-case
/// ASCII name or a dotted-quad IPv4 address, a port other than the default, a path and query of
/// characters that are never escaped, and no dot segments. Recognizing one is a scan of its
/// bytes; a URL it does not recognize is not refused, only parsed in full.
struct SimpleUrl<'a> {
    scheme: &'static str,
    host: Host<&'a str>,
    /// `None`: the scheme's default.
    port: Option<u16>,
    allowed: AllowedUrl,
}

impl<'a> SimpleUrl<'a> {
    fn recognize(input: &'a str) -> Option<SimpleUrl<'a>> {
        let (scheme, rest) = match input.strip_prefix("https://") {
            Some(rest) => ("https", rest),
            None => ("http", input.strip_prefix("http://")?),
        };
        let host_start = input.len() - rest.len();
        let path_start = rest.find('/')?;
        let (authority, path) = rest.split_at(path_start);
        if !authority
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b':'))
        {
            return None;
        }
        let (host_text, port) = match authority.split_once(':') {
            None => (authority, None),
            Some((host, digits)) => {
                // WHATWG drops a default or empty port and strips leading zeros: not as written.
                if digits.is_empty() || digits.starts_with('0') || digits.contains(':') {
                    return None;
                }
                let port: u16 = digits.parse().ok()?;
                if port == default_port(scheme) {
                    return None;
                }
                (host, Some(port))
            }
        };
        let host = simple_host(host_text)?;
        let end = path
            .find('#')
            .map_or(input.len(), |i| host_start + path_start + i);
        if !simple_target(&input.as_bytes()[host_start + path_start..end]) {
            return None;
        }
        Some(SimpleUrl {
            scheme,
            host,
            port,
            allowed: AllowedUrl {
                text: input[..end].to_owned(),
            },
        })
    }
}

/// Whether WHATWG keeps a path and query (from the `/` on, no fragment) as written, looked at in
/// one pass: printable ASCII only; none of the bytes it escapes in a path (its path percent-encode
/// set, and `\`, which a special URL reads as `/`), then in a special URL's query (`^` and `|` too,
/// on which WHATWG's revisions differ); and no dot segment (`.`, `..`, also escaped as `%2e`), which
/// the parse removes.
fn simple_target(target: &[u8]) -> bool {
    let dot_segment = |segment: &[u8]| segment == b"." || segment == b"..";
    let mut segment_start = 0;
    let mut in_query = false;
    for (i, &b) in target.iter().enumerate() {
        if !(0x21..=0x7e).contains(&b) {
            return false;
        }
        if in_query {
            if b"\"<>'`{}\\^|".contains(&b) {
                return false;
            }
            continue;
        }
        match b {
            b'"' | b'<' | b'>' | b'`' | b'{' | b'}' | b'\\' | b'^' | b'|' => return false,
            b'/' | b'?' => {
                if dot_segment(&target[segment_start..i]) {
                    return false;
                }
                segment_start = i + 1;
                in_query = b == b'?';
            }
            b'%' if target.get(i + 1) == Some(&b'2')
                && target.get(i + 2).is_some_and(|&e| e | 0x20 == b'e') =>
            {
                return false;
            }
            _ => {}
        }
    }
    in_query || !dot_segment(&target[segment_start..])
}

/// A host WHATWG keeps as written: a name of lower-case ASCII labels whose last label starts with
/// a letter (one ending in a number is read as IPv4), none of them punycode (`xn--`, which IDNA
/// checks), or four decimal octets without leading zeros. One pass over its labels.
fn simple_host(host: &str) -> Option<Host<&str>> {
    let (mut labels, mut numeric, mut octets, mut last_first) = (0, true, true, 0u8);
    for label in host.as_bytes().split(|&b| b == b'.') {
        let &first = label.first()?;
        if label.starts_with(b"xn--") {
            return None;
        }
        labels += 1;
        last_first = first;
        if numeric {
            if label.iter().all(u8::is_ascii_digit) {
                octets &= label.len() <= 3 && !(label.len() > 1 && first == b'0');
            } else {
                numeric = false;
            }
        }
    }
    if numeric {
        if labels != 4 || !octets {
            return None;
        }
        return host.parse().ok().map(Host::Ipv4);
    }
    last_first
        .is_ascii_lowercase()
        .then_some(Host::Domain(host))
}

/// Why a URL may not be called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The URL itself is unusable (`invalid`).
    Invalid(String),
    /// A fine URL the function is not granted (`denied`).
    Denied(String),
}

/// One `allowed_hosts` entry: `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPattern {
    text: String,
    scheme: SchemePattern,
    host: HostMatch,
    port: PortPattern,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SchemePattern {
    Http,
    Https,
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    /// `*`: every host.
    Any,
    /// `*.example.com`: every name below `example.com`, at any depth.
    Below(String),
    /// One host: a name (ASCII, lower-case) or an IP address, as WHATWG URL parsing spells it.
    Exact(Host<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortPattern {
    /// Omitted: the URL's scheme's default port (80, 443).
    Default,
    Any,
    Exact(u16),
}

/// Why a pattern is refused, for the error message.
struct PatternError(&'static str);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl HostPattern {
    fn parse(text: &str) -> anyhow::Result<HostPattern> {
        HostPattern::parse_rules(text).map_err(|rule| {
            anyhow!(
                "outbound.allowed_hosts: {text:?} is not a valid pattern: {rule}; write scheme://host[:port], for example \"https://api.example.com\" or \"https://*.example.com:*\""
            )
        })
    }

    fn parse_rules(text: &str) -> Result<HostPattern, PatternError> {
        if text.is_empty() {
            return Err(PatternError("it is empty"));
        }
        let (scheme, rest) = text.split_once("://").ok_or(PatternError(
            "a scheme is required (http://, https:// or *://)",
        ))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => SchemePattern::Http,
            "https" => SchemePattern::Https,
            "*" => SchemePattern::Any,
            _ => return Err(PatternError("the scheme must be http, https or *")),
        };
        if rest.contains('/') {
            return Err(PatternError("a pattern has no path"));
        }
        if rest.contains(['?', '#']) {
            return Err(PatternError("a pattern has no query or fragment"));
        }
        if rest.contains('@') {
            return Err(PatternError("a pattern has no credentials"));
        }
        // An IPv6 host is bracketed, so its colons are not the port's.
        let (host, port) = match rest.rfind(':') {
            Some(colon) if !rest[colon..].contains(']') => {
                (&rest[..colon], Some(&rest[colon + 1..]))
            }
            _ => (rest, None),
        };
        if host.is_empty() {
            return Err(PatternError("a host is required"));
        }
        let port = match port {
            None => PortPattern::Default,
            Some("") => {
                return Err(PatternError(
                    "the port is empty (leave out the colon for the default port)",
                ));
            }
            Some("*") => PortPattern::Any,
            Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => {
                match digits.parse::<u16>() {
                    Ok(port) if port > 0 => PortPattern::Exact(port),
                    _ => return Err(PatternError("the port must be from 1 to 65535")),
                }
            }
            Some(_) => {
                return Err(PatternError(
                    "the port must be a number from 1 to 65535 or * (port ranges are not supported)",
                ));
            }
        };
        let host = if host == "*" {
            HostMatch::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            if domain.is_empty() {
                return Err(PatternError(
                    "a wildcard needs a domain after it, as in *.example.com",
                ));
            }
            match parse_host(domain)? {
                Host::Domain(domain) => HostMatch::Below(domain),
                _ => return Err(PatternError("a wildcard covers names, not IP addresses")),
            }
        } else {
            HostMatch::Exact(parse_host(host)?)
        };
        Ok(HostPattern {
            text: text.to_owned(),
            scheme,
            host,
            port,
        })
    }

    /// Whether a URL with this scheme, host and port (`None`: the scheme's default) matches.
    fn matches(&self, scheme: &str, host: &Host<&str>, port: Option<u16>) -> bool {
        let scheme_ok = match self.scheme {
            SchemePattern::Http => scheme == "http",
            SchemePattern::Https => scheme == "https",
            SchemePattern::Any => true,
        };
        let host_ok = match &self.host {
            HostMatch::Any => true,
            HostMatch::Below(domain) => match host {
                Host::Domain(name) => name
                    .strip_suffix(domain.as_str())
                    .is_some_and(|label| label.len() > 1 && label.ends_with('.')),
                _ => false,
            },
            HostMatch::Exact(exact) => match (exact, host) {
                (Host::Domain(a), Host::Domain(b)) => a == b,
                (Host::Ipv4(a), Host::Ipv4(b)) => a == b,
                (Host::Ipv6(a), Host::Ipv6(b)) => a == b,
                _ => false,
            },
        };
        let port_ok = match self.port {
            PortPattern::Default => port.is_none(),
            PortPattern::Any => true,
            PortPattern::Exact(exact) => port.unwrap_or(default_port(scheme)) == exact,
        };
        scheme_ok && host_ok && port_ok
    }
}

/// A pattern's host as a URL's host would parse (lower-case, IDNA, IPv4 in any WHATWG spelling),
/// refusing what a URL host may hold but a pattern may not (a `*` anywhere but the first label).
fn parse_host(host: &str) -> Result<Host<String>, PatternError> {
    if host.contains('*') {
        return Err(PatternError(
            "a wildcard may only be the whole first label, as in *.example.com",
        ));
    }
    Host::parse(host).map_err(|_| PatternError("the host is not a valid name or IP address"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Vectors {
        cases: Vec<Case>,
        invalid_patterns: Vec<InvalidPattern>,
    }

    #[derive(Deserialize)]
    struct Case {
        allowed_hosts: Vec<String>,
        url: String,
        result: String,
        why: String,
    }

    #[derive(Deserialize)]
    struct InvalidPattern {
        pattern: String,
        why: String,
    }

    fn vectors() -> Vectors {
        serde_json::from_str(include_str!("../../../../../docs/outbound-vectors.json"))
            .expect("docs/outbound-vectors.json is valid")
    }

    #[test]
    fn every_case_vector_is_decided_as_written() {
        let vectors = vectors();
        assert!(vectors.cases.len() > 30, "the vectors went missing");
        for case in &vectors.cases {
            let policy = OutboundPolicy::default()
                .with_allowed_hosts(&case.allowed_hosts)
                .unwrap_or_else(|e| panic!("{:?} ({}): {e:#}", case.allowed_hosts, case.why));
            let got = match policy.check_url(&case.url) {
                Ok(_) => "allowed",
                Err(Refusal::Denied(_)) => "denied",
                Err(Refusal::Invalid(_)) => "invalid",
            };
            assert_eq!(
                got, case.result,
                "{} with {:?}: {}",
                case.url, case.allowed_hosts, case.why
            );
        }
    }

    #[test]
    fn a_url_taken_without_the_full_parse_is_the_one_the_full_parse_gives() {
        let schemes = [
            "http://", "https://", "HTTP://", "ftp://", "http:/", "http:", "",
        ];
        let hosts = [
            "api.example.com",
            "a",
            "a-b.c-d",
            "1a.b2",
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "127.1",
            "0x7f.0.0.1",
            "1.2.3.4.5",
            "01.2.3.4",
            "256.1.1.1",
            "1.2.3.4.",
            "foo.123",
            "foo.0x1",
            "foo.0x",
            "API.example.com",
            "xn--nxasmq6b.com",
            "a.xn--p1ai",
            "a..b",
            "a.",
            ".a",
            "[::1]",
            "user@host",
            "u:p@host",
            "ex%41mple.com",
            "exa mple.com",
            "_x.test",
            "\u{e9}.test",
            "",
        ];
        let ports = [
            "", ":8080", ":80", ":443", ":0", ":080", ":65535", ":65536", ":", ":1:2",
        ];
        let mut paths: Vec<String> = [
            "",
            "/",
            "/a/b",
            "/a/./b",
            "/a/../b",
            "/.",
            "/..",
            "/a/.",
            "/%2e/",
            "/%2E%2E/x",
            "/.a/b.",
            "/a%20b",
            "/a%zz",
            "//x",
            "/a b",
            "/a\tb",
            "/\u{e9}",
            "?q",
            "#f",
        ]
        .map(String::from)
        .to_vec();
        paths.extend((0x20u8..0x7f).map(|b| format!("/a{}b", b as char)));
        let queries = [
            "", "?", "?a=1&b=2", "?a'b", "?a b", "?x=%41", "?a\\b", "?a`b", "?a/../b",
        ];
        let fragments = ["", "#", "#frag", "#a b"];
        let (mut recognized, mut compared) = (0, 0);
        for scheme in schemes {
            for host in hosts {
                for port in ports {
                    for path in &paths {
                        for query in queries {
                            for fragment in fragments {
                                let input = format!("{scheme}{host}{port}{path}{query}{fragment}");
                                compared += 1;
                                let Some(simple) = SimpleUrl::recognize(&input) else {
                                    continue;
                                };
                                recognized += 1;
                                let mut url = Url::parse(&input)
                                    .unwrap_or_else(|e| panic!("{input:?} is not a URL: {e}"));
                                url.set_fragment(None);
                                assert_eq!(simple.allowed.as_str(), url.as_str(), "{input:?}");
                                assert_eq!(Some(simple.host), url.host(), "{input:?}");
                                assert_eq!(simple.port, url.port(), "{input:?}");
                                assert_eq!(simple.scheme, url.scheme(), "{input:?}");
                            }
                        }
                    }
                }
            }
        }
        assert!(
            recognized > 10_000,
            "the fast path takes too few URLs to be tested: {recognized} of {compared}"
        );
        for common in [
            "http://127.0.0.1:8080/",
            "https://api.example.com/v1/items?id=3&sort=name",
            "http://localhost:3000/users/42",
        ] {
            assert!(SimpleUrl::recognize(common).is_some(), "{common}");
        }
    }

    #[test]
    fn every_invalid_pattern_vector_is_refused_by_name() {
        let vectors = vectors();
        assert!(!vectors.invalid_patterns.is_empty());
        for case in &vectors.invalid_patterns {
            let error = OutboundPolicy::default()
                .with_allowed_hosts([&case.pattern])
                .expect_err(&format!(
                    "{:?} should be refused: {}",
                    case.pattern, case.why
                ));
            let message = format!("{error:#}");
            assert!(
                message.contains(&format!("{:?}", case.pattern)),
                "the error names the pattern: {message}"
            );
        }
    }

    #[test]
    fn the_fragment_is_dropped_and_messages_say_what_to_do() {
        let policy = OutboundPolicy::default()
            .with_allowed_hosts(["https://api.example.com"])
            .unwrap();
        let url = policy
            .check_url("https://api.example.com/a?b=1#frag")
            .unwrap();
        assert_eq!(url.as_str(), "https://api.example.com/a?b=1");
        let Err(Refusal::Denied(message)) = policy.check_url("https://other.test/") else {
            panic!("other.test is not allowed")
        };
        assert!(message.contains("https://other.test"), "{message}");
        assert!(message.contains("https://api.example.com"), "{message}");
        let Err(Refusal::Denied(message)) = OutboundPolicy::default().check_url("https://a.test/")
        else {
            panic!("nothing is allowed by default")
        };
        assert!(message.contains("outbound.allowed_hosts"), "{message}");
    }

    #[test]
    fn platform_variables_set_the_policy_and_bad_values_name_the_variable() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            OutboundPolicy::from_variables(vars(&[])).unwrap(),
            OutboundPolicy::default()
        );
        let policy = OutboundPolicy::from_variables(vars(&[
            (
                ALLOWED_HOSTS_VAR,
                "https://api.example.com, http://127.0.0.1:*  https://*.b.test",
            ),
            (ALLOW_PRIVATE_NETWORKS_VAR, "true"),
            (TIMEOUT_MS_VAR, "2500"),
            (MAX_REQUESTS_VAR, "3"),
            (MAX_RESPONSE_BYTES_VAR, "1024"),
        ]))
        .unwrap();
        assert_eq!(
            policy.allowed_hosts().collect::<Vec<_>>(),
            [
                "https://api.example.com",
                "http://127.0.0.1:*",
                "https://*.b.test"
            ]
        );
        assert!(policy.allow_private_networks);
        assert_eq!(policy.timeout, Duration::from_millis(2500));
        assert_eq!(policy.max_requests, 3);
        assert_eq!(policy.max_response_bytes, 1024);
        for (bad, variable) in [
            (
                &[(ALLOWED_HOSTS_VAR, "api.example.com")][..],
                ALLOWED_HOSTS_VAR,
            ),
            (
                &[(ALLOW_PRIVATE_NETWORKS_VAR, "yes")][..],
                ALLOW_PRIVATE_NETWORKS_VAR,
            ),
            (&[(TIMEOUT_MS_VAR, "10s")][..], TIMEOUT_MS_VAR),
            (&[(TIMEOUT_MS_VAR, "0")][..], "timeout_ms"),
            (&[(MAX_REQUESTS_VAR, "-1")][..], MAX_REQUESTS_VAR),
            (&[(MAX_REQUESTS_VAR, "0")][..], "max_requests"),
            (
                &[(MAX_RESPONSE_BYTES_VAR, "99999999999")][..],
                "max_response_bytes",
            ),
        ] {
            let pairs: &'static [(&'static str, &'static str)] = bad;
            let error = format!(
                "{:#}",
                OutboundPolicy::from_variables(vars(pairs)).unwrap_err()
            );
            assert!(error.contains(variable), "{pairs:?}: {error}");
        }
    }
}

//! What the Azure Functions adapter and the Azure packager must agree on: binding names in
//! `function.json`, the default route prefix, the header the Functions host sends, the settings
//! files and variable names, and how a path is matched against the route prefix. Both depend on this module, not on each other.

/// Name of the HTTP trigger binding in `function.json`: the key of the request in `Data`.
pub(crate) const HTTP_INPUT_BINDING: &str = "req";
/// Name of the HTTP output binding in `function.json`: the key of the response in `Outputs`.
pub(crate) const HTTP_OUTPUT_BINDING: &str = "res";
/// `extensions.http.routePrefix` when `host.json` does not set it.
pub(crate) const DEFAULT_ROUTE_PREFIX: &str = "api";
/// Header the Functions host puts on every call to the handler.
pub(crate) const INVOCATION_ID_HEADER: &str = "x-azure-functions-invocationid";
/// App settings named `EDGEFN_VAR_<NAME>` reach the guest as variable `<NAME>`; nothing else of the
/// process environment does.
pub(crate) const GUEST_VARIABLE_PREFIX: &str = "EDGEFN_VAR_";
/// The app's settings file, in the app root.
pub(crate) const HOST_JSON: &str = "host.json";

/// `path` without its leading `/<prefix>` segment (matched without regard to ASCII case, as the
/// Functions host routes), always starting with `/`; `None` when `path` is not under `prefix`.
pub(crate) fn strip_prefix_segment<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let after_slash = path.strip_prefix('/')?;
    let head = after_slash.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = &after_slash[prefix.len()..];
    if rest.is_empty() {
        Some("/")
    } else if rest.starts_with('/') {
        Some(rest)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_stripping_respects_segments() {
        assert_eq!(strip_prefix_segment("/api", "api"), Some("/"));
        assert_eq!(strip_prefix_segment("/api/", "api"), Some("/"));
        assert_eq!(strip_prefix_segment("/api/a/b", "api"), Some("/a/b"));
        assert_eq!(strip_prefix_segment("/apia", "api"), None);
        assert_eq!(strip_prefix_segment("/ap", "api"), None);
        assert_eq!(strip_prefix_segment("api/a", "api"), None);
        // A multi-byte character where the prefix would end must not panic.
        assert_eq!(strip_prefix_segment("/aé/x", "ab"), None);
    }
}

//! Which path a service is asked about. The same module is reached at `/shop/items/7` on the local
//! host and on Azure (a function named `shop`) and at `/items/7` on Lambda and Workers, so, like
//! `edgefn::Router`, the adapter serves routes written without the function's name everywhere.

use http::Uri;
use http::uri::PathAndQuery;

/// `uri` without a leading `/<function>` segment (query kept; `/shop` becomes `/`), when it has one.
pub(crate) fn below_function(uri: &Uri, function: &str) -> Option<Uri> {
    if function.is_empty() {
        return None;
    }
    let rest = uri.path().strip_prefix('/')?.strip_prefix(function)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let target = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    // A tail of a valid path and query is itself valid; `ok()` keeps a surprise from panicking.
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(target).ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn below(uri: &str, function: &str) -> Option<String> {
        below_function(&uri.parse().unwrap(), function).map(|uri| uri.to_string())
    }

    #[test]
    fn strips_a_whole_leading_segment_and_keeps_the_query() {
        assert_eq!(below("/shop/items/7", "shop").as_deref(), Some("/items/7"));
        assert_eq!(
            below("/shop/items?x=1&y=%20", "shop").as_deref(),
            Some("/items?x=1&y=%20")
        );
        assert_eq!(below("/shop", "shop").as_deref(), Some("/"));
        assert_eq!(below("/shop?x=1", "shop").as_deref(), Some("/?x=1"));
        assert_eq!(below("/shop/", "shop").as_deref(), Some("/"));
    }

    #[test]
    fn leaves_other_paths_alone() {
        assert_eq!(below("/shopping/cart", "shop"), None);
        assert_eq!(below("/items/shop", "shop"), None);
        assert_eq!(below("/", "shop"), None);
        assert_eq!(below("/shop/x", ""), None);
    }
}

//! Signing Table storage requests with the account key: Shared Key Lite for the Table service
//! (<https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key>), an
//! HMAC-SHA256 over the request's date and canonicalized resource, so the handler needs no Azure
//! SDK.

use crate::platform::signing::hmac_sha256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use std::time::SystemTime;

/// The canonicalized resource of a Table request: `/<account><path>`, plus `?comp=<value>` when
/// the query has `comp` (no other parameter is signed). With a path-style endpoint (the emulator's
/// `http://127.0.0.1:10002/<account>`) the path starts with the account again, and is signed so.
pub(crate) fn canonicalized_resource(account: &str, path: &str, query: Option<&str>) -> String {
    let mut resource = format!("/{account}{path}");
    let comp = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("comp="));
    if let Some(comp) = comp {
        resource.push_str("?comp=");
        resource.push_str(comp);
    }
    resource
}

/// The `Authorization` value for a request dated `date` (the `x-ms-date` header, RFC 1123) on
/// `resource` (see [`canonicalized_resource`]).
pub(crate) fn authorization(account: &str, key: &[u8], date: &str, resource: &str) -> String {
    let string_to_sign = format!("{date}\n{resource}");
    let signature = BASE64.encode(hmac_sha256(key, string_to_sign.as_bytes()));
    format!("SharedKeyLite {account}:{signature}")
}

/// `time` as an HTTP date (RFC 1123, always GMT): `Wed, 02 Dec 2026 04:20:26 GMT`.
pub(crate) fn http_date(time: SystemTime) -> String {
    httpdate::fmt_http_date(time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn dates_are_rfc_1123() {
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let at = |secs| http_date(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(1_795_400_426), "Mon, 23 Nov 2026 02:20:26 GMT");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(at(4_133_980_799), "Fri, 31 Dec 2100 23:59:59 GMT");
    }

    #[test]
    fn the_resource_repeats_a_path_style_account_and_keeps_only_comp() {
        assert_eq!(
            canonicalized_resource("acct", "/Tables", None),
            "/acct/Tables"
        );
        assert_eq!(
            canonicalized_resource(
                "devstoreaccount1",
                "/devstoreaccount1/kv(PartitionKey='a',RowKey='61')",
                Some("$select=exp")
            ),
            "/devstoreaccount1/devstoreaccount1/kv(PartitionKey='a',RowKey='61')"
        );
        assert_eq!(
            canonicalized_resource("acct", "/kv", Some("$top=1&comp=acl")),
            "/acct/kv?comp=acl"
        );
        // A known signature: the same inputs always give the same header.
        let header = authorization(
            "acct",
            b"key",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "/acct/Tables",
        );
        let expected = BASE64.encode(hmac_sha256(
            b"key",
            b"Thu, 01 Jan 1970 00:00:00 GMT\n/acct/Tables",
        ));
        assert_eq!(header, format!("SharedKeyLite acct:{expected}"));
    }
}

//! Signing Table storage requests with the account key: Shared Key Lite for the Table service
//! (https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key), an
//! HMAC-SHA256 over the request's date and canonicalized resource. Hand-written over `sha2`, so the
//! handler needs no Azure SDK and no further crate.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest as _, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

/// SHA-256's block size, the HMAC key's padded length.
const BLOCK: usize = 64;

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

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
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    let rem = secs % 86_400;
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian (year, month 1-12, day 1-31) of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
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
    use std::time::Duration;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2: a short key.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block, hashed first.
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

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

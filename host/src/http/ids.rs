//! Request ids, the W3C `traceparent` a request carries, and the header every response is tagged
//! with.

use http::{HeaderMap, HeaderValue};

/// Header carrying the invocation's request id on every response.
pub(crate) const REQUEST_ID_HEADER: &str = "x-edgefn-request-id";

/// A request id: random, unguessable enough for correlation, cheap (no syscall).
pub(crate) fn new_request_id() -> String {
    // A UUIDv4 layout written by hand: `format!` with five padded hex fields cost ~3k
    // instructions per request, more than the rest of the routing.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bits = (u128::from(fastrand::u64(..)) << 64) | u128::from(fastrand::u64(..));
    bits = (bits & !(0xf << 76)) | (0x4 << 76); // version 4
    bits = (bits & !(0x3 << 62)) | (0x2 << 62); // RFC 4122 variant
    let mut out = [0u8; 36];
    let mut nibble = 32;
    for (i, slot) in out.iter_mut().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            *slot = b'-';
        } else {
            nibble -= 1;
            *slot = HEX[((bits >> (nibble * 4)) & 0xf) as usize];
        }
    }
    String::from_utf8(out.to_vec()).expect("ASCII")
}
/// The request's W3C `traceparent`, when it has a readable one.
pub(crate) fn traceparent(headers: &HeaderMap) -> Option<&str> {
    headers.get("traceparent").and_then(|v| v.to_str().ok())
}

/// Marks a response with its invocation's request id.
pub(crate) fn tag_request_id(headers: &mut HeaderMap, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_v4_and_distinct() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'), "{a}");
        assert!(
            matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
            "{a}"
        );
        assert!(a.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()));
    }
}

//! Property tests of the envelope decoders, which take bytes from outside the host (a guest may
//! hand back anything): no input makes them panic or allocate beyond the input's size, and every
//! envelope the encoder writes decodes back to itself.

use edgefn_abi::{RequestEnvelope, ResponseEnvelope};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 _/?=&%-]{0,24}").unwrap()
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = RequestEnvelope::decode(&data);
        let _ = ResponseEnvelope::decode(&data);
    }

    #[test]
    fn corrupted_magic_prefixed_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut request = b"EFQ1".to_vec();
        request.extend_from_slice(&tail);
        let _ = RequestEnvelope::decode(&request);
        let mut response = b"EFS1".to_vec();
        response.extend_from_slice(&tail);
        let _ = ResponseEnvelope::decode(&response);
    }

    #[test]
    fn requests_round_trip(
        context in proptest::collection::vec((text(), text()), 0..6),
        method in "[A-Z]{1,8}",
        uri in text(),
        headers in proptest::collection::vec((text(), bytes()), 0..8),
        body in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        let envelope = RequestEnvelope {
            context: context.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            method: &method,
            uri: &uri,
            headers: headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect(),
            body: &body,
        };
        let encoded = envelope.encode();
        prop_assert_eq!(encoded.len(), envelope.encoded_len());
        prop_assert_eq!(RequestEnvelope::decode(&encoded).unwrap(), envelope);
    }

    #[test]
    fn responses_round_trip_and_truncations_are_refused(
        status in 100u16..=999,
        headers in proptest::collection::vec((text(), bytes()), 0..8),
        body in proptest::collection::vec(any::<u8>(), 0..1024),
        cut in any::<prop::sample::Index>(),
    ) {
        let envelope = ResponseEnvelope {
            status,
            headers: headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect(),
            body: &body,
        };
        let encoded = envelope.encode();
        prop_assert_eq!(ResponseEnvelope::decode(&encoded).unwrap(), envelope);
        let short = &encoded[..cut.index(encoded.len())];
        prop_assert!(ResponseEnvelope::decode(short).is_err());
    }
}

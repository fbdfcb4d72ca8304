//! Property test of the SDK's request path: whatever bytes arrive as a request envelope, the guest
//! answers a valid response envelope (400 for garbage) and never panics.

use edgefn::{Context, Request};
use edgefn_abi::ResponseEnvelope;
use proptest::prelude::*;

fn ok(_: Request, _: &Context) -> &'static str {
    "ok"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_request_bytes_get_a_valid_response(tail in proptest::collection::vec(any::<u8>(), 0..512), magic in any::<bool>()) {
        let mut data = if magic { b"EFQ1".to_vec() } else { Vec::new() };
        data.extend_from_slice(&tail);
        let out = edgefn::__private::handle_envelope(&data, &ok);
        let response = ResponseEnvelope::decode(&out).expect("the SDK always writes a valid envelope");
        prop_assert!(response.status == 200 || response.status == 400);
    }
}

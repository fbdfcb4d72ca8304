//! The guest side of ABI v1: receive a request envelope in linear memory, call the handler, leave the
//! response envelope in linear memory for the host to read.
//!
//! Both envelopes live in module-level buffers rather than leaked allocations, so an instance that
//! the host reuses for many requests (warm mode) frees the previous request's memory as it goes.

use crate::response::status_text;
use crate::{Context, Handler, Request, Response};
use bytes::Bytes;
use edgefn_abi::{RequestEnvelope, ResponseEnvelope, pack_ptr_len};
use http::{HeaderName, HeaderValue, StatusCode};
use std::cell::RefCell;

thread_local! {
    static REQUEST_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static RESPONSE_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// `edgefn_v1_alloc`: makes room for a request envelope of `len` bytes and returns where it starts.
pub fn alloc(len: u32) -> u32 {
    REQUEST_BUF.with_borrow_mut(|buf| {
        buf.clear();
        RESPONSE_BUF.with_borrow_mut(Vec::clear);
        if buf.try_reserve_exact(len as usize).is_err() {
            return 0;
        }
        buf.resize(len as usize, 0);
        buf.as_mut_ptr() as usize as u32
    })
}

/// `edgefn_v1_handle`: decodes the request the host wrote at `ptr`, runs the handler and returns the
/// response envelope's location packed as `ptr << 32 | len`.
pub fn handle(ptr: u32, len: u32, handler: &impl Handler) -> u64 {
    let request = REQUEST_BUF.take();
    if request.as_ptr() as usize as u32 != ptr || request.len() != len as usize {
        eprintln!("edgefn: the host passed a request buffer that edgefn_v1_alloc did not hand out");
        REQUEST_BUF.set(request);
        return respond_with(&status_text(StatusCode::INTERNAL_SERVER_ERROR));
    }
    // Shared, so the request's header values and body are slices of the buffer, not copies.
    let request = Bytes::from(request);
    let packed = respond_with(&respond(&request, handler));
    // The buffer serves the next request (warm mode) unless the handler kept a part of it.
    if let Ok(buf) = request.try_into_mut() {
        REQUEST_BUF.set(buf.into());
    }
    packed
}

/// Encodes `response` into the response buffer; its place, as `edgefn_v1_handle` answers.
fn respond_with(response: &Response) -> u64 {
    RESPONSE_BUF.with_borrow_mut(|out| {
        encode_response(response, out);
        pack_ptr_len(out.as_ptr() as usize as u32, out.len() as u32)
    })
}

/// The whole guest path on plain bytes: decode, handle, encode; for native tests.
pub fn handle_envelope(request: &[u8], handler: &impl Handler) -> Vec<u8> {
    let mut out = Vec::new();
    encode_response(
        &respond(&Bytes::copy_from_slice(request), handler),
        &mut out,
    );
    out
}

fn respond(request: &Bytes, handler: &impl Handler) -> Response {
    match decode_request(request) {
        Ok((req, ctx)) => handler.call(req, &ctx),
        Err(why) => {
            eprintln!("edgefn: could not read the request envelope: {why}");
            status_text(StatusCode::BAD_REQUEST)
        }
    }
}

/// The request and its context; header values and the body are slices of `bytes`.
pub(crate) fn decode_request(bytes: &Bytes) -> Result<(Request, Context), String> {
    let envelope = RequestEnvelope::decode(bytes).map_err(|e| e.to_string())?;
    let mut builder = http::Request::builder()
        .method(envelope.method)
        .uri(envelope.uri);
    let headers = builder.headers_mut().expect("builder has no error yet");
    headers.reserve(envelope.headers.len());
    for (name, value) in &envelope.headers {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header {name:?}: {e}"))?;
        let value = HeaderValue::from_maybe_shared(bytes.slice_ref(value))
            .map_err(|e| format!("header {name}: {e}"))?;
        headers.append(name, value);
    }
    let request = builder
        .body(bytes.slice_ref(envelope.body))
        .map_err(|e| e.to_string())?;
    Ok((request, Context::from_pairs(envelope.context)))
}

fn encode_response(response: &Response, out: &mut Vec<u8>) {
    let envelope = ResponseEnvelope {
        status: response.status().as_u16(),
        headers: response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect(),
        body: response.body(),
    };
    out.clear();
    out.resize(envelope.encoded_len(), 0);
    envelope.encode_into(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IntoResponse;

    fn echo_method(req: Request, ctx: &Context) -> impl IntoResponse {
        format!(
            "{} {} {} {}",
            req.method(),
            req.uri(),
            ctx.request_id(),
            ctx.platform()
        )
    }

    #[test]
    fn envelope_round_trip_through_a_handler() {
        let request = RequestEnvelope {
            context: vec![("request-id", "r-9"), ("platform", "aws-lambda")],
            method: "PATCH",
            uri: "/a/b?c=d",
            headers: vec![("x-a", b"1"), ("x-a", b"2")],
            body: b"\x00\xff",
        }
        .encode();
        let out = handle_envelope(&request, &echo_method);
        let response = ResponseEnvelope::decode(&out).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"PATCH /a/b?c=d r-9 aws-lambda");
    }

    #[test]
    fn garbage_envelope_is_a_400_not_a_panic() {
        let out = handle_envelope(b"EFQ1\xff\xff", &echo_method);
        assert_eq!(ResponseEnvelope::decode(&out).unwrap().status, 400);
    }

    #[test]
    fn handler_error_is_a_bare_500() {
        let failing = |_: Request, _: &Context| -> Result<&'static str, String> {
            Err("database password is hunter2".into())
        };
        let request = RequestEnvelope {
            method: "GET",
            uri: "/",
            ..Default::default()
        }
        .encode();
        let out = handle_envelope(&request, &failing);
        let response = ResponseEnvelope::decode(&out).unwrap();
        assert_eq!(response.status, 500);
        assert!(!String::from_utf8_lossy(response.body).contains("hunter2"));
    }
}

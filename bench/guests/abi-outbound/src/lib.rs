//! One outbound call written against the bare ABI v1 codec: GETs the URL in the request's
//! `x-call-url` header and answers the upstream's body with 200, as the native proxy in
//! `native_hello` does; no `x-call-url` is a 400 at once. Beside the SDK's `outbound` conformance
//! guest it splits the cost of a call into the host's and the SDK's.
use edgefn_abi::pack_ptr_len;
use edgefn_abi::{HttpRequestEnvelope, HttpResponseEnvelope, RequestEnvelope, ResponseEnvelope};
use std::cell::RefCell;

/// The guest's buffers (a wasm32-wasip1 module has one thread).
struct Buffers {
    request: RefCell<Vec<u8>>,
    response: RefCell<Vec<u8>>,
    upstream: RefCell<Vec<u8>>,
}

#[allow(
    unsafe_code,
    reason = "a static needs Sync; this module has one thread"
)]
// SAFETY: wasm32-wasip1 modules are single-threaded; nothing shares these across threads.
unsafe impl Sync for Buffers {}

static BUFFERS: Buffers = Buffers {
    request: RefCell::new(Vec::new()),
    response: RefCell::new(Vec::new()),
    upstream: RefCell::new(Vec::new()),
};

#[allow(unsafe_code, reason = "host imports are an extern block")]
#[link(wasm_import_module = "edgefn_v1")]
unsafe extern "C" {
    fn http_send(ptr: u32, len: u32) -> i64;
    fn result_read(ptr: u32, len: u32) -> i32;
}

/// `edgefn_v1_alloc`.
#[allow(unsafe_code, reason = "an ABI v1 export must have its unmangled name")]
#[unsafe(no_mangle)]
pub extern "C" fn edgefn_v1_alloc(len: u32) -> u32 {
    let mut request = BUFFERS.request.borrow_mut();
    request.clear();
    request.resize(len as usize, 0);
    request.as_mut_ptr() as usize as u32
}

/// The upstream's body, or the status to answer instead.
fn call(url: &str) -> Result<(), u16> {
    let envelope = HttpRequestEnvelope {
        timeout_ms: 0,
        method: "GET",
        url,
        headers: Vec::new(),
        body: &[],
    }
    .encode();
    #[allow(unsafe_code, reason = "a host import")]
    // SAFETY: the envelope is a live buffer of exactly that length.
    let answer = unsafe { http_send(envelope.as_ptr() as usize as u32, envelope.len() as u32) };
    let len = usize::try_from(answer).map_err(|_| 502u16)?;
    let mut upstream = BUFFERS.upstream.borrow_mut();
    upstream.clear();
    upstream.resize(len, 0);
    #[allow(unsafe_code, reason = "a host import")]
    // SAFETY: the host writes at most `len` bytes into this buffer of `len` bytes.
    let copied = unsafe { result_read(upstream.as_mut_ptr() as usize as u32, len as u32) };
    if usize::try_from(copied) != Ok(len) {
        return Err(502);
    }
    Ok(())
}

/// `edgefn_v1_handle`.
#[allow(unsafe_code, reason = "an ABI v1 export must have its unmangled name")]
#[unsafe(no_mangle)]
pub extern "C" fn edgefn_v1_handle(_ptr: u32, _len: u32) -> u64 {
    let request = BUFFERS.request.borrow();
    let url = RequestEnvelope::decode(&request).ok().and_then(|envelope| {
        envelope
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("x-call-url"))
            .and_then(|(_, value)| std::str::from_utf8(value).ok().map(str::to_owned))
    });
    let outcome = match &url {
        Some(url) => call(url),
        None => Err(400),
    };
    let upstream = BUFFERS.upstream.borrow();
    let body = match outcome {
        Ok(()) => HttpResponseEnvelope::decode(&upstream)
            .map(|e| e.body)
            .map_err(|_| 502),
        Err(status) => Err(status),
    };
    let envelope = match body {
        Ok(body) => ResponseEnvelope {
            status: 200,
            headers: Vec::new(),
            body,
        },
        Err(status) => ResponseEnvelope {
            status,
            headers: Vec::new(),
            body: &[],
        },
    };
    let mut response = BUFFERS.response.borrow_mut();
    response.clear();
    response.resize(envelope.encoded_len(), 0);
    envelope.encode_into(&mut response);
    pack_ptr_len(response.as_ptr() as usize as u32, response.len() as u32)
}

//! Hello world written against the bare ABI v1 codec: the same answer as `guests/examples/hello`,
//! without the SDK's `http` types, `Context` or `format!`. Beside `minimal.wat` (no guest work at
//! all) and the SDK `hello`, it splits a fresh invocation's cost into host, Rust guest and SDK.
use edgefn_abi::{RequestEnvelope, ResponseEnvelope, context_key, pack_ptr_len};
use std::cell::RefCell;

/// The request and response envelopes' buffers (a wasm32-wasip1 module has one thread).
struct Buffers {
    request: RefCell<Vec<u8>>,
    response: RefCell<Vec<u8>>,
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
};

/// `edgefn_v1_alloc`.
#[allow(unsafe_code, reason = "an ABI v1 export must have its unmangled name")]
#[unsafe(no_mangle)]
pub extern "C" fn edgefn_v1_alloc(len: u32) -> u32 {
    let mut request = BUFFERS.request.borrow_mut();
    request.clear();
    request.resize(len as usize, 0);
    request.as_mut_ptr() as usize as u32
}

/// `edgefn_v1_handle`: answers `Hello from <function> on <platform>!`.
#[allow(unsafe_code, reason = "an ABI v1 export must have its unmangled name")]
#[unsafe(no_mangle)]
pub extern "C" fn edgefn_v1_handle(_ptr: u32, _len: u32) -> u64 {
    let request = BUFFERS.request.borrow();
    let (status, body) = match RequestEnvelope::decode(&request) {
        Ok(envelope) => {
            let mut body = String::with_capacity(64);
            for part in [
                "Hello from ",
                envelope
                    .context_value(context_key::FUNCTION_NAME)
                    .unwrap_or(""),
                " on ",
                envelope.context_value(context_key::PLATFORM).unwrap_or(""),
                "!\n",
            ] {
                body.push_str(part);
            }
            (200, body)
        }
        Err(_) => (400, String::new()),
    };
    let envelope = ResponseEnvelope {
        status,
        headers: vec![("content-type", b"text/plain; charset=utf-8".as_slice())],
        body: body.as_bytes(),
    };
    let mut response = BUFFERS.response.borrow_mut();
    response.clear();
    response.resize(envelope.encoded_len(), 0);
    envelope.encode_into(&mut response);
    pack_ptr_len(response.as_ptr() as usize as u32, response.len() as u32)
}

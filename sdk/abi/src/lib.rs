//! The edgefn guest ABI, version 1: names of the exports and the binary envelopes that carry a request
//! into a guest and its response back out. `docs/abi.md` is the specification; this crate is its Rust
//! implementation, shared by the host and the guest SDK, and `docs/abi-v1-vectors.json` holds the test
//! vectors every implementation runs.
//!
//! Decoding never trusts a length: every count and size is checked against the bytes that are really
//! there before anything is allocated, so a hostile envelope costs at most its own size.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;

/// The ABI version this crate speaks.
pub const ABI_VERSION: u32 = 1;
/// Export that receives a request envelope: `(ptr: i32, len: i32) -> i64`, returning `ptr << 32 | len`
/// of the response envelope.
pub const HANDLE_EXPORT: &str = "edgefn_v1_handle";
/// Export that reserves guest memory for the request envelope: `(len: i32) -> i32`, 0 on failure.
pub const ALLOC_EXPORT: &str = "edgefn_v1_alloc";
/// Optional export `() -> ()`: the guest's request-independent setup. A host either calls it once per
/// instance before the first request, or runs it once at deploy time and snapshots the initialized
/// instance into the module it serves (pre-initialization).
pub const INIT_EXPORT: &str = "edgefn_v1_init";
/// Prefix shared by every version's exports; used to name the version a module speaks.
pub const EXPORT_PREFIX: &str = "edgefn_v";
/// First four bytes of a request envelope.
pub const REQUEST_MAGIC: [u8; 4] = *b"EFQ1";
/// First four bytes of a response envelope.
pub const RESPONSE_MAGIC: [u8; 4] = *b"EFS1";
/// Magic bytes that open an outbound request envelope (guest → host, `http_send`).
pub const HTTP_REQUEST_MAGIC: [u8; 4] = *b"EHQ1";
/// Magic bytes that open an outbound response envelope (host → guest).
pub const HTTP_RESPONSE_MAGIC: [u8; 4] = *b"EHS1";
/// Magic bytes that open a key-value list page (host → guest, the result of `kv_list`).
pub const KV_LIST_MAGIC: [u8; 4] = *b"EKL1";

/// Context keys defined by v1. Unknown keys are ignored by readers, so new keys need no new version.
pub mod context_key {
    /// Unique id of this invocation (the platform's own where it has one).
    pub const REQUEST_ID: &str = "request-id";
    /// Name of the function as deployed.
    pub const FUNCTION_NAME: &str = "function-name";
    /// One of the [`Platform`](crate::Platform) names: `local`, `aws-lambda`, `azure-functions`,
    /// `cloudflare-workers`.
    pub const PLATFORM: &str = "platform";
    /// Deadline as Unix epoch milliseconds, decimal.
    pub const DEADLINE_MS: &str = "deadline-ms";
    /// `true` on the first invocation in this execution environment, else `false`.
    pub const COLD_START: &str = "cold-start";
    /// W3C `traceparent` of the incoming request, when it had one.
    pub const TRACEPARENT: &str = "traceparent";
}

/// The platforms a function runs on, by the name the `platform` context value carries. The one
/// list: the host's adapters, the Rust SDK and (through `docs/host-contract.json`, which tests hold
/// to this) the Go SDK and the Workers shim all use these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// The edgefn host (`edgefn serve` or `edgefn invoke`).
    Local,
    /// AWS Lambda, through the edgefn custom runtime.
    AwsLambda,
    /// Azure Functions, as a custom handler.
    AzureFunctions,
    /// Cloudflare Workers, through the JavaScript shim.
    CloudflareWorkers,
}

impl Platform {
    /// Every platform, in a fixed order.
    pub const ALL: [Platform; 4] = [
        Platform::Local,
        Platform::AwsLambda,
        Platform::AzureFunctions,
        Platform::CloudflareWorkers,
    ];

    /// The name on the wire (`local`, `aws-lambda`, `azure-functions`, `cloudflare-workers`).
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Local => "local",
            Platform::AwsLambda => "aws-lambda",
            Platform::AzureFunctions => "azure-functions",
            Platform::CloudflareWorkers => "cloudflare-workers",
        }
    }

    /// The platform with this wire name, if it is one of [`Platform::ALL`].
    pub fn from_wire(name: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an envelope could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The first four bytes are not the expected magic.
    BadMagic,
    /// A length or count points past the end of the envelope.
    Truncated,
    /// Bytes remain after the last field.
    TrailingBytes,
    /// A field that must be UTF-8 is not.
    InvalidUtf8,
    /// The response status is outside 100..=999.
    BadStatus,
}

impl DecodeError {
    /// Stable short name, as used in the test vectors.
    pub fn as_str(self) -> &'static str {
        match self {
            DecodeError::BadMagic => "bad-magic",
            DecodeError::Truncated => "truncated",
            DecodeError::TrailingBytes => "trailing-bytes",
            DecodeError::InvalidUtf8 => "invalid-utf8",
            DecodeError::BadStatus => "bad-status",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            DecodeError::BadMagic => "envelope does not start with the expected magic bytes",
            DecodeError::Truncated => "envelope is truncated: a length points past its end",
            DecodeError::TrailingBytes => "envelope has bytes after its last field",
            DecodeError::InvalidUtf8 => "a text field of the envelope is not UTF-8",
            DecodeError::BadStatus => "response status is outside 100..=999",
        };
        f.write_str(what)
    }
}

impl std::error::Error for DecodeError {}

/// A request as it crosses into the guest. Borrowed, so decoding copies nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestEnvelope<'a> {
    /// Context pairs (see [`context_key`]), in order.
    pub context: Vec<(&'a str, &'a str)>,
    /// HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// Request target in origin form: path plus `?query` when present.
    pub uri: &'a str,
    /// Header fields in arrival order; a repeated header appears once per value.
    pub headers: Vec<(&'a str, &'a [u8])>,
    /// Body bytes, exactly as received.
    pub body: &'a [u8],
}

/// A response as it crosses out of the guest. Borrowed, so decoding copies nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseEnvelope<'a> {
    /// HTTP status code.
    pub status: u16,
    /// Header fields in order; a repeated header appears once per value.
    pub headers: Vec<(&'a str, &'a [u8])>,
    /// Body bytes.
    pub body: &'a [u8],
}

const LEN: usize = 4;

fn bytes_len(b: &[u8]) -> usize {
    LEN + b.len()
}

fn pairs_len<V: AsRef<[u8]>>(pairs: &[(&str, V)]) -> usize {
    LEN + pairs
        .iter()
        .map(|(k, v)| bytes_len(k.as_bytes()) + bytes_len(v.as_ref()))
        .sum::<usize>()
}

/// Appends to a caller-sized buffer; lengths are `u32` little-endian.
struct Writer<'b> {
    out: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn raw(&mut self, b: &[u8]) {
        self.out[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    fn u32(&mut self, v: usize) {
        let v = u32::try_from(v).expect("envelope field longer than 4 GiB");
        self.raw(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len());
        self.raw(b);
    }
    fn pairs<V: AsRef<[u8]>>(&mut self, pairs: &[(&str, V)]) {
        self.u32(pairs.len());
        for (k, v) in pairs {
            self.bytes(k.as_bytes());
            self.bytes(v.as_ref());
        }
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<usize, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()?;
        self.take(n)
    }
    fn str(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| DecodeError::InvalidUtf8)
    }
    fn magic(&mut self, magic: &[u8; 4]) -> Result<(), DecodeError> {
        match self.take(4) {
            Ok(m) if m == magic => Ok(()),
            _ => Err(DecodeError::BadMagic),
        }
    }
    /// A count of pairs; each pair needs at least two lengths, which bounds the allocation.
    fn pair_count(&mut self) -> Result<usize, DecodeError> {
        let n = self.u32()?;
        if n > self.rest.len() / (2 * LEN) {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }
    fn str_pairs(&mut self) -> Result<Vec<(&'a str, &'a str)>, DecodeError> {
        let n = self.pair_count()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push((self.str()?, self.str()?));
        }
        Ok(out)
    }
    fn header_pairs(&mut self) -> Result<Vec<(&'a str, &'a [u8])>, DecodeError> {
        let n = self.pair_count()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push((self.str()?, self.bytes()?));
        }
        Ok(out)
    }
    fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

impl<'a> RequestEnvelope<'a> {
    /// Size in bytes of the encoded envelope.
    pub fn encoded_len(&self) -> usize {
        REQUEST_MAGIC.len()
            + pairs_len(&self.context)
            + bytes_len(self.method.as_bytes())
            + bytes_len(self.uri.as_bytes())
            + pairs_len(&self.headers)
            + bytes_len(self.body)
    }

    /// Encodes into `out`, which must be exactly [`Self::encoded_len`] bytes (e.g. guest memory).
    pub fn encode_into(&self, out: &mut [u8]) {
        assert_eq!(
            out.len(),
            self.encoded_len(),
            "buffer must be encoded_len() bytes"
        );
        let mut w = Writer { out, at: 0 };
        w.raw(&REQUEST_MAGIC);
        w.pairs(&self.context);
        w.bytes(self.method.as_bytes());
        w.bytes(self.uri.as_bytes());
        w.pairs(&self.headers);
        w.bytes(self.body);
    }

    /// Encodes into a new vector.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0; self.encoded_len()];
        self.encode_into(&mut out);
        out
    }

    /// Decodes an envelope, borrowing from `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { rest: bytes };
        r.magic(&REQUEST_MAGIC)?;
        let context = r.str_pairs()?;
        let method = r.str()?;
        let uri = r.str()?;
        let headers = r.header_pairs()?;
        let body = r.bytes()?;
        r.finish()?;
        Ok(RequestEnvelope {
            context,
            method,
            uri,
            headers,
            body,
        })
    }

    /// The value of a context key, if present.
    pub fn context_value(&self, key: &str) -> Option<&'a str> {
        self.context
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

impl<'a> ResponseEnvelope<'a> {
    /// Size in bytes of the encoded envelope.
    pub fn encoded_len(&self) -> usize {
        response_len(&self.headers, self.body)
    }

    /// Encodes into `out`, which must be exactly [`Self::encoded_len`] bytes.
    pub fn encode_into(&self, out: &mut [u8]) {
        encode_response(&RESPONSE_MAGIC, self.status, &self.headers, self.body, out);
    }

    /// Encodes into a new vector.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0; self.encoded_len()];
        self.encode_into(&mut out);
        out
    }

    /// Decodes an envelope, borrowing from `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (status, headers, body) = decode_response(&RESPONSE_MAGIC, bytes)?;
        Ok(ResponseEnvelope {
            status,
            headers,
            body,
        })
    }
}

fn response_len(headers: &[(&str, &[u8])], body: &[u8]) -> usize {
    RESPONSE_MAGIC.len() + 2 + 2 + pairs_len(headers) + bytes_len(body)
}

/// The layout `EFS1` and `EHS1` share: magic, status, reserved, headers, body.
fn encode_response(
    magic: &[u8; 4],
    status: u16,
    headers: &[(&str, &[u8])],
    body: &[u8],
    out: &mut [u8],
) {
    assert_eq!(
        out.len(),
        response_len(headers, body),
        "buffer must be encoded_len() bytes"
    );
    let mut w = Writer { out, at: 0 };
    w.raw(magic);
    w.raw(&status.to_le_bytes());
    w.raw(&[0, 0]);
    w.pairs(headers);
    w.bytes(body);
}

type Headers<'a> = Vec<(&'a str, &'a [u8])>;

fn decode_response<'a>(
    magic: &[u8; 4],
    bytes: &'a [u8],
) -> Result<(u16, Headers<'a>, &'a [u8]), DecodeError> {
    let mut r = Reader { rest: bytes };
    r.magic(magic)?;
    let status = r.u16()?;
    if !(100..=999).contains(&status) {
        return Err(DecodeError::BadStatus);
    }
    // Reserved; writers put zero, readers ignore it so a later minor revision can use it.
    r.u16()?;
    let headers = r.header_pairs()?;
    let body = r.bytes()?;
    r.finish()?;
    Ok((status, headers, body))
}

/// The host imports of ABI v1 (`docs/abi.md`, "Host imports"): their module, names and results.
pub mod imports {
    /// The import module every edgefn capability import lives in.
    pub const MODULE: &str = "edgefn_v1";
    /// `(func (param i32 i32) (result i64))`: sends an [`HttpRequestEnvelope`](crate::HttpRequestEnvelope).
    pub const HTTP_SEND: &str = "http_send";
    /// `(func (param i32 i32) (result i32))`: copies the pending result into guest memory.
    pub const RESULT_READ: &str = "result_read";
    /// `(func (param i32 i32 i32 i32) (result i64))`: (store, key) → the value as the pending
    /// result, or `not-found`.
    pub const KV_GET: &str = "kv_get";
    /// `(func (param i32 i32 i32 i32 i32 i32 i32) (result i64))`: (store, key, value,
    /// `ttl_seconds`: 0 = never expires, else at least [`MIN_TTL_SECONDS`](crate::kv::MIN_TTL_SECONDS)).
    pub const KV_SET: &str = "kv_set";
    /// `(func (param i32 i32 i32 i32) (result i64))`: (store, key); deleting an absent key succeeds.
    pub const KV_DELETE: &str = "kv_delete";
    /// `(func (param i32 i32 i32 i32) (result i64))`: (store, key) → 0 when present, else
    /// `not-found`.
    pub const KV_EXISTS: &str = "kv_exists";
    /// `(func (param i32 i32 i32 i32 i32 i32 i32) (result i64))`: (store, prefix, cursor, limit)
    /// → a [`KvListEnvelope`](crate::KvListEnvelope) as the pending result.
    pub const KV_LIST: &str = "kv_list";
    /// `(func (param i32 i32) (result i32))`: (reason) during a module's init, to say its
    /// state must not be snapshotted: the host then runs the init in every instance instead. 0
    /// when a snapshot was being taken (it is not), 1 when none was (the init already runs per
    /// instance), `invalid` when the reason is outside memory (the snapshot is declined anyway).
    pub const SNAPSHOT_DECLINE: &str = "snapshot_decline";
    /// Every name this version of the ABI defines in [`MODULE`].
    pub const ALL: &[&str] = &[
        HTTP_SEND,
        RESULT_READ,
        KV_GET,
        KV_SET,
        KV_DELETE,
        KV_EXISTS,
        KV_LIST,
        SNAPSHOT_DECLINE,
    ];
}

/// The portable key-value contract's limits and name rules (`docs/kv.md`): the intersection of
/// what the local store, DynamoDB, Azure Table storage and Workers KV can all honour. Every host
/// checks them before its backend sees a call, so a call fails the same way everywhere.
pub mod kv {
    /// Longest key in bytes (Workers KV's limit).
    pub const MAX_KEY_BYTES: usize = 512;
    /// Largest value in bytes: 256 KiB, under DynamoDB's 400 KB item and within four of Azure
    /// Table storage's 64 KiB binary properties.
    pub const MAX_VALUE_BYTES: usize = 256 * 1024;
    /// Shortest time to live a value may have (Workers KV's minimum); 0 means no expiry.
    pub const MIN_TTL_SECONDS: u32 = 60;
    /// Most keys one `kv_list` page may ask for; 0 asks for this many.
    pub const MAX_LIST_LIMIT: u32 = 1000;
    /// Longest store name in bytes.
    pub const MAX_STORE_NAME_BYTES: usize = 32;
    /// Longest cursor in bytes a host accepts back (cursors are opaque; backends' are far shorter).
    pub const MAX_CURSOR_BYTES: usize = 4096;

    /// Why a store name, key, prefix, value or TTL is refused (`invalid`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Refused(pub String);

    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl std::error::Error for Refused {}

    /// A store name: 1–32 bytes of lower-case ASCII letters, digits and `_`, starting with a letter
    /// (so that every platform can name a table partition or a binding after it).
    pub fn check_store_name(name: &str) -> Result<(), Refused> {
        let ok = !name.is_empty()
            && name.len() <= MAX_STORE_NAME_BYTES
            && name.as_bytes()[0].is_ascii_lowercase()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(())
        } else {
            Err(Refused(format!(
                "{name:?} is not a store name: use 1-{MAX_STORE_NAME_BYTES} lower-case letters, digits and _, starting with a letter"
            )))
        }
    }

    /// A key: 1–512 bytes of UTF-8, not `.` or `..` (which Workers KV refuses).
    pub fn check_key(key: &[u8]) -> Result<&str, Refused> {
        let text = std::str::from_utf8(key)
            .map_err(|_| Refused("the key is not UTF-8: keys are text".into()))?;
        if text.is_empty() {
            return Err(Refused("the key is empty: keys are 1-512 bytes".into()));
        }
        if text.len() > MAX_KEY_BYTES {
            return Err(Refused(format!(
                "the key is {} bytes long: keys are at most {MAX_KEY_BYTES} bytes",
                text.len()
            )));
        }
        if text == "." || text == ".." {
            return Err(Refused(format!(
                "{text:?} cannot be a key (Workers KV refuses it)"
            )));
        }
        Ok(text)
    }

    /// A list prefix: 0–512 bytes of UTF-8.
    pub fn check_prefix(prefix: &[u8]) -> Result<&str, Refused> {
        let text = std::str::from_utf8(prefix)
            .map_err(|_| Refused("the prefix is not UTF-8: keys are text".into()))?;
        if text.len() > MAX_KEY_BYTES {
            return Err(Refused(format!(
                "the prefix is {} bytes long: keys are at most {MAX_KEY_BYTES} bytes",
                text.len()
            )));
        }
        Ok(text)
    }

    /// A value's size.
    pub fn check_value(value: &[u8]) -> Result<(), Refused> {
        if value.len() > MAX_VALUE_BYTES {
            return Err(Refused(format!(
                "the value is {} bytes: values are at most {MAX_VALUE_BYTES} bytes (256 KiB) on every platform",
                value.len()
            )));
        }
        Ok(())
    }

    /// A time to live in seconds: 0 (no expiry) or at least 60.
    pub fn check_ttl(ttl_seconds: u32) -> Result<(), Refused> {
        if ttl_seconds != 0 && ttl_seconds < MIN_TTL_SECONDS {
            return Err(Refused(format!(
                "a time to live of {ttl_seconds} s is too short: use 0 (no expiry) or at least {MIN_TTL_SECONDS} s (Workers KV's minimum)"
            )));
        }
        Ok(())
    }

    /// A page size: 0 (the maximum) or 1–1000; the effective limit.
    pub fn check_list_limit(limit: u32) -> Result<u32, Refused> {
        match limit {
            0 => Ok(MAX_LIST_LIMIT),
            1..=MAX_LIST_LIMIT => Ok(limit),
            _ => Err(Refused(format!(
                "a page of {limit} keys is too large: ask for at most {MAX_LIST_LIMIT}"
            ))),
        }
    }

    /// A cursor handed back: UTF-8, at most 4096 bytes; empty means "from the start".
    pub fn check_cursor(cursor: &[u8]) -> Result<&str, Refused> {
        let text = std::str::from_utf8(cursor).map_err(|_| {
            Refused("the cursor is not UTF-8: pass back the one kv_list gave".into())
        })?;
        if text.len() > MAX_CURSOR_BYTES {
            return Err(Refused(format!(
                "the cursor is {} bytes long: pass back the one kv_list gave",
                text.len()
            )));
        }
        Ok(text)
    }
}

/// The error codes an import returns (as a negative `i64`; `result_read` as a negative `i32`),
/// with a UTF-8 message as the pending result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportError {
    /// Not granted: the host is not allowed, its address is not public, the store not granted.
    Denied,
    /// The key does not exist (key-value).
    NotFound,
    /// Bad pointer or length, an envelope that does not decode, a bad URL or header.
    Invalid,
    /// A per-invocation limit: number of calls, body sizes.
    Limit,
    /// No complete answer within the call's timeout.
    Timeout,
    /// The service could not be reached or broke off.
    Unavailable,
    /// The backend throttled the call (key-value).
    RateLimited,
    /// Not available here: called while the module initializes.
    Unsupported,
}

impl ImportError {
    /// Every error, in code order.
    pub const ALL: [ImportError; 8] = [
        ImportError::Denied,
        ImportError::NotFound,
        ImportError::Invalid,
        ImportError::Limit,
        ImportError::Timeout,
        ImportError::Unavailable,
        ImportError::RateLimited,
        ImportError::Unsupported,
    ];

    /// The negative code the import returns.
    pub fn code(self) -> i32 {
        match self {
            ImportError::Denied => -1,
            ImportError::NotFound => -2,
            ImportError::Invalid => -3,
            ImportError::Limit => -4,
            ImportError::Timeout => -5,
            ImportError::Unavailable => -6,
            ImportError::RateLimited => -7,
            ImportError::Unsupported => -8,
        }
    }

    /// The error a code stands for; `None` for a code this version does not define.
    pub fn from_code(code: i64) -> Option<ImportError> {
        ImportError::ALL
            .into_iter()
            .find(|e| i64::from(e.code()) == code)
    }

    /// Stable short name, as in `docs/abi.md`.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportError::Denied => "denied",
            ImportError::NotFound => "not-found",
            ImportError::Invalid => "invalid",
            ImportError::Limit => "limit",
            ImportError::Timeout => "timeout",
            ImportError::Unavailable => "unavailable",
            ImportError::RateLimited => "rate-limited",
            ImportError::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An outbound request as it crosses out of the guest (`http_send`). Borrowed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpRequestEnvelope<'a> {
    /// The call's time limit in milliseconds; 0 = the function's default.
    pub timeout_ms: u32,
    /// HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// Absolute `http` or `https` URL.
    pub url: &'a str,
    /// Header fields in order; a repeated header appears once per value.
    pub headers: Vec<(&'a str, &'a [u8])>,
    /// Body bytes.
    pub body: &'a [u8],
}

impl<'a> HttpRequestEnvelope<'a> {
    /// Size in bytes of the encoded envelope.
    pub fn encoded_len(&self) -> usize {
        HTTP_REQUEST_MAGIC.len()
            + LEN
            + bytes_len(self.method.as_bytes())
            + bytes_len(self.url.as_bytes())
            + pairs_len(&self.headers)
            + bytes_len(self.body)
    }

    /// Encodes into `out`, which must be exactly [`Self::encoded_len`] bytes.
    pub fn encode_into(&self, out: &mut [u8]) {
        assert_eq!(
            out.len(),
            self.encoded_len(),
            "buffer must be encoded_len() bytes"
        );
        let mut w = Writer { out, at: 0 };
        w.raw(&HTTP_REQUEST_MAGIC);
        w.raw(&self.timeout_ms.to_le_bytes());
        w.bytes(self.method.as_bytes());
        w.bytes(self.url.as_bytes());
        w.pairs(&self.headers);
        w.bytes(self.body);
    }

    /// Encodes into a new vector.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0; self.encoded_len()];
        self.encode_into(&mut out);
        out
    }

    /// Decodes an envelope, borrowing from `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { rest: bytes };
        r.magic(&HTTP_REQUEST_MAGIC)?;
        let timeout_ms = r.u32()? as u32;
        let method = r.str()?;
        let url = r.str()?;
        let headers = r.header_pairs()?;
        let body = r.bytes()?;
        r.finish()?;
        Ok(HttpRequestEnvelope {
            timeout_ms,
            method,
            url,
            headers,
            body,
        })
    }
}

/// An outbound response as it crosses into the guest (the result of `http_send`). Borrowed. The
/// layout is [`ResponseEnvelope`]'s with its own magic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponseEnvelope<'a> {
    /// HTTP status code.
    pub status: u16,
    /// Header fields in order, names lower-case; a repeated header appears once per value.
    pub headers: Vec<(&'a str, &'a [u8])>,
    /// Body bytes.
    pub body: &'a [u8],
}

impl<'a> HttpResponseEnvelope<'a> {
    /// Size in bytes of the encoded envelope.
    pub fn encoded_len(&self) -> usize {
        response_len(&self.headers, self.body)
    }

    /// Encodes into `out`, which must be exactly [`Self::encoded_len`] bytes.
    pub fn encode_into(&self, out: &mut [u8]) {
        encode_response(
            &HTTP_RESPONSE_MAGIC,
            self.status,
            &self.headers,
            self.body,
            out,
        );
    }

    /// Encodes into a new vector.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0; self.encoded_len()];
        self.encode_into(&mut out);
        out
    }

    /// Decodes an envelope, borrowing from `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (status, headers, body) = decode_response(&HTTP_RESPONSE_MAGIC, bytes)?;
        Ok(HttpResponseEnvelope {
            status,
            headers,
            body,
        })
    }
}

/// One page of a key-value listing as it crosses into the guest (the result of `kv_list`).
/// Borrowed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KvListEnvelope<'a> {
    /// Keys in ascending order of their UTF-8 bytes. A page may hold fewer keys than asked for
    /// (expired ones are left out) and still have a cursor.
    pub keys: Vec<&'a str>,
    /// Where the next page starts, passed back to `kv_list`; empty when this is the last page.
    pub cursor: &'a str,
}

impl<'a> KvListEnvelope<'a> {
    /// Size in bytes of the encoded envelope.
    pub fn encoded_len(&self) -> usize {
        KV_LIST_MAGIC.len()
            + LEN
            + self
                .keys
                .iter()
                .map(|k| bytes_len(k.as_bytes()))
                .sum::<usize>()
            + bytes_len(self.cursor.as_bytes())
    }

    /// Encodes into `out`, which must be exactly [`Self::encoded_len`] bytes.
    pub fn encode_into(&self, out: &mut [u8]) {
        assert_eq!(
            out.len(),
            self.encoded_len(),
            "buffer must be encoded_len() bytes"
        );
        let mut w = Writer { out, at: 0 };
        w.raw(&KV_LIST_MAGIC);
        w.u32(self.keys.len());
        for key in &self.keys {
            w.bytes(key.as_bytes());
        }
        w.bytes(self.cursor.as_bytes());
    }

    /// Encodes into a new vector.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0; self.encoded_len()];
        self.encode_into(&mut out);
        out
    }

    /// Decodes an envelope, borrowing from `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { rest: bytes };
        r.magic(&KV_LIST_MAGIC)?;
        let n = r.u32()?;
        // Each key needs at least its length, which bounds the allocation.
        if n > r.rest.len() / LEN {
            return Err(DecodeError::Truncated);
        }
        let mut keys = Vec::with_capacity(n);
        for _ in 0..n {
            keys.push(r.str()?);
        }
        let cursor = r.str()?;
        r.finish()?;
        Ok(KvListEnvelope { keys, cursor })
    }
}

/// Packs a response location into the `i64` that `edgefn_v1_handle` returns.
pub fn pack_ptr_len(ptr: u32, len: u32) -> u64 {
    (u64::from(ptr) << 32) | u64::from(len)
}

/// Splits the `i64` that `edgefn_v1_handle` returns into `(ptr, len)`.
pub fn unpack_ptr_len(packed: u64) -> (u32, u32) {
    ((packed >> 32) as u32, packed as u32)
}

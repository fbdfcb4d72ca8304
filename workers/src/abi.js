// The edgefn guest ABI v1 envelope codec (docs/abi.md), the JavaScript twin of sdk/abi/src/lib.rs.
// The Worker needs encodeRequest and decodeResponse, for outbound HTTP decodeHttpRequest and
// encodeHttpResponse, and for key-value encodeKvList; the reverse of each exists so the shared test
// vectors (docs/abi-v1-vectors.json, docs/abi-v1-http-vectors.json, docs/abi-v1-kv-vectors.json)
// can check this codec in both directions.
//
// Text fields (context keys and values, method, uri, header names) are JS strings, UTF-8 on the wire.
// Header values and bodies are raw bytes (Uint8Array) and pass through untouched.

export const REQUEST_MAGIC = Uint8Array.of(0x45, 0x46, 0x51, 0x31); // "EFQ1"
export const RESPONSE_MAGIC = Uint8Array.of(0x45, 0x46, 0x53, 0x31); // "EFS1"
export const HTTP_REQUEST_MAGIC = Uint8Array.of(0x45, 0x48, 0x51, 0x31); // "EHQ1"
export const HTTP_RESPONSE_MAGIC = Uint8Array.of(0x45, 0x48, 0x53, 0x31); // "EHS1"
export const KV_LIST_MAGIC = Uint8Array.of(0x45, 0x4b, 0x4c, 0x31); // "EKL1"
export const ALLOC_EXPORT = "edgefn_v1_alloc";
export const HANDLE_EXPORT = "edgefn_v1_handle";
export const INIT_EXPORT = "edgefn_v1_init";

/** Context keys defined by v1; readers ignore keys they do not know. */
export const CONTEXT_KEY = Object.freeze({
  REQUEST_ID: "request-id",
  FUNCTION_NAME: "function-name",
  PLATFORM: "platform",
  DEADLINE_MS: "deadline-ms",
  COLD_START: "cold-start",
  TRACEPARENT: "traceparent",
});

const LEN = 4;

/** Why an envelope could not be decoded; `code` is the stable name the test vectors use. */
export class DecodeError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "DecodeError";
    this.code = code;
  }
}

const ERRORS = {
  "bad-magic": "envelope does not start with the expected magic bytes",
  truncated: "envelope is truncated: a length points past its end",
  "trailing-bytes": "envelope has bytes after its last field",
  "invalid-utf8": "a text field of the envelope is not UTF-8",
  "bad-status": "response status is outside 100..=999",
};

function fail(code) {
  throw new DecodeError(code, ERRORS[code]);
}

const utf8Encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function asBytes(value) {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return utf8Encoder.encode(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError(`expected bytes or a string, got ${typeof value}`);
}

/** Encodes a list of fields, sized first so the output is allocated once (e.g. in guest memory). */
class Writer {
  constructor() {
    this.parts = [];
    this.size = 0;
  }
  raw(bytes) {
    this.parts.push(bytes);
    this.size += bytes.length;
  }
  u32(n) {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
      throw new RangeError("envelope field longer than 4 GiB");
    }
    const b = new Uint8Array(LEN);
    new DataView(b.buffer).setUint32(0, n, true);
    this.raw(b);
  }
  u16(n) {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, n, true);
    this.raw(b);
  }
  bytes(value) {
    const b = asBytes(value);
    this.u32(b.length);
    this.raw(b);
  }
  pairs(pairs) {
    this.u32(pairs.length);
    for (const [k, v] of pairs) {
      this.bytes(k);
      this.bytes(v);
    }
  }
  /** Writes everything into `out` (a Uint8Array of exactly `size` bytes) or a new array. */
  finish(out = new Uint8Array(this.size)) {
    if (out.length !== this.size) throw new RangeError("buffer must be exactly the envelope's size");
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

class Reader {
  constructor(bytes) {
    this.bytes = asBytes(bytes);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    this.at = 0;
  }
  get rest() {
    return this.bytes.length - this.at;
  }
  take(n) {
    if (n > this.rest) fail("truncated");
    const out = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  u16() {
    if (this.rest < 2) fail("truncated");
    const v = this.view.getUint16(this.at, true);
    this.at += 2;
    return v;
  }
  u32() {
    if (this.rest < LEN) fail("truncated");
    const v = this.view.getUint32(this.at, true);
    this.at += LEN;
    return v;
  }
  bytesField() {
    return this.take(this.u32());
  }
  text() {
    try {
      return strictUtf8.decode(this.bytesField());
    } catch (error) {
      if (error instanceof DecodeError) throw error;
      fail("invalid-utf8");
    }
  }
  magic(magic) {
    if (this.rest < magic.length) fail("bad-magic");
    for (let i = 0; i < magic.length; i++) {
      if (this.bytes[this.at + i] !== magic[i]) fail("bad-magic");
    }
    this.at += magic.length;
  }
  /** A count of pairs; each pair needs at least two lengths, which bounds the work before reading. */
  pairCount() {
    const n = this.u32();
    if (n > Math.floor(this.rest / (2 * LEN))) fail("truncated");
    return n;
  }
  textPairs() {
    const n = this.pairCount();
    const out = [];
    for (let i = 0; i < n; i++) out.push([this.text(), this.text()]);
    return out;
  }
  headerPairs() {
    const n = this.pairCount();
    const out = [];
    for (let i = 0; i < n; i++) out.push([this.text(), this.bytesField()]);
    return out;
  }
  finish() {
    if (this.rest !== 0) fail("trailing-bytes");
  }
}

function requestWriter({ context = [], method, uri, headers = [], body = new Uint8Array(0) }) {
  const w = new Writer();
  w.raw(REQUEST_MAGIC);
  w.pairs(context);
  w.bytes(method);
  w.bytes(uri);
  w.pairs(headers);
  w.bytes(body);
  return w;
}

/**
 * Encodes a request envelope. `headers` values and `body` may be strings or bytes. Pass
 * `allocate(size) => Uint8Array` to write straight into memory you own (e.g. the guest's).
 */
export function encodeRequest(request, allocate) {
  const w = requestWriter(request);
  return w.finish(allocate ? allocate(w.size) : undefined);
}

/** Decodes a request envelope; header values and body are views into `bytes`. */
export function decodeRequest(bytes) {
  const r = new Reader(bytes);
  r.magic(REQUEST_MAGIC);
  const context = r.textPairs();
  const method = r.text();
  const uri = r.text();
  const headers = r.headerPairs();
  const body = r.bytesField();
  r.finish();
  return { context, method, uri, headers, body };
}

/** Encodes a response envelope. */
export function encodeResponse(response) {
  return encodeStatusHeadersBody(RESPONSE_MAGIC, response);
}

/** Decodes a response envelope; header values and body are views into `bytes` (copy before reuse). */
export function decodeResponse(bytes) {
  return decodeStatusHeadersBody(bytes, RESPONSE_MAGIC);
}

// EFS1 and EHS1 share their layout after the magic: status, reserved, headers, body.
function encodeStatusHeadersBody(magic, { status, headers = [], body = new Uint8Array(0) }, allocate) {
  const w = new Writer();
  w.raw(magic);
  w.u16(status);
  w.u16(0);
  w.pairs(headers);
  w.bytes(body);
  return w.finish(allocate ? allocate(w.size) : undefined);
}

function decodeStatusHeadersBody(bytes, magic) {
  const r = new Reader(bytes);
  r.magic(magic);
  const status = r.u16();
  if (status < 100 || status > 999) fail("bad-status");
  r.u16(); // reserved: writers put zero, readers ignore it
  const headers = r.headerPairs();
  const body = r.bytesField();
  r.finish();
  return { status, headers, body };
}

/**
 * Encodes an outbound request envelope (EHQ1, what a guest passes to `http_send`). `timeoutMs` 0
 * means the function's default.
 */
export function encodeHttpRequest({ timeoutMs = 0, method, url, headers = [], body = new Uint8Array(0) }) {
  const w = new Writer();
  w.raw(HTTP_REQUEST_MAGIC);
  w.u32(timeoutMs);
  w.bytes(method);
  w.bytes(url);
  w.pairs(headers);
  w.bytes(body);
  return w.finish();
}

/** Decodes an outbound request envelope; header values and body are views into `bytes`. */
export function decodeHttpRequest(bytes) {
  const r = new Reader(bytes);
  r.magic(HTTP_REQUEST_MAGIC);
  const timeoutMs = r.u32();
  const method = r.text();
  const url = r.text();
  const headers = r.headerPairs();
  const body = r.bytesField();
  r.finish();
  return { timeoutMs, method, url, headers, body };
}

/**
 * Encodes an outbound response envelope (EHS1, the result of `http_send`). Pass
 * `allocate(size) => Uint8Array` to write into memory you own.
 */
export function encodeHttpResponse(response, allocate) {
  return encodeStatusHeadersBody(HTTP_RESPONSE_MAGIC, response, allocate);
}

/** Decodes an outbound response envelope; header values and body are views into `bytes`. */
export function decodeHttpResponse(bytes) {
  return decodeStatusHeadersBody(bytes, HTTP_RESPONSE_MAGIC);
}

/**
 * Encodes a key-value list page (EKL1, the result of `kv_list`): `keys` (strings, in the order
 * given) and `cursor` ("" on the last page).
 */
export function encodeKvList({ keys, cursor = "" }) {
  const w = new Writer();
  w.raw(KV_LIST_MAGIC);
  w.u32(keys.length);
  for (const key of keys) w.bytes(key);
  w.bytes(cursor);
  return w.finish();
}

/** Decodes a key-value list page. */
export function decodeKvList(bytes) {
  const r = new Reader(bytes);
  r.magic(KV_LIST_MAGIC);
  const count = r.u32();
  // Each key needs at least its length: bounds the work before reading.
  if (count > Math.floor(r.rest / LEN)) fail("truncated");
  const keys = [];
  for (let i = 0; i < count; i++) keys.push(r.text());
  const cursor = r.text();
  r.finish();
  return { keys, cursor };
}

/** Splits the i64 (a BigInt in JS) that `edgefn_v1_handle` returns into `[ptr, len]`. */
export function unpackPtrLen(packed) {
  const unsigned = BigInt.asUintN(64, packed);
  return [Number(unsigned >> 32n), Number(unsigned & 0xffffffffn)];
}

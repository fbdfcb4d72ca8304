// Capability: what every import of the `edgefn_v1` module shares (docs/abi.md, "Host imports"):
// the error codes, the instance's one pending result, and `result_read`, which hands that result to
// the guest. An import never calls back into the guest, so its answer (a response envelope, or a
// UTF-8 message for an error) waits here until the guest has memory for it.

/** The import module. */
export const module = "edgefn_v1";

/** Error codes an import returns (docs/abi.md), as the Rust codec's `ImportError`. */
export const IMPORT_ERROR = Object.freeze({
  DENIED: -1,
  NOT_FOUND: -2,
  INVALID: -3,
  LIMIT: -4,
  TIMEOUT: -5,
  UNAVAILABLE: -6,
  RATE_LIMITED: -7,
  UNSUPPORTED: -8,
});

/**
 * Most bytes of an error message: it quotes what the guest sent (a URL, a method), which may be
 * long, and a guest reads it into a buffer it must guess the size of.
 */
export const MAX_MESSAGE_BYTES = 4096;

const utf8Encoder = new TextEncoder();

/** The one result an instance's last import call left for the guest to read. */
export class PendingResult {
  constructor() {
    this.bytes = undefined;
  }
  /** Leaves `bytes` to be read, replacing (discarding) a result that was not read. */
  set(bytes) {
    this.bytes = bytes;
  }
  clear() {
    this.bytes = undefined;
  }
}

/** Leaves `bytes` pending and returns its length: an import's success, as the i64 (BigInt) it returns. */
export function succeed(invocation, bytes) {
  invocation.pending.set(bytes);
  return BigInt(bytes.length);
}

/**
 * Leaves `message` pending (cut to MAX_MESSAGE_BYTES, ending in "...") and returns `code` (one of
 * IMPORT_ERROR) as the i64 an import returns.
 */
export function fail(invocation, code, message) {
  let bytes = utf8Encoder.encode(message);
  if (bytes.length > MAX_MESSAGE_BYTES) {
    let end = MAX_MESSAGE_BYTES - 3;
    while ((bytes[end] & 0xc0) === 0x80) end--; // not inside a UTF-8 sequence
    bytes = Uint8Array.from([...bytes.subarray(0, end), 0x2e, 0x2e, 0x2e]);
  }
  invocation.pending.set(bytes);
  return BigInt(code);
}

/**
 * The `unsupported` answer when the guest calls import `name` while the module initializes
 * (`invocation.phase` is "init"): a snapshot must not capture what an import fetched, and the shim
 * cannot suspend there. Undefined while a request is being served.
 */
export function refuseWhileInitializing(invocation, name) {
  if (invocation.phase === "handle") return undefined;
  return fail(
    invocation,
    IMPORT_ERROR.UNSUPPORTED,
    `${module}.${name} is not available while the module initializes (_initialize, edgefn_v1_init): call it from the handler`,
  );
}

/** The guest's bytes at `(ptr, len)` (unsigned), or undefined when they are not all inside memory. */
export function guestRange(invocation, ptr, len) {
  const buffer = invocation.memory().buffer;
  if (ptr + len > buffer.byteLength) return undefined;
  return new Uint8Array(buffer, ptr, len);
}

/**
 * `result_read(ptr, len) -> i32`: copies the whole pending result to `(ptr, len)`, clears it and
 * returns the bytes copied; -3 (invalid), memory untouched, when nothing is pending, when `len` is
 * too small (the result stays pending) or when `(ptr, len)` is not inside memory.
 *
 * `snapshot_decline(ptr, len) -> i32`: 1, "no snapshot is being taken". A Worker never takes one:
 * `edgefn package` did, and shipped the module as built when its init declined, so this instance
 * is running that init itself.
 */
export function imports(invocation) {
  return {
    snapshot_decline() {
      return 1;
    },
    result_read(ptr, len) {
      const pending = invocation.pending.bytes;
      const target = guestRange(invocation, ptr >>> 0, len >>> 0);
      if (pending === undefined || target === undefined || target.length < pending.length) {
        return IMPORT_ERROR.INVALID;
      }
      target.set(pending);
      invocation.pending.clear();
      return pending.length;
    },
  };
}

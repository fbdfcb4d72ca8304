// The key-value contract every edgefn host checks before a backend sees a call (docs/abi.md,
// "Key-value store"): the JavaScript twin of `edgefn_abi::kv` in sdk/abi/src/lib.rs, limits and
// messages alike, so a call is refused the same way on Workers as on the other platforms
// (docs/abi-v1-kv-vectors.json, "checks", holds both to it). Pure functions, testable in node.

/** Longest key in bytes (Workers KV's limit). */
export const MAX_KEY_BYTES = 512;
/** Largest value in bytes: 256 KiB. */
export const MAX_VALUE_BYTES = 256 * 1024;
/** Shortest time to live a value may have (Workers KV's minimum); 0 means no expiry. */
export const MIN_TTL_SECONDS = 60;
/** Most keys one kv_list page may ask for; 0 asks for this many. */
export const MAX_LIST_LIMIT = 1000;
/** Longest store name in bytes. */
export const MAX_STORE_NAME_BYTES = 32;
/** Longest cursor in bytes accepted back. */
export const MAX_CURSOR_BYTES = 4096;

/** Why a store name, key, prefix, value, TTL, limit or cursor is refused (`invalid`). */
export class Refused extends Error {
  constructor(message) {
    super(message);
    this.name = "Refused";
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** `bytes` as text, or undefined when they are not UTF-8. */
function utf8(bytes) {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * A string quoted as Rust's `{:?}` quotes it (the host's messages do): `\\`, `"`, `\n`, `\r`, `\t`,
 * `\0` escaped, other control characters as `\u{..}`.
 */
export function rustQuoted(text) {
  let out = '"';
  for (const c of text) {
    const code = c.codePointAt(0);
    if (c === "\\" || c === '"') out += `\\${c}`;
    else if (c === "\n") out += "\\n";
    else if (c === "\r") out += "\\r";
    else if (c === "\t") out += "\\t";
    else if (c === "\0") out += "\\0";
    else if (code < 0x20 || (code >= 0x7f && code < 0xa0)) out += `\\u{${code.toString(16)}}`;
    else out += c;
  }
  return `${out}"`;
}

/** A store name's bytes as text; throws Refused when they are not UTF-8. */
export function storeNameText(bytes) {
  const text = utf8(bytes);
  if (text === undefined) throw new Refused("the store name is not UTF-8: store names are a-z, 0-9 and _");
  return text;
}

/** A store name: 1-32 bytes of lower-case ASCII letters, digits and `_`, starting with a letter. */
export function checkStoreName(name) {
  if (!/^[a-z][a-z0-9_]*$/.test(name) || name.length > MAX_STORE_NAME_BYTES) {
    throw new Refused(
      `${rustQuoted(name)} is not a store name: use 1-${MAX_STORE_NAME_BYTES} lower-case letters, digits and _, starting with a letter`,
    );
  }
  return name;
}

/** A key (bytes): 1-512 bytes of UTF-8, not `.` or `..`; returns it as text. */
export function checkKey(bytes) {
  const text = utf8(bytes);
  if (text === undefined) throw new Refused("the key is not UTF-8: keys are text");
  if (bytes.length === 0) throw new Refused("the key is empty: keys are 1-512 bytes");
  if (bytes.length > MAX_KEY_BYTES) {
    throw new Refused(`the key is ${bytes.length} bytes long: keys are at most ${MAX_KEY_BYTES} bytes`);
  }
  if (text === "." || text === "..") throw new Refused(`${rustQuoted(text)} cannot be a key (Workers KV refuses it)`);
  return text;
}

/** A list prefix (bytes): 0-512 bytes of UTF-8; returns it as text. */
export function checkPrefix(bytes) {
  const text = utf8(bytes);
  if (text === undefined) throw new Refused("the prefix is not UTF-8: keys are text");
  if (bytes.length > MAX_KEY_BYTES) {
    throw new Refused(`the prefix is ${bytes.length} bytes long: keys are at most ${MAX_KEY_BYTES} bytes`);
  }
  return text;
}

/** A value's size. */
export function checkValue(bytes) {
  if (bytes.length > MAX_VALUE_BYTES) {
    throw new Refused(
      `the value is ${bytes.length} bytes: values are at most ${MAX_VALUE_BYTES} bytes (256 KiB) on every platform`,
    );
  }
}

/** A time to live in seconds (unsigned): 0 (no expiry) or at least 60. */
export function checkTtl(ttlSeconds) {
  if (ttlSeconds !== 0 && ttlSeconds < MIN_TTL_SECONDS) {
    throw new Refused(
      `a time to live of ${ttlSeconds} s is too short: use 0 (no expiry) or at least ${MIN_TTL_SECONDS} s (Workers KV's minimum)`,
    );
  }
}

/** A page size (unsigned): 0 (the maximum) or 1-1000; returns the effective limit. */
export function checkListLimit(limit) {
  if (limit === 0) return MAX_LIST_LIMIT;
  if (limit > MAX_LIST_LIMIT) {
    throw new Refused(`a page of ${limit} keys is too large: ask for at most ${MAX_LIST_LIMIT}`);
  }
  return limit;
}

/** A cursor handed back (bytes): UTF-8, at most 4096 bytes; "" means from the start. */
export function checkCursor(bytes) {
  const text = utf8(bytes);
  if (text === undefined) throw new Refused("the cursor is not UTF-8: pass back the one kv_list gave");
  if (bytes.length > MAX_CURSOR_BYTES) {
    throw new Refused(`the cursor is ${bytes.length} bytes long: pass back the one kv_list gave`);
  }
  return text;
}

/** `text` as UTF-8 bytes, for callers holding strings (tests, the vectors). */
export function bytesOf(text) {
  return utf8Encoder.encode(text);
}

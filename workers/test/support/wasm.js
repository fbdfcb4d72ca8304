// A minimal WebAssembly binary writer for tests that need a module with particular imports, without
// a WAT compiler in node: an edgefn ABI v1 guest whose handler answers a fixed response envelope.

const utf8 = new TextEncoder();

function unsigned(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function signed64(value) {
  const out = [];
  let n = BigInt(value);
  for (;;) {
    const byte = Number(n & 0x7fn);
    n >>= 7n;
    const done = (n === 0n && (byte & 0x40) === 0) || (n === -1n && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

const name = (s) => [...unsigned(utf8.encode(s).length), ...utf8.encode(s)];
const vector = (items) => [...unsigned(items.length), ...items.flat()];
const section = (id, bytes) => [id, ...unsigned(bytes.length), ...bytes];

const I32 = 0x7f;
const I64 = 0x7e;
const FUNC = 0x60;

/**
 * An ABI v1 module: exports memory, edgefn_v1_alloc (always 1024) and edgefn_v1_handle, which
 * returns `response` (EFS1 bytes, placed at 2048) whatever the request. `imports` lists
 * `[module, name]` functions of type (i32 i32) -> i64 it imports and never calls.
 */
export function fixedResponseModule(response, { imports = [] } = {}) {
  const types = [
    [FUNC, ...vector([[I32], [I32]]), ...vector([[I64]])], // 0: (i32 i32) -> i64
    [FUNC, ...vector([[I32]]), ...vector([[I32]])], // 1: (i32) -> i32
  ];
  const importEntries = imports.map(([module, field]) => [...name(module), ...name(field), 0x00, 0x00]);
  const alloc = imports.length;
  const handle = imports.length + 1;
  const packed = (2048n << 32n) | BigInt(response.length);
  const body = (code) => [...unsigned(code.length + 1), 0x00, ...code]; // no locals
  const code = [
    body([0x41, ...unsigned(1024), 0x0b]), // i32.const 1024
    body([0x42, ...signed64(packed), 0x0b]), // i64.const ptr<<32|len
  ];
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vector(types)),
    ...(imports.length > 0 ? section(2, vector(importEntries)) : []),
    ...section(3, vector([[1], [0]])),
    ...section(5, vector([[0x00, 1]])), // one memory, min 1 page
    ...section(
      7,
      vector([
        [...name("memory"), 0x02, 0],
        [...name("edgefn_v1_alloc"), 0x00, ...unsigned(alloc)],
        [...name("edgefn_v1_handle"), 0x00, ...unsigned(handle)],
      ]),
    ),
    ...section(10, vector(code)),
    ...section(11, vector([[0x00, 0x41, ...unsigned(2048), 0x0b, ...unsigned(response.length), ...response]])),
  ];
  return new WebAssembly.Module(Uint8Array.from(bytes));
}

// One invocation of a guest, the same sequence as the local host (host/src/invoke.rs): a fresh
// instance, `_initialize`, `edgefn_v1_alloc`, the request envelope written into guest memory,
// `edgefn_v1_handle`, the response envelope read back and decoded. Nothing survives the call, so no
// state leaks between requests, and a trap leaves nothing broken for the next one.

import { ALLOC_EXPORT, HANDLE_EXPORT, INIT_EXPORT, encodeRequest, decodeResponse, unpackPtrLen } from "./abi.js";
import { createWasi, WASIProcExit } from "./wasi.js";

/** Most response body bytes accepted from a guest, as on the local host (16 MiB). */
export const MAX_RESPONSE_BYTES = 16 << 20;

/** Why an invocation produced no response; `kind` matches the local host's failure kinds. */
export class InvokeError extends Error {
  constructor(kind, message, options) {
    super(message, options);
    this.name = "InvokeError";
    this.kind = kind;
  }
}

function crashed(error) {
  if (error instanceof InvokeError) return error;
  if (error instanceof WASIProcExit) {
    return new InvokeError("trap", `the guest called exit(${error.code})`, { cause: error });
  }
  // WebAssembly.RuntimeError (panic = unreachable, out of bounds, ...), RangeError (stack overflow:
  // "Maximum call stack size exceeded"), or anything a WASI import threw.
  return new InvokeError("trap", `${error?.name ?? "Error"}: ${error?.message ?? error}`, { cause: error });
}

function exportedFunction(instance, name) {
  const f = instance.exports[name];
  if (typeof f !== "function") {
    throw new InvokeError("instantiate", `the module does not export ${name} as a function (edgefn ABI v1)`);
  }
  return f;
}

/**
 * Runs `request` (the fields of a request envelope, see abi.js) on a fresh instance of `module`.
 * Returns `{ response, stdout, stderr }` where `response` is the decoded response envelope with
 * its bytes copied out of guest memory. Throws InvokeError; `error.logs` then holds the captured
 * `{ stdout, stderr }` so a crash's panic message still reaches the log.
 */
export function invokeGuest(module, request, { env = {}, args = [] } = {}) {
  const wasi = createWasi({ env, args });
  try {
    return { response: run(module, request, wasi), stdout: wasi.stdout, stderr: wasi.stderr };
  } catch (error) {
    const failure = crashed(error);
    failure.logs = { stdout: wasi.stdout, stderr: wasi.stderr };
    throw failure;
  }
}

function run(module, request, wasi) {
  let instance;
  try {
    instance = new WebAssembly.Instance(module, wasi.imports);
  } catch (error) {
    throw new InvokeError("instantiate", `function could not start: ${error.message}`, { cause: error });
  }
  wasi.bind(instance);
  const memory = instance.exports.memory;
  if (!(memory instanceof WebAssembly.Memory)) {
    throw new InvokeError("instantiate", 'the module does not export its linear memory as "memory"');
  }
  const alloc = exportedFunction(instance, ALLOC_EXPORT);
  const handle = exportedFunction(instance, HANDLE_EXPORT);
  if (typeof instance.exports._initialize === "function") instance.exports._initialize();
  // ABI v1: the guest's own init runs once per instance before its first request (the edgefn
  // host snapshots it at deploy instead; here each request has a fresh instance).
  const init = instance.exports[INIT_EXPORT];
  if (typeof init === "function") {
    try {
      init();
    } catch (error) {
      throw new InvokeError("instantiate", `${INIT_EXPORT} failed: ${error.message}`, { cause: error });
    }
  }

  let ptr = 0;
  const envelope = encodeRequest(request, (len) => {
    ptr = alloc(len) >>> 0;
    if (ptr === 0) throw new InvokeError("bad-response", `${ALLOC_EXPORT} could not allocate ${len} bytes`);
    // Read memory.buffer only after alloc: growing memory detaches the old ArrayBuffer.
    if (ptr + len > memory.buffer.byteLength) {
      throw new InvokeError("bad-response", `${ALLOC_EXPORT} returned an out-of-bounds pointer`);
    }
    return new Uint8Array(memory.buffer, ptr, len);
  });

  const [outPtr, outLen] = unpackPtrLen(handle(ptr, envelope.length));
  // Envelope overhead aside, the body cannot exceed the envelope, so this bounds the copy below.
  if (outLen > MAX_RESPONSE_BYTES + (1 << 20)) {
    throw new InvokeError("response-too-large", `function returned a ${outLen}-byte envelope`);
  }
  if (outPtr + outLen > memory.buffer.byteLength) {
    throw new InvokeError("bad-response", "response envelope lies outside guest memory");
  }
  // Copy out, so the response owns its bytes and the instance can be dropped.
  const bytes = new Uint8Array(memory.buffer, outPtr, outLen).slice();
  let decoded;
  try {
    decoded = decodeResponse(bytes);
  } catch (error) {
    throw new InvokeError("bad-response", `function returned an invalid response: ${error.message}`, { cause: error });
  }
  if (decoded.body.length > MAX_RESPONSE_BYTES) {
    throw new InvokeError(
      "response-too-large",
      `function returned ${decoded.body.length} bytes, more than the limit of ${MAX_RESPONSE_BYTES} bytes`,
    );
  }
  return decoded;
}

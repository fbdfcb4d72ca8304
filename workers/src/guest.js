// One invocation of a guest, the same sequence as the local host (host/src/runtime/guest/abi_v1.rs): a fresh
// instance, `_initialize`, `edgefn_v1_alloc`, the request envelope written into guest memory,
// `edgefn_v1_handle`, the response envelope read back and decoded. Nothing survives the call, so no
// state leaks between requests, and a trap leaves nothing broken for the next one. A guest that
// imports http_send or a kv_* import is run with JSPI: its exports are called through WebAssembly.promising, so its
// stack waits on the fetch while the isolate serves other requests.

import { ALLOC_EXPORT, HANDLE_EXPORT, INIT_EXPORT, encodeRequest, decodeResponse, unpackPtrLen } from "./abi.js";
import { CAPABILITIES } from "./capabilities/index.js";
import { PendingResult } from "./capabilities/edgefn_v1.js";
import { outboundConfig } from "./capabilities/outbound_config.js";
import { noKv } from "./capabilities/kv.js";
import { LogCapture } from "./logs.js";

/** Most response body bytes accepted from a guest, as on the local host (16 MiB). */
export const MAX_RESPONSE_BYTES = 16 << 20;

/**
 * The failure kinds this shim reports, named as on the local host (docs/host-contract.json lists
 * them all). Only these four occur here: nothing in a Worker can interrupt a guest (no timeout), a
 * guest at its memory cap traps, a Worker never queues (no overload), the module is bundled (no
 * load), and handler.js answers an oversized request 413 before any guest runs.
 */
export const FAILURE = Object.freeze({
  INSTANTIATE: "instantiate",
  TRAP: "trap",
  BAD_RESPONSE: "bad-response",
  RESPONSE_TOO_LARGE: "response-too-large",
});
/** Every `InvokeError.kind` this shim can produce. */
export const FAILURE_KINDS = Object.freeze(Object.values(FAILURE));

/** Why an invocation produced no response; `kind` is one of FAILURE_KINDS. */
export class InvokeError extends Error {
  constructor(kind, message, options) {
    super(message, options);
    this.name = "InvokeError";
    this.kind = kind;
  }
}

function crashed(error) {
  if (error instanceof InvokeError) return error;
  for (const capability of CAPABILITIES) {
    const message = capability.failure?.(error);
    if (message) return new InvokeError(FAILURE.TRAP, message, { cause: error });
  }
  // WebAssembly.RuntimeError (panic = unreachable, out of bounds, ...), RangeError (stack overflow:
  // "Maximum call stack size exceeded"), or anything an import threw.
  return new InvokeError(FAILURE.TRAP, `${error?.name ?? "Error"}: ${error?.message ?? error}`, { cause: error });
}

function exportedFunction(instance, name) {
  const f = instance.exports[name];
  if (typeof f !== "function") {
    throw new InvokeError(FAILURE.INSTANTIATE, `the module does not export ${name} as a function (edgefn ABI v1)`);
  }
  return f;
}

/**
 * Whether this runtime has JavaScript Promise Integration (JSPI), which a guest that imports a
 * suspending function (http_send, kv_*) needs: workerd since 1.20250523.0 and Cloudflare Workers have it;
 * node 20 does not.
 */
export function hasJspi() {
  return typeof WebAssembly.Suspending === "function" && typeof WebAssembly.promising === "function";
}

const suspendingImportsCache = new WeakMap();

/** The imports of `module` that suspend (as "module.name"), known from CAPABILITIES; usually none. */
export function suspendingImports(module) {
  let names = suspendingImportsCache.get(module);
  if (names === undefined) {
    const suspending = new Set(CAPABILITIES.flatMap((c) => (c.suspending ?? []).map((name) => `${c.module}.${name}`)));
    names = WebAssembly.Module.imports(module)
      .map((i) => `${i.module}.${i.name}`)
      .filter((name) => suspending.has(name));
    suspendingImportsCache.set(module, names);
  }
  return names;
}

/**
 * Runs `request` (the fields of a request envelope, see abi.js) on a fresh instance of `module`.
 * Resolves to `{ response, stdout, stderr }` where `response` is the decoded response envelope with
 * its bytes copied out of guest memory. Rejects with an InvokeError; `error.logs` then holds the
 * captured `{ stdout, stderr }` so a crash's panic message still reaches the log. `outbound` is what
 * http_send needs (see capabilities/outbound_http.js), `kv` what the kv_* imports need (see
 * capabilities/kv.js); without them nothing may be called and no store is granted.
 */
export async function invokeGuest(module, request, { env = {}, args = [], outbound, kv } = {}) {
  const suspending = suspendingImports(module);
  const jspi = suspending.length > 0 && hasJspi();
  const invocation = createInvocation({ env, args, outbound, kv, suspend: jspi });
  try {
    if (suspending.length > 0 && !jspi) {
      throw new InvokeError(
        FAILURE.INSTANTIATE,
        `the function imports ${suspending.join(", ")}, which needs JavaScript Promise Integration ` +
          "(WebAssembly.Suspending and WebAssembly.promising), and this runtime has none: run it on Cloudflare " +
          "Workers or workerd 1.20250523.0 or later (workers/package.json pins one)",
      );
    }
    const response = await run(module, request, invocation, jspi);
    return { response, stdout: invocation.stdout, stderr: invocation.stderr };
  } catch (error) {
    const failure = crashed(error);
    failure.logs = { stdout: invocation.stdout, stderr: invocation.stderr };
    throw failure;
  }
}

/** What http_send may do when the caller says nothing: call nothing. */
function noOutbound() {
  return { config: outboundConfig({}), deadlineMs: Infinity, traceparent: undefined, maxRequestBytes: 0, fetch };
}

/**
 * The state of one invocation and the import object every capability (capabilities/index.js)
 * built from it. `env` is a plain object of string variables; `args` the guest's argv (its function
 * name, as on the local host); `outbound` what http_send needs, `kv` what the kv_* imports need. With `suspend`, imports that return
 * promises are wrapped in WebAssembly.Suspending (JSPI; the exports must then be called through
 * WebAssembly.promising). Call `bind(instance)` right after instantiation, before any export runs,
 * and `enter("handle")` once the module's initialization is done; `stdout` and `stderr` are the
 * captures of the guest's output.
 */
export function createInvocation({ env = {}, args = [], outbound = noOutbound(), kv = noKv(), suspend = false } = {}) {
  const state = {
    env,
    args,
    outbound,
    kv,
    stdout: new LogCapture(),
    stderr: new LogCapture(),
    pending: new PendingResult(),
    phase: "init",
    instance: undefined,
    memory: () => state.instance.exports.memory,
  };
  // Several capabilities may share an import module (edgefn_v1), never an import name.
  const imports = {};
  for (const capability of CAPABILITIES) {
    const functions = capability.imports(state);
    const target = (imports[capability.module] ??= {});
    for (const [name, f] of Object.entries(functions)) {
      if (name in target) throw new Error(`two capabilities provide ${capability.module}.${name}`);
      target[name] = suspend && capability.suspending?.includes(name) ? new WebAssembly.Suspending(f) : f;
    }
  }
  return {
    imports,
    stdout: state.stdout,
    stderr: state.stderr,
    bind(instance) {
      state.instance = instance;
    },
    enter(phase) {
      state.phase = phase;
    },
  };
}

/**
 * The call sequence. With `suspending`, every export is called through WebAssembly.promising, the
 * module's initialization too: workerd throws a SuspendError when a Suspending import is reached
 * outside it, even one that answers at once, and http_send and kv_* must answer `unsupported` there.
 */
async function run(module, request, invocation, suspending) {
  const call = suspending ? (f, ...args) => WebAssembly.promising(f)(...args) : (f, ...args) => f(...args);
  let instance;
  try {
    instance = new WebAssembly.Instance(module, invocation.imports);
  } catch (error) {
    throw new InvokeError(FAILURE.INSTANTIATE, `function could not start: ${error.message}`, { cause: error });
  }
  invocation.bind(instance);
  const memory = instance.exports.memory;
  if (!(memory instanceof WebAssembly.Memory)) {
    throw new InvokeError(FAILURE.INSTANTIATE, 'the module does not export its linear memory as "memory"');
  }
  const alloc = exportedFunction(instance, ALLOC_EXPORT);
  const handle = exportedFunction(instance, HANDLE_EXPORT);
  if (typeof instance.exports._initialize === "function") await call(instance.exports._initialize);
  // ABI v1: the guest's own init runs once per instance before its first request (the edgefn
  // host snapshots it at deploy instead; here each request has a fresh instance).
  const init = instance.exports[INIT_EXPORT];
  if (typeof init === "function") {
    try {
      await call(init);
    } catch (error) {
      throw new InvokeError(FAILURE.INSTANTIATE, `${INIT_EXPORT} failed: ${error.message}`, { cause: error });
    }
  }
  invocation.enter("handle");

  const placed = (ptr, len) => {
    if (ptr === 0) throw new InvokeError(FAILURE.BAD_RESPONSE, `${ALLOC_EXPORT} could not allocate ${len} bytes`);
    // Read memory.buffer only after alloc: growing memory detaches the old ArrayBuffer.
    if (ptr + len > memory.buffer.byteLength) {
      throw new InvokeError(FAILURE.BAD_RESPONSE, `${ALLOC_EXPORT} returned an out-of-bounds pointer`);
    }
    return new Uint8Array(memory.buffer, ptr, len);
  };
  let ptr = 0;
  let length;
  if (suspending) {
    // alloc returns a promise here, so the envelope is encoded first and copied in.
    const envelope = encodeRequest(request);
    ptr = (await call(alloc, envelope.length)) >>> 0;
    placed(ptr, envelope.length).set(envelope);
    length = envelope.length;
  } else {
    length = encodeRequest(request, (len) => {
      ptr = alloc(len) >>> 0;
      return placed(ptr, len);
    }).length;
  }

  const [outPtr, outLen] = unpackPtrLen(await call(handle, ptr, length));
  // Envelope overhead aside, the body cannot exceed the envelope, so this bounds the copy below.
  if (outLen > MAX_RESPONSE_BYTES + (1 << 20)) {
    throw new InvokeError(FAILURE.RESPONSE_TOO_LARGE, `function returned a ${outLen}-byte envelope`);
  }
  if (outPtr + outLen > memory.buffer.byteLength) {
    throw new InvokeError(FAILURE.BAD_RESPONSE, "response envelope lies outside guest memory");
  }
  // Copy out, so the response owns its bytes and the instance can be dropped.
  const bytes = new Uint8Array(memory.buffer, outPtr, outLen).slice();
  let decoded;
  try {
    decoded = decodeResponse(bytes);
  } catch (error) {
    const message = `function returned an invalid response: ${error.message}`;
    throw new InvokeError(FAILURE.BAD_RESPONSE, message, { cause: error });
  }
  if (decoded.body.length > MAX_RESPONSE_BYTES) {
    throw new InvokeError(
      FAILURE.RESPONSE_TOO_LARGE,
      `function returned ${decoded.body.length} bytes, more than the limit of ${MAX_RESPONSE_BYTES} bytes`,
    );
  }
  return decoded;
}

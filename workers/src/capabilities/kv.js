// Capability: `edgefn_v1.kv_get`, `kv_set`, `kv_delete`, `kv_exists`, `kv_list`, the function's
// key-value stores on Workers KV (docs/abi.md, "Key-value store"; docs/kv.md). Each store is the KV
// namespace bound as EDGEFN_KV_<STORE> (kv_config.js). Every argument is checked first, in the
// host's order and with its messages (host/src/runtime/capabilities/kv/imports.rs): the invocation
// (none while initializing: unsupported), the memory ranges, the store's name and grant, the key,
// value, TTL, prefix, cursor and limit, the per-invocation operation count. Only then is the
// binding called, within the invocation's deadline. The binding is asynchronous, so guest.js wraps
// these imports in WebAssembly.Suspending (JSPI) and the guest's stack waits while other requests of
// the isolate run.

import { encodeKvList } from "../abi.js";
import { IMPORT_ERROR, fail, guestRange, refuseWhileInitializing, succeed } from "./edgefn_v1.js";
import { BINDING, kvConfig, namespaceBinding } from "./kv_config.js";
import {
  Refused,
  checkCursor,
  checkKey,
  checkListLimit,
  checkPrefix,
  checkStoreName,
  checkTtl,
  checkValue,
  rustQuoted,
  storeNameText,
} from "./kv_contract.js";

/** The import module. */
export const module = "edgefn_v1";

/** The operations: the import's name and what a failure of the binding's call is called. */
const OPERATION = Object.freeze({
  GET: { name: "kv_get", verb: "get" },
  SET: { name: "kv_set", verb: "put" },
  DELETE: { name: "kv_delete", verb: "delete" },
  EXISTS: { name: "kv_exists", verb: "get" },
  LIST: { name: "kv_list", verb: "list" },
});

/** Imports that return a promise: guest.js wraps them in WebAssembly.Suspending. */
export const suspending = Object.freeze(Object.values(OPERATION).map((op) => op.name));

/** The pending message of kv_get and kv_exists when the key is absent or expired (not-found). */
export const NOT_FOUND_MESSAGE = "the key is not in the store";

// setTimeout holds at most a signed 32-bit number of milliseconds.
const MAX_TIMER_MS = 2 ** 31 - 1;
const EMPTY = new Uint8Array(0);

/** A call refused with `code` (one of IMPORT_ERROR) and a message for the guest. */
class KvError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** What the kv_* imports need when the caller says nothing: no store granted, no binding. */
export function noKv() {
  return { config: kvConfig({}), bindings: {}, deadlineMs: Infinity };
}

/**
 * The kv_* imports for one invocation. `invocation.kv` holds `{ config, bindings, deadlineMs }`:
 * `config` from kv_config.js, `bindings` the Worker's env (where the namespaces are), `deadlineMs`
 * the invocation's deadline (Date.now() time).
 */
export function imports(invocation) {
  const calls = { made: 0 };
  const call = (operation, args) => run(invocation, calls, operation, args);
  const range = (ptr, len) => [ptr >>> 0, len >>> 0];
  return {
    kv_get: (sp, sl, kp, kl) => call(OPERATION.GET, { store: range(sp, sl), key: range(kp, kl) }),
    kv_set: (sp, sl, kp, kl, vp, vl, ttl) =>
      call(OPERATION.SET, { store: range(sp, sl), key: range(kp, kl), value: range(vp, vl), ttl: ttl >>> 0 }),
    kv_delete: (sp, sl, kp, kl) => call(OPERATION.DELETE, { store: range(sp, sl), key: range(kp, kl) }),
    kv_exists: (sp, sl, kp, kl) => call(OPERATION.EXISTS, { store: range(sp, sl), key: range(kp, kl) }),
    kv_list: (sp, sl, pp, pl, cp, cl, limit) =>
      call(OPERATION.LIST, { store: range(sp, sl), key: range(pp, pl), cursor: range(cp, cl), limit: limit >>> 0 }),
  };
}

/** Returns the i64 at once for everything refused before the binding, else a promise of it. */
function run(invocation, calls, operation, args) {
  // A new call discards a result that was not read.
  invocation.pending.clear();
  const refused = refuseWhileInitializing(invocation, operation.name);
  if (refused !== undefined) return refused;
  const { config, bindings, deadlineMs } = invocation.kv ?? noKv();
  let checked;
  try {
    checked = check(invocation, operation, args, config);
  } catch (error) {
    if (error instanceof KvError) return fail(invocation, error.code, error.message);
    throw error;
  }
  // Only calls that reach the backend count, as on the host.
  if (calls.made >= config.maxOperations) {
    return fail(
      invocation,
      IMPORT_ERROR.LIMIT,
      `this invocation already made kv.max_operations (${config.maxOperations}) key-value calls`,
    );
  }
  calls.made++;
  const binding = namespaceBinding(checked.store);
  const namespace = bindings[binding];
  if (!isNamespace(namespace)) {
    return fail(
      invocation,
      IMPORT_ERROR.UNAVAILABLE,
      `store ${rustQuoted(checked.store)} has no KV namespace: the Worker has no KV binding ${binding}. ` +
        `Declare it in wrangler.toml as [[kv_namespaces]] binding = "${binding}" with the id of a namespace ` +
        `(npx wrangler kv namespace create ${checked.store}); edgefn package --target cloudflare-workers ` +
        `--env ${BINDING.STORES}=${checked.store} writes the entry`,
    );
  }
  const where = `the KV namespace bound as ${binding}`;
  const remainingMs = Math.min(deadlineMs - Date.now(), MAX_TIMER_MS);
  if (!(remainingMs > 0)) {
    return fail(invocation, IMPORT_ERROR.TIMEOUT, `${where} did not answer before the invocation's deadline`);
  }
  return answer(invocation, namespace, operation, checked, { where, remainingMs });
}

/** Whether `value` is a KV namespace binding (what workerd and Cloudflare give a Worker). */
function isNamespace(value) {
  return ["get", "put", "delete", "list"].every((method) => typeof value?.[method] === "function");
}

/** Reads and checks every argument, in the host's order; throws KvError. */
function check(invocation, operation, args, config) {
  const read = ([ptr, len], what) => {
    const bytes = guestRange(invocation, ptr, len);
    if (bytes === undefined) {
      throw new KvError(IMPORT_ERROR.INVALID, `the ${what} at (${ptr}, ${len}) is not inside the guest's memory`);
    }
    return bytes;
  };
  const list = operation === OPERATION.LIST;
  const storeBytes = read(args.store, "store name");
  const keyBytes = read(args.key, list ? "prefix" : "key");
  const valueBytes = operation === OPERATION.SET ? read(args.value, "value") : EMPTY;
  const cursorBytes = list ? read(args.cursor, "cursor") : EMPTY;
  try {
    const store = checkStoreName(storeNameText(storeBytes));
    if (!config.stores.includes(store)) {
      throw new KvError(
        IMPORT_ERROR.DENIED,
        `store ${rustQuoted(store)} is not granted to this function: add it to kv.stores in the manifest (EDGEFN_KV_STORES on a platform)`,
      );
    }
    if (list) {
      const prefix = checkPrefix(keyBytes);
      const cursor = checkCursor(cursorBytes);
      const limit = checkListLimit(args.limit);
      return { store, prefix, cursor, limit };
    }
    const key = checkKey(keyBytes);
    if (operation !== OPERATION.SET) return { store, key };
    checkValue(valueBytes);
    checkTtl(args.ttl);
    // A copy: the binding reads it after this call has returned to the event loop.
    return { store, key, value: valueBytes.slice(), ttl: args.ttl };
  } catch (error) {
    if (error instanceof Refused) throw new KvError(IMPORT_ERROR.INVALID, error.message);
    throw error;
  }
}

/** Calls the binding, bounded by the deadline, and leaves its answer pending. */
async function answer(invocation, namespace, operation, checked, { where, remainingMs }) {
  const late = Symbol("deadline");
  let timer;
  const deadline = new Promise((resolve) => {
    timer = setTimeout(resolve, remainingMs, late);
  });
  try {
    const result = await Promise.race([callBinding(namespace, operation, checked), deadline]);
    if (result === late) {
      return fail(invocation, IMPORT_ERROR.TIMEOUT, `${where} did not answer before the invocation's deadline`);
    }
    return settle(invocation, operation, result);
  } catch (error) {
    const message = `${where}: ${operation.verb} failed: ${error?.message ?? error}`;
    // Workers KV refuses more than one write per second to a key with a 429.
    const code = /\b429\b/.test(error?.message ?? "") ? IMPORT_ERROR.RATE_LIMITED : IMPORT_ERROR.UNAVAILABLE;
    return fail(invocation, code, message);
  } finally {
    clearTimeout(timer);
  }
}

function callBinding(namespace, operation, checked) {
  switch (operation) {
    case OPERATION.GET:
    case OPERATION.EXISTS:
      return namespace.get(checked.key, "arrayBuffer");
    case OPERATION.SET:
      return namespace.put(checked.key, checked.value, checked.ttl > 0 ? { expirationTtl: checked.ttl } : {});
    case OPERATION.DELETE:
      return namespace.delete(checked.key);
    case OPERATION.LIST:
      return namespace.list({ prefix: checked.prefix, cursor: checked.cursor || undefined, limit: checked.limit });
  }
  throw new Error(`unknown key-value operation ${operation.name}`);
}

/** The binding's answer as the import's result: the pending bytes and the i64. */
export function settle(invocation, operation, result) {
  switch (operation) {
    case OPERATION.GET:
      if (result === null || result === undefined) return fail(invocation, IMPORT_ERROR.NOT_FOUND, NOT_FOUND_MESSAGE);
      return succeed(invocation, new Uint8Array(result));
    case OPERATION.EXISTS:
      if (result === null || result === undefined) return fail(invocation, IMPORT_ERROR.NOT_FOUND, NOT_FOUND_MESSAGE);
      return succeed(invocation, EMPTY);
    case OPERATION.LIST: {
      const keys = (result?.keys ?? []).map((key) => key.name);
      const cursor = result?.list_complete === false ? (result.cursor ?? "") : "";
      return succeed(invocation, encodeKvList({ keys, cursor }));
    }
    default:
      return succeed(invocation, EMPTY);
  }
}

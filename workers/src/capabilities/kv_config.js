// A Worker's key-value settings, read from its EDGEFN_KV_* vars (docs/manifest.md, "kv": the
// manifest keys as platform variables, as the host's `KvGrant::from_variables` reads them on Lambda
// and Azure), and the name of the KV namespace binding that backs each store. A var that is set but
// not valid is an error naming it: the handler then answers every request 500.

import { ConfigError } from "./outbound_config.js";
import { Refused, checkStoreName } from "./kv_contract.js";

/** The vars, by the manifest key they stand for. */
export const BINDING = Object.freeze({
  STORES: "EDGEFN_KV_STORES",
  MAX_OPERATIONS: "EDGEFN_KV_MAX_OPERATIONS",
});

/** Calls to the kv_* imports one invocation may make when EDGEFN_KV_MAX_OPERATIONS is not set. */
export const DEFAULT_MAX_OPERATIONS = 1000;
/** The prefix of a store's KV namespace binding: store "default" is EDGEFN_KV_DEFAULT. */
export const NAMESPACE_BINDING_PREFIX = "EDGEFN_KV_";

/** The KV namespace binding that backs `store` (wrangler.toml's `[[kv_namespaces]] binding`). */
export function namespaceBinding(store) {
  return NAMESPACE_BINDING_PREFIX + store.toUpperCase();
}

const absent = (value) => value === undefined || value === null || (typeof value === "string" && value.trim() === "");

function stores(env) {
  const value = env[BINDING.STORES];
  if (absent(value)) return Object.freeze([]);
  const list = Array.isArray(value) ? value : typeof value === "string" ? value.split(/[,\s]+/) : undefined;
  if (list === undefined || !list.every((name) => typeof name === "string")) {
    throw new ConfigError(BINDING.STORES, value, "expected store names separated by commas or spaces");
  }
  const names = [];
  for (const name of list.filter((n) => n !== "")) {
    try {
      checkStoreName(name);
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      throw new ConfigError(BINDING.STORES, value, `kv.stores: ${error.message}`);
    }
    // Its binding would be one of these vars, which a namespace binding cannot also be.
    if (Object.values(BINDING).includes(namespaceBinding(name))) {
      throw new ConfigError(
        BINDING.STORES,
        value,
        `store ${JSON.stringify(name)} cannot be served on Workers: its KV binding would be ${namespaceBinding(name)}, the name of an edgefn setting; rename the store`,
      );
    }
    if (!names.includes(name)) names.push(name);
  }
  return Object.freeze(names);
}

function maxOperations(env) {
  const value = env[BINDING.MAX_OPERATIONS];
  if (absent(value)) return DEFAULT_MAX_OPERATIONS;
  const text = typeof value === "number" ? String(value) : typeof value === "string" ? value.trim() : "";
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n > 0xffffffff) {
    throw new ConfigError(BINDING.MAX_OPERATIONS, value, `expected a whole number up to ${0xffffffff}`);
  }
  if (n === 0) {
    throw new ConfigError(
      BINDING.MAX_OPERATIONS,
      value,
      "kv.max_operations must be at least 1 (leave out EDGEFN_KV_STORES to grant no store)",
    );
  }
  return n;
}

/** The key-value settings of a Worker with bindings `env`: `{ stores, maxOperations }`. Throws ConfigError. */
export function kvConfig(env = {}) {
  return Object.freeze({ stores: stores(env), maxOperations: maxOperations(env) });
}

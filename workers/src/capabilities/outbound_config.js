// A Worker's outbound HTTP settings, read from its EDGEFN_OUTBOUND_* bindings (docs/manifest.md,
// "outbound": the manifest keys as platform variables). Like every EDGEFN_ binding they configure
// the shim and never reach the guest. A binding that is set but not valid is an error naming it:
// the handler then answers every request 500 rather than run with a policy nobody asked for.

import { parseAllowedHosts } from "./outbound_policy.js";

/** The bindings, by the manifest key they stand for. */
export const BINDING = Object.freeze({
  ALLOWED_HOSTS: "EDGEFN_OUTBOUND_ALLOWED_HOSTS",
  ALLOW_PRIVATE_NETWORKS: "EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS",
  TIMEOUT_MS: "EDGEFN_OUTBOUND_TIMEOUT_MS",
  MAX_REQUESTS: "EDGEFN_OUTBOUND_MAX_REQUESTS",
  MAX_RESPONSE_BYTES: "EDGEFN_OUTBOUND_MAX_RESPONSE_BYTES",
  /**
   * A service binding, not a var: the network that reaches private and loopback addresses. Only
   * the config.capnp of `edgefn package` has it (local workerd, whose default network is public
   * only); it is used only when ALLOW_PRIVATE_NETWORKS is true. Cloudflare has no such network.
   */
  PRIVATE_NETWORK: "EDGEFN_OUTBOUND_PRIVATE_NETWORK",
});

/** Defaults when a binding is absent, the manifest's (docs/manifest.md, "outbound"). */
export const DEFAULTS = Object.freeze({
  timeoutMs: 10_000,
  maxRequests: 50,
  maxResponseBytes: 16 << 20,
});

// setTimeout (behind AbortSignal.timeout) holds at most a signed 32-bit number of milliseconds.
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** A binding that is set but not valid; `binding` names it. */
export class ConfigError extends Error {
  constructor(binding, value, expected) {
    super(`the Worker's binding ${binding} = ${JSON.stringify(value)} is not valid: ${expected}`);
    this.name = "ConfigError";
    this.binding = binding;
  }
}

// A var is a string in wrangler.toml's [vars] and config.capnp's text bindings; wrangler also
// passes TOML numbers, booleans and arrays through as JSON values, which are accepted as such.
const absent = (value) => value === undefined || value === null || (typeof value === "string" && value.trim() === "");

function integer(env, binding, fallback, min) {
  const value = env[binding];
  if (absent(value)) return fallback;
  const text = typeof value === "number" ? String(value) : typeof value === "string" ? value.trim() : "";
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new ConfigError(binding, value, `expected a whole number of at least ${min}`);
  }
  return n;
}

function boolean(env, binding) {
  const value = env[binding];
  if (absent(value)) return false;
  if (value === true || value === false) return value;
  const text = typeof value === "string" ? value.trim().toLowerCase() : "";
  if (text === "true") return true;
  if (text === "false") return false;
  throw new ConfigError(binding, value, "expected true or false");
}

function allowedHosts(env) {
  const value = env[BINDING.ALLOWED_HOSTS];
  if (absent(value)) return Object.freeze([]);
  if (typeof value !== "string" && !(Array.isArray(value) && value.every((v) => typeof v === "string"))) {
    throw new ConfigError(BINDING.ALLOWED_HOSTS, value, "expected patterns separated by commas or spaces");
  }
  try {
    return parseAllowedHosts(value);
  } catch (error) {
    throw new ConfigError(BINDING.ALLOWED_HOSTS, value, error.message);
  }
}

/**
 * The outbound settings of a Worker with bindings `env`:
 * `{ allowedHosts, allowPrivateNetworks, timeoutMs, maxRequests, maxResponseBytes, privateNetwork }`,
 * where `privateNetwork` is the PRIVATE_NETWORK service (a Fetcher) when private networks are
 * allowed and the binding exists, else undefined. Throws ConfigError.
 */
export function outboundConfig(env = {}) {
  const allowPrivateNetworks = boolean(env, BINDING.ALLOW_PRIVATE_NETWORKS);
  const network = env[BINDING.PRIVATE_NETWORK];
  return Object.freeze({
    allowedHosts: allowedHosts(env),
    allowPrivateNetworks,
    timeoutMs: Math.min(integer(env, BINDING.TIMEOUT_MS, DEFAULTS.timeoutMs, 1), MAX_TIMEOUT_MS),
    maxRequests: integer(env, BINDING.MAX_REQUESTS, DEFAULTS.maxRequests, 1),
    maxResponseBytes: integer(env, BINDING.MAX_RESPONSE_BYTES, DEFAULTS.maxResponseBytes, 0),
    privateNetwork: allowPrivateNetworks && typeof network?.fetch === "function" ? network : undefined,
  });
}

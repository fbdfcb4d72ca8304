// The Worker's fetch handler for one bundled guest module: the Fetch API request becomes an ABI v1
// request envelope, the guest runs on a fresh instance (guest.js), its response envelope becomes a
// Response. Kept apart from worker.js (which only imports the .wasm) so node's test runner can
// drive it with any compiled module.

import { CONTEXT_KEY } from "./abi.js";
import { outboundConfig } from "./capabilities/outbound_config.js";
import { kvConfig } from "./capabilities/kv_config.js";
import { FAILURE, invokeGuest } from "./guest.js";

/** Platform name the guest sees (`Context::platform`). */
export const PLATFORM = "cloudflare-workers";
/**
 * Deadline budget in ms when the `EDGEFN_DEADLINE_MS` binding is not set: the paid plan's default
 * CPU limit (30 s). Informational for the guest: only the platform's CPU limit stops a guest.
 */
export const DEFAULT_DEADLINE_MS = 30_000;
/** Most request body bytes passed to a guest, as on the local host (6 MiB). */
export const MAX_REQUEST_BYTES = 6 << 20;
/** Response header naming the invocation, as on the local host. */
export const REQUEST_ID_HEADER = "x-edgefn-request-id";
/**
 * Bindings whose names start with this configure the adapter and are not passed to the guest, so
 * the guest's environment holds only the function's own variables, as on the local host.
 */
export const ADAPTER_BINDING_PREFIX = "EDGEFN_";
/** Function name when the `EDGEFN_FUNCTION_NAME` binding is not set. */
export const DEFAULT_FUNCTION_NAME = "function";

// Statuses a Response can carry (the Fetch API refuses others) and those that must have no body.
const MIN_STATUS = 200;
const MAX_STATUS = 599;
const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/** The guest's environment: the Worker's text bindings (vars and secrets) minus the adapter's own. */
export function guestEnvironment(env = {}) {
  const out = {};
  for (const [key, value] of Object.entries(env)) {
    if (typeof value === "string" && !key.startsWith(ADAPTER_BINDING_PREFIX)) out[key] = value;
  }
  return out;
}

/** The deadline budget in ms from the `EDGEFN_DEADLINE_MS` binding, else the default. */
export function deadlineBudgetMs(env = {}) {
  const configured = Number.parseInt(env.EDGEFN_DEADLINE_MS ?? "", 10);
  return Number.isFinite(configured) && configured > 0 ? configured : DEFAULT_DEADLINE_MS;
}

/** Cloudflare's own request id (`cf-ray`) when the request has one, else a random UUID. */
export function requestIdOf(request) {
  return request.headers.get("cf-ray") || crypto.randomUUID();
}

/** The request target in origin form (path and `?query`), as the runtime received it. */
export function originForm(url) {
  const authority = url.indexOf("://");
  const path = url.indexOf("/", authority < 0 ? 0 : authority + 3);
  if (path < 0) return "/";
  const hash = url.indexOf("#", path);
  return hash < 0 ? url.slice(path) : url.slice(path, hash);
}

// Header values travel as UTF-8. The Fetch API calls them byte strings, but workerd decodes the
// bytes it receives as UTF-8 and encodes what it sends as UTF-8, so UTF-8 is what round-trips:
// a value that is valid UTF-8 reaches the guest byte for byte; other bytes (obs-text) were already
// replaced by U+FFFD in the runtime, before the Worker runs.
const utf8Encoder = new TextEncoder();
const lenientUtf8 = new TextDecoder("utf-8");

/**
 * The request's header fields, in order. The Fetch API joins a repeated field into one value
 * separated by ", " (RFC 9110 allows it) except `set-cookie`, which it keeps apart; the guest sees
 * exactly that.
 */
export function requestHeaders(headers) {
  const out = [];
  for (const [name, value] of headers) out.push([name, utf8Encoder.encode(value)]);
  return out;
}

export function text(status, message, requestId) {
  const reason = { 413: "Payload Too Large", 500: "Internal Server Error" }[status] ?? "";
  return new Response(`${status} ${reason}: ${message}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", [REQUEST_ID_HEADER]: requestId },
  });
}

/** Builds a Response from a decoded response envelope; throws on what the Fetch API refuses. */
export function toResponse(envelope) {
  const { status, headers: fields, body } = envelope;
  if (status < MIN_STATUS || status > MAX_STATUS) {
    throw new Error(`status ${status} cannot be sent from a Worker (only ${MIN_STATUS}..=${MAX_STATUS})`);
  }
  const headers = new Headers();
  for (const [name, value] of fields) headers.append(name, lenientUtf8.decode(value));
  return new Response(NULL_BODY_STATUSES.has(status) ? null : body, { status, headers });
}

export function tag(functionName, requestId, stream) {
  return `[edgefn ${functionName} ${requestId} ${stream}]`;
}

/** Writes the guest's captured output to the Workers log, tagged with the function and request id. */
export function emitLogs({ stdout, stderr }, functionName, requestId) {
  for (const line of stdout.lines()) console.log(`${tag(functionName, requestId, "stdout")} ${line}`);
  for (const line of stderr.lines()) console.error(`${tag(functionName, requestId, "stderr")} ${line}`);
  for (const [capture, stream] of [
    [stdout, "stdout"],
    [stderr, "stderr"],
  ]) {
    if (capture.dropped > 0) {
      console.warn(
        `${tag(functionName, requestId, stream)} guest output exceeded its per-invocation log budget; ${capture.dropped} bytes were dropped`,
      );
    }
  }
}

/** A setting nobody can have meant: logged, and the request refused rather than a policy guessed. */
export function misconfigured(error, functionName, requestId) {
  console.error(`${tag(functionName, requestId, "host")} ${error.message}`);
  return text(500, `the function is misconfigured (request id ${requestId})`, requestId);
}

/**
 * The request's body, read whole, or null when it is larger than MAX_REQUEST_BYTES (declared or
 * not: a chunked body is held to the limit too).
 */
export async function boundedBody(request) {
  const declared = Number(request.headers.get("content-length") ?? 0);
  const body = declared > MAX_REQUEST_BYTES ? null : new Uint8Array(await request.arrayBuffer());
  return body === null || body.length > MAX_REQUEST_BYTES ? null : body;
}

/** The answer to a body over MAX_REQUEST_BYTES. */
export function tooLarge(requestId) {
  return text(413, `the request body is larger than this function's limit of ${MAX_REQUEST_BYTES} bytes`, requestId);
}

/**
 * A fetch handler serving `module` (a compiled WebAssembly.Module). Each handler remembers whether
 * it has served a request yet: one handler lives per isolate, so its first request is the cold start.
 * `invoke` is replaceable so tests can see the envelope the guest would get.
 */
export function createFetchHandler(module, { invoke = invokeGuest } = {}) {
  let coldStart = true;
  return async function fetch(request, env = {}) {
    const requestId = requestIdOf(request);
    const functionName = env.EDGEFN_FUNCTION_NAME || DEFAULT_FUNCTION_NAME;
    let config;
    let stores;
    try {
      config = outboundConfig(env);
      stores = kvConfig(env);
    } catch (error) {
      return misconfigured(error, functionName, requestId);
    }
    const body = await boundedBody(request);
    if (body === null) return tooLarge(requestId);
    const deadlineMs = Date.now() + deadlineBudgetMs(env);
    const context = [
      [CONTEXT_KEY.REQUEST_ID, requestId],
      [CONTEXT_KEY.FUNCTION_NAME, functionName],
      [CONTEXT_KEY.PLATFORM, PLATFORM],
      [CONTEXT_KEY.DEADLINE_MS, String(deadlineMs)],
      [CONTEXT_KEY.COLD_START, String(coldStart)],
    ];
    coldStart = false;
    const traceparent = request.headers.get("traceparent");
    if (traceparent !== null) context.push([CONTEXT_KEY.TRACEPARENT, traceparent]);
    const envelope = {
      context,
      method: request.method,
      uri: originForm(request.url),
      headers: requestHeaders(request.headers),
      body,
    };

    // What http_send needs: the policy, the deadline its timeouts stop at, the trace to propagate.
    const outbound = {
      config,
      deadlineMs,
      traceparent: traceparent ?? undefined,
      maxRequestBytes: MAX_REQUEST_BYTES,
      fetch: (request) => globalThis.fetch(request), // the global: `fetch` in here is this very handler
    };

    // What the kv_* imports need: the grant, the Worker's bindings (its KV namespaces), the deadline.
    const kv = { config: stores, bindings: env, deadlineMs };

    let response;
    try {
      const result = await invoke(module, envelope, {
        env: guestEnvironment(env),
        args: [functionName],
        outbound,
        kv,
      });
      emitLogs(result, functionName, requestId);
      response = toResponse(result.response);
    } catch (error) {
      if (error.logs) emitLogs(error.logs, functionName, requestId);
      // The detail goes to the log only; the client learns nothing about the guest's internals.
      console.error(
        `${tag(functionName, requestId, "host")} invocation failed (${error.kind ?? FAILURE.BAD_RESPONSE}): ${error.message}`,
      );
      return text(500, `the function failed (request id ${requestId})`, requestId);
    }
    response.headers.set(REQUEST_ID_HEADER, requestId);
    return response;
  };
}

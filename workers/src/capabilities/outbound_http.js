// Capability: `edgefn_v1.http_send`, outbound HTTP with the same policy as the edgefn host
// (docs/abi.md, "Outbound HTTP"): the allow-list, no private targets unless allowed, headers the
// host owns refused, one timeout never past the deadline, caps on calls and bodies, no redirects
// followed, the invocation's traceparent added. The guest sees a synchronous call; the shim's fetch
// is asynchronous, so guest.js wraps http_send in WebAssembly.Suspending (JSPI) and the guest's stack
// waits while other requests of the isolate run.

import { decodeHttpRequest, encodeHttpResponse } from "../abi.js";
import { IMPORT_ERROR, fail, guestRange, refuseWhileInitializing, succeed } from "./edgefn_v1.js";
import { BINDING } from "./outbound_config.js";
import { checkUrl, privateTarget } from "./outbound_policy.js";

/** The import module. */
export const module = "edgefn_v1";
/** Imports that return a promise: guest.js wraps them in WebAssembly.Suspending. */
export const suspending = Object.freeze(["http_send"]);

/** Request headers the host sets itself (`host`, the body's framing): a guest's are refused. */
export const OWNED_HEADERS = Object.freeze([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "proxy-connection",
]);
const OWNED = new Set(OWNED_HEADERS);
// Response headers left out of the envelope: they framed the upstream's connection, not the answer.
const FRAMING_HEADERS = new Set(["connection", "keep-alive", "transfer-encoding"]);
// Encodings the Workers fetch decodes by itself: the body handed over is decoded, so the headers
// that described the encoded body would lie.
const DECODED_ENCODINGS = new Set(["gzip", "br"]);
const BODYLESS_METHODS = new Set(["GET", "HEAD"]);
// setTimeout (behind AbortSignal.timeout) holds at most a signed 32-bit number of milliseconds.
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

/**
 * `http_send(ptr, len) -> i64` for one invocation. `invocation.phase` is "init" while the module
 * initializes; `invocation.outbound` holds `{ config, deadlineMs, traceparent, maxRequestBytes,
 * fetch }` (see handler.js; `config` from outbound_config.js).
 */
export function imports(invocation) {
  const calls = { sent: 0 };
  return {
    http_send: (ptr, len) => send(invocation, calls, ptr >>> 0, len >>> 0),
  };
}

/** Returns the i64 at once for everything refused before the network, else a promise of it. */
function send(invocation, calls, ptr, len) {
  invocation.pending.clear();
  const refused = refuseWhileInitializing(invocation, "http_send");
  if (refused !== undefined) return refused;
  const envelope = guestRange(invocation, ptr, len);
  if (envelope === undefined) {
    return fail(invocation, IMPORT_ERROR.INVALID, `the request envelope at (${ptr}, ${len}) lies outside guest memory`);
  }
  let request;
  try {
    request = decodeHttpRequest(envelope);
  } catch (error) {
    return fail(
      invocation,
      IMPORT_ERROR.INVALID,
      `the request envelope does not decode (${error.code}): ${error.message}`,
    );
  }

  const { config, deadlineMs, traceparent, maxRequestBytes, fetch: fetchPublic } = invocation.outbound;
  const checked = checkUrl(request.url, config.allowedHosts);
  if (checked.result !== "allowed") {
    const code = checked.result === "denied" ? IMPORT_ERROR.DENIED : IMPORT_ERROR.INVALID;
    return fail(invocation, code, checked.message);
  }
  const url = checked.url;
  const target = `${request.method} ${url.origin}`;
  if (!config.allowPrivateNetworks) {
    const why = privateTarget(url);
    if (why !== undefined) return fail(invocation, IMPORT_ERROR.DENIED, why);
  }
  if (request.body.length > maxRequestBytes) {
    return fail(
      invocation,
      IMPORT_ERROR.LIMIT,
      `${target}: the request body is ${request.body.length} bytes, more than the function's limit of ${maxRequestBytes}`,
    );
  }

  const headers = new Headers();
  for (const [name, value] of request.headers) {
    if (OWNED.has(name.toLowerCase())) {
      return fail(invocation, IMPORT_ERROR.INVALID, `${target}: header ${name} is set by the host; leave it out`);
    }
    try {
      headers.append(name, strictUtf8.decode(value));
    } catch (error) {
      const why = error instanceof TypeError && error.message.includes("decode") ? "is not UTF-8" : error.message;
      return fail(invocation, IMPORT_ERROR.INVALID, `${target}: header ${JSON.stringify(name)}: ${why}`);
    }
  }
  if (traceparent && !headers.has("traceparent")) headers.set("traceparent", traceparent);

  if (calls.sent >= config.maxRequests) {
    return fail(
      invocation,
      IMPORT_ERROR.LIMIT,
      `${target}: this invocation has sent ${calls.sent} requests, its limit (outbound.max_requests, ${BINDING.MAX_REQUESTS})`,
    );
  }
  const timeoutMs = Math.min(request.timeoutMs || config.timeoutMs, deadlineMs - Date.now(), MAX_TIMEOUT_MS);
  if (!(timeoutMs > 0)) {
    return fail(invocation, IMPORT_ERROR.TIMEOUT, `${target}: the invocation's deadline has passed`);
  }

  const method = request.method;
  const body =
    request.body.length > 0 || !BODYLESS_METHODS.has(method.toUpperCase()) ? request.body.slice() : undefined;
  const signal = AbortSignal.timeout(timeoutMs);
  let outbound;
  try {
    outbound = new Request(url.href, { method, headers, body, redirect: "manual", signal });
  } catch (error) {
    return fail(invocation, IMPORT_ERROR.INVALID, `${target}: ${error.message}`);
  }
  calls.sent++;
  // The private network is a service binding (a Fetcher): called as its method. The global fetch
  // is called as a plain function.
  const fetcher = config.privateNetwork ?? { fetch: (r) => fetchPublic(r) };
  return exchange(invocation, fetcher, outbound, { target, timeoutMs, signal, maxBytes: config.maxResponseBytes });
}

async function exchange(invocation, fetcher, request, { target, timeoutMs, signal, maxBytes }) {
  try {
    const response = await fetcher.fetch(request);
    const decoded = DECODED_ENCODINGS.has((response.headers.get("content-encoding") ?? "").trim().toLowerCase());
    const headers = responseHeaders(response.headers, decoded);
    const declared = decoded ? NaN : Number(response.headers.get("content-length"));
    const body = declared > maxBytes ? undefined : await readCapped(response, maxBytes);
    if (body === undefined) {
      response.body?.cancel().catch(() => {});
      return fail(
        invocation,
        IMPORT_ERROR.LIMIT,
        `${target}: the response body is larger than the limit of ${maxBytes} bytes (outbound.max_response_bytes, ${BINDING.MAX_RESPONSE_BYTES})`,
      );
    }
    return succeed(invocation, encodeHttpResponse({ status: response.status, headers, body }));
  } catch (error) {
    if (signal.aborted) {
      return fail(invocation, IMPORT_ERROR.TIMEOUT, `${target}: no complete answer within ${timeoutMs} ms`);
    }
    // workerd reports a connection its network refused as an opaque "internal error".
    const hint = /internal error/.test(error?.message ?? "")
      ? " (workerd logs the cause; a name that resolves to a private address is refused unless the function allows private networks)"
      : "";
    return fail(invocation, IMPORT_ERROR.UNAVAILABLE, `${target} failed: ${error?.message ?? error}${hint}`);
  }
}

/**
 * The response's fields, names lower-case (the Fetch API's), framing left out. The Fetch API
 * joins repeats of a name with ", " except set-cookie, whose values getSetCookie() gives apart.
 */
function responseHeaders(fields, decoded) {
  const out = [];
  let cookies = false;
  for (const [name, value] of fields) {
    if (FRAMING_HEADERS.has(name)) continue;
    if (decoded && (name === "content-encoding" || name === "content-length")) continue;
    if (name === "set-cookie") {
      if (cookies) continue;
      cookies = true;
      for (const cookie of fields.getSetCookie()) out.push([name, utf8Encoder.encode(cookie)]);
      continue;
    }
    out.push([name, utf8Encoder.encode(value)]);
  }
  return out;
}

/** The body, read as it arrives, or undefined as soon as it passes `maxBytes`. */
export async function readCapped(response, maxBytes) {
  if (response.body === null) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.length;
  }
  return body;
}

// Capability: `wasi:http/outgoing-handler` for a component, under the same policy as the edgefn
// host's (docs/abi.md, "Outbound HTTP"): the allow-list, no private targets unless allowed, no
// redirects followed, a timeout, caps on calls and on the response body. preview2-shim performs
// the call through the global fetch; this module checks each request before the shim sees it and
// gives the shim a fetch (`policedFetch`) that keeps the rest of the policy.

import { http } from "../vendor/preview2-shim/index.js";
import { BINDING } from "./outbound_config.js";
import { readCapped } from "./outbound_http.js";
import { checkUrl, privateTarget } from "./outbound_policy.js";

const { FutureIncomingResponse } = http.types;
// How an over-cap response travels through the shim, which turns any fetch error into
// `internal-error(message)`: `PolicedFuture` turns this prefix back into the code the host gives.
const BODY_SIZE_MARKER = "edgefn: response body over the cap: ";

/** The guest's request as a URL: the fields it set, with wasi:http's defaults (https, "/"). */
function requestUrl(request) {
  const scheme = request.scheme();
  const name = scheme === undefined ? "https" : scheme.tag === "other" ? scheme.val : scheme.tag.toLowerCase();
  return `${name}://${request.authority() ?? ""}${request.pathWithQuery() ?? "/"}`;
}

/** An `HTTP-request-denied` (or `-URI-invalid`) error, as the generated bindings throw it. */
function refusal(code, message, log) {
  log(`outbound request refused: ${message}`);
  return { tag: code };
}

/**
 * The `wasi:http/outgoing-handler` import of one invocation: `{ handle }`. `outbound` is `{ config,
 * log }` (config from outbound_config.js; log writes one line tagged with the invocation).
 */
export function outgoingHandler({ config, log }) {
  let sent = 0;
  return {
    handle(request, options) {
      const checked = checkUrl(requestUrl(request), config.allowedHosts);
      if (checked.result !== "allowed") {
        throw refusal(
          checked.result === "denied" ? "HTTP-request-denied" : "HTTP-request-URI-invalid",
          checked.message,
          log,
        );
      }
      if (!config.allowPrivateNetworks) {
        const why = privateTarget(checked.url);
        if (why !== undefined) throw refusal("HTTP-request-denied", why, log);
      }
      if (sent >= config.maxRequests) {
        throw refusal(
          "HTTP-request-denied",
          `this invocation already sent ${sent} requests, its limit (outbound.max_requests, ${BINDING.MAX_REQUESTS})`,
          log,
        );
      }
      sent++;
      return new PolicedFuture(http.outgoingHandler.handle(request, options));
    },
  };
}

/** The shim's future, with the cap's failure reported as `HTTP-response-body-size`. */
class PolicedFuture extends FutureIncomingResponse {
  #inner;
  constructor(inner) {
    super();
    this.#inner = inner;
  }
  subscribe() {
    return this.#inner.subscribe();
  }
  get() {
    const result = this.#inner.get();
    const error = result?.tag === "ok" && result.val.tag === "err" ? result.val.val : undefined;
    if (error?.tag === "internal-error" && String(error.val).startsWith(BODY_SIZE_MARKER)) {
      return { tag: "ok", val: { tag: "err", val: { tag: "HTTP-response-body-size", val: undefined } } };
    }
    return result;
  }
  [Symbol.dispose ?? Symbol.for("dispose")]() {
    this.#inner[Symbol.dispose ?? Symbol.for("dispose")]?.();
  }
}

/**
 * The fetch the shim calls, for a Worker with outbound settings `config`: no redirects followed,
 * private targets through the private network binding when allowed, `outbound.timeout_ms`, and the
 * response read whole within `outbound.max_response_bytes` (as the host does) before the guest
 * sees it. `publicFetch` is the platform's fetch.
 */
export function policedFetch(config, publicFetch) {
  const fetcher = config.privateNetwork ?? { fetch: (r) => publicFetch(r) };
  return async (url, init = {}) => {
    const signal = AbortSignal.any([init.signal, AbortSignal.timeout(config.timeoutMs)].filter((s) => s !== undefined));
    const response = await fetcher.fetch(new Request(url, { ...init, redirect: "manual", signal }));
    const declared = Number(response.headers.get("content-length"));
    const body = declared > config.maxResponseBytes ? undefined : await readCapped(response, config.maxResponseBytes);
    if (body === undefined) {
      response.body?.cancel().catch(() => {});
      throw new Error(
        `${BODY_SIZE_MARKER}${url}: larger than ${config.maxResponseBytes} bytes (outbound.max_response_bytes, ${BINDING.MAX_RESPONSE_BYTES})`,
      );
    }
    return new Response(body.length === 0 ? null : body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

// Entry module of a Worker that runs a wasi:http/proxy component (docs/components.md). `edgefn
// package` transpiled the component with jco into core modules and the JavaScript that links them
// (`component/`); `component/modules.js` lists them, compiled at deploy time. Each request gets a
// fresh instance, as on the host: an instance that served one request may hold its state, and
// reusing it is unsafe for real guests. The imports are preview2-shim's browser build, except what
// is per invocation: the environment, stdout and stderr (captured as logs) and outbound HTTP.

import { CORE_MODULES, instantiate } from "./component/modules.js";
import * as shim from "./vendor/preview2-shim/index.js";
import {
  DEFAULT_FUNCTION_NAME,
  REQUEST_ID_HEADER,
  boundedBody,
  emitLogs,
  guestEnvironment,
  misconfigured,
  requestIdOf,
  tag,
  text,
  tooLarge,
} from "./handler.js";
import { LogCapture } from "./logs.js";
import { outboundConfig } from "./capabilities/outbound_config.js";
import { outgoingHandler, policedFetch } from "./capabilities/wasi_http_outbound.js";

const publicFetch = globalThis.fetch;
// Fields a wasi:http guest never sees on the host either (wasmtime-wasi-http's forbidden headers):
// the authority carries the host, the rest framed the client's connection.
const FORBIDDEN_HEADERS = Object.freeze([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "host",
  "http2-settings",
]);
const camelCase = (name) => name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());

/** The shim's namespace for an import such as `wasi:cli/terminal-input@0.2.6`, or undefined. */
function shimImport(name) {
  const match = /^wasi:([a-z]+)\/([a-z-]+)(@.*)?$/.exec(name);
  return match ? shim[match[1]]?.[camelCase(match[2])] : undefined;
}

/** A stream of the guest's (stdout or stderr) that fills `capture`. */
function captured(capture) {
  return { write: (bytes) => capture.push(bytes), flush() {}, blockingFlush() {} };
}

async function serve(request, env) {
  const requestId = requestIdOf(request);
  const functionName = env.EDGEFN_FUNCTION_NAME || DEFAULT_FUNCTION_NAME;
  let config;
  try {
    config = outboundConfig(env);
  } catch (error) {
    return misconfigured(error, functionName, requestId);
  }
  // The shim hands the guest a buffered body anyway.
  const body = await boundedBody(request);
  if (body === null) return tooLarge(requestId);
  // The shim calls the global fetch: this one keeps the outbound policy (one per isolate, and every
  // request of a Worker has the same bindings).
  globalThis.fetch = policedFetch(config, publicFetch);

  const logs = { stdout: new LogCapture(), stderr: new LogCapture() };
  const cli = shim.cli.createCli({
    environment: guestEnvironment(env),
    arguments: [functionName],
    stdout: captured(logs.stdout),
    stderr: captured(logs.stderr),
  });
  const log = (line) => console.log(`${tag(functionName, requestId, "host")} ${line}`);
  const own = {
    "wasi:cli/environment": cli.environment,
    "wasi:cli/stdout": cli.stdout,
    "wasi:cli/stderr": cli.stderr,
    "wasi:http/outgoing-handler": outgoingHandler({ config, log }),
  };
  const imports = new Proxy({}, { get: (_, name) => own[String(name).split("@")[0]] ?? shimImport(String(name)) });
  try {
    const instance = await instantiate((name) => CORE_MODULES[name], imports);
    const headers = new Headers(request.headers);
    for (const name of FORBIDDEN_HEADERS) headers.delete(name);
    const bodyless = request.method === "GET" || request.method === "HEAD";
    const incoming = new Request(request.url, { method: request.method, headers, body: bodyless ? undefined : body });
    const response = await shim.http.handleIncomingRequest(incoming, instance.incomingHandler.handle);
    emitLogs(logs, functionName, requestId);
    const answer = new Headers(response.headers);
    answer.set(REQUEST_ID_HEADER, requestId);
    return new Response(response.body, { status: response.status, headers: answer });
  } catch (error) {
    emitLogs(logs, functionName, requestId);
    // The detail goes to the log only; the client learns nothing about the guest's internals.
    console.error(`${tag(functionName, requestId, "host")} invocation failed (trap): ${error?.message ?? error}`);
    return text(500, `the function failed (request id ${requestId})`, requestId);
  }
}

export default {
  async fetch(request, env) {
    return serve(request, env ?? {});
  },
};

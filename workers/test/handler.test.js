// The fetch handler around a guest: what the guest is told (context, environment, request) and how
// its answer becomes a Response. The guest is replaced by a stub that records the envelope.
import test from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_DEADLINE_MS,
  MAX_REQUEST_BYTES,
  PLATFORM,
  REQUEST_ID_HEADER,
  createFetchHandler,
  guestEnvironment,
  originForm,
  toResponse,
} from "../src/handler.js";
import { InvokeError } from "../src/guest.js";
import { LogCapture } from "../src/logs.js";

const bytes = (s) => new TextEncoder().encode(s);

/** A handler whose guest answers `answer` (or throws it) and records every call. */
function stubbed(answer = { status: 200, headers: [], body: bytes("ok") }) {
  const calls = [];
  const invoke = (module, envelope, options) => {
    calls.push({ envelope, options, context: Object.fromEntries(envelope.context) });
    if (answer instanceof Error) throw answer;
    return { response: answer, stdout: new LogCapture(), stderr: new LogCapture() };
  };
  return { fetch: createFetchHandler(null, { invoke }), calls };
}

test("the guest's context: cf-ray as request id, platform, name, deadline, traceparent", async () => {
  const { fetch, calls } = stubbed();
  const before = Date.now();
  const response = await fetch(
    new Request("https://example.com/x", { headers: { "cf-ray": "8f00aa-LHR", traceparent: "00-abc-def-01" } }),
    { EDGEFN_FUNCTION_NAME: "hello", EDGEFN_DEADLINE_MS: "5000" },
  );
  const { context } = calls[0];
  assert.equal(context["request-id"], "8f00aa-LHR");
  assert.equal(context.platform, PLATFORM);
  assert.equal(context["function-name"], "hello");
  assert.equal(context.traceparent, "00-abc-def-01");
  const deadline = Number(context["deadline-ms"]);
  assert.ok(deadline >= before + 5000 && deadline <= Date.now() + 5000, `deadline ${deadline}`);
  assert.equal(response.headers.get(REQUEST_ID_HEADER), "8f00aa-LHR");
});

test("without cf-ray the request id is a random UUID; without a binding the default deadline", async () => {
  const { fetch, calls } = stubbed();
  await fetch(new Request("https://example.com/"), {});
  await fetch(new Request("https://example.com/"), {});
  const [a, b] = calls.map((c) => c.context["request-id"]);
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(a, b);
  assert.ok(Number(calls[0].context["deadline-ms"]) - Date.now() > DEFAULT_DEADLINE_MS - 1000);
  assert.equal(calls[0].context.traceparent, undefined);
});

test("cold start is true for the first request of a handler (an isolate) only", async () => {
  const { fetch, calls } = stubbed();
  for (let i = 0; i < 3; i++) await fetch(new Request("https://example.com/"), {});
  assert.deepEqual(
    calls.map((c) => c.context["cold-start"]),
    ["true", "false", "false"],
  );
});

test("the guest's environment: text bindings only, without the adapter's own", async () => {
  const env = { GREETING: "hi", SECRET: "s", EDGEFN_DEADLINE_MS: "1", KV: { get() {} }, N: 3 };
  assert.deepEqual(guestEnvironment(env), { GREETING: "hi", SECRET: "s" });
  const { fetch, calls } = stubbed();
  await fetch(new Request("https://example.com/"), env);
  assert.deepEqual(calls[0].options.env, { GREETING: "hi", SECRET: "s" });
});

test("method, path and query, headers and a binary body reach the guest", async () => {
  const { fetch, calls } = stubbed();
  const every = Uint8Array.from({ length: 256 }, (_, i) => i);
  const headers = new Headers([
    ["x-multi", "one"],
    ["x-multi", "two"],
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2"],
    ["x-utf8", "caf\u00e9"],
  ]);
  await fetch(new Request("https://example.com/echo/%C3%BC?x=1&x=2", { method: "PUT", headers, body: every }), {});
  const { envelope } = calls[0];
  assert.equal(envelope.method, "PUT");
  assert.equal(envelope.uri, "/echo/%C3%BC?x=1&x=2");
  assert.deepEqual(envelope.body, every);
  const fields = envelope.headers.map(([k, v]) => [k, new TextDecoder().decode(v)]);
  // The Fetch API joins repeats with ", ", except set-cookie (the documented limitation).
  assert.deepEqual(
    fields.filter(([k]) => k === "x-multi" || k === "set-cookie"),
    [
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
      ["x-multi", "one, two"],
    ],
  );
  // Header values reach the guest as UTF-8, the encoding workerd reads and writes them in.
  const utf8 = envelope.headers.find(([k]) => k === "x-utf8")[1];
  assert.deepEqual([...utf8], [0x63, 0x61, 0x66, 0xc3, 0xa9]);
});

test("originForm keeps the target as received", () => {
  assert.equal(originForm("https://h.example/a/b?c=%20d"), "/a/b?c=%20d");
  assert.equal(originForm("http://h.example"), "/");
  assert.equal(originForm("http://h.example/p#frag"), "/p");
});

test("repeated response headers stay separate: set-cookie twice, others appended", async () => {
  const response = toResponse({
    status: 302,
    headers: [
      ["location", bytes("/x")],
      ["set-cookie", bytes("a=1")],
      ["set-cookie", bytes("b=2")],
      ["x-multi", bytes("one")],
      ["x-multi", bytes("two")],
    ],
    body: new Uint8Array(0),
  });
  assert.equal(response.status, 302);
  assert.deepEqual(response.headers.getSetCookie(), ["a=1", "b=2"]);
  assert.equal(response.headers.get("x-multi"), "one, two");
  assert.equal(response.headers.get("location"), "/x");
});

test("a 204 carries no body; a status the Fetch API refuses is an error", async () => {
  const response = toResponse({ status: 204, headers: [], body: bytes("ignored") });
  assert.equal(response.status, 204);
  assert.equal(response.body, null);
  assert.throws(() => toResponse({ status: 999, headers: [], body: new Uint8Array(0) }), /999/);
});

test("a failing guest answers 500 without its internals and the detail is logged", async (t) => {
  const logged = t.mock.method(console, "error", () => {});
  const failure = new InvokeError("trap", "RuntimeError: unreachable (secret detail)");
  const stderr = new LogCapture();
  stderr.push(bytes("panicked: secret detail\n"));
  failure.logs = { stdout: new LogCapture(), stderr };
  const { fetch } = stubbed(failure);
  const response = await fetch(new Request("https://example.com/", { headers: { "cf-ray": "r1" } }), {
    EDGEFN_FUNCTION_NAME: "panic",
  });
  assert.equal(response.status, 500);
  const body = await response.text();
  assert.equal(body, "500 Internal Server Error: the function failed (request id r1)\n");
  assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
  const lines = logged.mock.calls.map((c) => c.arguments[0]);
  assert.ok(
    lines.some((l) => l.includes("r1") && l.includes("panicked: secret detail")),
    lines.join("\n"),
  );
  assert.ok(
    lines.some((l) => l.includes("r1") && l.includes("invocation failed (trap)")),
    lines.join("\n"),
  );
});

test("a response the Fetch API refuses (bad header name) is a 500", async (t) => {
  t.mock.method(console, "error", () => {});
  const { fetch } = stubbed({ status: 200, headers: [["bad name", bytes("x")]], body: new Uint8Array(0) });
  const response = await fetch(new Request("https://example.com/"), {});
  assert.equal(response.status, 500);
});

test("a body over the request limit is refused before the guest runs", async () => {
  const { fetch, calls } = stubbed();
  const response = await fetch(
    new Request("https://example.com/", { method: "POST", body: new Uint8Array(MAX_REQUEST_BYTES + 1) }),
    {},
  );
  assert.equal(response.status, 413);
  assert.equal(calls.length, 0);
});

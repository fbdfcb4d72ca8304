// The adapter end to end in node, on the real example and hostile guests (built by `make guests`):
// the same fetch handler the Worker runs, minus workerd. workerd itself is exercised by
// host/tests/cloudflare_workers.rs on packaged bundles.
import test from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createFetchHandler } from "../src/handler.js";

const guestsDir = process.env.EDGEFN_GUESTS_DIR ?? fileURLToPath(new URL("../../target/guests", import.meta.url));
const missing = existsSync(join(guestsDir, "hello.wasm"))
  ? false
  : `guests are not built in ${guestsDir}: run \`make guests\` (make test does)`;

function handler(name) {
  const module = new WebAssembly.Module(readFileSync(join(guestsDir, `${name}.wasm`)));
  const fetch = createFetchHandler(module);
  return (request, env = {}) => fetch(request, { EDGEFN_FUNCTION_NAME: name, ...env });
}

const url = (path) => `https://example.com${path}`;

test("hello greets from cloudflare-workers", { skip: missing }, async () => {
  const response = await handler("hello")(new Request(url("/hello")));
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "Hello from hello on cloudflare-workers!\n");
  assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
});

test("echo returns every byte value and reports what arrived", { skip: missing }, async () => {
  const every = Uint8Array.from({ length: 256 * 4 }, (_, i) => i % 256);
  const response = await handler("echo")(
    new Request(url("/echo/a?x=1&x=2"), {
      method: "POST",
      headers: [
        ["content-type", "application/octet-stream"],
        ["x-multi", "one"],
        ["x-multi", "two"],
        ["cf-ray", "ray-1"],
      ],
      body: every,
    }),
  );
  assert.equal(response.status, 200);
  assert.deepEqual(new Uint8Array(await response.arrayBuffer()), every);
  assert.equal(response.headers.get("x-echo-method"), "POST");
  assert.equal(response.headers.get("x-echo-path"), "/echo/a");
  assert.equal(response.headers.get("x-echo-query"), "x=1&x=2");
  assert.equal(response.headers.get("x-echo-request-id"), "ray-1");
  assert.equal(response.headers.get("x-echo-h-x-multi"), "one, two");
});

test("json answers its object, and 400 for a bad body", { skip: missing }, async () => {
  const json = handler("json");
  const ok = await json(new Request(url("/json"), { method: "POST", body: '{"name":"edge","count":2}' }));
  assert.deepEqual(await ok.json(), { message: "Hello, edge! Hello, edge!", length: 25 });
  const bad = await json(new Request(url("/json"), { method: "POST", body: "{nope" }));
  assert.equal(bad.status, 400);
});

test("config sees its variables and nothing else", { skip: missing }, async () => {
  const response = await handler("config")(new Request(url("/config")), { GREETING: "hi from a var" });
  assert.deepEqual(await response.json(), { greeting: "hi from a var", variables: ["GREETING"] });
});

test("every request gets a fresh instance", { skip: missing }, async () => {
  const counter = handler("counter");
  for (let i = 0; i < 3; i++) assert.equal(await (await counter(new Request(url("/")))).text(), "1\n");
});

test("slow-init runs its init once per instance, before the handler", { skip: missing }, async () => {
  const slowInit = handler("slow-init");
  for (let i = 0; i < 2; i++) {
    const text = await (await slowInit(new Request(url("/slow-init?i=7")))).text();
    assert.match(text, /^entry=\d+ init_runs=1 init_stamp=\d+ served=1\n$/);
  }
});

test("the shim calls edgefn_v1_init itself, and a failing init is a 500", async (t) => {
  // (module (memory (export "memory") 1)
  //   (func (export "edgefn_v1_alloc") (param i32) (result i32) i32.const 8)
  //   (func (export "edgefn_v1_handle") (param i32 i32) (result i64) i64.const 0)
  //   (func (export "edgefn_v1_init") unreachable))
  const bytes = Buffer.from(
    "0061736d01000000010f0360017f017f60027f7f017e6000000304030001020503010001074004066d656d6f727902000f" +
      "65646765666e5f76315f616c6c6f6300001065646765666e5f76315f68616e646c6500010e65646765666e5f76315f" +
      "696e697400020a0f03040041080b040042000b0300000b",
    "hex",
  );
  const logged = t.mock.method(console, "error", () => {});
  const fetch = createFetchHandler(new WebAssembly.Module(bytes));
  const response = await fetch(new Request(url("/")), { EDGEFN_FUNCTION_NAME: "init-traps" });
  assert.equal(response.status, 500);
  const lines = logged.mock.calls.map((c) => c.arguments[0]);
  // Had the shim skipped init, the handler's empty answer would fail as a bad response instead.
  assert.ok(
    lines.some((l) => l.includes("invocation failed (instantiate): edgefn_v1_init failed")),
    lines.join("\n"),
  );
});

test("a guest that sleeps is not stuck (poll_oneoff answers at once)", { skip: missing }, async () => {
  const response = await handler("slow")(new Request(url("/slow?ms=50")));
  assert.equal(await response.text(), "slept 50 ms\n");
});

for (const name of ["panic", "stack-overflow"]) {
  test(`${name} answers 500 without internals and the next request works`, { skip: missing }, async (t) => {
    const logged = t.mock.method(console, "error", () => {});
    const fetch = handler(name);
    for (let i = 0; i < 2; i++) {
      const response = await fetch(new Request(url("/"), { headers: { "cf-ray": `r${i}` } }));
      assert.equal(response.status, 500);
      assert.equal(await response.text(), `500 Internal Server Error: the function failed (request id r${i})\n`);
    }
    const lines = logged.mock.calls.map((c) => c.arguments[0]);
    assert.ok(
      lines.some((l) => l.includes("r1") && l.includes("invocation failed (trap)")),
      lines.join("\n"),
    );
    if (name === "panic") {
      assert.ok(
        lines.some((l) => l.includes("[edgefn panic r0 stderr]") && l.includes("panics on purpose")),
        lines.join("\n"),
      );
    }
    assert.equal((await handler("hello")(new Request(url("/")))).status, 200);
  });
}

// Which guests need JSPI (JavaScript Promise Integration), and what happens where it is missing:
// node 20 has none, so this runs the missing case for real; workerd, which has it, runs the JSPI
// path end to end in host/tests/it/cloudflare_workers.rs.
import test from "node:test";
import assert from "node:assert/strict";
import { encodeResponse } from "../src/abi.js";
import { hasJspi, suspendingImports } from "../src/guest.js";
import { createFetchHandler } from "../src/handler.js";
import { fixedResponseModule } from "./support/wasm.js";

const ok = encodeResponse({ status: 200, headers: [["content-type", "text/plain"]], body: "ok" });

/** Runs `body` as if the runtime had no JSPI, whatever this node has. */
async function withoutJspi(body) {
  const saved = { Suspending: WebAssembly.Suspending, promising: WebAssembly.promising };
  delete WebAssembly.Suspending;
  delete WebAssembly.promising;
  try {
    assert.equal(hasJspi(), false);
    return await body();
  } finally {
    for (const [key, value] of Object.entries(saved)) if (value !== undefined) WebAssembly[key] = value;
  }
}

test("only a module that imports http_send needs JSPI", () => {
  assert.deepEqual(suspendingImports(fixedResponseModule(ok)), []);
  assert.deepEqual(suspendingImports(fixedResponseModule(ok, { imports: [["edgefn_v1", "result_read"]] })), []);
  assert.deepEqual(suspendingImports(fixedResponseModule(ok, { imports: [["edgefn_v1", "http_send"]] })), [
    "edgefn_v1.http_send",
  ]);
});

test(
  "node 20, which the tests run on, has no JSPI",
  { skip: !process.version.startsWith("v20.") && "not node 20" },
  () => {
    assert.equal(hasJspi(), false);
  },
);

test("without JSPI a module that imports nothing from edgefn_v1 still answers", async () => {
  await withoutJspi(async () => {
    const response = await createFetchHandler(fixedResponseModule(ok))(new Request("https://example.com/"), {});
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "ok");
  });
});

test("without JSPI a module that imports http_send answers 500 and the log says what is needed", async (t) => {
  const logged = t.mock.method(console, "error", () => {});
  await withoutJspi(async () => {
    const module = fixedResponseModule(ok, { imports: [["edgefn_v1", "http_send"]] });
    const fetch = createFetchHandler(module);
    for (const ray of ["j1", "j2"]) {
      const response = await fetch(new Request("https://example.com/", { headers: { "cf-ray": ray } }), {
        EDGEFN_FUNCTION_NAME: "fetcher",
      });
      assert.equal(response.status, 500);
      assert.equal(await response.text(), `500 Internal Server Error: the function failed (request id ${ray})\n`);
    }
  });
  const lines = logged.mock.calls.map((c) => c.arguments[0]);
  assert.equal(lines.length, 2, lines.join("\n"));
  for (const line of lines) {
    assert.match(line, /\[edgefn fetcher j\d host\] invocation failed \(instantiate\)/);
    assert.match(line, /edgefn_v1\.http_send/);
    assert.match(line, /JavaScript Promise Integration/);
    assert.match(line, /workerd 1\.20250523\.0 or later/);
  }
});

test("a module that imports a kv_* function needs JSPI too, and without it answers 500 naming the import", async (t) => {
  const imports = ["kv_get", "kv_set", "kv_delete", "kv_exists", "kv_list"].map((name) => ["edgefn_v1", name]);
  const module = fixedResponseModule(ok, { imports: [...imports, ["edgefn_v1", "result_read"]] });
  assert.deepEqual(
    suspendingImports(module),
    imports.map(([m, n]) => `${m}.${n}`),
  );
  const logged = t.mock.method(console, "error", () => {});
  await withoutJspi(async () => {
    const response = await createFetchHandler(module)(new Request("https://example.com/"), {
      EDGEFN_KV_STORES: "default",
    });
    assert.equal(response.status, 500);
  });
  const [line] = logged.mock.calls.map((c) => c.arguments[0]);
  assert.match(line, /invocation failed \(instantiate\)/);
  assert.match(line, /edgefn_v1\.kv_get/);
  assert.match(line, /JavaScript Promise Integration/);
});

// The capability seam (src/capabilities/): the guest's imports are built from CAPABILITIES only,
// and the packager ships every module the Worker imports.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CAPABILITIES } from "../src/capabilities/index.js";
import { createInvocation } from "../src/guest.js";

test("every capability names its import module and builds its imports, no import twice", () => {
  assert.ok(Object.isFrozen(CAPABILITIES));
  assert.ok(CAPABILITIES.length >= 1);
  const provided = [];
  for (const capability of CAPABILITIES) {
    assert.equal(typeof capability.module, "string");
    assert.equal(typeof capability.imports, "function", `${capability.module}.imports`);
    assert.ok(capability.failure === undefined || typeof capability.failure === "function");
    const names = Object.keys(capability.imports(createInvocationState()));
    for (const name of capability.suspending ?? []) assert.ok(names.includes(name), `${name} is one of its imports`);
    provided.push(...names.map((name) => `${capability.module}.${name}`));
  }
  assert.equal(new Set(provided).size, provided.length, `no import twice: ${provided}`);
  const built = createInvocation().imports;
  assert.deepEqual(Object.keys(built), [...new Set(CAPABILITIES.map((c) => c.module))]);
  assert.deepEqual(
    Object.entries(built)
      .flatMap(([module, functions]) => Object.keys(functions).map((name) => `${module}.${name}`))
      .sort(),
    [...provided].sort(),
  );
});

// Enough of an invocation's state for a capability to build its imports (none is called here).
function createInvocationState() {
  return { env: {}, args: [], stdout: null, stderr: null, pending: null, phase: "init", memory: () => null };
}

test("WASI preview 1 and the edgefn_v1 imports of docs/abi.md are capabilities", () => {
  assert.ok(CAPABILITIES.some((c) => c.module === "wasi_snapshot_preview1"));
  const v1 = Object.keys(createInvocation().imports.edgefn_v1).sort();
  assert.deepEqual(v1, [
    "http_send",
    "kv_delete",
    "kv_exists",
    "kv_get",
    "kv_list",
    "kv_set",
    "result_read",
    "snapshot_decline",
  ]);
  const suspending = CAPABILITIES.flatMap((c) => (c.suspending ?? []).map((name) => `${c.module}.${name}`));
  assert.deepEqual(
    suspending.sort(),
    ["http_send", "kv_delete", "kv_exists", "kv_get", "kv_list", "kv_set"].map((name) => `edgefn_v1.${name}`),
    "every import but result_read and snapshot_decline returns a promise",
  );
});

test("snapshot_decline answers that no snapshot is being taken: a Worker's instance runs its own init", () => {
  const { snapshot_decline } = createInvocation().imports.edgefn_v1;
  assert.equal(snapshot_decline(0, 0), 1);
  assert.equal(snapshot_decline(0xffff_fff0, 64), 1, "the reason is not read");
});

// The modules `source` imports or re-exports statically, as paths relative to workers/src/.
function importsOf(path) {
  const source = readFileSync(new URL(`../src/${path}`, import.meta.url), "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*\/\/.*$/gm, "");
  const specifiers = [...source.matchAll(/\b(?:import|export)\s*(?:[\w*{}\s,]+?\s*from\s*)?["']([^"']+)["']/g)];
  return specifiers.map(([, s]) => new URL(s, `file:///src/${path}`).pathname.slice("/src/".length));
}

test("the packager bundles exactly the modules the entry imports", () => {
  // host/src/package/cloudflare_workers/sources.rs lists them for workerd, which resolves nothing
  // itself: a module missing there fails every request of a packaged Worker.
  const seen = new Set();
  const pending = ["worker.js"];
  while (pending.length > 0) {
    const path = pending.pop();
    if (seen.has(path)) continue;
    seen.add(path);
    for (const imported of importsOf(path)) if (imported !== "function.wasm") pending.push(imported);
  }
  seen.delete("worker.js");
  const rust = readFileSync(new URL("../../host/src/package/cloudflare_workers/sources.rs", import.meta.url), "utf8");
  // Whatever the items' visibility (`pub`, `pub(super)`, ...).
  assert.match(rust, /const ENTRY: BundleFile = worker_file!\("worker\.js"\);/);
  const start = rust.indexOf("const MODULES");
  assert.ok(start >= 0, "sources.rs declares MODULES");
  const block = rust.slice(start, rust.indexOf("];", start));
  const listed = [...block.matchAll(/worker_file!\("([^"]+)"\)/g)].map((m) => m[1]);
  assert.deepEqual([...listed].sort(), [...seen].sort(), "sources.rs MODULES vs the imports of worker.js");
});

// The WASI side of an invocation: output capture, the environment, and what the shim provides.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createInvocation } from "../src/guest.js";
import { LogCapture, MAX_LINE_BYTES } from "../src/logs.js";

const bytes = (s) => new TextEncoder().encode(s);

test("a capture splits lines, skips empty ones and trims CR", () => {
  const capture = new LogCapture();
  capture.push(bytes("one\r\n\ntw"));
  capture.push(bytes("o\nthree"));
  assert.deepEqual(capture.lines(), ["one", "two", "three"]);
});

test("a capture keeps its budget and counts what it dropped", () => {
  const capture = new LogCapture(10);
  capture.push(bytes("0123456789abc"));
  capture.push(bytes("more"));
  assert.deepEqual(capture.lines(), ["0123456789"]);
  assert.equal(capture.dropped, 7);
});

test("long lines are split", () => {
  const capture = new LogCapture();
  capture.push(bytes("x".repeat(MAX_LINE_BYTES + 5)));
  assert.deepEqual(
    capture.lines().map((l) => l.length),
    [MAX_LINE_BYTES, 5],
  );
});

test("every WASI preview 1 function the packager accepts is provided", () => {
  // The packager (host/src/package/cloudflare_workers/wasm.rs) refuses modules importing anything
  // outside its list; this keeps that list and the shim in step.
  const rust = readFileSync(new URL("../../host/src/package/cloudflare_workers/wasm.rs", import.meta.url), "utf8");
  const block = rust.slice(rust.indexOf("WASI_PREVIEW1_FUNCTIONS"), rust.indexOf("];"));
  const accepted = [...block.matchAll(/"([a-z_0-9]+)"/g)].map((m) => m[1]);
  assert.ok(accepted.length >= 45, `parsed ${accepted.length} names from wasm.rs`);
  const provided = Object.keys(createInvocation().imports.wasi_snapshot_preview1);
  assert.deepEqual([...accepted].sort(), [...provided].sort());
});

// A tiny guest memory to call imports against, as an instance would.
function bound(env) {
  const wasi = createInvocation({ env, args: ["fn"] });
  const memory = new WebAssembly.Memory({ initial: 1 });
  wasi.bind({ exports: { memory } });
  return { wasi, imports: wasi.imports.wasi_snapshot_preview1, view: new DataView(memory.buffer), memory };
}

test("the environment holds exactly the given variables", () => {
  const { imports, view, memory } = bound({ GREETING: "hi", B: "2" });
  assert.equal(imports.environ_sizes_get(0, 4), 0);
  assert.equal(view.getUint32(0, true), 2);
  const size = view.getUint32(4, true);
  assert.equal(imports.environ_get(16, 64), 0);
  const text = new TextDecoder().decode(new Uint8Array(memory.buffer, 64, size));
  assert.equal(text, "GREETING=hi\0B=2\0");
});

test("stdout and stderr writes land in their captures", () => {
  const { wasi, imports, view, memory } = bound({});
  new Uint8Array(memory.buffer).set(bytes("out\n"), 100);
  view.setUint32(0, 100, true); // iovec: buf
  view.setUint32(4, 4, true); // iovec: len
  assert.equal(imports.fd_write(1, 0, 1, 8), 0);
  assert.equal(imports.fd_write(2, 0, 1, 8), 0);
  assert.equal(view.getUint32(8, true), 4);
  assert.deepEqual(wasi.stdout.lines(), ["out"]);
  assert.deepEqual(wasi.stderr.lines(), ["out"]);
});

test("no directory is preopened", () => {
  const { imports } = bound({});
  const EBADF = 8;
  assert.equal(imports.fd_prestat_get(3, 0), EBADF);
});

test("poll_oneoff answers a clock subscription at once and reports one event", () => {
  const { imports, view } = bound({});
  // One subscription at 0: userdata 42, eventtype clock (0), clock id monotonic, 10 s relative.
  view.setBigUint64(0, 42n, true);
  view.setUint8(8, 0);
  view.setUint32(16, 1, true);
  view.setBigUint64(24, 10_000_000_000n, true);
  const started = Date.now();
  assert.equal(imports.poll_oneoff(0, 100, 1, 200), 0);
  assert.ok(Date.now() - started < 1000, "does not wait");
  assert.equal(view.getUint32(200, true), 1);
  assert.equal(view.getBigUint64(100, true), 42n);
  assert.equal(view.getUint16(108, true), 0);
});

// The shim against docs/host-contract.json, the names and limits every implementation shares with
// the local host (which pins the same file in Rust, as the Go SDK does in sdk/go/contract_test.go).
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { DEFAULT_DEADLINE_MS, MAX_REQUEST_BYTES, PLATFORM } from "../src/handler.js";
import { FAILURE, FAILURE_KINDS, MAX_RESPONSE_BYTES } from "../src/guest.js";
import { MAX_LINE_BYTES, MAX_LOG_BYTES } from "../src/logs.js";

const contract = JSON.parse(readFileSync(new URL("../../docs/host-contract.json", import.meta.url), "utf8"));
const limits = contract.default_limits;

test("the shim's platform name is one of the contract's platforms", () => {
  assert.equal(PLATFORM, "cloudflare-workers");
  assert.ok(contract.platforms.includes(PLATFORM), `${PLATFORM} in ${contract.platforms}`);
});

test("every failure kind the shim reports is one of the host's", () => {
  assert.ok(Object.isFrozen(FAILURE) && Object.isFrozen(FAILURE_KINDS));
  assert.ok(FAILURE_KINDS.length > 0);
  assert.equal(new Set(FAILURE_KINDS).size, FAILURE_KINDS.length, "no kind twice");
  for (const kind of FAILURE_KINDS) assert.ok(contract.failure_kinds.includes(kind), `${kind} is a host failure kind`);
});

test("every InvokeError the shim raises takes its kind from FAILURE", () => {
  // So FAILURE_KINDS is really every kind: a literal kind here would escape the check above.
  const dirs = ["../src/", "../src/capabilities/"];
  let raised = 0;
  for (const dir of dirs) {
    const url = new URL(dir, import.meta.url);
    for (const name of readdirSync(url).filter((n) => n.endsWith(".js"))) {
      const source = readFileSync(new URL(name, url), "utf8");
      for (const [, kind] of source.matchAll(/new InvokeError\(\s*([^,]+),/g)) {
        raised++;
        assert.match(kind, /^FAILURE\.[A-Z_]+$/, `${dir}${name}: new InvokeError(${kind}, ...)`);
      }
      for (const [, kind] of source.matchAll(/\.kind \?\? ([^)}]+)/g)) {
        assert.match(kind, /^FAILURE\.[A-Z_]+$/, `${dir}${name}: a kind defaults to ${kind}`);
      }
    }
  }
  assert.ok(raised >= 8, `found ${raised} InvokeErrors`);
});

test("the limits the shim mirrors are the host's defaults", () => {
  assert.equal(MAX_REQUEST_BYTES, limits.max_request_bytes, "handler.js MAX_REQUEST_BYTES");
  assert.equal(MAX_RESPONSE_BYTES, limits.max_response_bytes, "guest.js MAX_RESPONSE_BYTES");
  assert.equal(MAX_LOG_BYTES, limits.max_log_bytes, "logs.js MAX_LOG_BYTES");
  assert.equal(MAX_LINE_BYTES, contract.log_line_bytes, "logs.js MAX_LINE_BYTES");
});

test("DEFAULT_DEADLINE_MS is Workers' own, not the host's deadline_ms", () => {
  // On purpose: the budget a guest is told defaults to the Paid plan's default CPU limit (30 s),
  // the limit that really stops it there, rather than the local host's deadline.
  assert.equal(DEFAULT_DEADLINE_MS, 30_000);
  assert.notEqual(DEFAULT_DEADLINE_MS, limits.deadline_ms);
});

test("every default limit is either mirrored above or says why the shim has none", () => {
  const mirrored = ["max_request_bytes", "max_response_bytes", "max_log_bytes"];
  const notMirrored = {
    // Workers' own default instead (see the DEFAULT_DEADLINE_MS test).
    deadline_ms: "handler.js DEFAULT_DEADLINE_MS",
    // The packager caps the module's linear memory (host/src/package/cloudflare_workers/wasm.rs).
    memory_bytes: "set by edgefn package, not by the shim",
    // Workers run each request in an isolate the platform schedules; the shim never queues.
    max_concurrency: "the platform's",
  };
  assert.deepEqual(Object.keys(limits).sort(), [...mirrored, ...Object.keys(notMirrored)].sort());
});

// The key-value capability in node: the EKL1 codec and the contract checks against the shared
// vectors (docs/abi-v1-kv-vectors.json), the EDGEFN_KV_* settings, and the kv_* imports of one
// invocation called directly (as the guest would through JSPI, which node 20 lacks; the suspending
// path runs in workerd, host/tests/it/cloudflare_workers.rs) over a namespace that behaves as the
// KV binding does: the order of the checks, their messages, the results, errors and limits.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { DecodeError, decodeKvList, encodeKvList } from "../src/abi.js";
import * as edgefnV1 from "../src/capabilities/edgefn_v1.js";
import { IMPORT_ERROR, PendingResult } from "../src/capabilities/edgefn_v1.js";
import * as kv from "../src/capabilities/kv.js";
import { kvConfig, namespaceBinding } from "../src/capabilities/kv_config.js";
import * as contract from "../src/capabilities/kv_contract.js";
import { ConfigError } from "../src/capabilities/outbound_config.js";

const vectors = JSON.parse(readFileSync(new URL("../../docs/abi-v1-kv-vectors.json", import.meta.url), "utf8"));
const hex = (h) => Uint8Array.from(Buffer.from(h, "hex"));
const toHex = (bytes) => Buffer.from(bytes).toString("hex");
const text = (bytes) => new TextDecoder().decode(bytes);
const utf8 = (s) => new TextEncoder().encode(s);

test("every EKL1 page vector decodes to its meaning and encodes back to its bytes", () => {
  assert.ok(vectors.pages.length >= 5);
  for (const page of vectors.pages) {
    assert.deepEqual(decodeKvList(hex(page.hex)), page.decoded, page.name);
    assert.equal(toHex(encodeKvList(page.decoded)), page.hex, page.name);
  }
});

test("every invalid EKL1 vector is refused with its named error", () => {
  assert.ok(vectors.invalid.length >= 6);
  for (const bad of vectors.invalid) {
    assert.throws(
      () => decodeKvList(hex(bad.hex)),
      (error) => error instanceof DecodeError && error.code === bad.error,
      bad.name,
    );
  }
});

test("the contract checks accept and refuse exactly what the vectors say", () => {
  const { checks } = vectors;
  for (const key of checks.valid_keys) assert.equal(contract.checkKey(utf8(key)), key, JSON.stringify(key));
  for (const key of checks.invalid_keys) {
    assert.throws(() => contract.checkKey(utf8(key)), contract.Refused, JSON.stringify(key));
  }
  for (const store of checks.valid_stores) assert.equal(contract.checkStoreName(store), store);
  for (const store of checks.invalid_stores)
    assert.throws(() => contract.checkStoreName(store), contract.Refused, store);
  for (const ttl of checks.valid_ttls) contract.checkTtl(ttl);
  for (const ttl of checks.invalid_ttls) assert.throws(() => contract.checkTtl(ttl), contract.Refused, String(ttl));
  for (const [limit, effective] of checks.valid_limits) assert.equal(contract.checkListLimit(limit), effective);
  for (const limit of checks.invalid_limits) assert.throws(() => contract.checkListLimit(limit), contract.Refused);
  assert.equal(checks.max_value_bytes, contract.MAX_VALUE_BYTES);
  contract.checkValue(new Uint8Array(checks.max_value_bytes));
  assert.throws(() => contract.checkValue(new Uint8Array(checks.max_value_bytes + 1)), contract.Refused);
});

test("the checks' messages are the host's (edgefn_abi::kv), word for word", () => {
  const message = (f) => {
    try {
      f();
    } catch (error) {
      return error.message;
    }
    assert.fail("not refused");
  };
  assert.equal(
    message(() => contract.checkStoreName("Bad-Name")),
    '"Bad-Name" is not a store name: use 1-32 lower-case letters, digits and _, starting with a letter',
  );
  assert.equal(
    message(() => contract.checkKey(Uint8Array.of(0xff))),
    "the key is not UTF-8: keys are text",
  );
  assert.equal(
    message(() => contract.checkKey(utf8(""))),
    "the key is empty: keys are 1-512 bytes",
  );
  assert.equal(
    message(() => contract.checkKey(utf8("é".repeat(257)))),
    "the key is 514 bytes long: keys are at most 512 bytes",
    "bytes, not characters",
  );
  assert.equal(
    message(() => contract.checkKey(utf8(".."))),
    '".." cannot be a key (Workers KV refuses it)',
  );
  assert.equal(
    message(() => contract.checkPrefix(utf8("p".repeat(513)))),
    "the prefix is 513 bytes long: keys are at most 512 bytes",
  );
  assert.equal(
    message(() => contract.checkValue(new Uint8Array(262_145))),
    "the value is 262145 bytes: values are at most 262144 bytes (256 KiB) on every platform",
  );
  assert.equal(
    message(() => contract.checkTtl(59)),
    "a time to live of 59 s is too short: use 0 (no expiry) or at least 60 s (Workers KV's minimum)",
  );
  assert.equal(
    message(() => contract.checkListLimit(1001)),
    "a page of 1001 keys is too large: ask for at most 1000",
  );
  assert.equal(
    message(() => contract.checkCursor(utf8("c".repeat(4097)))),
    "the cursor is 4097 bytes long: pass back the one kv_list gave",
  );
  assert.equal(contract.rustQuoted('a"b\\c\n\u0001é'), '"a\\"b\\\\c\\n\\u{1}é"');
});

test("EDGEFN_KV_STORES grants stores, EDGEFN_KV_MAX_OPERATIONS caps calls, a bad value names its var", () => {
  assert.deepEqual(kvConfig({}), { stores: [], maxOperations: 1000 });
  assert.deepEqual(kvConfig({ EDGEFN_KV_STORES: "default, sessions default", EDGEFN_KV_MAX_OPERATIONS: "5" }), {
    stores: ["default", "sessions"],
    maxOperations: 5,
  });
  assert.deepEqual(kvConfig({ EDGEFN_KV_STORES: ["a", "b"], EDGEFN_KV_MAX_OPERATIONS: 7 }).stores, ["a", "b"]);
  for (const env of [
    { EDGEFN_KV_STORES: "Bad-Name" },
    { EDGEFN_KV_STORES: "stores" },
    { EDGEFN_KV_MAX_OPERATIONS: "0" },
    { EDGEFN_KV_MAX_OPERATIONS: "many" },
    { EDGEFN_KV_MAX_OPERATIONS: "4294967296" },
  ]) {
    const [binding] = Object.keys(env);
    assert.throws(
      () => kvConfig(env),
      (error) => error instanceof ConfigError && error.binding === binding && error.message.includes(binding),
      JSON.stringify(env),
    );
  }
  assert.equal(namespaceBinding("default"), "EDGEFN_KV_DEFAULT");
  assert.equal(namespaceBinding("user_sessions2"), "EDGEFN_KV_USER_SESSIONS2");
});

/** A KV namespace as Workers gives one: values as ArrayBuffers, keys listed in byte order. */
class FakeNamespace {
  constructor() {
    this.entries = new Map();
    this.calls = [];
  }
  async get(key, type) {
    this.calls.push(["get", key, type]);
    const value = this.entries.get(key);
    return value === undefined ? null : value.slice().buffer;
  }
  async put(key, value, options) {
    this.calls.push(["put", key, options]);
    this.entries.set(key, new Uint8Array(value).slice());
  }
  async delete(key) {
    this.calls.push(["delete", key]);
    this.entries.delete(key);
  }
  async list({ prefix = "", cursor, limit = 1000 }) {
    this.calls.push(["list", prefix, cursor, limit]);
    const bytes = (k) => Buffer.from(k);
    const keys = [...this.entries.keys()]
      .filter((k) => k.startsWith(prefix) && (cursor === undefined || Buffer.compare(bytes(k), bytes(cursor)) > 0))
      .sort((a, b) => Buffer.compare(bytes(a), bytes(b)));
    const page = keys.slice(0, limit);
    const complete = page.length === keys.length;
    return {
      keys: page.map((name) => ({ name })),
      list_complete: complete,
      ...(complete ? {} : { cursor: page.at(-1) }),
    };
  }
}

/**
 * One invocation's kv_* imports and result_read over a real memory, with `namespaces` bound by
 * store name and `env` as the Worker's vars. Strings passed to the helpers are written into memory.
 */
function guest({ env = { EDGEFN_KV_STORES: "default" }, namespaces = {}, phase = "handle", deadlineMs } = {}) {
  const memory = new WebAssembly.Memory({ initial: 32, maximum: 64 });
  const bindings = { ...env };
  for (const [store, namespace] of Object.entries(namespaces)) bindings[namespaceBinding(store)] = namespace;
  const state = {
    env: {},
    pending: new PendingResult(),
    phase,
    kv: { config: kvConfig(env), bindings, deadlineMs: deadlineMs ?? Date.now() + 10_000 },
    memory: () => memory,
  };
  const imports = { ...edgefnV1.imports(state), ...kv.imports(state) };
  let at = 1024;
  const place = (value) => {
    const bytes = typeof value === "string" ? utf8(value) : value;
    const ptr = at;
    new Uint8Array(memory.buffer).set(bytes, ptr);
    at += bytes.length + 8;
    return [ptr, bytes.length];
  };
  const pending = () => {
    const ptr = 1 << 20;
    const n = imports.result_read(ptr, 1 << 19);
    assert.ok(n >= 0, `a result is pending (result_read: ${n})`);
    return new Uint8Array(memory.buffer, ptr, n).slice();
  };
  return {
    memory,
    imports,
    pending,
    message: () => text(pending()),
    get: (store, key) => imports.kv_get(...place(store), ...place(key)),
    set: (store, key, value, ttl = 0) => imports.kv_set(...place(store), ...place(key), ...place(value), ttl),
    delete: (store, key) => imports.kv_delete(...place(store), ...place(key)),
    exists: (store, key) => imports.kv_exists(...place(store), ...place(key)),
    list: (store, prefix, cursor = "", limit = 0) =>
      imports.kv_list(...place(store), ...place(prefix), ...place(cursor), limit),
  };
}

test("set, get, exists, list and delete over the namespace, with the host's results", async () => {
  const ns = new FakeNamespace();
  const g = guest({ namespaces: { default: ns } });
  assert.equal(await g.set("default", "users/bob", "Bob"), 0n);
  assert.equal(g.imports.result_read(0, 0), 0, "an empty result is pending after set");
  assert.equal(await g.set("default", "users/alice", Uint8Array.of(0, 1, 255), 60), 0n);
  assert.deepEqual(ns.calls.at(-1), ["put", "users/alice", { expirationTtl: 60 }]);
  assert.deepEqual(ns.calls.at(-2), ["put", "users/bob", {}], "no TTL, no expiration");
  assert.equal(await g.get("default", "users/alice"), 3n);
  assert.deepEqual(g.pending(), Uint8Array.of(0, 1, 255));
  assert.equal(await g.exists("default", "users/bob"), 0n);
  assert.equal(await g.get("default", "nobody"), BigInt(IMPORT_ERROR.NOT_FOUND));
  assert.equal(g.message(), kv.NOT_FOUND_MESSAGE);
  assert.equal(await g.exists("default", "nobody"), BigInt(IMPORT_ERROR.NOT_FOUND));

  const first = decodeKvList(await pendingOf(g, g.list("default", "users/", "", 1)));
  assert.deepEqual(first, { keys: ["users/alice"], cursor: "users/alice" });
  assert.deepEqual(decodeKvList(await pendingOf(g, g.list("default", "users/", first.cursor, 1))), {
    keys: ["users/bob"],
    cursor: "",
  });
  assert.deepEqual(ns.calls.at(-1), ["list", "users/", "users/alice", 1]);
  assert.deepEqual(decodeKvList(await pendingOf(g, g.list("default", ""))).keys, ["users/alice", "users/bob"]);
  assert.deepEqual(ns.calls.at(-1), ["list", "", undefined, 1000], "limit 0 asks for 1000, no cursor at first");

  assert.equal(await g.delete("default", "users/bob"), 0n);
  assert.equal(await g.delete("default", "users/bob"), 0n, "an absent key is success");
  assert.equal(await g.get("default", "users/bob"), BigInt(IMPORT_ERROR.NOT_FOUND));
});

async function pendingOf(g, call) {
  const n = await call;
  assert.ok(n >= 0n, `the call succeeded (${n})`);
  return g.pending();
}

test("while the module initializes, every kv import is unsupported at once, without a promise", () => {
  const g = guest({ phase: "init", namespaces: { default: new FakeNamespace() } });
  for (const [name, call] of [
    ["kv_get", () => g.get("default", "k")],
    ["kv_set", () => g.set("default", "k", "v")],
    ["kv_delete", () => g.delete("default", "k")],
    ["kv_exists", () => g.exists("default", "k")],
    ["kv_list", () => g.list("default", "")],
  ]) {
    assert.equal(call(), BigInt(IMPORT_ERROR.UNSUPPORTED), `${name}: a BigInt, not a promise`);
    assert.equal(
      g.message(),
      `edgefn_v1.${name} is not available while the module initializes (_initialize, edgefn_v1_init): call it from the handler`,
    );
  }
});

test("refusals come in the host's order, at once, and the namespace never sees them", () => {
  const ns = new FakeNamespace();
  const g = guest({ namespaces: { default: ns } });
  const outside = g.memory.buffer.byteLength - 2;
  // Memory before the store's name, the name before the grant, the grant before the key.
  assert.equal(g.imports.kv_get(outside, 8, 0, 1), BigInt(IMPORT_ERROR.INVALID));
  assert.equal(g.message(), `the store name at (${outside}, 8) is not inside the guest's memory`);
  assert.equal(g.imports.kv_get(0, 1, -16, 32), BigInt(IMPORT_ERROR.INVALID));
  assert.equal(g.message(), `the key at (${2 ** 32 - 16}, 32) is not inside the guest's memory`);
  assert.equal(g.get("Bad", ""), BigInt(IMPORT_ERROR.INVALID));
  assert.match(g.message(), /^"Bad" is not a store name/);
  assert.equal(g.get(Uint8Array.of(0xff), "k"), BigInt(IMPORT_ERROR.INVALID));
  assert.equal(g.message(), "the store name is not UTF-8: store names are a-z, 0-9 and _");
  assert.equal(g.get("other", ""), BigInt(IMPORT_ERROR.DENIED), "denied before the key is checked");
  assert.equal(
    g.message(),
    'store "other" is not granted to this function: add it to kv.stores in the manifest (EDGEFN_KV_STORES on a platform)',
  );
  assert.equal(g.get("default", ""), BigInt(IMPORT_ERROR.INVALID));
  assert.equal(g.message(), "the key is empty: keys are 1-512 bytes");
  assert.equal(g.set("default", "k", new Uint8Array(262_145), 1), BigInt(IMPORT_ERROR.INVALID));
  assert.match(g.message(), /^the value is 262145 bytes/, "the value before the TTL");
  assert.equal(g.set("default", "k", "v", 59), BigInt(IMPORT_ERROR.INVALID));
  assert.match(g.message(), /time to live of 59 s/);
  assert.equal(g.list("default", "p".repeat(513), "c".repeat(4097), 1001), BigInt(IMPORT_ERROR.INVALID));
  assert.match(g.message(), /^the prefix is 513 bytes/, "prefix, then cursor, then limit");
  assert.equal(g.list("default", "p", "c".repeat(4097), 1001), BigInt(IMPORT_ERROR.INVALID));
  assert.match(g.message(), /^the cursor is 4097 bytes/);
  assert.equal(g.list("default", "p", "", 1001), BigInt(IMPORT_ERROR.INVALID));
  assert.match(g.message(), /^a page of 1001 keys/);
  assert.equal(g.list("default", "p", "", -1), BigInt(IMPORT_ERROR.INVALID), "a limit is unsigned");
  assert.deepEqual(ns.calls, []);
});

test("a TTL that wraps to a huge unsigned number is a valid TTL", async () => {
  const ns = new FakeNamespace();
  const g = guest({ namespaces: { default: ns } });
  assert.equal(await g.set("default", "k", "v", -1), 0n);
  assert.deepEqual(ns.calls.at(-1), ["put", "k", { expirationTtl: 2 ** 32 - 1 }]);
});

test("past EDGEFN_KV_MAX_OPERATIONS the call is limit; refused calls do not count", async () => {
  const g = guest({
    env: { EDGEFN_KV_STORES: "default", EDGEFN_KV_MAX_OPERATIONS: "2" },
    namespaces: { default: new FakeNamespace() },
  });
  assert.equal(g.get("default", ""), BigInt(IMPORT_ERROR.INVALID));
  assert.equal(await g.set("default", "k", "v"), 0n);
  assert.equal(await g.get("default", "k"), 1n);
  assert.equal(g.get("default", "k"), BigInt(IMPORT_ERROR.LIMIT));
  assert.equal(g.message(), "this invocation already made kv.max_operations (2) key-value calls");
  const next = guest({
    env: { EDGEFN_KV_STORES: "default", EDGEFN_KV_MAX_OPERATIONS: "2" },
    namespaces: { default: new FakeNamespace() },
  });
  assert.equal(await next.get("default", "k"), BigInt(IMPORT_ERROR.NOT_FOUND), "each invocation counts afresh");
});

test("a store without its binding is unavailable, naming the binding and the wrangler.toml entry", () => {
  const g = guest({ env: { EDGEFN_KV_STORES: "default sessions" }, namespaces: { default: new FakeNamespace() } });
  assert.equal(g.get("sessions", "k"), BigInt(IMPORT_ERROR.UNAVAILABLE));
  const message = g.message();
  for (const needle of ["EDGEFN_KV_SESSIONS", "[[kv_namespaces]]", "wrangler.toml", "wrangler kv namespace create"]) {
    assert.ok(message.includes(needle), `${needle} in: ${message}`);
  }
  const text = guest({ env: { EDGEFN_KV_STORES: "default", EDGEFN_KV_DEFAULT: "not a namespace" } });
  assert.equal(text.get("default", "k"), BigInt(IMPORT_ERROR.UNAVAILABLE), "a text var is not a namespace");
});

test("a binding that throws is unavailable; a 429 is rate-limited", async () => {
  const ns = new FakeNamespace();
  ns.put = async () => {
    throw new Error("KV PUT failed: 429 Too Many Requests");
  };
  ns.get = async () => {
    throw new Error("KV GET failed: 500 Internal Server Error");
  };
  const g = guest({ namespaces: { default: ns } });
  assert.equal(await g.set("default", "k", "v"), BigInt(IMPORT_ERROR.RATE_LIMITED));
  assert.equal(
    g.message(),
    "the KV namespace bound as EDGEFN_KV_DEFAULT: put failed: KV PUT failed: 429 Too Many Requests",
  );
  assert.equal(await g.get("default", "k"), BigInt(IMPORT_ERROR.UNAVAILABLE));
  assert.match(g.message(), /EDGEFN_KV_DEFAULT: get failed: KV GET failed: 500/);
});

test("a call is bounded by the invocation's deadline", async () => {
  const ns = new FakeNamespace();
  ns.get = () => new Promise(() => {});
  const g = guest({ namespaces: { default: ns }, deadlineMs: Date.now() + 100 });
  const started = Date.now();
  assert.equal(await g.get("default", "k"), BigInt(IMPORT_ERROR.TIMEOUT));
  assert.ok(Date.now() - started < 2000, "it did not wait for the namespace");
  assert.equal(
    g.message(),
    "the KV namespace bound as EDGEFN_KV_DEFAULT did not answer before the invocation's deadline",
  );
  const late = guest({ namespaces: { default: new FakeNamespace() }, deadlineMs: Date.now() - 1 });
  assert.equal(late.get("default", "k"), BigInt(IMPORT_ERROR.TIMEOUT), "a passed deadline answers at once");
});

test("the value is copied before the binding reads it, so the guest's memory may change", async () => {
  const ns = new FakeNamespace();
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  const put = ns.put.bind(ns);
  ns.put = async (key, value, options) => {
    await gate;
    return put(key, value, options);
  };
  const g = guest({ namespaces: { default: ns } });
  const call = g.set("default", "k", "abc");
  new Uint8Array(g.memory.buffer).fill(0, 1024, 2048);
  release();
  assert.equal(await call, 0n);
  assert.equal(text(ns.entries.get("k")), "abc");
});

// The outbound settings from a Worker's EDGEFN_OUTBOUND_* bindings: defaults as the manifest's,
// values read as docs/manifest.md says, an invalid one refused by name (and every request then
// answered 500), and none of them passed to the guest.
import test from "node:test";
import assert from "node:assert/strict";
import { BINDING, ConfigError, DEFAULTS, outboundConfig } from "../src/capabilities/outbound_config.js";
import { createFetchHandler, guestEnvironment } from "../src/handler.js";
import { LogCapture } from "../src/logs.js";

test("without bindings nothing is allowed and the defaults are the manifest's", () => {
  const config = outboundConfig({});
  assert.deepEqual(config.allowedHosts, []);
  assert.equal(config.allowPrivateNetworks, false);
  assert.equal(config.timeoutMs, 10_000);
  assert.equal(config.maxRequests, 50);
  assert.equal(config.maxResponseBytes, 16 << 20);
  assert.deepEqual(DEFAULTS, { timeoutMs: 10_000, maxRequests: 50, maxResponseBytes: 16 << 20 });
  assert.equal(config.privateNetwork, undefined);
});

test("every binding is read: text vars, and wrangler's JSON values", () => {
  const text = outboundConfig({
    [BINDING.ALLOWED_HOSTS]: "https://api.example.com, http://127.0.0.1:*",
    [BINDING.ALLOW_PRIVATE_NETWORKS]: "true",
    [BINDING.TIMEOUT_MS]: "2500",
    [BINDING.MAX_REQUESTS]: " 3 ",
    [BINDING.MAX_RESPONSE_BYTES]: "1024",
  });
  assert.deepEqual(
    text.allowedHosts.map((p) => p.text),
    ["https://api.example.com", "http://127.0.0.1:*"],
  );
  assert.equal(text.allowPrivateNetworks, true);
  assert.equal(text.timeoutMs, 2500);
  assert.equal(text.maxRequests, 3);
  assert.equal(text.maxResponseBytes, 1024);
  const json = outboundConfig({
    [BINDING.ALLOWED_HOSTS]: ["https://a.example"],
    [BINDING.ALLOW_PRIVATE_NETWORKS]: false,
    [BINDING.MAX_REQUESTS]: 7,
  });
  assert.deepEqual(
    json.allowedHosts.map((p) => p.text),
    ["https://a.example"],
  );
  assert.equal(json.allowPrivateNetworks, false);
  assert.equal(json.maxRequests, 7);
  assert.equal(outboundConfig({ [BINDING.TIMEOUT_MS]: "" }).timeoutMs, 10_000, "an empty value is the default");
});

test("a binding that is set but not valid is an error naming it", () => {
  const cases = [
    [BINDING.ALLOWED_HOSTS, "https://ok.example, api.example.com"],
    [BINDING.ALLOWED_HOSTS, 42],
    [BINDING.ALLOW_PRIVATE_NETWORKS, "yes"],
    [BINDING.TIMEOUT_MS, "0"],
    [BINDING.TIMEOUT_MS, "10s"],
    [BINDING.MAX_REQUESTS, "-1"],
    [BINDING.MAX_REQUESTS, "1.5"],
    [BINDING.MAX_RESPONSE_BYTES, "lots"],
  ];
  for (const [binding, value] of cases) {
    assert.throws(
      () => outboundConfig({ [binding]: value }),
      (error) => error instanceof ConfigError && error.binding === binding && error.message.includes(binding),
      `${binding} = ${JSON.stringify(value)}`,
    );
  }
});

test("the private network binding is used only when private networks are allowed", () => {
  const network = { fetch: () => {} };
  assert.equal(outboundConfig({ [BINDING.PRIVATE_NETWORK]: network }).privateNetwork, undefined);
  const allowed = { [BINDING.PRIVATE_NETWORK]: network, [BINDING.ALLOW_PRIVATE_NETWORKS]: "true" };
  assert.equal(outboundConfig(allowed).privateNetwork, network);
  assert.equal(outboundConfig({ [BINDING.ALLOW_PRIVATE_NETWORKS]: "true" }).privateNetwork, undefined);
});

test("no outbound binding reaches the guest's environment", () => {
  const env = {
    [BINDING.ALLOWED_HOSTS]: "https://a.example",
    [BINDING.ALLOW_PRIVATE_NETWORKS]: "true",
    [BINDING.TIMEOUT_MS]: "1",
    [BINDING.MAX_REQUESTS]: "1",
    [BINDING.MAX_RESPONSE_BYTES]: "1",
    [BINDING.PRIVATE_NETWORK]: { fetch() {} },
    GREETING: "hi",
  };
  assert.deepEqual(guestEnvironment(env), { GREETING: "hi" });
});

test("an invalid binding answers 500 without running the guest, and the log names it", async (t) => {
  const logged = t.mock.method(console, "error", () => {});
  let ran = 0;
  const invoke = () => {
    ran++;
    return {
      response: { status: 200, headers: [], body: new Uint8Array(0) },
      stdout: new LogCapture(),
      stderr: new LogCapture(),
    };
  };
  const fetch = createFetchHandler(null, { invoke });
  const response = await fetch(new Request("https://example.com/", { headers: { "cf-ray": "r9" } }), {
    [BINDING.MAX_REQUESTS]: "many",
  });
  assert.equal(response.status, 500);
  assert.equal(await response.text(), "500 Internal Server Error: the function is misconfigured (request id r9)\n");
  assert.equal(ran, 0);
  const lines = logged.mock.calls.map((c) => c.arguments[0]);
  assert.ok(
    lines.some((l) => l.includes("r9") && l.includes(BINDING.MAX_REQUESTS) && l.includes('"many"')),
    lines.join("\n"),
  );
});

test("the handler gives the guest's http_send the policy, deadline and traceparent", async () => {
  let seen;
  const invoke = (module, envelope, options) => {
    seen = options.outbound;
    return {
      response: { status: 200, headers: [], body: new Uint8Array(0) },
      stdout: new LogCapture(),
      stderr: new LogCapture(),
    };
  };
  const before = Date.now();
  await createFetchHandler(null, { invoke })(
    new Request("https://example.com/", {
      headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
    }),
    { [BINDING.ALLOWED_HOSTS]: "https://a.example", EDGEFN_DEADLINE_MS: "5000" },
  );
  assert.deepEqual(
    seen.config.allowedHosts.map((p) => p.text),
    ["https://a.example"],
  );
  assert.ok(seen.deadlineMs >= before + 5000 && seen.deadlineMs <= Date.now() + 5000);
  assert.equal(seen.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  assert.equal(seen.maxRequestBytes, 6 << 20);
  assert.equal(typeof seen.fetch, "function");
});

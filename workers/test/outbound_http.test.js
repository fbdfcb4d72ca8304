// http_send and result_read of one invocation, called directly (as the guest would through JSPI,
// which node lacks; the JSPI path itself runs in workerd, host/tests/it/cloudflare_workers.rs),
// against a real HTTP server on 127.0.0.1 and the real fetch: the policy, the envelopes, the
// pending-result rules, timeouts and caps.
import test from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { gzipSync } from "node:zlib";
import { decodeHttpResponse, encodeHttpRequest } from "../src/abi.js";
import * as edgefnV1 from "../src/capabilities/edgefn_v1.js";
import { IMPORT_ERROR, MAX_MESSAGE_BYTES, PendingResult } from "../src/capabilities/edgefn_v1.js";
import { outboundConfig } from "../src/capabilities/outbound_config.js";
import * as outboundHttp from "../src/capabilities/outbound_http.js";

const text = (bytes) => new TextDecoder().decode(bytes);
const TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

let upstream;
let base;
test.before(async () => {
  upstream = createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const ms = Number(url.searchParams.get("ms") ?? 0);
      switch (url.pathname) {
        case "/echo":
          res.setHeader("content-type", "application/json");
          return res.end(JSON.stringify({ method: req.method, headers: req.rawHeaders, body: body.toString("hex") }));
        case "/redirect":
          res.writeHead(302, { location: "/echo" });
          return res.end();
        case "/headers":
          res.setHeader("set-cookie", ["a=1", "b=2"]);
          res.setHeader("x-multi", ["one", "two"]);
          res.setHeader("keep-alive", "timeout=5");
          return res.end("headers");
        case "/slow":
          return setTimeout(() => res.end("slow"), ms);
        case "/trickle":
          res.writeHead(200, { "content-type": "text/plain" });
          res.write("first");
          return setTimeout(() => res.end("late"), ms);
        case "/big": {
          const n = Number(url.searchParams.get("bytes"));
          if (url.searchParams.has("chunked")) {
            res.write(Buffer.alloc(n, 7));
            return res.end();
          }
          res.setHeader("content-length", n);
          return res.end(Buffer.alloc(n, 7));
        }
        case "/gzip":
          res.writeHead(200, { "content-encoding": "gzip", "content-type": "text/plain" });
          return res.end(gzipSync("hello ".repeat(100)));
        default:
          res.writeHead(404);
          return res.end("no such route");
      }
    });
  });
  await new Promise((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${upstream.address().port}`;
});
test.after(() => upstream.close());

/**
 * One invocation's http_send and result_read over a real memory. `outbound` overrides the
 * defaults: loopback allowed and private networks allowed, so the test server is reachable.
 */
function guest({ env = {}, phase = "handle", outbound = {} } = {}) {
  const memory = new WebAssembly.Memory({ initial: 8, maximum: 64 });
  const config = outboundConfig({
    EDGEFN_OUTBOUND_ALLOWED_HOSTS: "http://127.0.0.1:*",
    EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS: "true",
    ...env,
  });
  const state = {
    pending: new PendingResult(),
    phase,
    memory: () => memory,
    outbound: {
      config,
      deadlineMs: Date.now() + 30_000,
      traceparent: undefined,
      maxRequestBytes: 1 << 20,
      fetch,
      ...outbound,
    },
  };
  const { http_send } = outboundHttp.imports(state);
  const { result_read } = edgefnV1.imports(state);
  const bytes = () => new Uint8Array(memory.buffer);
  return {
    state,
    memory,
    /** Writes `envelope` at 1024 and calls http_send; resolves to the i64 (a BigInt). */
    async send(envelope) {
      bytes().set(envelope, 1024);
      return http_send(1024, envelope.length);
    },
    http_send,
    /** result_read into (ptr, len); returns [code, the bytes copied]. */
    read(len = 200_000, ptr = 65536) {
      const n = result_read(ptr, len);
      return [n, n > 0 ? bytes().slice(ptr, ptr + n) : new Uint8Array(0)];
    },
    /** The pending result as a response envelope, after a successful send. */
    response() {
      const [n, got] = this.read();
      assert.ok(n > 0, `a response is pending (result_read returned ${n})`);
      return decodeHttpResponse(got);
    },
    /** The pending message, after a failed send. */
    message() {
      const [n, got] = this.read();
      assert.ok(n > 0, `a message is pending (result_read returned ${n})`);
      return text(got);
    },
  };
}

const request = (fields) => encodeHttpRequest({ method: "GET", ...fields });

test("a GET is sent and its response read back whole, once", async () => {
  const g = guest();
  const code = await g.send(request({ url: `${base}/echo?x=1`, headers: [["x-a", "1"]] }));
  assert.equal(typeof code, "bigint");
  assert.ok(code > 0n);
  const [n, envelope] = g.read();
  assert.equal(BigInt(n), code, "result_read copies exactly the announced bytes");
  const response = decodeHttpResponse(envelope);
  assert.equal(response.status, 200);
  const seen = JSON.parse(text(response.body));
  assert.equal(seen.method, "GET");
  assert.ok(seen.headers.includes("x-a"));
  assert.deepEqual(g.read(), [IMPORT_ERROR.INVALID, new Uint8Array(0)], "a second read finds nothing pending");
});

test("result_read: too small a buffer or outside memory is -3 and the result stays pending", async () => {
  const g = guest();
  const code = Number(await g.send(request({ url: `${base}/echo` })));
  assert.equal(g.read(code - 1)[0], IMPORT_ERROR.INVALID);
  assert.equal(g.read(code, g.memory.buffer.byteLength - 10)[0], IMPORT_ERROR.INVALID);
  assert.equal(g.read(code, 0xfffffff0)[0], IMPORT_ERROR.INVALID, "a pointer past 2 GiB (negative as i32)");
  assert.equal(g.read(code)[0], code, "still there, read whole");
});

test("a new call discards a result that was not read", async () => {
  const g = guest();
  await g.send(request({ url: `${base}/echo` }));
  const code = await g.send(request({ url: "https://elsewhere.example/" }));
  assert.equal(code, BigInt(IMPORT_ERROR.DENIED));
  assert.match(g.message(), /elsewhere\.example/);
});

test("POST with headers and a binary body; the upstream sees them and the host's own headers", async () => {
  const g = guest();
  const every = Uint8Array.from({ length: 256 }, (_, i) => i);
  await g.send(
    request({
      method: "POST",
      url: `${base}/echo`,
      headers: [
        ["content-type", "application/octet-stream"],
        ["x-multi", "one"],
        ["x-multi", "two"],
      ],
      body: every,
    }),
  );
  const response = g.response();
  const seen = JSON.parse(text(response.body));
  assert.equal(seen.method, "POST");
  assert.equal(seen.body, Buffer.from(every).toString("hex"));
  const names = seen.headers.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  assert.ok(names.includes("content-type"));
  assert.ok(names.includes("host"), "the host sets host from the URL");
  assert.equal(names.includes("traceparent"), false, "no invocation trace, none added");
});

test("the invocation's traceparent is added when the request has none, and kept when it has one", async () => {
  const g = guest({ outbound: { traceparent: TRACEPARENT } });
  await g.send(request({ url: `${base}/echo` }));
  let seen = JSON.parse(text(g.response().body)).headers;
  assert.equal(seen[seen.findIndex((h) => h.toLowerCase() === "traceparent") + 1], TRACEPARENT);
  const own = "00-11111111111111111111111111111111-2222222222222222-01";
  await g.send(request({ url: `${base}/echo`, headers: [["TraceParent", own]] }));
  seen = JSON.parse(text(g.response().body)).headers;
  const values = seen.filter((_, i) => i % 2 === 1);
  assert.ok(values.includes(own));
  assert.equal(values.includes(TRACEPARENT), false);
});

test("a redirect is the answer, not followed", async () => {
  const g = guest();
  await g.send(request({ url: `${base}/redirect` }));
  const response = g.response();
  assert.equal(response.status, 302);
  const location = response.headers.find(([k]) => k === "location");
  assert.equal(text(location[1]), "/echo");
});

test("response headers: lower case, set-cookie kept apart, framing left out", async () => {
  const g = guest();
  await g.send(request({ url: `${base}/headers` }));
  const response = g.response();
  const fields = response.headers.map(([k, v]) => [k, text(v)]);
  assert.deepEqual(
    fields.filter(([k]) => k === "set-cookie"),
    [
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
    ],
  );
  assert.deepEqual(
    fields.filter(([k]) => k === "x-multi"),
    [["x-multi", "one, two"]],
    "the Fetch API joins other repeats",
  );
  for (const [name] of fields) {
    assert.equal(name, name.toLowerCase());
    assert.ok(!["connection", "keep-alive", "transfer-encoding"].includes(name), `${name} is framing`);
  }
  assert.equal(text(response.body), "headers");
});

test("a body fetch decoded arrives without the headers that described the encoded one", async () => {
  const g = guest();
  await g.send(request({ url: `${base}/gzip` }));
  const response = g.response();
  assert.equal(text(response.body), "hello ".repeat(100));
  const names = response.headers.map(([k]) => k);
  assert.ok(!names.includes("content-encoding") && !names.includes("content-length"), names.join(","));
  assert.ok(names.includes("content-type"));
});

test("while the module initializes, http_send answers unsupported at once, without a promise", () => {
  const g = guest({ phase: "init" });
  const envelope = request({ url: `${base}/echo` });
  new Uint8Array(g.memory.buffer).set(envelope, 1024);
  const code = g.http_send(1024, envelope.length);
  assert.equal(code, BigInt(IMPORT_ERROR.UNSUPPORTED), "a BigInt, not a promise: nothing to suspend on");
  assert.match(g.message(), /initializes/);
});

test("bad pointers and garbage envelopes are -3 with a message, never a throw", async () => {
  const g = guest();
  assert.equal(g.http_send(g.memory.buffer.byteLength - 4, 8), BigInt(IMPORT_ERROR.INVALID));
  assert.match(g.message(), /outside guest memory/);
  assert.equal(g.http_send(-16, 32), BigInt(IMPORT_ERROR.INVALID), "a pointer with the top bit set");
  assert.equal(await g.send(Uint8Array.from([1, 2, 3, 4, 5])), BigInt(IMPORT_ERROR.INVALID));
  assert.match(g.message(), /bad-magic/);
  const truncated = request({ url: `${base}/echo` }).slice(0, 20);
  assert.equal(await g.send(truncated), BigInt(IMPORT_ERROR.INVALID));
  assert.match(g.message(), /truncated/);
});

test("URLs: not allowed is denied, not http(s) or not absolute is invalid", async () => {
  const g = guest({ env: { EDGEFN_OUTBOUND_ALLOWED_HOSTS: "https://api.example.com" } });
  assert.equal(await g.send(request({ url: `${base}/echo` })), BigInt(IMPORT_ERROR.DENIED));
  assert.match(g.message(), /allowed hosts/);
  assert.equal(await g.send(request({ url: "ftp://api.example.com/" })), BigInt(IMPORT_ERROR.INVALID));
  assert.equal(await g.send(request({ url: "/relative" })), BigInt(IMPORT_ERROR.INVALID));
  assert.equal(await g.send(request({ url: "https://u:p@api.example.com/" })), BigInt(IMPORT_ERROR.INVALID));
});

test("without allow_private_networks, loopback and private literals and localhost are denied, even when listed", async () => {
  const g = guest({
    env: {
      EDGEFN_OUTBOUND_ALLOWED_HOSTS: "http://127.0.0.1:*, http://localhost:*, http://[::1]:*, http://10.1.2.3",
      EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS: "false",
    },
  });
  for (const url of [`${base}/echo`, "http://localhost:1/", "http://[::1]:1/", "http://10.1.2.3/"]) {
    assert.equal(await g.send(request({ url })), BigInt(IMPORT_ERROR.DENIED), url);
    assert.match(g.message(), /EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS/);
  }
});

test("with allow_private_networks and the private network binding, calls go through that binding", async () => {
  const seen = [];
  const network = {
    async fetch(req) {
      seen.push(req);
      return new Response("via the binding", { status: 201 });
    },
  };
  const g = guest({ env: { EDGEFN_OUTBOUND_PRIVATE_NETWORK: network } });
  await g.send(request({ url: `${base}/echo` }));
  assert.equal(g.response().status, 201);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].redirect, "manual");
  assert.equal(seen[0].url, `${base}/echo`);
});

test("headers the host owns are refused with invalid, naming the header", async () => {
  const g = guest();
  for (const name of outboundHttp.OWNED_HEADERS) {
    const code = await g.send(request({ url: `${base}/echo`, headers: [[name.toUpperCase(), "x"]] }));
    assert.equal(code, BigInt(IMPORT_ERROR.INVALID), name);
    assert.match(g.message(), new RegExp(name, "i"));
  }
  assert.equal(
    await g.send(request({ url: `${base}/echo`, headers: [["x-bad", "a\r\nb"]] })),
    BigInt(IMPORT_ERROR.INVALID),
    "a value the Fetch API refuses",
  );
  assert.equal(
    await g.send(request({ url: `${base}/echo`, headers: [["x-bin", Uint8Array.of(0xff)]] })),
    BigInt(IMPORT_ERROR.INVALID),
    "a value that is not UTF-8",
  );
  assert.equal(await g.send(request({ url: `${base}/echo`, method: "GE T" })), BigInt(IMPORT_ERROR.INVALID));
});

test("timeouts: the envelope's, else the function's, and never past the deadline", async () => {
  const g = guest({ env: { EDGEFN_OUTBOUND_TIMEOUT_MS: "150" } });
  let started = Date.now();
  assert.equal(await g.send(request({ url: `${base}/slow?ms=3000` })), BigInt(IMPORT_ERROR.TIMEOUT));
  assert.match(g.message(), /within 150 ms/);
  assert.ok(Date.now() - started < 2000);
  started = Date.now();
  assert.equal(await g.send(request({ url: `${base}/slow?ms=3000`, timeoutMs: 100 })), BigInt(IMPORT_ERROR.TIMEOUT));
  assert.match(g.message(), /within 100 ms/);
  assert.ok(
    (await g.send(request({ url: `${base}/slow?ms=300`, timeoutMs: 2000 }))) > 0n,
    "a longer timeout is asked for",
  );

  const late = guest({ outbound: { deadlineMs: Date.now() + 200 } });
  started = Date.now();
  assert.equal(await late.send(request({ url: `${base}/slow?ms=3000` })), BigInt(IMPORT_ERROR.TIMEOUT));
  assert.ok(Date.now() - started < 2000, "stopped at the deadline, not at the 10 s default");
  const over = guest({ outbound: { deadlineMs: Date.now() - 1 } });
  assert.equal(await over.send(request({ url: `${base}/echo` })), BigInt(IMPORT_ERROR.TIMEOUT));
  assert.match(over.message(), /deadline/);
});

test("a body that stalls past the timeout is a timeout too", async () => {
  const g = guest({ env: { EDGEFN_OUTBOUND_TIMEOUT_MS: "200" } });
  assert.equal(await g.send(request({ url: `${base}/trickle?ms=3000` })), BigInt(IMPORT_ERROR.TIMEOUT));
});

test("the response body cap: by content-length, or while reading a body without one", async () => {
  const g = guest({ env: { EDGEFN_OUTBOUND_MAX_RESPONSE_BYTES: "1000" } });
  assert.ok((await g.send(request({ url: `${base}/big?bytes=1000` }))) > 0n);
  assert.equal(g.response().body.length, 1000);
  assert.equal(await g.send(request({ url: `${base}/big?bytes=1001` })), BigInt(IMPORT_ERROR.LIMIT));
  assert.match(g.message(), /1000 bytes.*EDGEFN_OUTBOUND_MAX_RESPONSE_BYTES/);
  assert.equal(await g.send(request({ url: `${base}/big?bytes=5000&chunked` })), BigInt(IMPORT_ERROR.LIMIT));
});

test("the request body cap is the function's max_request_bytes", async () => {
  const g = guest({ outbound: { maxRequestBytes: 10 } });
  const code = await g.send(request({ method: "POST", url: `${base}/echo`, body: new Uint8Array(11) }));
  assert.equal(code, BigInt(IMPORT_ERROR.LIMIT));
  assert.ok((await g.send(request({ method: "POST", url: `${base}/echo`, body: new Uint8Array(10) }))) > 0n);
});

test("max_requests: the call after the last allowed one is limit", async () => {
  const g = guest({ env: { EDGEFN_OUTBOUND_MAX_REQUESTS: "3" } });
  for (let i = 0; i < 3; i++) assert.ok((await g.send(request({ url: `${base}/echo` }))) > 0n, `call ${i}`);
  assert.equal(await g.send(request({ url: `${base}/echo` })), BigInt(IMPORT_ERROR.LIMIT));
  assert.match(g.message(), /3 requests.*EDGEFN_OUTBOUND_MAX_REQUESTS/);
});

test("an upstream that cannot be reached is unavailable", async () => {
  const closed = createServer();
  await new Promise((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = closed.address().port;
  await new Promise((resolve) => closed.close(resolve));
  const g = guest();
  assert.equal(await g.send(request({ url: `http://127.0.0.1:${port}/` })), BigInt(IMPORT_ERROR.UNAVAILABLE));
  assert.match(g.message(), new RegExp(`127\\.0\\.0\\.1:${port} failed`));
});

test("an error message quoting a huge URL is cut to MAX_MESSAGE_BYTES, still UTF-8", async () => {
  const g = guest();
  const url = `not a url ${"\u00e9".repeat(10_000)}`;
  assert.equal(await g.send(request({ url })), BigInt(IMPORT_ERROR.INVALID));
  const [n, bytes] = g.read();
  assert.ok(n <= MAX_MESSAGE_BYTES, `${n} bytes`);
  const message = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  assert.ok(message.startsWith('"not a url') && message.endsWith("..."), message.slice(0, 40));
});

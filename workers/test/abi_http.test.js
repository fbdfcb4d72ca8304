// The outbound HTTP envelopes (EHQ1, EHS1) against the shared vectors docs/abi-v1-http-vectors.json,
// as every codec runs them: decode each vector to its meaning, re-encode the meaning to the same
// bytes, refuse each invalid vector with the named error.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  DecodeError,
  decodeHttpRequest,
  decodeHttpResponse,
  encodeHttpRequest,
  encodeHttpResponse,
} from "../src/abi.js";

const vectors = JSON.parse(readFileSync(new URL("../../docs/abi-v1-http-vectors.json", import.meta.url), "utf8"));
const hex = (s) => Uint8Array.from(Buffer.from(s, "hex"));
const toHex = (bytes) => Buffer.from(bytes).toString("hex");
const text = (bytes) => new TextDecoder().decode(bytes);

test("the HTTP vectors are version 1 and cover requests, responses and errors", () => {
  assert.equal(vectors.abi_version, 1);
  assert.ok(vectors.requests.length >= 4);
  assert.ok(vectors.responses.length >= 4);
  assert.ok(vectors.invalid.some((v) => v.kind === "request"));
  assert.ok(vectors.invalid.some((v) => v.kind === "response"));
});

for (const vector of vectors.requests) {
  test(`EHQ1 vector ${vector.name} decodes and re-encodes exactly`, () => {
    const want = vector.decoded;
    const got = decodeHttpRequest(hex(vector.hex));
    assert.equal(got.timeoutMs, want.timeout_ms);
    assert.equal(got.method, want.method);
    assert.equal(got.url, want.url);
    assert.deepEqual(
      got.headers.map(([k, v]) => [k, text(v)]),
      want.headers,
    );
    assert.deepEqual(got.body, hex(want.body_hex));

    const built = encodeHttpRequest({
      timeoutMs: want.timeout_ms,
      method: want.method,
      url: want.url,
      headers: want.headers,
      body: hex(want.body_hex),
    });
    assert.equal(toHex(built), vector.hex);
  });
}

for (const vector of vectors.responses) {
  test(`EHS1 vector ${vector.name} decodes and re-encodes exactly`, () => {
    const want = vector.decoded;
    const got = decodeHttpResponse(hex(vector.hex));
    assert.equal(got.status, want.status);
    assert.deepEqual(
      got.headers.map(([k, v]) => [k, text(v)]),
      want.headers,
    );
    assert.deepEqual(got.body, hex(want.body_hex));

    const built = encodeHttpResponse({ status: want.status, headers: want.headers, body: hex(want.body_hex) });
    assert.equal(toHex(built), vector.hex);
  });
}

for (const vector of vectors.invalid) {
  test(`invalid ${vector.kind} vector ${vector.name} is refused with ${vector.error}`, () => {
    const decode = { request: decodeHttpRequest, response: decodeHttpResponse }[vector.kind];
    assert.ok(decode, `unknown kind ${vector.kind}`);
    assert.throws(
      () => decode(hex(vector.hex)),
      (error) => error instanceof DecodeError && error.code === vector.error,
    );
  });
}

test("encodeHttpResponse writes into memory the caller allocates", () => {
  const memory = new Uint8Array(64);
  const want = vectors.responses.find((v) => v.name === "no-content");
  const out = encodeHttpResponse({ status: 204 }, (size) => memory.subarray(4, 4 + size));
  assert.equal(toHex(out), want.hex);
  assert.equal(toHex(memory.subarray(4, 4 + out.length)), want.hex);
});

test("a header count larger than the bytes left is refused before anything is allocated", () => {
  // 0x7fffffff pairs claimed, none present: the count is checked against what is left.
  const bytes = encodeHttpRequest({ method: "GET", url: "https://a.example/" });
  const view = new DataView(bytes.buffer);
  const countAt = 4 + 4 + 4 + 3 + 4 + "https://a.example/".length;
  view.setUint32(countAt, 0x7fffffff, true);
  assert.throws(
    () => decodeHttpRequest(bytes),
    (error) => error.code === "truncated",
  );
});

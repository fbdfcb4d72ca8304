// The codec against the shared ABI v1 test vectors (docs/abi-v1-vectors.json), exactly as the Rust
// codec runs them (sdk/abi/tests/vectors.rs): decode each vector to its meaning, re-encode the meaning
// to the same bytes, refuse each invalid vector with the named error.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { DecodeError, decodeRequest, decodeResponse, encodeRequest, encodeResponse, unpackPtrLen } from "../src/abi.js";

const vectors = JSON.parse(readFileSync(new URL("../../docs/abi-v1-vectors.json", import.meta.url), "utf8"));
const hex = (s) => Uint8Array.from(Buffer.from(s, "hex"));
const text = (bytes) => new TextDecoder().decode(bytes);

test("the vectors are version 1 and not empty", () => {
  assert.equal(vectors.abi_version, 1);
  assert.ok(vectors.requests.length >= 5);
  assert.ok(vectors.responses.length >= 3);
  assert.ok(vectors.invalid.length >= 8);
});

for (const vector of vectors.requests) {
  test(`request vector ${vector.name} decodes and re-encodes exactly`, () => {
    const want = vector.decoded;
    const got = decodeRequest(hex(vector.hex));
    assert.deepEqual(got.context, want.context);
    assert.equal(got.method, want.method);
    assert.equal(got.uri, want.uri);
    assert.deepEqual(
      got.headers.map(([k, v]) => [k, text(v)]),
      want.headers,
    );
    assert.deepEqual(got.body, hex(want.body_hex));

    const built = encodeRequest({
      context: want.context,
      method: want.method,
      uri: want.uri,
      headers: want.headers,
      body: hex(want.body_hex),
    });
    assert.equal(Buffer.from(built).toString("hex"), vector.hex);
  });
}

for (const vector of vectors.responses) {
  test(`response vector ${vector.name} decodes and re-encodes exactly`, () => {
    const want = vector.decoded;
    const got = decodeResponse(hex(vector.hex));
    assert.equal(got.status, want.status);
    assert.deepEqual(
      got.headers.map(([k, v]) => [k, text(v)]),
      want.headers,
    );
    assert.deepEqual(got.body, hex(want.body_hex));

    const built = encodeResponse({ status: want.status, headers: want.headers, body: hex(want.body_hex) });
    assert.equal(Buffer.from(built).toString("hex"), vector.hex);
  });
}

for (const vector of vectors.invalid) {
  test(`invalid ${vector.kind} vector ${vector.name} is refused with ${vector.error}`, () => {
    const decode = { request: decodeRequest, response: decodeResponse }[vector.kind];
    assert.ok(decode, `unknown kind ${vector.kind}`);
    assert.throws(
      () => decode(hex(vector.hex)),
      (error) => error instanceof DecodeError && error.code === vector.error,
    );
  });
}

test("encodeRequest writes into memory the caller allocates", () => {
  const memory = new Uint8Array(64);
  let asked = 0;
  const out = encodeRequest({ method: "GET", uri: "/" }, (size) => {
    asked = size;
    return memory.subarray(8, 8 + size);
  });
  assert.equal(out.length, asked);
  assert.equal(Buffer.from(memory.subarray(8, 8 + asked)).toString("hex"), vectors.requests[0].hex);
});

test("header values and bodies keep every byte", () => {
  const every = Uint8Array.from({ length: 256 }, (_, i) => i);
  const decoded = decodeRequest(encodeRequest({ method: "PUT", uri: "/", headers: [["x-b", every]], body: every }));
  assert.deepEqual(decoded.headers[0][1], every);
  assert.deepEqual(decoded.body, every);
});

test("unpackPtrLen splits the handler's i64, including a pointer with the top bit set", () => {
  assert.deepEqual(unpackPtrLen((5n << 32n) | 7n), [5, 7]);
  assert.deepEqual(unpackPtrLen(BigInt.asIntN(64, (0xfffffff0n << 32n) | 0xffffffffn)), [0xfffffff0, 0xffffffff]);
});

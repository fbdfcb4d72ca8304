// The allow-list and the address filter against docs/outbound-vectors.json, which the Rust host runs
// too: each case's URL allowed, denied or invalid under its patterns; each invalid pattern refused;
// each address classified as public or not.
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  PatternError,
  checkUrl,
  isGlobalAddress,
  parseAllowedHosts,
  parsePattern,
  privateTarget,
} from "../src/capabilities/outbound_policy.js";

const vectors = JSON.parse(readFileSync(new URL("../../docs/outbound-vectors.json", import.meta.url), "utf8"));

test("the outbound vectors are not empty", () => {
  assert.ok(vectors.cases.length >= 30);
  assert.ok(vectors.invalid_patterns.length >= 10);
  assert.ok(vectors.addresses.length >= 30);
  for (const result of ["allowed", "denied", "invalid"]) {
    assert.ok(
      vectors.cases.some((c) => c.result === result),
      `a case that is ${result}`,
    );
  }
});

for (const [i, c] of vectors.cases.entries()) {
  test(`case ${i}: ${c.url} under [${c.allowed_hosts}] is ${c.result} (${c.why})`, () => {
    const checked = checkUrl(c.url, parseAllowedHosts(c.allowed_hosts));
    assert.equal(checked.result, c.result, checked.message);
    if (c.result === "allowed") assert.equal(checked.url.hash, "", "the fragment is not sent");
    else assert.match(checked.message, /\S/, "a refusal says why");
  });
}

for (const p of vectors.invalid_patterns) {
  test(`pattern ${JSON.stringify(p.pattern)} is refused (${p.why})`, () => {
    assert.throws(
      () => parsePattern(p.pattern),
      (error) => error instanceof PatternError && error.message.includes(JSON.stringify(p.pattern)),
    );
  });
}

for (const a of vectors.addresses) {
  test(`${a.ip} is ${a.global ? "public" : "not public"}`, () => {
    assert.equal(isGlobalAddress(a.ip), a.global);
  });
}

test("a denial names the origin and the setting to change", () => {
  const checked = checkUrl("https://api.example.com/x", parseAllowedHosts("https://other.example.com"));
  assert.equal(checked.result, "denied");
  assert.match(checked.message, /https:\/\/api\.example\.com/);
  assert.match(checked.message, /EDGEFN_OUTBOUND_ALLOWED_HOSTS/);
});

test("an allow-list is patterns separated by commas or spaces, or a JSON array", () => {
  const texts = (patterns) => patterns.map((p) => p.text);
  assert.deepEqual(texts(parseAllowedHosts(" https://a.example ,http://b.example:8080  https://*.c.example,")), [
    "https://a.example",
    "http://b.example:8080",
    "https://*.c.example",
  ]);
  assert.deepEqual(texts(parseAllowedHosts(["https://a.example", "http://[::1]:*"])), [
    "https://a.example",
    "http://[::1]:*",
  ]);
  assert.deepEqual(parseAllowedHosts(""), []);
  assert.throws(() => parseAllowedHosts("https://a.example, ftp://b.example"), /ftp:\/\/b\.example/);
});

test("patterns are read in canonical form", () => {
  assert.deepEqual(parsePattern("HTTPS://API.Example.COM").host, { exact: "api.example.com" });
  assert.deepEqual(parsePattern("http://127.1:*").host, { exact: "127.0.0.1" });
  assert.deepEqual(parsePattern("http://[0:0::1]:8080"), {
    text: "http://[0:0::1]:8080",
    scheme: "http",
    host: { exact: "[::1]" },
    port: 8080,
  });
  assert.deepEqual(parsePattern("*://*.Example.com").host, { suffix: "example.com" });
  assert.equal(parsePattern("https://*").port, undefined, "the URL's default port");
  assert.throws(() => parsePattern("https://*.10.0.0.1"), /not IP addresses/);
  assert.throws(() => parsePattern("https://[::1"), /closing \]/);
  assert.throws(() => parsePattern("https://a b.example"), /not a host name/);
});

test("private targets: non-public IP literals and localhost names, not other names", () => {
  const reason = (url) => privateTarget(new URL(url));
  for (const url of [
    "http://127.0.0.1:8080/",
    "http://127.1/",
    "http://[::1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://169.254.169.254/latest/meta-data",
    "http://localhost:9000/",
    "http://api.localhost/",
    "http://LOCALHOST./",
  ]) {
    assert.match(reason(url) ?? "", /EDGEFN_OUTBOUND_ALLOW_PRIVATE_NETWORKS/, url);
  }
  for (const url of ["https://8.8.8.8/", "https://[2606:4700:4700::1111]/", "https://api.example.com/"]) {
    assert.equal(reason(url), undefined, url);
  }
});

test("isGlobalAddress refuses what is not an address", () => {
  assert.throws(() => isGlobalAddress("example.com"), TypeError);
  assert.throws(() => isGlobalAddress("1.2.3.256"), TypeError);
  assert.throws(() => isGlobalAddress("::g"), TypeError);
});

test("beyond the vectors, addresses are judged as the host judges them", () => {
  // host/src/runtime/capabilities/outbound_http/address.rs: only 2000::/3 is public IPv6, and the
  // deprecated 6to4 relay block is not public IPv4.
  for (const ip of ["4000::1", "fec0::1", "100::1", "64:ff9b:1::1", "::ffff:0:808:808", "192.88.99.1", "3fff::1"]) {
    assert.equal(isGlobalAddress(ip), false, ip);
  }
  for (const ip of ["2a00:1450::1", "2001:200::1", "192.88.98.1"]) assert.equal(isGlobalAddress(ip), true, ip);
});

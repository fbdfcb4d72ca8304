// The vendored shim (src/vendor/) is the version package-lock.json pins, unchanged.
import test from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SHIM_DIR, VENDOR_DIR, VENDORED } from "../scripts/vendor-shim.mjs";

const installed = existsSync(SHIM_DIR) ? false : "run `npm ci` in workers/ first";

test("the vendored shim files are identical to the installed package", { skip: installed }, () => {
  for (const [source, target] of VENDORED) {
    assert.ok(
      readFileSync(join(SHIM_DIR, source)).equals(readFileSync(join(VENDOR_DIR, target))),
      `src/vendor/browser_wasi_shim/${target} differs from the installed package: run \`npm run vendor\``,
    );
  }
});

test("the vendored version is the one package.json pins", () => {
  const pinned = JSON.parse(readFileSync(new URL("../package.json", import.meta.url))).devDependencies[
    "@bjorn3/browser_wasi_shim"
  ];
  const readme = readFileSync(join(VENDOR_DIR, "..", "README.md"), "utf8");
  assert.ok(readme.includes(`@bjorn3/browser_wasi_shim ${pinned}`), `src/vendor/README.md names ${pinned}`);
});

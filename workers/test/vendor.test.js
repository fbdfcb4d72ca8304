// The vendored shims (src/vendor/) are the versions package-lock.json pins, unchanged.
import test from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SHIMS } from "../scripts/vendor-shim.mjs";

const pinned = JSON.parse(readFileSync(new URL("../package.json", import.meta.url))).devDependencies;
const readme = readFileSync(new URL("../src/vendor/README.md", import.meta.url), "utf8");

for (const { name, from, to, files } of SHIMS) {
  const installed = existsSync(from) ? false : "run `npm ci` in workers/ first";

  test(`the vendored ${name} files are identical to the installed package`, { skip: installed }, () => {
    for (const [source, target] of files) {
      assert.ok(
        readFileSync(join(from, source)).equals(readFileSync(join(to, target))),
        `${join(to, target)} differs from the installed package: run \`npm run vendor\``,
      );
    }
  });

  test(`the vendored ${name} is the version package.json pins`, () => {
    assert.ok(pinned[name], `workers/package.json pins ${name}`);
    assert.ok(readme.includes(`${name} ${pinned[name]}`), `src/vendor/README.md names ${name} ${pinned[name]}`);
  });
}

// `node --check` on every JavaScript file of the adapter outside src/vendor/ (which is checked
// against its npm package instead, see test/vendor.test.js): a syntax error fails here, before any
// test or bundle loads the file. Part of `npm run lint`.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const skip = new Set([join(root, "src", "vendor")]);

function* scripts(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!skip.has(path)) yield* scripts(path);
    } else if (/\.(m?js)$/.test(entry.name)) {
      yield path;
    }
  }
}

let checked = 0;
for (const dir of ["src", "test", "scripts"]) {
  for (const path of scripts(join(root, dir))) {
    try {
      execFileSync(process.execPath, ["--check", path], { stdio: ["ignore", "ignore", "pipe"] });
    } catch (error) {
      process.stderr.write(error.stderr);
      console.error(`check-syntax: ${relative(root, path)} does not parse`);
      process.exit(1);
    }
    checked++;
  }
}
console.log(`check-syntax: ${checked} files parse`);

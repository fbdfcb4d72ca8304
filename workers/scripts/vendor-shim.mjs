// Copies the modules the Worker uses from the installed @bjorn3/browser_wasi_shim into
// src/vendor/browser_wasi_shim/ (see src/vendor/README.md for why it is vendored). Run after
// changing the shim's version: `npm install && npm run vendor`.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const from = join(root, "node_modules/@bjorn3/browser_wasi_shim");
const to = join(root, "src/vendor/browser_wasi_shim");

/**
 * The shim's files the bundle ships: the modules src/capabilities/wasi.js imports (directly or not)
 * and licences.
 */
export const VENDORED = [
  ["dist/wasi.js", "wasi.js"],
  ["dist/wasi_defs.js", "wasi_defs.js"],
  ["dist/debug.js", "debug.js"],
  ["dist/fd.js", "fd.js"],
  ["dist/fs_mem.js", "fs_mem.js"],
  ["LICENSE-MIT", "LICENSE-MIT"],
  ["LICENSE-APACHE", "LICENSE-APACHE"],
];

export const SHIM_DIR = from;
export const VENDOR_DIR = to;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mkdirSync(to, { recursive: true });
  for (const [source, target] of VENDORED) copyFileSync(join(from, source), join(to, target));
  console.log(`vendored ${VENDORED.length} files into ${to}`);
}

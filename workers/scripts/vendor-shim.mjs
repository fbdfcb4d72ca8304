// Copies the modules the Worker uses from the installed shims into src/vendor/ (see
// src/vendor/README.md for why they are vendored). Run after changing a shim's version:
// `npm install && npm run vendor`.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The preview2-shim browser modules a transpiled component's imports reach (index.js re-exports them all). */
const PREVIEW2_MODULES = [
  "index.js",
  "cli.js",
  "clocks.js",
  "common.js",
  "config.js",
  "environment.js",
  "filesystem.js",
  "in-memory-filesystem.js",
  "opfs-filesystem.js",
  "http.js",
  "in-memory-http.js",
  "io.js",
  "random.js",
  "sockets.js",
  "in-memory-sockets.js",
];

/**
 * Each vendored package: its npm name, where it is installed, the folder under src/vendor/ it is
 * copied to, and its files the bundle ships (the modules the Worker imports, directly or not, and
 * licences), each as [path in the package, path in the folder].
 */
export const SHIMS = [
  {
    name: "@bjorn3/browser_wasi_shim",
    from: join(root, "node_modules/@bjorn3/browser_wasi_shim"),
    to: join(root, "src/vendor/browser_wasi_shim"),
    files: [
      ["dist/wasi.js", "wasi.js"],
      ["dist/wasi_defs.js", "wasi_defs.js"],
      ["dist/debug.js", "debug.js"],
      ["dist/fd.js", "fd.js"],
      ["dist/fs_mem.js", "fs_mem.js"],
      ["LICENSE-MIT", "LICENSE-MIT"],
      ["LICENSE-APACHE", "LICENSE-APACHE"],
    ],
  },
  {
    name: "@bytecodealliance/preview2-shim",
    from: join(root, "node_modules/@bytecodealliance/preview2-shim"),
    to: join(root, "src/vendor/preview2-shim"),
    files: [...PREVIEW2_MODULES.map((m) => [`dist/browser/${m}`, m]), ["LICENSE", "LICENSE"]],
  },
];

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const { from, to, files } of SHIMS) {
    mkdirSync(to, { recursive: true });
    for (const [source, target] of files) copyFileSync(join(from, source), join(to, target));
    console.log(`vendored ${files.length} files into ${to}`);
  }
}

// The capabilities a guest's imports are built from. Each is a module exporting
//   module            the Wasm import module it provides (e.g. "wasi_snapshot_preview1")
//   imports(invocation)  its import functions for one invocation, given the invocation's state:
//                     { env, args, stdout, stderr, instance, memory() } (see createInvocation in
//                     guest.js; `instance` and `memory()` are usable once the guest is instantiated)
//   failure(error)    optional: a log message when `error` is this capability stopping the guest
//                     (reported as a trap), else undefined
// guest.js builds every instance's import object from this list, one import module per entry.

import * as wasi from "./wasi.js";

// To add a capability (outbound HTTP, key-value, ...): one new file in this folder and one entry
// here. Nothing else in the shim changes. (The packager must also ship the new file: its path goes
// in MODULES in host/src/package/cloudflare_workers/sources.rs, which a test checks, and it must
// accept the new import module in host/src/package/cloudflare_workers/wasm.rs.)
export const CAPABILITIES = Object.freeze([wasi]);

// The capabilities a guest's imports are built from. Each is a module exporting
//   module            the Wasm import module it provides (e.g. "wasi_snapshot_preview1"); several
//                     capabilities may share one (edgefn_v1), never an import name
//   imports(invocation)  its import functions for one invocation, given the invocation's state:
//                     { env, args, outbound, kv, stdout, stderr, pending, phase, instance, memory() }
//                     (see createInvocation in guest.js; `instance` and `memory()` are usable once
//                     the guest is instantiated, `phase` is "init" until its initialization is done)
//   suspending        optional: names of its imports that return a promise; guest.js wraps them in
//                     WebAssembly.Suspending and runs a module that imports one with JSPI
//   failure(error)    optional: a log message when `error` is this capability stopping the guest
//                     (reported as a trap), else undefined
// guest.js builds every instance's import object from this list.

import * as wasi from "./wasi.js";
import * as edgefnV1 from "./edgefn_v1.js";
import * as outboundHttp from "./outbound_http.js";
import * as kv from "./kv.js";

// To add a capability (a queue, ...): one new file in this folder and one entry here. Nothing
// else in the shim changes. (The packager must also ship the new file: its path goes in MODULES in
// host/src/package/cloudflare_workers/sources.rs, which a test checks, and it must accept the new
// imports in host/src/package/cloudflare_workers/wasm.rs.)
export const CAPABILITIES = Object.freeze([wasi, edgefnV1, outboundHttp, kv]);

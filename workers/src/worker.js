// Entry module of the edgefn Worker. Workers forbid compiling WebAssembly at run time, so the
// function ships in the bundle and arrives here already compiled (a WebAssembly.Module); each
// request instantiates it afresh (see handler.js and guest.js).
import wasmModule from "./function.wasm";
import { createFetchHandler } from "./handler.js";

// Created once per isolate: its first request is the cold start.
const handle = createFetchHandler(wasmModule);

export default {
  async fetch(request, env, ctx) {
    return handle(request, env, ctx);
  },
};

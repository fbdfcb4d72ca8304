// WASI preview 1 for one invocation: the guest's environment, its stdout/stderr captured as logs, no
// files, clocks and random. Built on @bjorn3/browser_wasi_shim (vendored, see vendor/README.md):
// it implements every wasi_snapshot_preview1 function synchronously in plain JS, so a module that
// imports more than the Rust guests do (a Go reactor imports fd_prestat_*, path_open, sched_yield...)
// still links and gets proper WASI errors instead of a link failure. Two things are changed here:
// output is captured with a budget, and poll_oneoff does not spin (see below).

import WASI from "./vendor/browser_wasi_shim/wasi.js";
import { File, OpenFile, ConsoleStdout } from "./vendor/browser_wasi_shim/fs_mem.js";
import * as defs from "./vendor/browser_wasi_shim/wasi_defs.js";

/** Most bytes of stdout (and, separately, stderr) kept per invocation, as on the local host. */
export const MAX_LOG_BYTES = 64 << 10;
/** Most bytes logged as one console line; longer lines are split, as on the local host. */
export const MAX_LINE_BYTES = 8 << 10;

/** One captured output stream: keeps up to a budget, counts the rest, never fails the guest. */
export class LogCapture {
  constructor(capacity = MAX_LOG_BYTES) {
    this.capacity = capacity;
    this.chunks = [];
    this.kept = 0;
    this.dropped = 0;
  }

  push(bytes) {
    const room = Math.max(0, this.capacity - this.kept);
    const kept = Math.min(room, bytes.length);
    if (kept > 0) this.chunks.push(bytes.slice(0, kept));
    this.kept += kept;
    this.dropped += bytes.length - kept;
  }

  /** The captured output as lines (empty lines skipped, long lines split, CR trimmed). */
  lines() {
    const all = new Uint8Array(this.kept);
    let at = 0;
    for (const chunk of this.chunks) {
      all.set(chunk, at);
      at += chunk.length;
    }
    const decoder = new TextDecoder("utf-8");
    const out = [];
    let start = 0;
    for (let i = 0; i <= all.length; i++) {
      if (i < all.length && all[i] !== 0x0a) continue;
      for (let s = start; s < i; s += MAX_LINE_BYTES) {
        const text = decoder.decode(all.subarray(s, Math.min(i, s + MAX_LINE_BYTES))).replace(/\r+$/, "");
        if (text) out.push(text);
      }
      start = i + 1;
    }
    return out;
  }
}

/**
 * A clock-only poll_oneoff that answers at once. The shim's version busy-waits until the clock
 * passes the timeout, but Workers freeze Date and performance.now() while a request computes
 * (a Spectre mitigation), so that loop would never end. A guest therefore cannot sleep on Workers;
 * its timers fire immediately.
 */
function pollOneoffImmediate(wasi) {
  return (inPtr, outPtr, nsubscriptions, neventsPtr) => {
    if (nsubscriptions === 0) return defs.ERRNO_INVAL;
    const view = new DataView(wasi.inst.exports.memory.buffer);
    let events = 0;
    for (let i = 0; i < nsubscriptions; i++) {
      const s = defs.Subscription.read_bytes(view, inPtr + i * 48);
      const errno = s.eventtype === defs.EVENTTYPE_CLOCK ? defs.ERRNO_SUCCESS : defs.ERRNO_NOTSUP;
      new defs.Event(s.userdata, errno, s.eventtype).write_bytes(view, outPtr + events * 32);
      events++;
    }
    view.setUint32(neventsPtr, events, true);
    return defs.ERRNO_SUCCESS;
  };
}

/**
 * The WASI side of one invocation. `env` is a plain object of string variables; `args` the
 * guest's argv (its function name, as on the local host).
 * Call `bind(instance)` right after instantiation, before any export runs.
 */
export function createWasi({ env = {}, args = [] } = {}) {
  const stdout = new LogCapture();
  const stderr = new LogCapture();
  const fds = [
    new OpenFile(new File([])), // stdin: empty
    new ConsoleStdout((bytes) => stdout.push(bytes)),
    new ConsoleStdout((bytes) => stderr.push(bytes)),
    // No preopened directories: a guest that looks for files finds none (EBADF at fd 3).
  ];
  const environ = Object.entries(env).map(([key, value]) => `${key}=${value}`);
  // debug must be false explicitly: the shim turns its debug logging on when the option is absent.
  const wasi = new WASI(args, environ, fds, { debug: false });
  wasi.wasiImport.poll_oneoff = pollOneoffImmediate(wasi);
  return {
    imports: { wasi_snapshot_preview1: wasi.wasiImport },
    stdout,
    stderr,
    bind(instance) {
      wasi.inst = instance;
    },
  };
}

/** The error the shim throws when the guest calls proc_exit. */
export { WASIProcExit } from "./vendor/browser_wasi_shim/wasi.js";

// Capability: WASI preview 1 for one invocation: the guest's environment, its stdout/stderr
// captured as logs, no files, clocks and random. Built on @bjorn3/browser_wasi_shim (vendored, see
// vendor/README.md): it implements every wasi_snapshot_preview1 function synchronously in plain JS,
// so a module that imports more than the Rust guests do (a Go reactor imports fd_prestat_*,
// path_open, sched_yield...) still links and gets proper WASI errors instead of a link failure. Two
// things are changed here: output goes to the invocation's bounded captures, and poll_oneoff does
// not spin (see below).

import WASI, { WASIProcExit } from "../vendor/browser_wasi_shim/wasi.js";
import { File, OpenFile, ConsoleStdout } from "../vendor/browser_wasi_shim/fs_mem.js";
import * as defs from "../vendor/browser_wasi_shim/wasi_defs.js";

/** The import module this capability provides. */
export const module = "wasi_snapshot_preview1";

/**
 * A clock-only poll_oneoff that answers at once. The shim's version busy-waits until the clock
 * passes the timeout, but Workers freeze Date and performance.now() while a request computes
 * (a Spectre mitigation), so that loop would never end. A guest therefore cannot sleep on Workers;
 * its timers fire immediately.
 */
function pollOneoffImmediate(invocation) {
  return (inPtr, outPtr, nsubscriptions, neventsPtr) => {
    if (nsubscriptions === 0) return defs.ERRNO_INVAL;
    const view = new DataView(invocation.memory().buffer);
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
 * The wasi_snapshot_preview1 functions for one invocation (see capabilities/index.js for what
 * `invocation` holds): its `env` as the environment, its `args` as argv, stdout and stderr into its
 * captures.
 */
export function imports(invocation) {
  const fds = [
    new OpenFile(new File([])), // stdin: empty
    new ConsoleStdout((bytes) => invocation.stdout.push(bytes)),
    new ConsoleStdout((bytes) => invocation.stderr.push(bytes)),
    // No preopened directories: a guest that looks for files finds none (EBADF at fd 3).
  ];
  const environ = Object.entries(invocation.env).map(([key, value]) => `${key}=${value}`);
  // debug must be false explicitly: the shim turns its debug logging on when the option is absent.
  const wasi = new WASI(invocation.args, environ, fds, { debug: false });
  // The shim reaches guest memory through `inst.exports.memory`; the instance exists only once the
  // imports have been used to create it, so `inst` reads the invocation's.
  Object.defineProperty(wasi, "inst", { get: () => invocation.instance });
  wasi.wasiImport.poll_oneoff = pollOneoffImmediate(invocation);
  return wasi.wasiImport;
}

/** The guest called proc_exit (the shim throws WASIProcExit): a trap, described for the log. */
export function failure(error) {
  return error instanceof WASIProcExit ? `the guest called exit(${error.code})` : undefined;
}

// The guest's output for one invocation: stdout and stderr are each captured with a budget, as on
// the local host, and turned into log lines once the invocation is over (handler.js emits them).

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

// A local Workers KV namespace for workerd: a `kvNamespace` binding turns each call into an HTTP
// request to a service (workerd's src/workerd/api/kv.c++), and this Worker answers them the way
// Cloudflare does, over a SQLite-backed Durable Object on a local disk, so tests run offline. The
// tests' harness (host/tests/it/platforms/workers.rs) serves one per store. Requests:
//   GET    /<key>?urlencoded=true                    the value, 404 when absent or expired
//   PUT    /<key>?urlencoded=true[&expiration_ttl=S]  stores the body
//   DELETE /<key>?urlencoded=true                    removes the key
//   GET    /?prefix=&cursor=&key_count_limit=N        {keys: [{name}], list_complete, cursor}
// Keys sort by their UTF-8 bytes (SQLite's BINARY collation), as Cloudflare lists them; the cursor
// is the last key returned. Two keys misbehave on purpose: writes to RATE_LIMITED_KEY answer 429, as
// Cloudflare does past one write per second to a key, and STALLED_KEY answers only after STALL_MS.
import { DurableObject } from "cloudflare:workers";

/** Writes to this key answer 429 Too Many Requests (the rate-limited path of the tests). */
const RATE_LIMITED_KEY = "rate-limited";
/** Calls on this key answer after STALL_MS (the deadline path of the tests). */
const STALLED_KEY = "stalled";
const STALL_MS = 10_000;

export class KvStore extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB NOT NULL, exp INTEGER NOT NULL)");
  }

  async fetch(request) {
    const url = new URL(request.url);
    const now = Math.floor(Date.now() / 1000);
    if (url.pathname === "/" && request.method === "GET") return this.list(url.searchParams, now);
    const key = decodeURIComponent(url.pathname.slice(1));
    if (key === STALLED_KEY) await new Promise((resolve) => setTimeout(resolve, STALL_MS));
    switch (request.method) {
      case "GET": {
        const row = this.sql.exec("SELECT v FROM kv WHERE k = ? AND (exp = 0 OR exp > ?)", key, now).toArray()[0];
        return row === undefined ? new Response(null, { status: 404 }) : new Response(row.v);
      }
      case "PUT": {
        // Read first: the binding waits for its body to be taken, whatever the answer.
        const value = await request.arrayBuffer();
        if (key === RATE_LIMITED_KEY) return new Response("slow down", { status: 429 });
        const ttl = Number(url.searchParams.get("expiration_ttl") ?? 0);
        this.sql.exec("INSERT OR REPLACE INTO kv (k, v, exp) VALUES (?, ?, ?)", key, value, ttl > 0 ? now + ttl : 0);
        return new Response(null);
      }
      case "DELETE":
        this.sql.exec("DELETE FROM kv WHERE k = ?", key);
        return new Response(null);
      default:
        return new Response(`method ${request.method} is not part of the KV protocol`, { status: 405 });
    }
  }

  list(params, now) {
    const prefix = params.get("prefix") ?? "";
    const cursor = params.get("cursor") ?? "";
    const limit = Number(params.get("key_count_limit") ?? 1000);
    const rows = this.sql
      .exec(
        "SELECT k FROM kv WHERE substr(k, 1, ?) = ? AND k > ? AND (exp = 0 OR exp > ?) ORDER BY k LIMIT ?",
        [...prefix].length,
        prefix,
        cursor,
        now,
        limit + 1,
      )
      .toArray();
    const keys = rows.slice(0, limit).map((row) => ({ name: row.k }));
    const complete = rows.length <= limit;
    return Response.json(
      complete ? { keys, list_complete: true } : { keys, list_complete: false, cursor: keys.at(-1).name },
    );
  }
}

export default {
  /** Every request of this namespace goes to its one Durable Object. */
  async fetch(request, env) {
    return env.STORE.get(env.STORE.idFromName("namespace")).fetch(request);
  },
};

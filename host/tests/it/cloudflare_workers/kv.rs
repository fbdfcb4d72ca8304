//! The key-value store (`edgefn_v1.kv_*`) in real workerd, where the shim suspends the guest with
//! JSPI while the KV binding answers: a WAT guest runs the calls its request body lists and answers
//! what each returned. Each granted store is bound to a local KV namespace (a KV-protocol Worker over
//! a SQLite Durable Object, `platforms::workers`), as a deployed Worker's store is bound to Workers
//! KV. The packaging side: `--env EDGEFN_KV_STORES` declares a namespace per store in
//! `wrangler.toml`.

use crate::common::{Reply, guest};
use crate::platforms::workers::{Workerd, package_wasm_with};
use edgefn_abi::KvListEnvelope;
use std::path::Path;
use std::time::{Duration, Instant};

/// The guest. Request body: `u32 count`, then `count` records of 32 bytes (`u32 op` — 0 get, 1
/// set, 2 delete, 3 exists, 4 list — and its 7 `u32` arguments as the import takes them, the
/// pointers (arguments 0, 2 and 4) as offsets into the body), then the bytes they point at.
/// Response body, one record per call: `i64` what the import returned, `i32` what result_read then
/// returned, the bytes it read. `INIT_EXPORT` names an export that calls kv_get while the module
/// initializes; its record comes first.
const KV_WAT: &str = r#"(module
  (import "edgefn_v1" "kv_get" (func $get (param i32 i32 i32 i32) (result i64)))
  (import "edgefn_v1" "kv_set" (func $set (param i32 i32 i32 i32 i32 i32 i32) (result i64)))
  (import "edgefn_v1" "kv_delete" (func $delete (param i32 i32 i32 i32) (result i64)))
  (import "edgefn_v1" "kv_exists" (func $exists (param i32 i32 i32 i32) (result i64)))
  (import "edgefn_v1" "kv_list" (func $list (param i32 i32 i32 i32 i32 i32 i32) (result i64)))
  (import "edgefn_v1" "result_read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (global $init_code (mut i64) (i64.const 1))
  (global $init_len (mut i32) (i32.const 0))
  (func $alloc (export "edgefn_v1_alloc") (param $len i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.eq
              (memory.grow (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
                                    (memory.size)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $p))
  (func $skip_string (param $p i32) (result i32)
    (i32.add (i32.add (local.get $p) (i32.const 4)) (i32.load (local.get $p))))
  (func $skip_pairs (param $p i32) (result i32)
    (local $n i32)
    (local.set $n (i32.load (local.get $p)))
    (local.set $p (i32.add (local.get $p) (i32.const 4)))
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $p (call $skip_string (call $skip_string (local.get $p))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $p))
  (func $record (param $code i64)
    (local $at i32) (local $cap i32) (local $buf i32) (local $n i32)
    (local.set $at (call $alloc (i32.const 12)))
    (i64.store (local.get $at) (local.get $code))
    (local.set $cap (if (result i32) (i64.ge_s (local.get $code) (i64.const 0))
      (then (i32.wrap_i64 (local.get $code))) (else (i32.const 4096))))
    (local.set $buf (call $alloc (local.get $cap)))
    (local.set $n (call $read (local.get $buf) (local.get $cap)))
    (i32.store offset=8 (local.get $at) (local.get $n))
    (global.set $heap (i32.add (local.get $buf)
      (select (local.get $n) (i32.const 0) (i32.gt_s (local.get $n) (i32.const 0))))))
  (func $call (param $r i32) (param $base i32) (result i64)
    (local $op i32) (local $a0 i32) (local $a1 i32) (local $a2 i32) (local $a3 i32)
    (local $a4 i32) (local $a5 i32) (local $a6 i32)
    (local.set $op (i32.load (local.get $r)))
    (local.set $a0 (i32.add (local.get $base) (i32.load offset=4 (local.get $r))))
    (local.set $a1 (i32.load offset=8 (local.get $r)))
    (local.set $a2 (i32.add (local.get $base) (i32.load offset=12 (local.get $r))))
    (local.set $a3 (i32.load offset=16 (local.get $r)))
    (local.set $a4 (i32.add (local.get $base) (i32.load offset=20 (local.get $r))))
    (local.set $a5 (i32.load offset=24 (local.get $r)))
    (local.set $a6 (i32.load offset=28 (local.get $r)))
    (if (i32.eq (local.get $op) (i32.const 0))
      (then (return (call $get (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)))))
    (if (i32.eq (local.get $op) (i32.const 1))
      (then (return (call $set (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)
                               (local.get $a4) (local.get $a5) (local.get $a6)))))
    (if (i32.eq (local.get $op) (i32.const 2))
      (then (return (call $delete (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)))))
    (if (i32.eq (local.get $op) (i32.const 3))
      (then (return (call $exists (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)))))
    (call $list (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)
                (local.get $a4) (local.get $a5) (local.get $a6)))
  (func (export "INIT_EXPORT")
    (global.set $init_code (call $get (i32.const 0) (i32.const 7) (i32.const 0) (i32.const 1)))
    (global.set $init_len (call $read (i32.const 1024) (i32.const 4096))))
  (func (export "edgefn_v1_handle") (param $ptr i32) (param $len i32) (result i64)
    (local $p i32) (local $body i32) (local $blen i32) (local $count i32) (local $out i32)
    (local $start i32) (local $i i32) (local $at i32)
    (local.set $p (call $skip_pairs (i32.add (local.get $ptr) (i32.const 4))))
    (local.set $p (call $skip_string (local.get $p)))
    (local.set $p (call $skip_string (local.get $p)))
    (local.set $p (call $skip_pairs (local.get $p)))
    (local.set $blen (i32.load (local.get $p)))
    (local.set $body (i32.add (local.get $p) (i32.const 4)))
    (local.set $out (call $alloc (i32.const 16)))
    (local.set $start (global.get $heap))
    (if (i64.ne (global.get $init_code) (i64.const 1)) (then
      (local.set $at (call $alloc (i32.const 12)))
      (i64.store (local.get $at) (global.get $init_code))
      (i32.store offset=8 (local.get $at) (global.get $init_len))
      (memory.copy (call $alloc (global.get $init_len)) (i32.const 1024) (global.get $init_len))))
    (if (i32.ge_u (local.get $blen) (i32.const 4)) (then
      (local.set $count (i32.load (local.get $body)))
      (block $done (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (call $record (call $call
          (i32.add (i32.add (local.get $body) (i32.const 4)) (i32.mul (local.get $i) (i32.const 32)))
          (local.get $body)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))))
    (i32.store (local.get $out) (i32.const 0x31534645))
    (i32.store offset=4 (local.get $out) (i32.const 200))
    (i32.store offset=8 (local.get $out) (i32.const 0))
    (i32.store offset=12 (local.get $out) (i32.sub (global.get $heap) (local.get $start)))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
            (i64.extend_i32_u (i32.sub (global.get $heap) (local.get $out))))))"#;

/// The init export of a guest that makes no call while it initializes.
const NO_INIT: &str = "not_an_init";
/// The one store most tests grant.
const DEFAULT: &[(&str, &str)] = &[("EDGEFN_KV_STORES", "default")];

/// One call the guest makes.
#[derive(Debug, Clone, Copy)]
enum Op<'a> {
    Get(&'a str, &'a str),
    Set(&'a str, &'a str, &'a [u8], u32),
    Delete(&'a str, &'a str),
    Exists(&'a str, &'a str),
    /// Store, prefix, cursor, limit.
    List(&'a str, &'a str, &'a str, u32),
}

/// The request body that makes the guest run `ops` in order.
fn body(ops: &[Op<'_>]) -> Vec<u8> {
    let header = 4 + 32 * ops.len();
    let mut data = Vec::new();
    let mut records = Vec::new();
    let mut place = |bytes: &[u8]| {
        let at = (header + data.len()) as u32;
        data.extend_from_slice(bytes);
        [at, bytes.len() as u32]
    };
    for op in ops {
        let (code, args): (u32, [u32; 7]) = match *op {
            Op::Get(s, k) | Op::Delete(s, k) | Op::Exists(s, k) => {
                let [sp, sl] = place(s.as_bytes());
                let [kp, kl] = place(k.as_bytes());
                let code = match op {
                    Op::Get(..) => 0,
                    Op::Delete(..) => 2,
                    _ => 3,
                };
                (code, [sp, sl, kp, kl, 0, 0, 0])
            }
            Op::Set(s, k, v, ttl) => {
                let [sp, sl] = place(s.as_bytes());
                let [kp, kl] = place(k.as_bytes());
                let [vp, vl] = place(v);
                (1, [sp, sl, kp, kl, vp, vl, ttl])
            }
            Op::List(s, p, c, limit) => {
                let [sp, sl] = place(s.as_bytes());
                let [pp, pl] = place(p.as_bytes());
                let [cp, cl] = place(c.as_bytes());
                (4, [sp, sl, pp, pl, cp, cl, limit])
            }
        };
        records.extend_from_slice(&code.to_le_bytes());
        for arg in args {
            records.extend_from_slice(&arg.to_le_bytes());
        }
    }
    let mut out = (ops.len() as u32).to_le_bytes().to_vec();
    out.extend(records);
    out.extend(data);
    out
}

/// What one call returned, and what result_read then copied.
#[derive(Debug, Clone)]
struct Call {
    code: i64,
    read: i32,
    result: Vec<u8>,
}

impl Call {
    fn message(&self) -> String {
        String::from_utf8_lossy(&self.result).into_owned()
    }

    /// The value or page bytes of a call that succeeded.
    fn ok(&self) -> &[u8] {
        assert!(
            self.code >= 0,
            "the call failed: {} {}",
            self.code,
            self.message()
        );
        assert_eq!(self.read as i64, self.code, "result_read copied it whole");
        &self.result
    }

    fn page(&self) -> (Vec<String>, String) {
        let page = KvListEnvelope::decode(self.ok()).expect("an EKL1 page");
        (
            page.keys.iter().map(|k| k.to_string()).collect(),
            page.cursor.to_owned(),
        )
    }

    fn error(&self) -> (i64, String) {
        (self.code, self.message())
    }
}

fn parse_calls(mut body: &[u8]) -> Vec<Call> {
    let mut calls = Vec::new();
    while !body.is_empty() {
        let code = i64::from_le_bytes(body[..8].try_into().unwrap());
        let read = i32::from_le_bytes(body[8..12].try_into().unwrap());
        let n = read.max(0) as usize;
        calls.push(Call {
            code,
            read,
            result: body[12..12 + n].to_vec(),
        });
        body = &body[12 + n..];
    }
    calls
}

/// The KV guest in workerd; killed when dropped.
struct KvGuest {
    worker: Workerd,
    _dir: tempfile::TempDir,
}

impl KvGuest {
    /// Served with `vars`, every granted store bound to a local namespace.
    fn start(init_export: &str, vars: &[(&str, &str)]) -> KvGuest {
        KvGuest::start_binding(init_export, vars, None)
    }

    /// Served with `vars` and only `stores` bound (all granted ones when `None`).
    fn start_binding(init_export: &str, vars: &[(&str, &str)], stores: Option<&[&str]>) -> KvGuest {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("kv.wasm");
        std::fs::write(
            &wasm,
            wat::parse_str(KV_WAT.replace("INIT_EXPORT", init_export)).unwrap(),
        )
        .unwrap();
        let worker = match stores {
            None => Workerd::start_wasm(&wasm, vars),
            Some(stores) => Workerd::start_wasm_with_kv(&wasm, vars, stores),
        };
        KvGuest { worker, _dir: dir }
    }

    fn post(&self, body: &[u8]) -> Reply {
        self.worker.send("POST", "/", &[], body)
    }

    /// Runs `ops` in one invocation; returns each call's outcome.
    fn run(&self, ops: &[Op<'_>]) -> Vec<Call> {
        let reply = self.post(&body(ops));
        assert_eq!(
            reply.status,
            200,
            "{}\nlog: {}",
            reply.text(),
            self.worker.log()
        );
        parse_calls(&reply.body)
    }

    fn one(&self, op: Op<'_>) -> Call {
        let mut calls = self.run(&[op]);
        assert_eq!(calls.len(), 1, "{calls:?}");
        calls.remove(0)
    }
}

#[test]
fn set_get_exists_list_and_delete_over_a_local_namespace_through_jspi() {
    let kv = KvGuest::start(NO_INIT, DEFAULT);
    let keys = [
        "users/alice",
        "users/bob",
        "users/carol",
        "a/b#c?d",
        "café",
        "日本/😀",
    ];
    let mut ops: Vec<Op<'_>> = keys
        .iter()
        .map(|k| Op::Set("default", k, k.as_bytes(), 0))
        .collect();
    ops.push(Op::Set("default", "users/bob", b"Bob, overwritten", 0));
    ops.push(Op::Set("default", "session", b"expires", 60));
    let calls = kv.run(&ops);
    assert!(
        calls.iter().all(|c| c.code == 0 && c.read == 0),
        "set returns 0 with an empty result: {calls:?}"
    );

    // Another invocation sees them: the namespace, not the instance, holds them.
    let calls = kv.run(&[
        Op::Get("default", "users/bob"),
        Op::Get("default", "日本/😀"),
        Op::Get("default", "session"),
        Op::Exists("default", "a/b#c?d"),
        Op::Get("default", "nobody"),
        Op::Exists("default", "nobody"),
    ]);
    assert_eq!(calls[0].ok(), b"Bob, overwritten", "last writer wins");
    assert_eq!(calls[1].ok(), "日本/😀".as_bytes());
    assert_eq!(calls[2].ok(), b"expires", "a 60 s TTL is still readable");
    assert_eq!((calls[3].code, calls[3].read), (0, 0), "exists: 0");
    assert_eq!(
        calls[4].error(),
        (-2, "the key is not in the store".to_owned())
    );
    assert_eq!(calls[5].code, -2);

    // Pages of two over the users/ prefix, each cursor passed back as it came.
    let mut listed = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let (keys, next) = kv.one(Op::List("default", "users/", &cursor, 2)).page();
        listed.extend(keys);
        pages += 1;
        if next.is_empty() {
            break;
        }
        cursor = next;
        assert!(pages < 10, "the listing ends");
    }
    assert_eq!(listed, ["users/alice", "users/bob", "users/carol"]);
    assert_eq!(pages, 2);
    let (all, cursor) = kv.one(Op::List("default", "", "", 0)).page();
    assert!(cursor.is_empty());
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(all, sorted, "in the order of their UTF-8 bytes");
    assert_eq!(all.len(), 7);

    let calls = kv.run(&[
        Op::Delete("default", "users/bob"),
        Op::Delete("default", "users/bob"),
        Op::Get("default", "users/bob"),
        Op::List("default", "users/", "", 0),
    ]);
    assert_eq!((calls[0].code, calls[1].code), (0, 0), "an absent key too");
    assert_eq!(calls[2].code, -2);
    assert_eq!(calls[3].page().0, ["users/alice", "users/carol"]);
}

#[test]
fn values_up_to_the_portable_maximum_round_trip_and_larger_ones_are_invalid() {
    let kv = KvGuest::start(NO_INIT, DEFAULT);
    let max: Vec<u8> = (0..256 * 1024).map(|i| (i * 7) as u8).collect();
    let over = vec![1u8; 256 * 1024 + 1];
    let calls = kv.run(&[
        Op::Set("default", "big", &max, 0),
        Op::Get("default", "big"),
        Op::Set("default", "bigger", &over, 0),
        Op::Set("default", "short", b"v", 59),
        Op::Get("default", "."),
        Op::List("default", "", "", 1001),
    ]);
    assert_eq!(calls[0].code, 0, "{}", calls[0].message());
    assert!(calls[1].ok() == max.as_slice(), "256 KiB, byte for byte");
    let (code, message) = calls[2].error();
    assert_eq!(code, -3);
    assert_eq!(
        message,
        "the value is 262145 bytes: values are at most 262144 bytes (256 KiB) on every platform"
    );
    assert_eq!(calls[3].code, -3, "{}", calls[3].message());
    assert!(calls[3].message().contains("at least 60 s"));
    assert_eq!(calls[4].code, -3, "{}", calls[4].message());
    assert_eq!(calls[5].code, -3, "{}", calls[5].message());
    assert_eq!(
        kv.one(Op::Get("default", "bigger")).code,
        -2,
        "never stored"
    );
}

#[test]
fn an_ungranted_store_is_denied_and_a_store_without_its_binding_unavailable() {
    let kv = KvGuest::start_binding(
        NO_INIT,
        &[("EDGEFN_KV_STORES", "default sessions")],
        Some(&["default", "other"]),
    );
    let calls = kv.run(&[
        Op::Get("other", "k"),
        Op::Set("sessions", "k", b"v", 0),
        Op::Set("default", "k", b"v", 0),
    ]);
    let (code, message) = calls[0].error();
    assert_eq!(code, -1, "bound but not granted: {message}");
    assert_eq!(
        message,
        "store \"other\" is not granted to this function: add it to kv.stores in the manifest (EDGEFN_KV_STORES on a platform)"
    );
    let (code, message) = calls[1].error();
    assert_eq!(code, -6, "granted but not bound: {message}");
    for needle in [
        "EDGEFN_KV_SESSIONS",
        "[[kv_namespaces]]",
        "wrangler.toml",
        "npx wrangler kv namespace create sessions",
    ] {
        assert!(message.contains(needle), "{needle:?} in {message}");
    }
    assert_eq!(
        calls[2].code,
        0,
        "the bound store works: {}",
        calls[2].message()
    );
}

/// Both initialization exports would reach a Suspending import outside `WebAssembly.promising`
/// in a naive shim (a SuspendError, a trap); here the call is `unsupported` and the request is
/// served.
#[test]
fn a_call_while_the_module_initializes_is_unsupported_not_a_suspend_error() {
    for init in ["edgefn_v1_init", "_initialize"] {
        let kv = KvGuest::start(init, DEFAULT);
        let calls = kv.run(&[Op::Set("default", "k", b"v", 0)]);
        assert_eq!(calls.len(), 2, "{init}: {calls:?}");
        let (code, message) = calls[0].error();
        assert_eq!(code, -8, "{init}: {message}");
        assert_eq!(
            message,
            "edgefn_v1.kv_get is not available while the module initializes (_initialize, edgefn_v1_init): call it from the handler"
        );
        assert_eq!(calls[1].code, 0, "{init}: the handler's call works");
        assert!(!kv.worker.log().contains("SuspendError"), "{init}");
    }
}

#[test]
fn twenty_concurrent_requests_each_suspended_on_several_calls_are_all_correct() {
    const REQUESTS: usize = 20;
    let kv = KvGuest::start(NO_INIT, DEFAULT);
    // Warm the isolate, so every request below runs in the same one at once.
    assert_eq!(kv.one(Op::Exists("default", "warm")).code, -2);
    let results: Vec<Vec<Call>> = std::thread::scope(|scope| {
        let kv = &kv;
        let handles: Vec<_> = (0..REQUESTS)
            .map(|i| {
                scope.spawn(move || {
                    let (a, b) = (format!("r{i:02}/a"), format!("r{i:02}/b"));
                    let (va, vb) = (format!("value a of {i}"), format!("value b of {i}"));
                    let prefix = format!("r{i:02}/");
                    kv.run(&[
                        Op::Set("default", &a, va.as_bytes(), 0),
                        Op::Set("default", &b, vb.as_bytes(), 0),
                        Op::Get("default", &a),
                        Op::Get("default", &b),
                        Op::List("default", &prefix, "", 0),
                        Op::Delete("default", &a),
                        Op::Exists("default", &a),
                    ])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, calls) in results.iter().enumerate() {
        assert_eq!(calls.len(), 7, "request {i}: {calls:?}");
        assert_eq!((calls[0].code, calls[1].code), (0, 0), "request {i}");
        assert_eq!(calls[2].ok(), format!("value a of {i}").as_bytes());
        assert_eq!(calls[3].ok(), format!("value b of {i}").as_bytes());
        assert_eq!(
            calls[4].page(),
            (
                vec![format!("r{i:02}/a"), format!("r{i:02}/b")],
                String::new()
            ),
            "request {i} lists its own keys only"
        );
        assert_eq!((calls[5].code, calls[6].code), (0, -2), "request {i}");
    }
    let (left, _) = kv.one(Op::List("default", "r", "", 0)).page();
    assert_eq!(left.len(), REQUESTS, "each request's b is left: {left:?}");
}

#[test]
fn throttling_is_rate_limited_and_calls_past_the_cap_are_limit() {
    let vars = [DEFAULT, &[("EDGEFN_KV_MAX_OPERATIONS", "3")]].concat();
    let kv = KvGuest::start(NO_INIT, &vars);
    let calls = kv.run(&[
        Op::Set("default", "rate-limited", b"v", 0),
        Op::Get("default", ""),
        Op::Set("default", "k", b"v", 0),
        Op::Get("default", "k"),
        Op::Get("default", "k"),
    ]);
    let (code, message) = calls[0].error();
    assert_eq!(code, -7, "{message}");
    assert!(message.contains("429"), "{message}");
    assert_eq!(calls[1].code, -3, "refused, so not counted");
    assert_eq!((calls[2].code, calls[3].ok()), (0, &b"v"[..]));
    let (code, message) = calls[4].error();
    assert_eq!(code, -4, "the fourth counted call: {message}");
    assert_eq!(
        message,
        "this invocation already made kv.max_operations (3) key-value calls"
    );
}

#[test]
fn a_call_never_outlasts_the_invocations_deadline() {
    let vars = [DEFAULT, &[("EDGEFN_DEADLINE_MS", "700")]].concat();
    let kv = KvGuest::start(NO_INIT, &vars);
    let started = Instant::now();
    let (code, message) = kv.one(Op::Get("default", "stalled")).error();
    assert_eq!(code, -5, "{message}");
    assert_eq!(
        message,
        "the KV namespace bound as EDGEFN_KV_DEFAULT did not answer before the invocation's deadline"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn an_invalid_kv_var_answers_500_and_the_log_names_it() {
    let kv = KvGuest::start(NO_INIT, &[("EDGEFN_KV_STORES", "Not-A-Store")]);
    let reply = kv.post(&body(&[]));
    assert_eq!(reply.status, 500, "{}", reply.text());
    let mut log = String::new();
    for _ in 0..100 {
        log = kv.worker.log();
        if log.contains("EDGEFN_KV_STORES") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        log.contains("EDGEFN_KV_STORES") && log.contains("Not-A-Store"),
        "{log}"
    );
}

/// `edgefn package --env EDGEFN_KV_STORES=...`: the stores are granted in both files, and
/// wrangler.toml binds a KV namespace per store with a placeholder id the printout says how to
/// fill.
#[test]
fn packaging_declares_a_kv_namespace_per_granted_store() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = package_wasm_with(
        &guest("hello"),
        &dir.path().join("bundle"),
        &[("EDGEFN_KV_STORES", "default,sessions"), ("GREETING", "hi")],
    );
    let wrangler = std::fs::read_to_string(bundle.dir.join("wrangler.toml")).unwrap();
    let parsed: toml::Value = toml::from_str(&wrangler).unwrap();
    assert_eq!(
        parsed["vars"]["EDGEFN_KV_STORES"].as_str(),
        Some("default,sessions")
    );
    assert_eq!(parsed["vars"]["GREETING"].as_str(), Some("hi"));
    let bindings: Vec<&str> = parsed["kv_namespaces"]
        .as_array()
        .expect("[[kv_namespaces]]")
        .iter()
        .map(|n| n["binding"].as_str().unwrap())
        .collect();
    assert_eq!(bindings, ["EDGEFN_KV_DEFAULT", "EDGEFN_KV_SESSIONS"]);
    for store in ["default", "sessions"] {
        assert!(
            bundle
                .printed
                .contains(&format!("npx wrangler kv namespace create {store}")),
            "{}",
            bundle.printed
        );
    }
    let capnp = std::fs::read_to_string(bundle.dir.join("config.capnp")).unwrap();
    assert!(
        capnp.contains(r#"(name = "EDGEFN_KV_STORES", text = "default,sessions"),"#),
        "{capnp}"
    );
    assert_refused(&[("EDGEFN_KV_STORES", "Bad")], "EDGEFN_KV_STORES");
    assert_refused(&[("EDGEFN_KV_DEFAULT", "x")], "wrangler.toml declares");
}

fn assert_refused(env: &[(&str, &str)], needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bundle");
    let output = std::process::Command::new(crate::common::edgefn_bin())
        .args(["package", "--target", "cloudflare-workers"])
        .arg(guest("hello"))
        .arg("--out")
        .arg(&out)
        .args(
            env.iter()
                .flat_map(|(k, v)| ["--env".to_owned(), format!("{k}={v}")]),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{env:?} was accepted");
    assert!(stderr.contains(needle), "{needle:?} in {stderr}");
    assert!(!Path::new(&out).exists(), "nothing written for {env:?}");
}

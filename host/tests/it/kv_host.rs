//! The key-value imports on the local host (`edgefn_v1.kv_*`), end to end through `edgefn serve`,
//! with a WAT guest (no SDK involved) that runs a little program sent as its request body, so
//! each test says exactly which pointers and lengths a call gets and reads back every return code
//! and result: misuse is an error code (never a trap or a host failure), the contract's checks
//! hold in the documented order, and calls are counted and refused while initializing.

use crate::common::{Host, Reply, send, shared_cache_dir};
use edgefn_abi::KvListEnvelope;
use std::net::SocketAddr;

/// The probe. Its request body is a program: ops of eight `u32`s (`op`, then arguments `a`..`g`),
/// then a `u32` trailer with the program's length. Its response body is the init's result (0
/// without init), then one record per op. Memory: request at 64 KiB, answer at 4 MiB, data placed
/// by op 7 anywhere the program says (keep it within 8-12 MiB).
const PROBE: &str = r#"
(module
  (import "edgefn_v1" "kv_get" (func $get (param i32 i32 i32 i32) (result i64)))
  (import "edgefn_v1" "kv_set" (func $set (param i32 i32 i32 i32 i32 i32 i32) (result i64)))
  (import "edgefn_v1" "kv_delete" (func $delete (param i32 i32 i32 i32) (result i64)))
  (import "edgefn_v1" "kv_exists" (func $exists (param i32 i32 i32 i32) (result i64)))
  (import "edgefn_v1" "kv_list" (func $list (param i32 i32 i32 i32 i32 i32 i32) (result i64)))
  (import "edgefn_v1" "result_read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 256)
  (global $out (mut i32) (i32.const 0))
  (func (export "edgefn_v1_alloc") (param i32) (result i32) (i32.const 0x10000))
  (func $emit64 (param $v i64)
    (i64.store (global.get $out) (local.get $v))
    (global.set $out (i32.add (global.get $out) (i32.const 8))))
  INIT
  (func (export "edgefn_v1_handle") (param $p i32) (param $n i32) (result i64)
    (local $end i32) (local $at i32) (local $op i32) (local $r i64)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32) (local $e i32) (local $f i32) (local $g i32)
    (global.set $out (i32.const 0x400010))
    (call $emit64 (i64.load (i32.const 0x100)))
    (local.set $end (i32.sub (i32.add (local.get $p) (local.get $n)) (i32.const 4)))
    (local.set $at (i32.sub (local.get $end) (i32.load (local.get $end))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $op (i32.load (local.get $at)))
        (local.set $a (i32.load offset=4 (local.get $at)))
        (local.set $b (i32.load offset=8 (local.get $at)))
        (local.set $c (i32.load offset=12 (local.get $at)))
        (local.set $d (i32.load offset=16 (local.get $at)))
        (local.set $e (i32.load offset=20 (local.get $at)))
        (local.set $f (i32.load offset=24 (local.get $at)))
        (local.set $g (i32.load offset=28 (local.get $at)))
        (local.set $at (i32.add (local.get $at) (i32.const 32)))
        (if (i32.eq (local.get $op) (i32.const 1))
          (then (call $emit64 (call $get (local.get $a) (local.get $b) (local.get $c) (local.get $d)))))
        (if (i32.eq (local.get $op) (i32.const 2))
          (then (call $emit64 (call $set (local.get $a) (local.get $b) (local.get $c) (local.get $d)
                                         (local.get $e) (local.get $f) (local.get $g)))))
        (if (i32.eq (local.get $op) (i32.const 3))
          (then (call $emit64 (call $delete (local.get $a) (local.get $b) (local.get $c) (local.get $d)))))
        (if (i32.eq (local.get $op) (i32.const 4))
          (then (call $emit64 (call $exists (local.get $a) (local.get $b) (local.get $c) (local.get $d)))))
        (if (i32.eq (local.get $op) (i32.const 5))
          (then (call $emit64 (call $list (local.get $a) (local.get $b) (local.get $c) (local.get $d)
                                          (local.get $e) (local.get $f) (local.get $g)))))
        ;; 6: result_read(a, b), then the bytes it copied
        (if (i32.eq (local.get $op) (i32.const 6))
          (then
            (local.set $r (i64.extend_i32_s (call $read (local.get $a) (local.get $b))))
            (call $emit64 (local.get $r))
            (if (i64.ge_s (local.get $r) (i64.const 0))
              (then
                (memory.copy (global.get $out) (local.get $a) (i32.wrap_i64 (local.get $r)))
                (global.set $out (i32.add (global.get $out) (i32.wrap_i64 (local.get $r))))))))
        ;; 7: the a bytes that follow the op, copied to b
        (if (i32.eq (local.get $op) (i32.const 7))
          (then
            (memory.copy (local.get $b) (local.get $at) (local.get $a))
            (local.set $at (i32.add (local.get $at) (local.get $a)))))
        (br $next)))
    (i32.store (i32.const 0x400000) (i32.const 0x31534645))
    (i32.store (i32.const 0x400004) (i32.const 200))
    (i32.store (i32.const 0x400008) (i32.const 0))
    (i32.store (i32.const 0x40000c) (i32.sub (global.get $out) (i32.const 0x400010)))
    (i64.or
      (i64.shl (i64.const 0x400000) (i64.const 32))
      (i64.extend_i32_u (i32.sub (global.get $out) (i32.const 0x400000))))))
"#;

/// The init calls `kv_get` on the store name "default" it writes itself; the handler reports the
/// result.
const INIT: &str = r#"
  (data (i32.const 0x200) "default")
  (func (export "edgefn_v1_init")
    (i64.store (i32.const 0x100)
      (call $get (i32.const 0x200) (i32.const 7) (i32.const 0x200) (i32.const 7))))
"#;

const MEMORY_END: u32 = 256 * 65536;
/// Where the program's data goes, and where results are read to.
const DATA: u32 = 0x80_0000;
const READ_AT: u32 = 0xc0_0000;

const DENIED: i64 = -1;
const NOT_FOUND: i64 = -2;
const INVALID: i64 = -3;
const LIMIT: i64 = -4;
const UNSUPPORTED: i64 = -8;

/// A program under construction: data placed in guest memory, and ops.
#[derive(Default)]
struct Program {
    bytes: Vec<u8>,
    /// What each op answers: `false` a code, `true` a read (code and bytes).
    reads: Vec<bool>,
    next_data: u32,
}

/// A guest memory range.
type Range = (u32, u32);

impl Program {
    fn op(&mut self, words: [u32; 8]) {
        for w in words {
            self.bytes.extend_from_slice(&w.to_le_bytes());
        }
    }

    /// Places `bytes` in guest memory; their range.
    fn data(&mut self, bytes: &[u8]) -> Range {
        let at = DATA + self.next_data;
        self.op([7, bytes.len() as u32, at, 0, 0, 0, 0, 0]);
        self.bytes.extend_from_slice(bytes);
        self.next_data += (bytes.len() as u32).div_ceil(8) * 8 + 8;
        (at, bytes.len() as u32)
    }

    fn call(&mut self, op: u32, args: [u32; 7]) {
        let [a, b, c, d, e, f, g] = args;
        self.op([op, a, b, c, d, e, f, g]);
        self.reads.push(false);
    }

    fn get(&mut self, store: Range, key: Range) {
        self.call(1, [store.0, store.1, key.0, key.1, 0, 0, 0]);
    }

    fn set(&mut self, store: Range, key: Range, value: Range, ttl: u32) {
        self.call(2, [store.0, store.1, key.0, key.1, value.0, value.1, ttl]);
    }

    fn delete(&mut self, store: Range, key: Range) {
        self.call(3, [store.0, store.1, key.0, key.1, 0, 0, 0]);
    }

    fn exists(&mut self, store: Range, key: Range) {
        self.call(4, [store.0, store.1, key.0, key.1, 0, 0, 0]);
    }

    fn list(&mut self, store: Range, prefix: Range, cursor: Range, limit: u32) {
        self.call(
            5,
            [
                store.0, store.1, prefix.0, prefix.1, cursor.0, cursor.1, limit,
            ],
        );
    }

    fn read(&mut self) {
        self.op([6, READ_AT, 1 << 20, 0, 0, 0, 0, 0]);
        self.reads.push(true);
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = self.bytes.clone();
        out.extend_from_slice(&(self.bytes.len() as u32).to_le_bytes());
        out
    }
}

/// What one op returned: its code, and for a read the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    code: i64,
    bytes: Vec<u8>,
}

impl Got {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Runs `program` at `path`: the init's result and one record per op.
fn run(addr: SocketAddr, path: &str, program: &Program) -> (i64, Vec<Got>) {
    let reply: Reply = send(addr, "POST", path, &[], &program.encode());
    assert_eq!(reply.status, 200, "the probe answers: {}", reply.text());
    let body = &reply.body;
    let i64_at = |at: usize| i64::from_le_bytes(body[at..at + 8].try_into().unwrap());
    let init = i64_at(0);
    let mut at = 8;
    let mut got = Vec::new();
    for &read in &program.reads {
        let code = i64_at(at);
        at += 8;
        let n = if read { code.max(0) as usize } else { 0 };
        got.push(Got {
            code,
            bytes: body[at..at + n].to_vec(),
        });
        at += n;
    }
    assert_eq!(at, body.len(), "the whole answer was read");
    (init, got)
}

/// `edgefn serve` with the probe as `probe` (stores "default" and "other" granted, at most
/// `max_operations` calls) and with init as `probe-init`.
fn serve(max_operations: u32, extra: &[&str]) -> Host {
    let dir = tempfile::tempdir().unwrap();
    for (name, init) in [("probe", ""), ("probe-init", INIT)] {
        let wasm = wat::parse_str(PROBE.replace("INIT", init)).expect("the probe assembles");
        std::fs::write(dir.path().join(format!("{name}.wasm")), wasm).unwrap();
    }
    let kv =
        format!("kv = {{ stores = [\"default\", \"other\"], max_operations = {max_operations} }}");
    let manifest = format!(
        "[[function]]\nname = \"probe\"\nwasm = \"probe.wasm\"\n{kv}\n\
         [[function]]\nname = \"probe-init\"\nwasm = \"probe-init.wasm\"\npreinit = false\n{kv}\n\
         [[function]]\nname = \"ungranted\"\nwasm = \"probe.wasm\"\n"
    );
    std::fs::write(dir.path().join("edgefn.toml"), manifest).unwrap();
    let manifest = dir.path().join("edgefn.toml").display().to_string();
    let cache = shared_cache_dir().display().to_string();
    let mut args = vec![manifest.as_str(), "--cache-dir", cache.as_str()];
    args.extend(extra);
    Host::start(dir, &args).unwrap_or_else(|log| panic!("edgefn serve did not start:\n{log}"))
}

/// A key unique to this run, so a persistent local store holds nothing of earlier runs.
fn unique(name: &str) -> Vec<u8> {
    format!("{name}-{}-{}", std::process::id(), fastrand_suffix()).into_bytes()
}

fn fastrand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn kv_misuse_is_an_error_code_never_a_trap_and_checks_run_in_order() {
    let host = serve(1000, &[]);
    let mut p = Program::default();
    let store = p.data(b"default");
    let key = p.data(&unique("k"));
    let value = p.data(b"v");
    // 0: a store name past the end of memory; 1: a key whose length wraps.
    p.get((MEMORY_END - 2, 8), key);
    p.get(store, (0x100, u32::MAX));
    // 2: a store name that is not one; 3: a store not granted (checked before the key).
    let bad_store = p.data(b"Default");
    p.get(bad_store, key);
    let other = p.data(b"sessions");
    p.get(other, (0, 0));
    // 4-7: an empty key, a 513-byte key, "..", a key that is not UTF-8.
    p.get(store, (0, 0));
    let long = p.data(&[b'k'; 513]);
    p.get(store, long);
    let dots = p.data(b"..");
    p.get(store, dots);
    let not_utf8 = p.data(&[0xff, 0xfe]);
    p.get(store, not_utf8);
    // 8: a value one byte over 256 KiB (the probe's memory from 0); 9: a TTL under 60 s.
    p.set(store, key, (0, 256 * 1024 + 1), 0);
    p.set(store, key, value, 30);
    // 10: a page of 1001; 11: a cursor that is not UTF-8.
    p.list(store, (0, 0), (0, 0), 1001);
    p.list(store, (0, 0), not_utf8, 10);
    // 12: the last error's message is pending; 13: read twice finds nothing.
    p.read();
    p.read();
    // 14-19: the store works: a missing key, set, get and its value, exists, delete, exists.
    p.get(store, key);
    p.set(store, key, value, 0);
    p.get(store, key);
    p.read();
    p.exists(store, key);
    p.delete(store, key);
    p.exists(store, key);
    // 21: deleting an absent key succeeds.
    p.delete(store, key);
    for _ in 0..2 {
        let (init, got) = run(host.addr, "/probe", &p);
        assert_eq!(init, 0);
        let codes: Vec<i64> = got.iter().map(|g| g.code).collect();
        assert_eq!(
            codes[..12],
            [
                INVALID, INVALID, INVALID, DENIED, INVALID, INVALID, INVALID, INVALID, INVALID,
                INVALID, INVALID, INVALID
            ],
            "{got:?}"
        );
        assert!(got[12].text().contains("not UTF-8"), "{}", got[12].text());
        assert_eq!(got[13].code, INVALID, "a result is read once");
        assert_eq!(
            codes[14..],
            [NOT_FOUND, 0, 1, 1, 0, 0, NOT_FOUND, 0],
            "{got:?}"
        );
        assert_eq!(got[17].bytes, b"v");
    }
    // The messages name the rule: run the refusals one at a time and read each.
    let message = |build: &dyn Fn(&mut Program, Range, Range)| {
        let mut p = Program::default();
        let store = p.data(b"default");
        let key = p.data(b"k");
        build(&mut p, store, key);
        p.read();
        run(host.addr, "/probe", &p).1[1].text()
    };
    let denied = message(&|p, _, key| {
        let other = p.data(b"sessions");
        p.get(other, key)
    });
    assert!(
        denied.contains("\"sessions\"") && denied.contains("kv.stores"),
        "{denied}"
    );
    let big = message(&|p, store, key| p.set(store, key, (0, 256 * 1024 + 1), 0));
    assert!(big.contains("262145") && big.contains("256 KiB"), "{big}");
    let ttl = message(&|p, store, key| p.set(store, key, (0, 1), 30));
    assert!(ttl.contains("at least 60"), "{ttl}");
    let past = message(&|p, _, key| p.get((MEMORY_END - 2, 8), key));
    assert!(past.contains("not inside the guest's memory"), "{past}");
    assert_eq!(
        run(host.addr, "/probe", &Program::default()).1,
        vec![],
        "still serving"
    );
}

#[test]
fn kv_lists_pages_and_stores_are_apart() {
    let host = serve(1000, &[]);
    let prefix = unique("list");
    let mut p = Program::default();
    let store = p.data(b"default");
    let other = p.data(b"other");
    let value = p.data(b"x");
    let keys: Vec<Vec<u8>> = ["c", "a", "b", "d", "e"]
        .iter()
        .map(|k| [prefix.as_slice(), b"/", k.as_bytes()].concat())
        .collect();
    for key in &keys {
        let key = p.data(key);
        p.set(store, key, value, 0);
    }
    let in_other = p.data(&[prefix.as_slice(), b"/z"].concat());
    p.set(other, in_other, value, 0);
    let prefix_range = p.data(&[prefix.as_slice(), b"/"].concat());
    p.list(store, prefix_range, (0, 0), 2);
    p.read();
    let (_, got) = run(host.addr, "/probe", &p);
    assert!(got[..6].iter().all(|g| g.code == 0), "{got:?}");
    let page = KvListEnvelope::decode(&got[7].bytes).expect("an EKL1 page");
    let name = |k: &str| format!("{}/{k}", String::from_utf8_lossy(&prefix));
    assert_eq!(page.keys, [name("a"), name("b")]);
    assert!(!page.cursor.is_empty(), "more pages follow");
    // Follow the cursors to the end: every key once, in order, and none of the other store's.
    let mut seen: Vec<String> = page.keys.iter().map(|k| k.to_string()).collect();
    let mut cursor = page.cursor.to_owned();
    while !cursor.is_empty() {
        let mut p = Program::default();
        let store = p.data(b"default");
        let prefix_range = p.data(&[prefix.as_slice(), b"/"].concat());
        let cursor_range = p.data(cursor.as_bytes());
        p.list(store, prefix_range, cursor_range, 2);
        p.read();
        let (_, got) = run(host.addr, "/probe", &p);
        assert!(got[0].code > 0, "{}", got[1].text());
        let page = KvListEnvelope::decode(&got[1].bytes).unwrap();
        seen.extend(page.keys.iter().map(|k| k.to_string()));
        cursor = page.cursor.to_owned();
        assert!(seen.len() <= 5, "the listing ends: {seen:?}");
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"].map(name));
}

#[test]
fn kv_calls_are_limited_per_invocation_refused_in_init_and_denied_without_a_grant() {
    const TOKEN: &str = "kv-metrics-token";
    let host = serve(
        3,
        &["--admin-listen", "127.0.0.1:0", "--admin-token", TOKEN],
    );
    let mut p = Program::default();
    let store = p.data(b"default");
    let key = p.data(&unique("limit"));
    for _ in 0..4 {
        p.exists(store, key);
    }
    p.read();
    let (_, got) = run(host.addr, "/probe", &p);
    assert_eq!(
        got.iter().take(4).map(|g| g.code).collect::<Vec<_>>(),
        [NOT_FOUND, NOT_FOUND, NOT_FOUND, LIMIT]
    );
    assert!(
        got[4].text().contains("kv.max_operations (3)"),
        "{}",
        got[4].text()
    );
    // A refused call does not count: three checked refusals, then three calls that go through.
    let mut p = Program::default();
    let store = p.data(b"default");
    let key = p.data(&unique("limit"));
    for _ in 0..3 {
        p.get(store, (0, 0));
    }
    for _ in 0..3 {
        p.exists(store, key);
    }
    let codes: Vec<i64> = run(host.addr, "/probe", &p)
        .1
        .iter()
        .map(|g| g.code)
        .collect();
    assert_eq!(
        codes,
        [INVALID, INVALID, INVALID, NOT_FOUND, NOT_FOUND, NOT_FOUND],
        "the next invocation starts again"
    );
    // The init's call was refused, and the handler's calls then work.
    let mut p = Program::default();
    let store = p.data(b"default");
    let key = p.data(b"k");
    p.exists(store, key);
    let (init, got) = run(host.addr, "/probe-init", &p);
    assert_eq!(init, UNSUPPORTED);
    assert!(got[0].code == 0 || got[0].code == NOT_FOUND, "{got:?}");
    // A function granted no store is denied every one.
    let mut p = Program::default();
    let store = p.data(b"default");
    let key = p.data(b"k");
    p.get(store, key);
    assert_eq!(run(host.addr, "/ungranted", &p).1[0].code, DENIED);
    let stdout = std::fs::read_to_string(host.dir.path().join("stdout.txt")).unwrap();
    let admin: SocketAddr = stdout
        .lines()
        .find_map(|l| l.strip_prefix("edgefn admin on http://"))
        .and_then(|rest| rest.split(' ').next())
        .expect("the admin address is printed")
        .parse()
        .unwrap();
    let auth = format!("Bearer {TOKEN}");
    let metrics = send(
        admin,
        "GET",
        "/metrics",
        &[("authorization", auth.as_bytes())],
        b"",
    );
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    for line in [
        "edgefn_kv_operations_total{function=\"probe\",operation=\"exists\",outcome=\"not-found\"}",
        "edgefn_kv_operations_total{function=\"probe\",operation=\"exists\",outcome=\"limit\"}",
        "edgefn_kv_operations_total{function=\"ungranted\",operation=\"get\",outcome=\"denied\"}",
    ] {
        assert!(text.contains(line), "/metrics lacks {line}:\n{text}");
    }
}

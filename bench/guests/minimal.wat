;; The smallest module that speaks edgefn ABI v1: it ignores the request and answers a fixed
;; "200 hello" envelope from its data segment. Benchmarks use it to measure the host's own
;; per-invocation cost (store, instance, envelope, call, teardown) apart from SDK and guest work,
;; and generate variants of it (different body text) for the density benchmark.
(module
  (memory (export "memory") 1)
  ;; Response envelope at 2048: "EFS1", status 200, reserved 0, 0 headers, body "hello, edgefn\n" (14 bytes).
  (data (i32.const 2048) "EFS1\c8\00\00\00\00\00\00\00\0e\00\00\00hello, edgefn\n")
  (func (export "edgefn_v1_alloc") (param $len i32) (result i32)
    ;; The request lands at 4096; refuse what does not fit in the one page we have.
    (if (result i32) (i32.gt_u (local.get $len) (i32.const 61440))
      (then (i32.const 0))
      (else (i32.const 4096))))
  (func (export "edgefn_v1_handle") (param $ptr i32) (param $len i32) (result i64)
    ;; ptr << 32 | len, with len = 16 header bytes + 14 body bytes.
    (i64.or (i64.shl (i64.const 2048) (i64.const 32)) (i64.const 30))))

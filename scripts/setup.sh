#!/usr/bin/env bash
# Installs what builds and tests need, idempotently: each part checks before it installs.
# Usage: scripts/setup.sh PART...   (parts: rust)
set -euo pipefail
cd "$(dirname "$0")/.."

have_rust_target() { rustup target list --installed 2>/dev/null | grep -qx "$1"; }

for part in "$@"; do
  case "$part" in
    rust)
      if ! have_rust_target wasm32-wasip1; then
        echo "setup: installing the wasm32-wasip1 Rust target"
        rustup target add wasm32-wasip1
      fi
      ;;
    *) echo "setup: unknown part '$part'" >&2; exit 2 ;;
  esac
done

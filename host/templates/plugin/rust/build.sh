#!/usr/bin/env bash
# Builds this agent into a WebAssembly component and prints the component's path, last.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# rustup does not add a target to a toolchain that is already installed: ask for it.
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
cargo build --release --target wasm32-wasip2 --quiet
echo "${CARGO_TARGET_DIR:-$PWD/target}/wasm32-wasip2/release/{{crate}}.wasm"

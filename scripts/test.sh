#!/usr/bin/env bash
# Installs whatever a fresh machine lacks, then runs every test of the workspace.
# This is the README's test command; CI (.ci/run) calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)

step() { printf '\n== %s\n' "$*"; }

step "rust toolchain $toolchain with the wasm32 target"
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  rustup toolchain install "$toolchain" --profile minimal --component rustfmt,clippy
fi
if ! rustup target list --installed --toolchain "$toolchain" | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown --toolchain "$toolchain"
fi

step "system packages (scripts/packages.sh: build tools, xcb and ALSA headers, Xvfb, ffmpeg, Chromium)"
./scripts/packages.sh

step "a private X display (Xvfb) for capture and input tests"
xvfb_out=$(mktemp)
Xvfb -displayfd 3 -nolisten tcp -noreset +extension XTEST +extension RANDR -screen 0 1920x1080x24 \
  3>"$xvfb_out" >/dev/null 2>&1 &
xvfb_pid=$!
trap 'kill $xvfb_pid 2>/dev/null || true; rm -f "$xvfb_out"' EXIT
for _ in $(seq 100); do [ -s "$xvfb_out" ] && break; sleep 0.1; done
export DISPLAY=":$(head -n1 "$xvfb_out")"
echo "Xvfb on $DISPLAY"

step "the browser shim (the protocol crate) builds for wasm32"
# Built before the tests so that the shim's test, which compares this build with the committed
# web/wasm/tether_protocol.wasm, finds it up to date instead of compiling beside timing-sensitive
# tests.
./scripts/build-wasm.sh --build-only

step "every test of the workspace"
cargo test --locked --workspace

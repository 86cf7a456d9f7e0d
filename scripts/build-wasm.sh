#!/usr/bin/env bash
# Builds the browser shim (shim/, the protocol crate behind a C ABI) for wasm32-unknown-unknown,
# reproducibly, and copies it to web/wasm/tether_protocol.wasm, the module the pages load.
#
#   scripts/build-wasm.sh              build and refresh web/wasm/tether_protocol.wasm
#   scripts/build-wasm.sh --out FILE   build and copy to FILE instead (shim/tests/wasm.rs does)
#   scripts/build-wasm.sh --check      build and fail if web/wasm/tether_protocol.wasm differs
#   scripts/build-wasm.sh --build-only build only (scripts/test.sh, before the shim's test)
#
# Reproducible: the same sources and toolchain (rust-toolchain.toml, Cargo.lock) give the same
# bytes on any machine and in any checkout folder. Paths are remapped (no folder of this machine
# ends up in the module), the profile is fixed here (opt-level "z", fat LTO, one codegen unit,
# abort on panic, stripped), and the build has its own target folder (`<target>/wasm-shim`), so
# neither other builds nor their flags touch it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$root"

committed=web/wasm/tether_protocol.wasm
out=$committed
mode=copy
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=${2:?--out needs a file}; shift 2 ;;
    --check) mode=check; shift ;;
    --build-only) mode=build; shift ;;
    *) echo "usage: $0 [--out FILE | --check | --build-only]" >&2; exit 2 ;;
  esac
done

target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$root/$target_dir ;; esac
target_dir=$target_dir/wasm-shim
cargo_home=${CARGO_HOME:-$HOME/.cargo}
sysroot=$(rustc --print sysroot)

# Later remappings win over earlier ones, so the most specific comes last.
flags=(
  "--remap-path-prefix=$cargo_home=/cargo"
  "--remap-path-prefix=$sysroot=/rust"
  "--remap-path-prefix=$root=/tether"
  "--remap-path-prefix=$target_dir=/target"
)
# CARGO_ENCODED_RUSTFLAGS (separated by 0x1f) keeps paths with spaces whole and overrides any
# RUSTFLAGS of the caller's environment.
CARGO_ENCODED_RUSTFLAGS=$(IFS=$'\x1f'; printf '%s' "${flags[*]}")
export CARGO_ENCODED_RUSTFLAGS

profile=(
  --config 'profile.wasm-shim.inherits="release"'
  --config 'profile.wasm-shim.opt-level="z"'
  --config 'profile.wasm-shim.lto="fat"'
  --config 'profile.wasm-shim.codegen-units=1'
  --config 'profile.wasm-shim.panic="abort"'
  --config 'profile.wasm-shim.debug=false'
  --config 'profile.wasm-shim.strip=true'
  --config 'profile.wasm-shim.incremental=false'
)
cargo build --locked --quiet -p tether-shim --lib --target wasm32-unknown-unknown \
  --profile wasm-shim --target-dir "$target_dir" "${profile[@]}"
built=$target_dir/wasm32-unknown-unknown/wasm-shim/tether_shim.wasm

case $mode in
  check)
    if ! cmp -s "$built" "$committed"; then
      echo "$committed differs from a fresh build of shim/: run scripts/build-wasm.sh and commit it" >&2
      exit 1
    fi
    echo "$committed matches a fresh build ($(wc -c <"$built") bytes)" ;;
  build) echo "built $(wc -c <"$built") bytes" ;;
  copy)
    mkdir -p "$(dirname "$out")"
    cp "$built" "$out"
    chmod 644 "$out"
    echo "$out: $(wc -c <"$out") bytes" ;;
esac

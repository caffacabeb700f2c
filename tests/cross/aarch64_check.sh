#!/usr/bin/env bash
# The library built for 64-bit Arm (aarch64) by Debian's cross compiler and
# run under qemu's user-mode emulation: the portable kernel path, the one an
# Arm processor takes, compiled and checked on an instruction set other than
# the x86 one the rest of the suite runs on. Checks that
#   - the library and the CLI cross-compile without a warning;
#   - the library exports what abi/symbols.txt says, under its soname;
#   - `sparsa bench --check` agrees with the float64 reference over the grid
#     of bench/cpu/isa_check.sh (prefill and decode, f32 / bf16 / f16,
#     q_len != kv_len, grouped queries, five mask kinds, token-major and
#     head-major k and v) at head dims ISA_CHECK_DIMS (default 128 and 40:
#     a multiple of every vector width, and one that leaves a remainder);
#   - a framework's dlopen of the library through its one entry point works
#     (tests/release/dlopen_api.c: the api table, an attention call against
#     the reference, load/unload cycles).
# Emulated, the timings mean nothing; the results must still be right.
# Exits 77 (skipped) where the cross compiler or qemu-aarch64 is missing.
# usage: aarch64_check.sh SOURCE_DIR TREE_DIR
set -euo pipefail
src="$(cd "$1" && pwd)"
tree="$2"
cc=aarch64-linux-gnu-gcc
sysroot=/usr/aarch64-linux-gnu
for tool in "$cc" qemu-aarch64; do
  if ! command -v "$tool" >/dev/null; then
    echo "cross_aarch64: $tool not found (tools/deps/cross.apt); skipped"
    exit 77
  fi
done

mkdir -p "$tree"
log="$tree/build.log"
cmake -S "$src" -B "$tree" -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_FIND_ROOT_PATH="$sysroot" \
  -DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER -DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY \
  -DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSPARSA_CUDA=OFF -DSPARSA_BUILD_TESTS=OFF >"$log" 2>&1 ||
  { cat "$log"; echo "cross_aarch64: configuring failed"; exit 1; }
# A clean build, so that every warning shows in this run's log.
cmake --build "$tree" --target sparsa_cli --clean-first -j "$(nproc)" >>"$log" 2>&1 ||
  { cat "$log"; echo "cross_aarch64: building failed"; exit 1; }
if grep -q "warning:" "$log"; then
  grep -B2 -A6 "warning:" "$log"
  echo "cross_aarch64: the aarch64 build has warnings"
  exit 1
fi
library="$tree/core/libsparsa.so"
file -L "$library" | grep -q "ARM aarch64" ||
  { file -L "$library"; echo "cross_aarch64: $library is not an aarch64 library"; exit 1; }
echo "cross_aarch64: built for aarch64 without warnings"

"$src/abi/check-symbols.sh" "$library"

export QEMU_LD_PREFIX="$sysroot"
ISA_CHECK_RUNNER=qemu-aarch64 ISA_CHECK_DIMS="${ISA_CHECK_DIMS:-128 40}" \
  "$src/bench/cpu/isa_check.sh" "$tree"

# The version header is generated into the build tree.
version_dir="$(dirname "$(find "$tree" -name sparsa_version.h -print -quit)")"
"$cc" -std=c11 -O2 -Wall -Wextra -Werror -I"$src/abi/include" -I"$version_dir" \
  -I"$src/tests/release" -o "$tree/dlopen_api" "$src/tests/release/dlopen_api.c" \
  "$src/tests/release/consumer/reference.c" -ldl -lm
qemu-aarch64 "$tree/dlopen_api" "$library" 50
echo "cross_aarch64: passed"

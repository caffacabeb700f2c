#!/usr/bin/env bash
# Configures and builds the libFuzzer tree (clang, ASan + UBSan, coverage
# instrumentation for libFuzzer) if it is missing or stale. One CPU kernel
# path: the targets fuzz the parsers and validation, and instrumented kernel
# builds are most of the tree's build time.
# usage: build_tree.sh SOURCE_DIR TREE_DIR
set -euo pipefail
src="$1"
tree="$2"
if [[ ! -f "$tree/CMakeCache.txt" ]]; then
  cmake -S "$src" -B "$tree" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSPARSA_SANITIZE=address,undefined,fuzzer-no-link -DSPARSA_FUZZ=ON -DSPARSA_CUDA=OFF \
    -DSPARSA_BUILD_TOOLS=OFF -DSPARSA_FAULT_INJECTION=OFF -DSPARSA_CPU_KERNEL_ISAS=generic \
    >"$tree.configure.log" 2>&1 ||
    { cat "$tree.configure.log"; exit 1; }
fi
cmake --build "$tree" -j 2 --target sparsa_fuzz_targets >"$tree.build.log" 2>&1 ||
  { tail -n 60 "$tree.build.log"; exit 1; }

#!/usr/bin/env bash
# Counts the library's allocation sites that the allocation-failure walk
# reaches: builds fault_injection with gcov instrumentation in TREE
# (default build-cov), runs every scenario once (a site the scenarios
# execute is one the walk makes fail), and lists the sites in core/ that
# no scenario reaches.
# usage: tests/fault/site_coverage.sh [TREE]
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
tree="${1:-$src/build-cov}"
cmake -S "$src" -B "$tree" -DCMAKE_BUILD_TYPE=Debug -DSPARSA_CUDA=OFF -DSPARSA_BUILD_TOOLS=OFF \
  -DCMAKE_C_FLAGS="--coverage -DSPARSA_NO_MULTIVERSIONING" -DCMAKE_EXE_LINKER_FLAGS=--coverage \
  -DCMAKE_SHARED_LINKER_FLAGS=--coverage >"$tree.configure.log" 2>&1 ||
  { cat "$tree.configure.log"; exit 1; }
cmake --build "$tree" -j 2 --target fault_injection >"$tree.build.log" 2>&1 ||
  { tail -n 40 "$tree.build.log"; exit 1; }
find "$tree" -name '*.gcda' -delete
# A stride past every scenario's count: each runs uninjected (what counts
# here) and fails once, at its first allocation.
(cd "$tree" && CK_FORK=no SPARSA_FAULT_STRIDE=1000000 tests/fault/fault_injection >/dev/null)
python3 "$src/tests/fault/alloc_sites.py" "$src" "$tree"

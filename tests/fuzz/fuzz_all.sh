#!/usr/bin/env bash
# The ctest entry `fuzz_libfuzzer`: builds the libFuzzer tree once, then runs
# every target for SPARSA_FUZZ_SECONDS (default 35) under ASan + UBSan;
# fails on the first finding.
# usage: fuzz_all.sh SOURCE_DIR TREE_DIR target1,target2,...
set -euo pipefail
src="$1"
tree="$2"
IFS=',' read -r -a targets <<<"$3"
seconds="${SPARSA_FUZZ_SECONDS:-35}"
"$src/tests/fuzz/build_tree.sh" "$src" "$tree"
for target in "${targets[@]}"; do
  "$src/tests/fuzz/run.sh" "$target" "$seconds" "$tree"
done

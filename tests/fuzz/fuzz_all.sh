#!/usr/bin/env bash
# The ctest entry `fuzz_libfuzzer`: builds the libFuzzer tree once, then runs
# every target for SPARSA_FUZZ_SECONDS (default 35) under ASan + UBSan. A
# finding fails the job, after the other targets had their turn (one
# finding must not hide another).
# usage: fuzz_all.sh SOURCE_DIR TREE_DIR target1,target2,...
set -uo pipefail
src="$1"
tree="$2"
IFS=',' read -r -a targets <<<"$3"
seconds="${SPARSA_FUZZ_SECONDS:-35}"
"$src/tests/fuzz/build_tree.sh" "$src" "$tree" || exit 1
failed=()
for target in "${targets[@]}"; do
  "$src/tests/fuzz/run.sh" "$target" "$seconds" "$tree" || failed+=("$target")
done
if ((${#failed[@]})); then
  echo "fuzz_all: findings in: ${failed[*]} (inputs in $tree/artifacts/)" >&2
  exit 1
fi
echo "fuzz_all: ${#targets[@]} targets, ${seconds}s each, no finding"

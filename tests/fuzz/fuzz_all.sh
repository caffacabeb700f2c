#!/usr/bin/env bash
# Every fuzz target for SPARSA_FUZZ_SECONDS (default 35) under ASan + UBSan,
# after building the libFuzzer tree if needed: the ctest entry
# `fuzz_libfuzzer`, and `make fuzz` for a longer run. A finding fails the
# job, after the other targets had their turn (one finding must not hide
# another).
# usage: fuzz_all.sh [SOURCE_DIR [TREE_DIR [target1,target2,...]]]
#   defaults: this checkout, its build-fuzz, every tests/fuzz/fuzz_*.c
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="${1:-$(cd "$here/../.." && pwd)}"
tree="${2:-$src/build-fuzz}"
if [[ -n "${3:-}" ]]; then
  IFS=',' read -r -a targets <<<"$3"
else
  targets=()
  for file in "$src"/tests/fuzz/fuzz_*.c; do targets+=("$(basename "$file" .c)"); done
fi
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

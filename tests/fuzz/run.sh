#!/usr/bin/env bash
# Runs one fuzz target under ASan + UBSan for a given time.
# usage: tests/fuzz/run.sh TARGET SECONDS [TREE_DIR]
#   TARGET  fuzz_problem, fuzz_mask, fuzz_api, ... (tests/fuzz/<TARGET>.c)
#   TREE    build tree for the fuzzers (default: build-fuzz in the source root)
# The working corpus lives in TREE/corpus/TARGET and starts from the seeds in
# tests/fuzz/corpus/TARGET (which it never modifies); a crash leaves its input
# in TREE/artifacts/ and the script exits non-zero. To keep a new finding as
# a regression seed, copy its input into tests/fuzz/corpus/TARGET/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
target="${1:?usage: run.sh TARGET SECONDS [TREE_DIR]}"
seconds="${2:?usage: run.sh TARGET SECONDS [TREE_DIR]}"
tree="${3:-$src/build-fuzz}"

"$here/build_tree.sh" "$src" "$tree"
exe="$tree/tests/fuzz/$target"
[[ -x "$exe" ]] || { echo "run.sh: no fuzz target $target" >&2; exit 2; }
mkdir -p "$tree/corpus/$target" "$tree/artifacts"
seeds="$here/corpus/$target"
[[ -d "$seeds" ]] || seeds=""

# allocator_may_return_null: a huge allocation the library asks for must
# come back as SPARSA_ERR_OUT_OF_MEMORY, not abort the process.
export ASAN_OPTIONS="allocator_may_return_null=1:detect_leaks=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
echo "fuzzing $target for ${seconds}s"
"$exe" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=3072 -malloc_limit_mb=3072 -len_control=20 \
  -print_final_stats=1 -artifact_prefix="$tree/artifacts/$target-" \
  "$tree/corpus/$target" ${seeds:+"$seeds"} 2>"$tree/$target.log" || {
  status=$?
  tail -n 80 "$tree/$target.log"
  echo "run.sh: $target found a failure; reproduce with: $exe <artifact above>" >&2
  exit "$status"
}
grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+.*DONE)" "$tree/$target.log" || true
grep -E "^#[0-9]+" "$tree/$target.log" | tail -n 1 || true

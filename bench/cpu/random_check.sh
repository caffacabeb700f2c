#!/usr/bin/env bash
# Random shapes on one CPU kernel path, each checked against the float64
# reference through `sparsa bench --check`, for as long as asked: query and
# key lengths (q_len != kv_len), batches, grouped queries, head dims 32 to
# 128 and value dims of their own, block sizes 16 to 128 on each axis, six
# mask kinds, top-left alignment and head-major k and v. A companion to
# isa_check.sh's fixed grid, for hosts without the unit-test suite (whose
# execute_random does the same through the API).
# Usage: bench/cpu/random_check.sh [BUILD_DIR]   (needs $BUILD/tools/sparsa)
# Environment: RANDOM_CHECK_ISA (a SPARSA_CPU_ISA name; default: the path a
# context takes), RANDOM_CHECK_SECONDS (120), RANDOM_CHECK_SEED (1),
# RANDOM_CHECK_DTYPES ("bf16 f32 f16").
# Prints one line per failure (its flags reproduce it) and a summary;
# exits 1 if any check failed, 2 if the path does not run here.
set -uo pipefail
build="${1:-build}"
tool="$build/tools/sparsa"
[[ -f "$tool" ]] || { echo "random_check: $tool is missing; build the CLI first" >&2; exit 2; }
isa="${RANDOM_CHECK_ISA:-}"
if ! out="$(SPARSA_CPU_ISA="$isa" "$tool" bench --n 16 --reps 1 2>&1)"; then
  echo "random_check: ${isa:-default path}: not available here: $(grep -m1 -E "error|unsupported" <<<"$out")" >&2
  exit 2
fi
read -ra dtypes <<<"${RANDOM_CHECK_DTYPES:-bf16 f32 f16}"
RANDOM="${RANDOM_CHECK_SEED:-1}"
end=$((SECONDS + ${RANDOM_CHECK_SECONDS:-120}))
patterns=(dense causal blocks:0.3 window:100 sink:16,200 vslash:8,8)
dims=(32 64 96 128)
blocks=(16 32 64 128)
runner=()
source "$(dirname "${BASH_SOURCE[0]}")/bench_check.sh"
while ((SECONDS < end)); do
  dim=${dims[RANDOM % 4]}
  v_dims=("$dim" 16 48 64)
  kv_heads=$((1 + RANDOM % 3))
  q_len=$((1 + RANDOM % 700))
  args=(--dtype "${dtypes[RANDOM % ${#dtypes[@]}]}" --q-len "$q_len" --kv-len "$((q_len + RANDOM % 500))"
    --kv-heads "$kv_heads" --heads "$((kv_heads * (1 + RANDOM % 4)))" --dim "$dim"
    --v-dim "${v_dims[RANDOM % 4]}" --block-q "${blocks[RANDOM % 4]}" --block-kv "${blocks[RANDOM % 4]}"
    --batch "$((1 + RANDOM % 3))" --pattern "${patterns[RANDOM % 6]}")
  ((RANDOM % 3 == 0)) && args+=(--top-left)
  ((RANDOM % 3 == 0)) && args+=(--kv-layout head-major)
  check_run "$isa" 3 "${args[@]}"
done
echo "random_check: ${isa:-default path}: $passed passed, $failed failed"
((failed == 0))

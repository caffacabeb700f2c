#!/usr/bin/env bash
# Every CPU kernel path this processor runs, checked against the float64
# reference through `sparsa bench --check` over a grid of shapes (prefill
# and decode; dtypes; head dims that are and are not a multiple of the
# vector; q_len != kv_len; grouped queries; dense, causal, windowed and
# block-sparse masks; token-major and head-major k and v). For hosts
# without the unit-test suite (no Check library), e.g. a machine lent for
# another path's instructions.
# Usage: bench/cpu/isa_check.sh [BUILD_DIR]   (needs $BUILD/tools/sparsa)
# Environment: ISA_CHECK_RUNNER, a command that runs the tool (an emulator
# for a CLI built for another instruction set, e.g. "qemu-aarch64");
# ISA_CHECK_DIMS, the head dims (default "128 64 80 40").
# Prints one line per failure and a summary; exits 1 if any check failed.
set -uo pipefail
build="${1:-build}"
tool="$build/tools/sparsa"
[[ -f "$tool" ]] || { echo "isa_check: $tool is missing; build the CLI first" >&2; exit 2; }
read -ra runner <<<"${ISA_CHECK_RUNNER:-}"
read -ra dims <<<"${ISA_CHECK_DIMS:-128 64 80 40}"
run_tool() { "${runner[@]}" "$tool" "$@"; }
source "$(dirname "${BASH_SOURCE[0]}")/bench_check.sh"
check() { check_run "$1" 2 "${@:2}"; } # isa, then sparsa bench flags

for isa in amxbf16 avx512bf16 avx512 avx2 generic; do
  if ! SPARSA_CPU_ISA="$isa" run_tool bench --n 16 --reps 1 >/dev/null 2>&1; then
    echo "isa_check: $isa: not available on this processor, skipped"
    continue
  fi
  before=$((passed + failed))
  for dtype in f32 bf16 f16; do
    for dim in "${dims[@]}"; do
      for pattern in dense causal blocks:0.3 sink:16,100 window:50,20; do
        check "$isa" --q-len 300 --kv-len 300 --heads 4 --kv-heads 2 --dim "$dim" --dtype "$dtype" --pattern "$pattern"
        check "$isa" --q-len 77 --kv-len 1000 --heads 3 --dim "$dim" --dtype "$dtype" --pattern "$pattern"
      done
      for q_len in 1 2 5; do
        check "$isa" --q-len "$q_len" --kv-len 1000 --batch 2 --heads 8 --kv-heads 2 --dim "$dim" --dtype "$dtype" --pattern blocks:0.3
        check "$isa" --q-len "$q_len" --kv-len 4133 --heads 6 --kv-heads 2 --dim "$dim" --dtype "$dtype" --pattern causal
      done
      # Head-major k and v (batch, head, token, dim): decode then walks one
      # kv head at a time, and prefill packs rows that lie side by side.
      for q_len in 1 5; do
        check "$isa" --q-len "$q_len" --kv-len 1000 --batch 2 --heads 8 --kv-heads 2 --dim "$dim" --dtype "$dtype" --pattern blocks:0.3 --kv-layout head-major
      done
      check "$isa" --q-len 300 --kv-len 300 --heads 4 --kv-heads 2 --dim "$dim" --dtype "$dtype" --pattern causal --kv-layout head-major
    done
  done
  echo "isa_check: $isa: $((passed + failed - before)) configurations run"
done
echo "isa_check: $passed passed, $failed failed"
[[ $failed -eq 0 ]]

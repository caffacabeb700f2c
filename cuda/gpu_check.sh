#!/usr/bin/env bash
# GPU check of the CUDA engine, for a machine with an NVIDIA GPU: builds the
# library, the plugin and the GPU test driver; runs the GPU test suite (on
# Hopper, every prefill case on both the sm90 and the sm80 kernel), the
# extra checks, and the quick suite and the estimators again with every
# plan's memory poisoned; runs compute-sanitizer (memcheck, racecheck,
# initcheck, synccheck) on a small subset; checks every CPU kernel path of
# the host's processor against float64 (bench/cpu/isa_check.sh: GPU hosts
# often have AVX-512 paths a development machine lacks); then the benchmark
# against PyTorch's SDPA and FlexAttention.
# Logs go to $GPU_CHECK_LOGS (default: <build>/gpu-check). The last line
# printed is the benchmark's JSON summary, with the test and sanitizer
# counts folded in. Exit status: non-zero if a test or sanitizer failed.
#
# Environment: BUILD (default build-gpu), JOBS, SEED, SKIP_BENCH=1,
# SKIP_SANITIZER=1, TEST_TIMEOUT (seconds, default 900).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD:-$root/build-gpu}"
jobs="${JOBS:-$(nproc)}"
seed="${SEED:-$(date +%s)}"
logs="${GPU_CHECK_LOGS:-$build/gpu-check}"
mkdir -p "$logs"

echo "== build ($build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSPARSA_CUDA=ON \
  -DSPARSA_BUILD_TESTS=OFF -DSPARSA_BUILD_TOOLS=ON -DSPARSA_CUDA_TESTS=ON >"$logs/configure.log" 2>&1 \
  || { tail -30 "$logs/configure.log"; echo "configure failed"; exit 2; }
# The checks listed in cuda/tests/EXTRA_CHECKS (device faults, device
# out-of-memory, device estimators, device allocation failures) run one
# after another after the main suite: one of them fills the whole card.
mapfile -t extra_checks < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$root/cuda/tests/EXTRA_CHECKS")
cmake --build "$build" -j "$jobs" --target sparsa sparsa_cuda sparsa_cuda_tests \
  sparsa_cuda_mask_build_test sparsa_cli "${extra_checks[@]}" >"$logs/build.log" 2>&1 \
  || { grep -E "error" "$logs/build.log" | head -30; echo "build failed"; exit 2; }
grep -E "spill|Used [0-9]+ registers" "$logs/build.log" >"$logs/ptxas.log" || true
tests_bin="$(find "$build" -name sparsa_cuda_tests -type f -perm -u+x | head -1)"
mask_bin="$(find "$build" -name sparsa_cuda_mask_build_test -type f -perm -u+x | head -1)"
libdir="$(dirname "$(find "$build" -name 'libsparsa.so' | head -1)")"

echo "== GPU tests (seed $seed)"
# A hung kernel fails the run instead of blocking it (exit 124).
timeout "${TEST_TIMEOUT:-900}" "$tests_bin" --seed "$seed" 2>&1 | tee "$logs/tests.log"
tests_rc=${PIPESTATUS[0]}
tail -1 "$logs/tests.log" | grep '^{' >"$logs/tests.json" || echo '{"tests_failed": -1}' >"$logs/tests.json"
if [[ $tests_rc -eq 77 ]]; then echo "no usable GPU: skipped"; exit 77; fi

echo "== device mask builder"
"$mask_bin" 2>&1 | tee "$logs/mask_build.log"
mask_rc=${PIPESTATUS[0]}
mask_failed=$(grep -oE "^[0-9]+ passed, [0-9]+ failed" "$logs/mask_build.log" | awk '{print $3}')
[[ $mask_rc -ne 0 && -z "$mask_failed" ]] && mask_failed=1
SPARSA_MASK_BUILD_US="$(awk '/^mask_build_us /{print $2}' "$logs/mask_build.log")"
SPARSA_MASK_BUILD_US_128="$(awk '/^mask_build_us_128 /{print $2}' "$logs/mask_build.log")"
export SPARSA_MASK_BUILD_US SPARSA_MASK_BUILD_US_128
python3 - "$logs/tests.json" "${mask_failed:-0}" <<'PY'
import json, sys
path, extra = sys.argv[1], int(sys.argv[2])
d = json.load(open(path))
d["tests_failed"] = d.get("tests_failed", 0) + extra
json.dump(d, open(path, "w"))
PY
[[ $mask_rc -ne 0 ]] && tests_rc=1

count_failure() {
  tests_rc=1
  python3 - "$logs/tests.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["tests_failed"] = d.get("tests_failed", 0) + 1
json.dump(d, open(sys.argv[1], "w"))
PY
}

for check in "${extra_checks[@]}"; do
  echo "== $check"
  bin="$(find "$build" -name "$check" -type f -perm -u+x | head -1)"
  timeout "${TEST_TIMEOUT:-900}" "$bin" >"$logs/$check.log" 2>&1
  rc=$?
  tail -2 "$logs/$check.log"
  if [[ $rc -ne 0 ]]; then echo "  $check failed (exit $rc)"; count_failure; fi
done

# The CPU engine on this host's processor: each of its kernel paths
# against the float64 reference over the isa_check grid.
echo "== CPU kernel paths of this host"
"$root/bench/cpu/isa_check.sh" "$build" >"$logs/isa_check.log" 2>&1
rc=$?
grep -E "configurations run|passed, " "$logs/isa_check.log"
if [[ $rc -ne 0 ]]; then grep FAILED "$logs/isa_check.log" | head -5; count_failure; fi

# Plans' memory poisoned before they write it (plan_memory.h): a kernel
# reading what its plan never wrote fails these.
echo "== poisoned plan memory: GPU tests (quick) and estimators"
est_bin="$(find "$build" -name sparsa_cuda_estimate_test -type f -perm -u+x | head -1)"
poisoned=0
for run in "$tests_bin --quick --seed $seed" "$est_bin --no-timing"; do
  poisoned=$((poisoned + 1))
  SPARSA_CUDA_POISON_PLANS=1 timeout "${TEST_TIMEOUT:-900}" $run >"$logs/poisoned-$poisoned.log" 2>&1
  rc=$?
  tail -1 "$logs/poisoned-$poisoned.log" | cut -c1-80
  if [[ $rc -ne 0 ]]; then echo "  poisoned run failed (exit $rc): $run"; count_failure; fi
done
SPARSA_GPU_ESTIMATE_JSON="$(grep '^{' "$logs/sparsa_cuda_estimate_test.log" 2>/dev/null | tail -1)"
export SPARSA_GPU_ESTIMATE_JSON

# The PyTorch operator of the Python bindings against FlexAttention on the
# same block mask (builds the package for this machine's python3; skips
# with 77 without torch or a GPU).
echo "== PyTorch operator vs FlexAttention (bindings)"
"$root/bindings/python/gpu_torch_check.sh" "$build" "$logs"
rc=$?
tail -3 "$logs/python-torch.log" 2>/dev/null
if [[ $rc -ne 0 && $rc -ne 77 ]]; then count_failure; fi

sanitizer_errors=0
if [[ "${SKIP_SANITIZER:-0}" != 1 ]] && command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck initcheck synccheck; do
    echo "== compute-sanitizer --tool $tool"
    timeout 300 compute-sanitizer --tool "$tool" --error-exitcode 0 "$tests_bin" --sanitize \
      --seed "$seed" >"$logs/sanitizer-$tool.log" 2>&1
    rc=$?
    if [[ $tool == memcheck || $tool == racecheck ]]; then
      timeout 200 compute-sanitizer --tool "$tool" --error-exitcode 0 "$mask_bin" \
        >>"$logs/sanitizer-$tool.log" 2>&1
      # The vertical-slash plan bits kernels (their shared-memory staging).
      timeout 200 compute-sanitizer --tool "$tool" --error-exitcode 0 \
        "$(find "$build" -name sparsa_cuda_vslash_bits_test -type f -perm -u+x | head -1)" \
        --cases 40 >>"$logs/sanitizer-$tool.log" 2>&1
      # The vertical-slash masses from scores in shared memory.
      timeout 200 compute-sanitizer --tool "$tool" --error-exitcode 0 \
        "$(find "$build" -name sparsa_cuda_vslash_mass_test -type f -perm -u+x | head -1)" \
        --cases 30 >>"$logs/sanitizer-$tool.log" 2>&1
    fi
    # The device estimators (without their timing case), and the plans on
    # their masks, whose lists come back in one copy up to their room.
    # Not the fault test (its faults are deliberate) nor the out-of-memory
    # ones.
    if [[ $tool == memcheck || $tool == initcheck ]]; then
      timeout 200 compute-sanitizer --tool "$tool" --error-exitcode 0 \
        "$(find "$build" -name sparsa_cuda_estimate_test -type f -perm -u+x | head -1)" --no-timing \
        >>"$logs/sanitizer-$tool.log" 2>&1
    fi
    # memcheck, initcheck, synccheck: "ERROR SUMMARY: N errors";
    # racecheck: "RACECHECK SUMMARY: H hazards displayed (E errors, W warnings)".
    n=$(grep -oE "ERROR SUMMARY: [0-9]+|\([0-9]+ errors" "$logs/sanitizer-$tool.log" \
        | grep -oE "[0-9]+" | awk '{s+=$1} END {print s+0}')
    if [[ $rc -eq 124 ]]; then echo "  $tool timed out"; n=$((n + 1)); fi
    # A driver that died under the tool (no summary line of its own) is a
    # failure too, whatever the tool counted.
    runs=$(grep -cE "^[0-9]+ passed, 0 failed" "$logs/sanitizer-$tool.log")
    expected=1
    [[ $tool == racecheck ]] && expected=3
    [[ $tool == memcheck ]] && expected=4
    if [[ $runs -lt $expected ]]; then
      echo "  $tool: a test driver did not finish cleanly under the tool"; n=$((n + 1))
    fi
    if ! grep -qE "(ERROR|RACECHECK) SUMMARY" "$logs/sanitizer-$tool.log"; then
      echo "  $tool gave no summary"; tail -5 "$logs/sanitizer-$tool.log"; n=$((n + 1))
    fi
    echo "  $tool: $n errors ($(grep -E '^[0-9]+ passed' "$logs/sanitizer-$tool.log"))"
    sanitizer_errors=$((sanitizer_errors + n))
  done
fi

status=0
[[ $tests_rc -ne 0 || $sanitizer_errors -ne 0 ]] && status=1
if [[ "${SKIP_BENCH:-0}" != 1 ]]; then
  echo "== benchmark"
  PYTHONUNBUFFERED=1 python3 "$root/cuda/bench/bench_gpu.py" --libdir "$libdir" \
    --tests-json "$logs/tests.json" --sanitizer-errors "$sanitizer_errors" 2>&1 | tee "$logs/bench.log"
  [[ ${PIPESTATUS[0]} -ne 0 ]] && status=1
else
  echo "{\"tests_failed\": $(python3 -c "import json;print(json.load(open('$logs/tests.json'))['tests_failed'])"), \"sanitizer_errors\": $sanitizer_errors}"
fi
exit $status

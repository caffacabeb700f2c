#!/usr/bin/env bash
# The PyTorch operator against FlexAttention on a CUDA device
# (tests/test_torch_gpu.py), for the GPU check.
#
# Builds the Python package in BUILD_DIR for the python3 on PATH (or
# $PYTHON), configuring BUILD_DIR with the CUDA engine first if it is not
# configured yet. Where SWIG is missing, the module is compiled from
# bindings/python/generated/, which a machine with SWIG writes with
#   cmake --build <build> --target sparsa_python_generated
# The test runs under pytest where pytest is installed, else as a script.
#
# Usage: gpu_torch_check.sh BUILD_DIR [LOG_DIR]
# Exit status: 0 passed; 1 a test failed; 2 the package could not be built;
# 77 skipped (no torch or no CUDA device).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:?usage: gpu_torch_check.sh BUILD_DIR [LOG_DIR]}"
logs="${2:-$build/gpu-check}"
python="$(command -v "${PYTHON:-python3}")" || { echo "gpu_torch_check: no ${PYTHON:-python3}"; exit 77; }
mkdir -p "$logs"
log="$logs/python-torch.log"
: >"$log"

if ! "$python" -c "import torch" >>"$log" 2>&1; then
  echo "gpu_torch_check: skipped: $python cannot import torch"
  exit 77
fi
if ! "$python" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" >>"$log" 2>&1; then
  echo "gpu_torch_check: skipped: torch sees no CUDA device"
  exit 77
fi

# The module is built for this interpreter, whatever CMake found before.
configure=(-DPython3_EXECUTABLE="$python")
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  configure+=(-DCMAKE_BUILD_TYPE=Release -DSPARSA_CUDA=ON -DSPARSA_BUILD_TESTS=OFF -DSPARSA_BUILD_TOOLS=OFF)
fi
if ! cmake -S "$root" -B "$build" "${configure[@]}" >>"$log" 2>&1; then
  tail -20 "$log"
  echo "gpu_torch_check: configure failed (log: $log)"
  exit 2
fi
if ! cmake --build "$build" -j "${JOBS:-$(nproc)}" --target sparsa_python_package >>"$log" 2>&1; then
  grep -E "sparsa:|error|Error" "$log" | tail -20
  echo "gpu_torch_check: the Python package was not built (log: $log)"
  exit 2
fi

test_file="$here/tests/test_torch_gpu.py"
export PYTHONPATH="$build/bindings/python${PYTHONPATH:+:$PYTHONPATH}"
export SPARSA_REQUIRE_CUDA=1 PYTHONDONTWRITEBYTECODE=1
if "$python" -c "import pytest" >/dev/null 2>&1; then
  "$python" -m pytest -q -rs -p no:cacheprovider "$test_file" 2>&1 | tee -a "$log"
else
  echo "gpu_torch_check: pytest missing; the test runs as a script" | tee -a "$log"
  "$python" "$test_file" 2>&1 | tee -a "$log"
fi
rc=${PIPESTATUS[0]}
[[ $rc -eq 0 ]] || echo "gpu_torch_check: failed (log: $log)"
exit $((rc == 0 ? 0 : 1))

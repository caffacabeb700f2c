#!/usr/bin/env bash
# Proves the ABI check (abi/check-abi.sh) can fail. A scratch copy of the
# library's sources gets one incompatible change: two fields of the public
# struct sparsa_problem trade places (a program built against the old header
# would pass its q_len as kv_len). The copy is built, and the check must
# reject it against a baseline taken from the unmodified library of this
# build, and name the moved field; so only the injected change can be what
# it reports.
#
# Usage: abi-must-fail.sh SOURCE_DIR LIBRARY WORK_DIR BUILD_TYPE
set -euo pipefail
source="$1" library="$2" work="$3" build_type="${4:-RelWithDebInfo}"
rm -rf "$work"
mkdir -p "$work/src"

# The library needs the top-level project, abi/ and core/ only; optional
# directories are left out and the tools, tests and CUDA switched off.
cp "$source/CMakeLists.txt" "$work/src/"
cp -r "$source/abi" "$source/core" "$work/src/"
[[ -d "$source/cmake" ]] && cp -r "$source/cmake" "$work/src/"

header="$work/src/abi/include/sparsa/sparsa_problem.h"
cp "$header" "$work/original.h"
# Swap the q_len and kv_len lines.
awk '/^ *int64_t q_len;/ { held = $0; next }
     /^ *int64_t kv_len;/ && held != "" { print; print held; held = ""; next }
     { print }' "$work/original.h" >"$header"
if cmp -s "$work/original.h" "$header"; then
  echo "abi-must-fail: could not find q_len and kv_len in sparsa_problem.h to swap" >&2
  exit 1
fi

if ! { cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE="$build_type" \
         -DSPARSA_BUILD_TESTS=OFF -DSPARSA_BUILD_TOOLS=OFF -DSPARSA_CUDA=OFF &&
       cmake --build "$work/build" --target sparsa -j2; } >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  echo "abi-must-fail: the scratch copy did not build" >&2
  exit 1
fi
changed="$(find "$work/build" -name 'libsparsa.so.*.*.*' -type f | head -n1)"

"$source/abi/update-baseline.sh" "$library" "$work/baseline.abi"
# The unmodified library passes against its own baseline...
"$source/abi/check-abi.sh" "$library" "$work/baseline.abi" >/dev/null
# ...and the changed one must not.
if "$source/abi/check-abi.sh" "$changed" "$work/baseline.abi" >"$work/report" 2>&1; then
  cat "$work/report"
  echo "abi-must-fail: the ABI check accepted swapped sparsa_problem fields" >&2
  exit 1
fi
if ! grep -q "'int64_t q_len' offset changed" "$work/report"; then
  cat "$work/report" >&2
  echo "abi-must-fail: the check failed, but not on the moved field q_len" >&2
  exit 1
fi
echo "abi-must-fail: the ABI check rejected the swapped sparsa_problem fields:"
grep -E "offset changed|sparsa_problem" "$work/report" | head -n 5
rm -rf "$work"

#!/usr/bin/env bash
# Proves the ABI check (abi/check-abi.sh) can fail. A scratch copy of the
# library's sources gets one incompatible change: the field `scale` of the
# public struct sparsa_problem moves from the end to the front, so every
# field after struct_size shifts (a program built against the old header
# would hand the library its dtype as the scale). The copy is built, and the
# check must reject it against a baseline taken from the unmodified library
# of this build, naming a moved field; so only the injected change can be
# what it reports. (Swapping two fields of one type would not do: the layout
# stays identical and abidiff rightly calls that a harmless rename.)
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
# Move the `float scale;` line to just after `uint32_t struct_size;`.
awk '/^ *float scale;/ { next }
     { print }
     /^ *uint32_t struct_size;/ && !moved { print "  float scale;"; moved = 1 }' \
  "$work/original.h" >"$header"
if cmp -s "$work/original.h" "$header" || ! grep -q '^ *float scale;' "$work/original.h"; then
  echo "abi-must-fail: could not find the fields of sparsa_problem to move" >&2
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
if "$source/abi/check-abi.sh" --headers "$work/src/abi/include/sparsa" "$changed" "$work/baseline.abi" >"$work/report" 2>&1; then
  cat "$work/report"
  echo "abi-must-fail: the ABI check accepted a reordered sparsa_problem" >&2
  exit 1
fi
if ! grep -q "'sparsa_dtype dtype' offset changed" "$work/report"; then
  cat "$work/report" >&2
  echo "abi-must-fail: the check failed, but not on the shifted field dtype" >&2
  exit 1
fi
echo "abi-must-fail: the ABI check rejected the reordered sparsa_problem:"
grep -E "offset changed|sparsa_problem" "$work/report" | head -n 5
rm -rf "$work"

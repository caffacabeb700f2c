#!/usr/bin/env bash
# The acceptance case "a C program built against an installed copy runs
# sink + window attention and matches the reference": install the runtime
# and development components (headers and library, nothing else) into an
# empty prefix with `cmake --install`, then build the consumer program
# against that prefix with pkg-config and with find_package, and run both.
# Also checks that the headers compile as strict C99 and as C++, and the
# CMake package's version rule: a request for the next major version must be
# refused.
#
# Usage: prefix-install.sh BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR
set -euo pipefail
build="$1" consumer="$2" work="$3"
prefix="$work/prefix"
rm -rf "$work"
mkdir -p "$work"

for component in runtime development; do
  cmake --install "$build" --prefix "$prefix" --component "$component" >>"$work/install.log"
done

# Headers, the library and its metadata: anything else is a packaging bug.
(cd "$prefix" && find . -type f -o -type l) | LC_ALL=C sort >"$work/files"
unexpected="$(grep -Ev '^\./include/sparsa/[a-z_]+\.h$|^\./lib[^/]*(/[^/]+)?/(libsparsa\.so(\.[0-9.]+)?|pkgconfig/sparsa\.pc|cmake/sparsa/sparsa[A-Za-z-]*\.cmake)$' "$work/files" || true)"
if [[ -n "$unexpected" ]]; then
  echo "prefix-install: unexpected files in the runtime and development components:" >&2
  echo "$unexpected" >&2
  exit 1
fi
library="$(cd "$prefix" && find . -name 'libsparsa.so.[0-9]*' -type l | head -n1)"
library="${library#./}"
libdir="$prefix/$(dirname "$library")"
[[ -f "$prefix/include/sparsa/sparsa.h" && -n "$library" ]] ||
  { echo "prefix-install: headers or library missing in $prefix" >&2; exit 1; }

unset LD_LIBRARY_PATH PKG_CONFIG_PATH CMAKE_PREFIX_PATH

# The installed headers are strict C99, and C++ sees C linkage (a missing
# extern "C" guard would leave the C++ program's references unresolved).
printf '%s\n' '#include <sparsa/sparsa.h>' \
  'int main(void) { return sparsa_get_api(SPARSA_ABI_VERSION) == 0; }' >"$work/headers.c"
cp "$work/headers.c" "$work/headers.cpp"
cc -std=c99 -pedantic -Wall -Wextra -Werror -I"$prefix/include" -o "$work/headers_c99" \
  "$work/headers.c" -L"$libdir" -lsparsa
c++ -std=c++11 -pedantic -Wall -Wextra -Werror -I"$prefix/include" -o "$work/headers_cxx" \
  "$work/headers.cpp" -L"$libdir" -lsparsa
LD_LIBRARY_PATH="$libdir" "$work/headers_cxx"
echo "prefix-install: the headers compile as C99 and C++11 (-pedantic -Werror)"

# pkg-config sees only this prefix's files.
flags="$(PKG_CONFIG_LIBDIR="$libdir/pkgconfig" pkg-config --cflags --libs sparsa)"
echo "prefix-install: consumer built with pkg-config: $flags"
# shellcheck disable=SC2086 # separate words on purpose
cc -std=c11 -O2 -o "$work/sink_window_pkgconfig" "$consumer/sink_window.c" "$consumer/reference.c" \
  $flags -lm -ldl
LD_LIBRARY_PATH="$libdir" "$work/sink_window_pkgconfig" "$libdir"

echo "prefix-install: consumer built with find_package(sparsa 0.1)"
configure() {
  cmake -S "$consumer" -B "$1" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF "${@:2}"
}
configure "$work/cmake-build" >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log" >&2; exit 1; }
cmake --build "$work/cmake-build" >>"$work/cmake.log" 2>&1 || { cat "$work/cmake.log" >&2; exit 1; }
# CMake's build-tree RPATH points at the prefix: no LD_LIBRARY_PATH needed.
"$work/cmake-build/sink_window" "$libdir"

major="$(sed -nE 's/^#define SPARSA_VERSION_MAJOR ([0-9]+).*/\1/p' "$prefix/include/sparsa/sparsa_version.h")"
if configure "$work/cmake-next-major" -DSPARSA_WANTED_VERSION="$((major + 1)).0" >"$work/next-major.log" 2>&1; then
  echo "prefix-install: find_package(sparsa $((major + 1)).0) accepted version $major" >&2
  exit 1
fi
grep -q 'not compatible\|not found\|version' "$work/next-major.log" ||
  { cat "$work/next-major.log" >&2; exit 1; }
echo "prefix-install: both consumers match the reference; find_package refuses version $((major + 1)).0"

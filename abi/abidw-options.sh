# Sourced by the ABI scripts: how a libsparsa is described and compared, so
# the baseline and every check see the library the same way.
# shellcheck shell=bash disable=SC2034
# Only types reachable from the public headers count; paths of the machine
# that built the library are left out so a baseline is reproducible.
abi_headers_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/include/sparsa"
abidw_options=(--no-corpus-path --no-comp-dir-path --headers-dir "$abi_headers_dir" --drop-private-types)
# Added functions are compatible; everything else abidiff reports (removed
# functions, changed parameter or return types, struct layout changes) is not.
abidiff_options=(--no-added-syms --headers-dir2 "$abi_headers_dir" --drop-private-types)

# require_debug_info LIBRARY: abidw describes types from DWARF; without it
# the comparison would see only symbol names.
require_debug_info() {
  if ! readelf -S "$1" | grep -q '\.debug_info'; then
    echo "abi: $1 has no debug information; build with -g (CMAKE_BUILD_TYPE RelWithDebInfo or Debug)" >&2
    return 1
  fi
}

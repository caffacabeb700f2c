# Sourced by the ABI scripts: how a libsparsa is described, so the baseline
# and every check see a library the same way.
# shellcheck shell=bash

# abi_describe LIBRARY OUT [HEADERS_DIR]: write the abidw XML of LIBRARY.
# Only types defined in the public headers (HEADERS_DIR, default
# abi/include/sparsa of this tree) count: the opaque handles' private
# definitions may change freely. Paths of the machine that built the library
# are left out, so a baseline is reproducible anywhere.
abi_describe() {
  local library="$1" out="$2"
  local headers="${3:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/include/sparsa}"
  # abidw describes types from DWARF; without it only names would be compared.
  if ! readelf -S "$library" | grep -q '\.debug_info'; then
    echo "abi: $library has no debug information; build with -g (CMAKE_BUILD_TYPE RelWithDebInfo or Debug)" >&2
    return 77
  fi
  abidw --no-corpus-path --no-comp-dir-path --no-show-locs --headers-dir "$headers" \
    --drop-private-types --out-file "$out" "$library" || return 1
  # Translation units are named by absolute path; keep them relative to the
  # source tree.
  sed -E -i "s#path='/[^']*/((abi|core)/[^']*)'#path='\1'#" "$out" || return 1
}

# soname_of LIBRARY
soname_of() {
  readelf -d "$1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p'
}

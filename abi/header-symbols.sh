#!/usr/bin/env bash
# Prints, sorted and one per line, every function the public headers declare
# with SPARSA_API: the library's intended exports. Comments are stripped by
# the compiler's own preprocessor (not a regex) so prose that mentions
# SPARSA_API cannot add or hide a name; macros stay unexpanded so the marker
# is still visible.
# Usage: header-symbols.sh [HEADER_DIR]   (default: abi/include/sparsa)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:-$here/include/sparsa}"
cc="${CC:-cc}"

shopt -s nullglob
headers=("$dir"/*.h)
if ((${#headers[@]} == 0)); then
  echo "header-symbols: no headers in $dir" >&2
  exit 1
fi

for h in "${headers[@]}"; do
  # -fpreprocessed: strip comments, keep directives and macro names as text.
  "$cc" -x c -fpreprocessed -dD -E -P "$h" 2>/dev/null
done |
  tr '\n' ' ' |
  grep -oE 'SPARSA_API[^;(]*[^A-Za-z0-9_]sparsa_[A-Za-z0-9_]+[[:space:]]*\(' |
  grep -oE 'sparsa_[A-Za-z0-9_]+[[:space:]]*\($' |
  sed -E 's/[[:space:]]*\($//' |
  LC_ALL=C sort -u

#!/usr/bin/env bash
# Keeps the exported interface in agreement, from four sources that must
# say the same thing:
#   1. the public headers (functions declared with SPARSA_API),
#   2. abi/symbols.txt (each function with the node that introduced it),
#   3. abi/libsparsa.map (the version script the library links with),
#   4. the built library (`nm -D --defined-only`), which must export nothing
#      but sparsa_ functions, each in the node symbols.txt names, under the
#      soname libsparsa.so.<major>.
# 1-3 are compared by regenerating symbols.txt and the map from the headers
# into a scratch directory and diffing with the committed files. Every
# function must also have its entry in the api table (sparsa_api.h).
#
# Usage: check-symbols.sh [--warn] [LIBRARY]
#   --warn   report disagreement but exit 0 (used at link time, so a new
#            header function that is not exported yet is named at once).
#   LIBRARY  libsparsa.so to check (step 4); omitted: steps 1-3 only.
set -euo pipefail
abi_dir="$(cd "$(dirname "$0")" && pwd)"
warn_only=0
if [[ "${1:-}" == "--warn" ]]; then warn_only=1; shift; fi
library="${1:-}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
problems=0
problem() { echo "abi-symbols: $*" >&2; problems=$((problems + 1)); }

# 1-3: headers -> symbols.txt -> map.
if ! "$abi_dir/update-symbols.sh" --out "$tmp/generated" 2>"$tmp/update.err"; then
  cat "$tmp/update.err" >&2
  problem "the headers no longer declare functions that symbols.txt records"
else
  for f in symbols.txt libsparsa.map; do
    if ! diff -u "$abi_dir/$f" "$tmp/generated/$f" >"$tmp/$f.diff"; then
      problem "abi/$f disagrees with the public headers (run abi/update-symbols.sh):"
      cat "$tmp/$f.diff" >&2
    fi
  done
fi

# The api table (sparsa_api.h) holds every public function but its own entry
# point, under the name without the prefix: a framework that dlopens the
# library reaches everything through it.
while read -r name; do
  [[ "$name" == sparsa_get_api ]] && continue
  grep -Eq "\(\*${name#sparsa_}\)\(" "$abi_dir/include/sparsa/sparsa_api.h" ||
    problem "$name has no entry ${name#sparsa_} in the api table (sparsa_api.h)"
done < <("$abi_dir/header-symbols.sh" "$abi_dir/include/sparsa")

# 4: the library's dynamic symbol table.
if [[ -n "$library" ]]; then
  if [[ ! -f "$library" ]]; then
    problem "no library at $library"
  else
    # The soname carries the major version, and only it.
    major="$(sed -nE 's/^project\(sparsa VERSION ([0-9]+)\..*/\1/p' "$(dirname "$abi_dir")/CMakeLists.txt")"
    soname="$(readelf -d "$library" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
    [[ "$soname" == "libsparsa.so.$major" ]] ||
      problem "$library has soname '$soname', not libsparsa.so.$major"
    # "ADDRESS TYPE NAME@@NODE"; the nodes themselves appear as absolute (A)
    # symbols and are not functions.
    nm -D --defined-only "$library" | awk '$2 != "A" { print $2, $3 }' >"$tmp/nm"
    if [[ ! -s "$tmp/nm" ]]; then
      problem "$library exports nothing"
    fi
    while read -r type versioned; do
      name="${versioned%%@*}"
      node="${versioned##*@}"
      [[ "$name" == sparsa_* ]] || problem "$library exports $name, which is not a sparsa_ symbol"
      # T: a function; i: a function resolved at load time (GNU ifunc, as
      # instruction-set multiversioning produces).
      [[ "$type" == T || "$type" == i ]] || problem "$library exports $name as a symbol of type $type, not a function"
      [[ "$versioned" == *@@* ]] || problem "$library exports $name without a default version node"
      recorded="$(awk -v n="$name" '$1 == n { print $2 }' "$abi_dir/symbols.txt")"
      if [[ -z "$recorded" ]]; then
        problem "$library exports $name, which abi/symbols.txt does not list"
      elif [[ "$recorded" != "$node" ]]; then
        problem "$library exports $name in node $node; abi/symbols.txt says $recorded"
      fi
    done <"$tmp/nm"
    sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$abi_dir/symbols.txt" | cut -d' ' -f1 |
      while read -r name; do
        grep -q " $name@" "$tmp/nm" || echo "$name"
      done >"$tmp/missing"
    while read -r name; do
      problem "abi/symbols.txt lists $name but $library does not export it"
    done <"$tmp/missing"
  fi
fi

if ((problems)); then
  if ((warn_only)); then
    echo "abi-symbols: warning: $problems disagreement(s); the release tests will fail until fixed" >&2
    exit 0
  fi
  exit 1
fi
((warn_only)) || echo "abi-symbols: headers, symbols.txt, libsparsa.map${library:+ and $(basename "$library")} agree"

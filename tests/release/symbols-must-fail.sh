#!/usr/bin/env bash
# Proves the symbol consistency check (abi/check-symbols.sh) can fail: on
# scratch copies of abi/ it must reject
#   1. a header function that symbols.txt and the map do not list,
#   2. the same function listed, but without an entry in the api table,
#   3. a symbols.txt that lost a function the library exports,
#   4. a library that exports a symbol without the sparsa_ prefix.
# Each case must fail, and name the culprit.
#
# Usage: symbols-must-fail.sh SOURCE_DIR LIBRARY
set -euo pipefail
source="$1" library="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# fresh_copy DIR: the check scripts find headers and version relative to
# themselves, so a copy of abi/ plus the top-level CMakeLists.txt is enough.
fresh_copy() {
  rm -rf "$1"
  mkdir -p "$1"
  cp -r "$source/abi" "$1/abi"
  cp "$source/CMakeLists.txt" "$1/"
}
# must_fail WHAT NAME COMMAND...: COMMAND must fail and mention NAME.
failures=0
must_fail() {
  local what="$1" name="$2"
  shift 2
  if "$@" >"$tmp/out" 2>&1; then
    echo "symbols-must-fail: the check accepted $what" >&2
    failures=$((failures + 1))
  elif ! grep -q "$name" "$tmp/out"; then
    echo "symbols-must-fail: the check rejected $what without naming $name:" >&2
    cat "$tmp/out" >&2
    failures=$((failures + 1))
  else
    echo "symbols-must-fail: rejected $what"
  fi
}

# The real tree passes, or the cases below would prove nothing.
"$source/abi/check-symbols.sh" "$library"

fresh_copy "$tmp/new-function"
printf '%s\n' '#ifdef __cplusplus' 'extern "C" {' '#endif' \
  'SPARSA_API sparsa_status sparsa_release_probe_new(int32_t value);' \
  '#ifdef __cplusplus' '}' '#endif' >>"$tmp/new-function/abi/include/sparsa/sparsa_plan.h"
must_fail "a header function missing from symbols.txt" sparsa_release_probe_new \
  "$tmp/new-function/abi/check-symbols.sh"

# The same function recorded in symbols.txt and the map, but given no entry
# in the api table.
fresh_copy "$tmp/no-table-entry"
cp "$tmp/new-function/abi/include/sparsa/sparsa_plan.h" "$tmp/no-table-entry/abi/include/sparsa/"
"$tmp/no-table-entry/abi/update-symbols.sh"
must_fail "a function without an api table entry" "no entry release_probe_new" \
  "$tmp/no-table-entry/abi/check-symbols.sh"

fresh_copy "$tmp/lost-symbol"
sed -i '/^sparsa_execute /d' "$tmp/lost-symbol/abi/symbols.txt"
must_fail "a symbols.txt without sparsa_execute" sparsa_execute \
  "$tmp/lost-symbol/abi/check-symbols.sh" "$library"

# A library with every listed function plus one foreign export.
fresh_copy "$tmp/foreign"
sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$source/abi/symbols.txt" | cut -d' ' -f1 |
  awk '{ print "void " $1 "(void) {}" } END { print "void helper_without_prefix(void) {}" }' >"$tmp/foreign/lib.c"
{
  echo 'SPARSA_0.1 { global:'
  sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$source/abi/symbols.txt" | cut -d' ' -f1 | sed 's/$/;/'
  echo 'helper_without_prefix; local: *; };'
} >"$tmp/foreign/lib.map"
cc -shared -fPIC -Wl,--version-script="$tmp/foreign/lib.map" -o "$tmp/foreign/libsparsa.so" "$tmp/foreign/lib.c"
must_fail "a library exporting helper_without_prefix" helper_without_prefix \
  "$tmp/foreign/abi/check-symbols.sh" "$tmp/foreign/libsparsa.so"

((failures == 0))

#!/usr/bin/env bash
# Builds the HTML documentation: renders one picture of every pattern kind
# with the sparsa CLI, checks the pattern guide shows each of them, then runs
# Doxygen, whose configuration turns every warning (an undocumented public
# symbol, a bad @param, a missing picture) into a failure.
#
# Usage: build-docs.sh DOXYGEN SPARSA_CLI DOCS_BINARY_DIR DOCS_SOURCE_DIR
set -euo pipefail
doxygen="$1" cli="$2" out="$3" docs="$4"

rm -rf "$out/patterns" "$out/html"
"$cli" render --all "$out/patterns" >"$out/render.log"

shopt -s nullglob
pictures=("$out"/patterns/*.png)
if ((${#pictures[@]} == 0)); then
  echo "docs: sparsa render --all drew nothing" >&2
  exit 1
fi
missing=0
for picture in "${pictures[@]}"; do
  name="$(basename "$picture")"
  if ! grep -q "($name)" "$docs/patterns.md"; then
    echo "docs: docs/patterns.md does not show $name (a kind without its guide entry)" >&2
    missing=1
  fi
done
((missing == 0))

# Doxygen prints warnings on stderr; with FAIL_ON_WARNINGS it exits non-zero
# after reporting all of them.
if ! (cd "$out" && "$doxygen" Doxyfile) 2>"$out/doxygen-warnings.log"; then
  cat "$out/doxygen-warnings.log" >&2
  echo "docs: doxygen reported $(grep -c . "$out/doxygen-warnings.log") warning line(s)" >&2
  exit 1
fi
if [[ -s "$out/doxygen-warnings.log" ]]; then
  cat "$out/doxygen-warnings.log" >&2
  echo "docs: doxygen printed warnings" >&2
  exit 1
fi
echo "docs: ${#pictures[@]} pattern pictures, HTML in $out/html/index.html"

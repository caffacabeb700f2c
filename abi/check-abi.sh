#!/usr/bin/env bash
# Compares a built libsparsa with the committed ABI baseline and fails on
# any change that is not the addition of functions: removed functions,
# changed parameter or return types, and changed struct layouts (appending a
# field to a size-prefixed struct or to the api table is deliberate: review
# the report, then refresh the baseline with update-baseline.sh).
#
# Usage: check-abi.sh [--headers DIR] LIBRARY [BASELINE]
#   --headers  public headers the library was built from (default: this
#              tree's abi/include/sparsa)
#   BASELINE   default: abi/baseline/<soname>.abi
# Exit status: 0 compatible, 1 incompatible or error, 77 no debug info.
set -euo pipefail
abi_dir="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=abi/abidw-options.sh
. "$abi_dir/abidw-options.sh"

headers="$abi_dir/include/sparsa"
if [[ "${1:-}" == "--headers" ]]; then headers="$2"; shift 2; fi
library="${1:?usage: $0 [--headers DIR] LIBRARY [BASELINE]}"
soname="$(soname_of "$library")"
baseline="${2:-$abi_dir/baseline/${soname:?$library has no soname}.abi}"
if [[ ! -f "$baseline" ]]; then
  echo "abi: no baseline $baseline; create it with abi/update-baseline.sh" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
status=0
abi_describe "$library" "$tmp/current.abi" "$headers" || status=$?
((status == 0)) || exit "$status"

# Both sides described the same way, then compared; added functions are
# compatible. abidiff's status is a bit set: 1 error, 2 usage error,
# 4 ABI change, 8 incompatible change (removed symbols).
abidiff --no-added-syms "$baseline" "$tmp/current.abi" || status=$?
if ((status == 0)); then
  echo "abi: $(basename "$library") is compatible with $(basename "$baseline")"
  exit 0
fi
if ((status & 3)); then
  echo "abi: abidiff could not compare (status $status)" >&2
else
  echo "abi: $(basename "$library") changed the ABI recorded in $(basename "$baseline") (abidiff status $status)" >&2
fi
exit 1

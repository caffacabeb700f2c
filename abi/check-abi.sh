#!/usr/bin/env bash
# Compares a built libsparsa with the committed ABI baseline and fails on
# any change that is not the addition of functions: removed functions,
# changed parameter or return types, and changed struct layouts (appending a
# field to a size-prefixed struct or to the api table is deliberate: review
# the report, then refresh the baseline with update-baseline.sh).
#
# Usage: check-abi.sh LIBRARY [BASELINE]
#   BASELINE  default: abi/baseline/<soname>.abi
# Exit status: 0 compatible, 1 incompatible or error, 77 no debug info.
set -euo pipefail
abi_dir="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=abi/abidw-options.sh
. "$abi_dir/abidw-options.sh"

library="${1:?usage: $0 LIBRARY [BASELINE]}"
soname="$(readelf -d "$library" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
baseline="${2:-$abi_dir/baseline/${soname:?$library has no soname}.abi}"
if [[ ! -f "$baseline" ]]; then
  echo "abi: no baseline $baseline; create it with abi/update-baseline.sh" >&2
  exit 1
fi
require_debug_info "$library" || exit 77

status=0
abidiff "${abidiff_options[@]}" "$baseline" "$library" || status=$?
# abidiff's status is a bit set: 1 error, 2 usage error, 4 ABI change,
# 8 incompatible change (removed symbols).
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

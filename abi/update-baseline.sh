#!/usr/bin/env bash
# Writes the ABI baseline (abidw XML) of a built libsparsa: run it once the
# release's API is final, and commit the result with the release. The ABI
# check compares every later build with it.
#
# Usage: update-baseline.sh LIBRARY [OUT]
#   LIBRARY  the built libsparsa.so (e.g. build/core/libsparsa.so), with debug info
#   OUT      default: abi/baseline/libsparsa.so.<major>.abi
set -euo pipefail
abi_dir="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=abi/abidw-options.sh
. "$abi_dir/abidw-options.sh"

library="${1:?usage: $0 LIBRARY [OUT]}"
soname="$(soname_of "$library")"
out="${2:-$abi_dir/baseline/${soname:?$library has no soname}.abi}"
mkdir -p "$(dirname "$out")"
abi_describe "$library" "$out"
echo "abi: wrote the baseline of $soname to $out"

#!/usr/bin/env bash
# Brings every ABI record up to date with the headers, in the order that
# works: regenerate symbols.txt and the version script, relink the library
# with them, write the abidw baseline of the relinked library, then run both
# checks. For the end of a release's development, once its API is final;
# review `git diff abi/` before committing.
#
# Usage: refresh.sh BUILD_DIR [--allow-removal]
set -euo pipefail
abi_dir="$(cd "$(dirname "$0")" && pwd)"
build="${1:?usage: $0 BUILD_DIR [--allow-removal]}"
shift

"$abi_dir/update-symbols.sh" "$@"
cmake --build "$build" --target sparsa -j2
library="$build/core/libsparsa.so"
"$abi_dir/update-baseline.sh" "$library"
"$abi_dir/check-symbols.sh" "$library"
"$abi_dir/check-abi.sh" "$library"

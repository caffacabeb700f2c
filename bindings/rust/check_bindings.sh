#!/usr/bin/env bash
# Regenerates sparsa-sys/src/bindings.rs from the public headers and fails
# on any difference from the committed file: the headers changed without
# the Rust bindings following.
#   check_bindings.sh <dir holding sparsa/sparsa_version.h> <work dir>
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$2"
"$here/sparsa-sys/generate.sh" "$1" "$2/bindings.rs"
if ! diff -u "$here/sparsa-sys/src/bindings.rs" "$2/bindings.rs"; then
  echo "sparsa-sys/src/bindings.rs is stale: run" >&2
  echo "  bindings/rust/sparsa-sys/generate.sh <build>/include bindings/rust/sparsa-sys/src/bindings.rs" >&2
  echo "and commit the result." >&2
  exit 1
fi
echo "bindings.rs matches the headers"

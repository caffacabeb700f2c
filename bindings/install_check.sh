#!/usr/bin/env bash
# One language's bindings installed into an empty prefix with
# `cmake --install` (the runtime component and the language's), then used
# from there, away from the build tree: the language's example under
# docs/examples runs against the installed files only.
#
#   python  the package under <libdir>/python3/dist-packages
#   java    <datadir>/java/sparsa.jar and <libdir>/jni/libsparsa_java.so,
#           which must find libsparsa by itself (no LD_LIBRARY_PATH)
#   go      the module's sources under <datadir>/sparsa/bindings, built by
#           the go tool with the installed headers (development component)
#
# Usage: install_check.sh LANG BUILD_DIR SOURCE_DIR WORK_DIR TOOL [TOOL2]
#   TOOL: the python interpreter, java (TOOL2 javac), or go.
set -euo pipefail
lang="$1" build="$2" source="$3" work="$4" tool="$5" tool2="${6:-}"
prefix="$work/prefix"
rm -rf "$work"
mkdir -p "$work"

components=(runtime "$lang")
[[ $lang == go ]] && components+=(development)
for component in "${components[@]}"; do
  cmake --install "$build" --prefix "$prefix" --component "$component" >>"$work/install.log"
done
unset LD_LIBRARY_PATH PYTHONPATH CLASSPATH CGO_CFLAGS CGO_LDFLAGS
library="$(cd "$prefix" && find . -name 'libsparsa.so.[0-9]*' -type l | head -n1)"
[[ -n "$library" ]] || { echo "install_check: no libsparsa.so.N in $prefix" >&2; exit 1; }
libdir="$prefix/$(dirname "${library#./}")"
# expect PATH...: installed files that must exist.
expect() {
  local path
  for path in "$@"; do
    [[ -e "$path" ]] || { echo "install_check: $lang: $path was not installed" >&2; exit 1; }
  done
}
cd "$work"

case "$lang" in
python)
  site="$(find "$prefix" -type d -path '*/dist-packages/sparsa' | head -n1)"
  expect "$site/__init__.py" "$site/capi.py" "$site/torch.py"
  ls "$site"/_capi*.so >/dev/null
  # The package links the installed libsparsa; system packages find it
  # through the loader cache, a prefix through LD_LIBRARY_PATH.
  PYTHONPATH="$(dirname "$site")"
  export PYTHONPATH LD_LIBRARY_PATH="$libdir" PYTHONDONTWRITEBYTECODE=1
  "$tool" -c "import sparsa, sys; sys.exit(not sparsa.__file__.startswith('$site'))" ||
    { echo "install_check: python imported sparsa from elsewhere than $site" >&2; exit 1; }
  "$tool" "$source/docs/examples/python/attention.py"
  ;;
java)
  jar="$prefix/share/java/sparsa.jar"
  jni="$(find "$prefix" -name libsparsa_java.so | head -n1)"
  expect "$jar" "$jni"
  mkdir -p classes
  "$tool2" -d classes -cp "$jar" "$source/docs/examples/java/Attention.java"
  "$tool" -Djava.library.path="$(dirname "$jni")" -cp "$jar:classes" Attention
  ;;
go)
  module="$prefix/share/sparsa/bindings/go"
  expect "$module/go.mod" "$module/internal/capi/capi.swig" "$prefix/share/sparsa/bindings/sparsa.i" \
    "$prefix/share/sparsa/bindings/common/sparsa_bind.c" "$prefix/include/sparsa/sparsa.h"
  mkdir -p example
  cp "$source/docs/examples/go/main.go" example/
  printf '%s\n' 'module sparsa-example' '' 'go 1.19' '' 'require sparsa v0.0.0' '' \
    "replace sparsa => $module" >example/go.mod
  (cd example && env GOENV=off GO111MODULE=on GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local \
    CGO_ENABLED=1 GOCACHE="$work/gocache" GOPATH="$work/gopath" \
    CGO_CFLAGS="-O2 -I$prefix/include/sparsa -I$prefix/share/sparsa/bindings/common" \
    CGO_LDFLAGS="-L$libdir -Wl,-rpath,$libdir" "$tool" run .)
  ;;
*)
  echo "install_check: unknown language $lang" >&2
  exit 2
  ;;
esac
echo "install_check: $lang bindings installed into $prefix and used from there"

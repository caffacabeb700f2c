#!/usr/bin/env bash
# Builds the release packages (.deb and .rpm, one per install component) from
# a built tree with CPack, then checks what the two packages every
# installation needs hold and declare: the runtime library (soname, shlibs,
# no headers) and the development files (every public header, the .so link,
# pkg-config and CMake package files, an exact-version dependency on the
# runtime). The system-install test then installs the .debs.
#
# Usage: package-build.sh BUILD_DIR SOURCE_DIR OUT_DIR
set -euo pipefail
build="$1" source="$2" out="$3"
rm -rf "$out"
mkdir -p "$out"

version="$(sed -nE 's/^set\(CPACK_PACKAGE_VERSION "([^"]*)".*/\1/p' "$build/CPackConfig.cmake")"
major="${version%%.*}"
if ! cpack --config "$build/CPackConfig.cmake" -G "DEB;RPM" -B "$out" >"$out/cpack.log" 2>&1; then
  cat "$out/cpack.log" >&2
  echo "package-build: cpack failed" >&2
  exit 1
fi

failures=0
fail() { echo "package-build: $*" >&2; failures=$((failures + 1)); }
# expect_file LISTING REGEX WHAT
expect_file() { grep -Eq "$2" "$1" || fail "$3"; }

shopt -s nullglob
debs=("$out"/*.deb)
rpms=("$out"/*.rpm)
((${#debs[@]})) || fail "no .deb was built"
((${#rpms[@]})) || fail "no .rpm was built"

# --- .deb --------------------------------------------------------------------
declare -A deb_of
for deb in "${debs[@]}"; do
  name="$(dpkg-deb -f "$deb" Package)"
  deb_of[$name]="$deb"
  dpkg-deb -c "$deb" | awk '{ print $6 }' >"$out/$name.deb.files"
  echo "package-build: $(basename "$deb"): $(dpkg-deb -f "$deb" Depends)"
done

runtime="libsparsa$major"
if [[ -n "${deb_of[$runtime]:-}" ]]; then
  listing="$out/$runtime.deb.files"
  expect_file "$listing" "^\./usr/lib[^ ]*/libsparsa\.so\.$major$" "$runtime lacks the soname link libsparsa.so.$major"
  expect_file "$listing" "^\./usr/lib[^ ]*/libsparsa\.so\.$version$" "$runtime lacks libsparsa.so.$version"
  if grep -Eq '\.h$|libsparsa\.so$' "$listing"; then fail "$runtime holds development files"; fi
  tools_deb="${deb_of[sparsa-tools]:-}"
  if [[ -n "$tools_deb" ]]; then
    dpkg-deb -f "$tools_deb" Depends | grep -q 'libc6' ||
      fail "sparsa-tools does not depend on libc6 (dpkg-shlibdeps did not run)"
  fi
  dpkg-deb -f "${deb_of[$runtime]}" Depends | grep -q 'libc6' ||
    fail "$runtime does not depend on libc6 (dpkg-shlibdeps did not run)"
  dpkg-deb -e "${deb_of[$runtime]}" "$out/$runtime.control"
  grep -q "^libsparsa $major $runtime" "$out/$runtime.control/shlibs" 2>/dev/null ||
    fail "$runtime has no shlibs entry 'libsparsa $major $runtime'"
else
  fail "no $runtime .deb"
fi

if [[ -n "${deb_of[libsparsa-dev]:-}" ]]; then
  listing="$out/libsparsa-dev.deb.files"
  for header in "$source"/abi/include/sparsa/*.h; do
    expect_file "$listing" "^\./usr/include/sparsa/$(basename "$header")$" \
      "libsparsa-dev lacks $(basename "$header")"
  done
  expect_file "$listing" '^\./usr/include/sparsa/sparsa_version\.h$' "libsparsa-dev lacks sparsa_version.h"
  expect_file "$listing" '^\./usr/lib[^ ]*/libsparsa\.so$' "libsparsa-dev lacks the libsparsa.so link"
  expect_file "$listing" '^\./usr/lib[^ ]*/pkgconfig/sparsa\.pc$' "libsparsa-dev lacks sparsa.pc"
  for f in sparsaConfig sparsaConfigVersion sparsaTargets; do
    expect_file "$listing" "^\./usr/lib[^ ]*/cmake/sparsa/$f\.cmake$" "libsparsa-dev lacks $f.cmake"
  done
  dpkg-deb -f "${deb_of[libsparsa-dev]}" Depends | grep -Fq "$runtime (= $version)" ||
    fail "libsparsa-dev does not depend on exactly $runtime (= $version)"
else
  fail "no libsparsa-dev .deb"
fi

# The CUDA engine exists only in builds with a CUDA compiler.
cuda="libsparsa-cuda$major"
if [[ -n "${deb_of[$cuda]:-}" ]]; then
  expect_file "$out/$cuda.deb.files" "^\./usr/lib[^ ]*/libsparsa_cuda\.so\.$major$" "$cuda lacks libsparsa_cuda.so.$major"
  dpkg-deb -f "${deb_of[$cuda]}" Depends | grep -Fq "$runtime (= $version)" ||
    fail "$cuda does not depend on exactly $runtime (= $version)"
fi

# The bindings' packages exist where their toolchains were found at build
# time; each holds what its language loads and depends on the library.
if [[ -n "${deb_of[python3-sparsa]:-}" ]]; then
  expect_file "$out/python3-sparsa.deb.files" '^\./usr/lib[^ ]*/dist-packages/sparsa/_capi[^ ]*\.so$' \
    "python3-sparsa lacks the extension module"
  expect_file "$out/python3-sparsa.deb.files" '^\./usr/lib[^ ]*/dist-packages/sparsa/torch\.py$' \
    "python3-sparsa lacks sparsa/torch.py"
fi
if [[ -n "${deb_of[libsparsa-java]:-}" ]]; then
  expect_file "$out/libsparsa-java.deb.files" '^\./usr/share/java/sparsa\.jar$' "libsparsa-java lacks sparsa.jar"
  expect_file "$out/libsparsa-java.deb.files" '^\./usr/lib[^ ]*/jni/libsparsa_java\.so$' \
    "libsparsa-java lacks the JNI library"
  dpkg-deb -f "${deb_of[libsparsa-java]}" Depends | grep -Fq "$runtime (= $version)" ||
    fail "libsparsa-java does not depend on exactly $runtime (= $version)"
fi
if [[ -n "${deb_of[golang-sparsa-dev]:-}" ]]; then
  for f in go/go.mod go/plan.go go/internal/capi/capi.swig sparsa.i common/sparsa_bind.c; do
    expect_file "$out/golang-sparsa-dev.deb.files" "^\./usr/share/sparsa/bindings/$f$" "golang-sparsa-dev lacks $f"
  done
  if grep -q '_test\.go$' "$out/golang-sparsa-dev.deb.files"; then fail "golang-sparsa-dev holds tests"; fi
  dpkg-deb -f "${deb_of[golang-sparsa-dev]}" Depends | grep -Fq "libsparsa-dev (= $version)" ||
    fail "golang-sparsa-dev does not depend on exactly libsparsa-dev (= $version)"
fi

# --- .rpm --------------------------------------------------------------------
declare -A rpm_of
for rpm in "${rpms[@]}"; do
  name="$(rpm -qp --queryformat '%{NAME}' "$rpm" 2>/dev/null)"
  rpm_of[$name]="$rpm"
  rpm -qpl "$rpm" 2>/dev/null >"$out/$name.rpm.files"
  echo "package-build: $(basename "$rpm")"
done
if [[ -n "${rpm_of[sparsa]:-}" ]]; then
  expect_file "$out/sparsa.rpm.files" "^/usr/lib[^ ]*/libsparsa\.so\.$version$" "sparsa.rpm lacks libsparsa.so.$version"
  rpm -qp --provides "${rpm_of[sparsa]}" 2>/dev/null | grep -q "^libsparsa\.so\.$major()" ||
    fail "sparsa.rpm does not provide libsparsa.so.$major"
else
  fail "no sparsa .rpm"
fi
if [[ -n "${rpm_of[sparsa-devel]:-}" ]]; then
  expect_file "$out/sparsa-devel.rpm.files" '^/usr/include/sparsa/sparsa\.h$' "sparsa-devel.rpm lacks sparsa.h"
  expect_file "$out/sparsa-devel.rpm.files" '^/usr/lib[^ ]*/pkgconfig/sparsa\.pc$' "sparsa-devel.rpm lacks sparsa.pc"
  rpm -qp --requires "${rpm_of[sparsa-devel]}" 2>/dev/null | grep -qx "sparsa = $version" ||
    fail "sparsa-devel.rpm does not require exactly sparsa = $version"
else
  fail "no sparsa-devel .rpm"
fi

if ((failures)); then
  exit 1
fi
echo "package-build: ${#debs[@]} .deb and ${#rpms[@]} .rpm packages in $out"

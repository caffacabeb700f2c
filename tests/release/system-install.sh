#!/usr/bin/env bash
# Installs the release .debs into this machine, builds the consumer program
# against them twice (with pkg-config and with find_package), runs both
# (sink + window attention checked against a float64 reference, and the
# library must be the installed one), loads the library by soname with
# dlopen as a framework would, then purges the packages and checks the
# machine is as it was: same `dpkg -l`, no file of the packages left.
#
# Needs root. Refuses to run where a sparsa package is already installed,
# since purging it afterwards would not leave the machine as found.
#
# Usage: system-install.sh PACKAGE_DIR CONSUMER_SOURCE_DIR WORK_DIR
set -euo pipefail
pkgdir="$1" consumer="$2" work="$3"

if [[ $(id -u) -ne 0 ]]; then
  echo "system-install: installing packages needs root; skipped" >&2
  exit 77
fi
rm -rf "$work"
mkdir -p "$work"

shopt -s nullglob
debs=("$pkgdir"/*.deb)
if ((${#debs[@]} == 0)); then
  echo "system-install: no .deb in $pkgdir" >&2
  exit 1
fi
names=()
for deb in "${debs[@]}"; do names+=("$(dpkg-deb -f "$deb" Package)"); done
for name in "${names[@]}"; do
  if dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q 'installed'; then
    echo "system-install: $name is already installed here; not touching it" >&2
    echo "(if a killed run of this test left it, remove it with: dpkg --purge ${names[*]})" >&2
    exit 1
  fi
done

dpkg_state() { dpkg-query -W -f='${binary:Package} ${Version} ${Status}\n' | LC_ALL=C sort; }
dpkg_state >"$work/dpkg-before"

installed=0
purge() {
  if ((installed)); then
    installed=0
    dpkg --purge "${names[@]}" >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; return 1; }
  fi
}
# Whatever happens below, the packages do not outlive the test.
trap purge EXIT

echo "system-install: dpkg -i ${names[*]}"
installed=1
dpkg -i "${debs[@]}" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; exit 1; }

for name in "${names[@]}"; do dpkg -L "$name"; done | LC_ALL=C sort -u >"$work/package-files"
runtime_so="$(grep -E '/libsparsa\.so\.[0-9]+$' "$work/package-files" | head -n1)"
libdir="$(dirname "$runtime_so")"
# The package's maintainer scripts must have refreshed the loader cache.
# (Read from a file, not a pipe: `grep -q` leaves at its first match, and
# under pipefail the SIGPIPE that ldconfig may then get fails the check.)
ldconfig -p >"$work/ldconfig-installed"
grep -q "	$(basename "$runtime_so") " "$work/ldconfig-installed" ||
  { echo "system-install: the dynamic loader cache does not list $(basename "$runtime_so")" >&2; exit 1; }

# Nothing from a build tree may help the consumers find sparsa.
unset LD_LIBRARY_PATH PKG_CONFIG_PATH CMAKE_PREFIX_PATH

echo "system-install: consumer built with pkg-config: $(pkg-config --cflags --libs sparsa)"
# shellcheck disable=SC2046 # pkg-config prints separate words on purpose
cc -std=c11 -O2 -o "$work/sink_window_pkgconfig" "$consumer/sink_window.c" "$consumer/reference.c" \
  $(pkg-config --cflags --libs sparsa) -lm -ldl
"$work/sink_window_pkgconfig" "$libdir"

echo "system-install: consumer built with find_package(sparsa)"
cmake -S "$consumer" -B "$work/cmake-build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log" >&2; exit 1; }
cmake --build "$work/cmake-build" >>"$work/cmake.log" 2>&1 || { cat "$work/cmake.log" >&2; exit 1; }
"$work/cmake-build/sink_window" "$libdir"

# A framework's way in: dlopen by soname, found through the loader cache.
echo "system-install: dlopen(\"$(basename "$runtime_so")\") and sparsa_get_api"
# shellcheck disable=SC2046
cc -std=c11 -O2 -o "$work/dlopen_api" "$consumer/../dlopen_api.c" "$consumer/reference.c" \
  -I"$consumer/.." $(pkg-config --cflags sparsa) -ldl -lm
"$work/dlopen_api" "$(basename "$runtime_so")" 10

# The Java bindings as a Debian JVM finds them: the jar by its path, the JNI
# library on the JVM's default java.library.path.
jar="$(grep -E '/java/sparsa\.jar$' "$work/package-files" | head -n1 || true)"
if [[ -n "$jar" ]] && command -v javac >/dev/null; then
  echo "system-install: the Java example against $jar"
  mkdir -p "$work/java"
  javac -d "$work/java" -cp "$jar" "$consumer/../../../docs/examples/java/Attention.java"
  java -cp "$jar:$work/java" Attention
fi

purge
trap - EXIT
dpkg_state >"$work/dpkg-after"
if ! diff -u "$work/dpkg-before" "$work/dpkg-after"; then
  echo "system-install: dpkg -l differs after purging the packages" >&2
  exit 1
fi
left=0
while read -r path; do
  # Directories the base system owns (/usr, /usr/lib ...) stay, of course.
  if [[ -e "$path" && ! -d "$path" ]] || [[ -d "$path" && "$path" == *sparsa* ]]; then
    echo "system-install: $path is still there after the purge" >&2
    left=1
  fi
done <"$work/package-files"
ldconfig -p >"$work/ldconfig-purged"
if grep -q 'libsparsa\.so' "$work/ldconfig-purged"; then
  echo "system-install: the dynamic loader cache still lists libsparsa" >&2
  left=1
fi
((left == 0))
echo "system-install: installed, used and purged ${#names[@]} packages; dpkg state unchanged"

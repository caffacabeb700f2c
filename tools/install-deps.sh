#!/usr/bin/env bash
# Installs what building and testing sparsa needs, and nothing that is
# already there: Debian packages from tools/deps/*.apt and Python packages
# from tools/deps/*.pip (one name per line, '#' comments). Idempotent; safe
# to run on every `make`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

read_list() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$@" 2>/dev/null | tr -s ' \t' '\n' | sort -u; }

mapfile -t apt_wanted < <(read_list "$here"/deps/*.apt)
missing=()
for pkg in "${apt_wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [[ $(id -u) -eq 0 ]] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mapfile -t pip_wanted < <(read_list "$here"/deps/*.pip)
pip_missing=()
for spec in "${pip_wanted[@]}"; do
  name="${spec%%[<>=!]*}"
  python3 -m pip show -q "$name" >/dev/null 2>&1 || pip_missing+=("$spec")
done
if ((${#pip_missing[@]})); then
  echo "install-deps: installing Python packages: ${pip_missing[*]}"
  pip_flags=(-q --disable-pip-version-check)
  # A distribution's own interpreter (PEP 668) refuses pip unless told: the
  # packages listed are ones the distribution does not provide (torch).
  if python3 -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))'; then
    pip_flags+=(--break-system-packages)
  fi
  python3 -m pip install "${pip_flags[@]}" "${pip_missing[@]}"
fi

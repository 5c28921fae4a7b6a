#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/deps.txt that are missing. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t wanted < <(sed -e 's/#.*//' "$here/deps.txt" | awk 'NF {print $1}')
missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
# Debian's own nodejs comes without npm (a separate package); nodesource's nodejs, which these
# machines have, provides npm itself and conflicts with Debian's npm. So npm is not in deps.txt:
# it is installed below only when the npm command is missing.
need_npm() { ! command -v npm >/dev/null 2>&1; }
if ((${#missing[@]} == 0)) && ! need_npm; then
  exit 0
fi
echo "bootstrap: installing ${missing[*]:-npm}"
if [[ $(id -u) -ne 0 ]]; then
  echo "bootstrap: not root; run: sudo apt-get install -y ${missing[*]:-npm} (and npm if the npm command is then missing)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Never let a package start its service while installing: fapolicyd, started with its default
# rules on /, would gate every open on this machine. policy-rc.d 101 = "action forbidden".
guard=/usr/sbin/policy-rc.d
restore=""
if [[ -e $guard ]]; then restore=$(mktemp); cp -p "$guard" "$restore"; fi
trap 'if [[ -n "$restore" ]]; then mv -f "$restore" "$guard"; else rm -f "$guard"; fi' EXIT
printf '#!/bin/sh\nexit 101\n' >"$guard"
chmod 755 "$guard"
apt-get update -qq
if ((${#missing[@]} > 0)); then
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if need_npm; then
  echo "bootstrap: installing npm (this nodejs does not provide it)"
  apt-get install -y -qq --no-install-recommends npm
fi

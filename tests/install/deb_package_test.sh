#!/usr/bin/env bash
# The Debian package, end to end, without touching this system's dpkg database or services:
#  1. CPack builds it (into a temp dir): name, computed Depends, conffiles, maintainer scripts.
#  2. dpkg installs it into a throwaway root (--root, scripts run chrootless with DPKG_ROOT):
#     the installed binary runs and validates the installed config; the state directory is
#     0700; the verifier's user exists. `dpkg -r` leaves exactly the conffiles (and state the
#     agent wrote); `dpkg -P` leaves nothing.
#  3. The maintainer scripts run as on a live systemd host, inside a private mount namespace
#     (tmpfs /run with /run/systemd/system, a copy of /etc, a tmpfs /var/lib, a systemctl that
#     only logs): install calls nothing but daemon-reload, an upgrade restarts only what runs
#     (try-restart), removal stops; nothing is ever enabled or started.
# Usage: deb_package_test.sh BUILD_DIR   (root: dpkg, mount namespaces)
set -euo pipefail
build=$1
# 77: skipped (ctest SKIP_RETURN_CODE), except under CI=true where a required test may not skip.
skip() { echo "SKIP: $*"; [[ ${CI:-} == true ]] && exit 1; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root (dpkg, mount namespaces)"
for tool in cpack dpkg dpkg-deb dpkg-shlibdeps unshare; do
  command -v "$tool" >/dev/null || skip "$tool not installed"
done
passwd_before=$(sha256sum /etc/passwd)
work=$(mktemp -d /tmp/vigil-deb-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# ---- 1. the package ----
cpack --config "$build/CPackConfig.cmake" -B "$work/pkg" >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; fail "cpack"; }
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
deb=$work/pkg/vigil_${version}_amd64.deb
[[ -f $deb ]] || fail "no $(basename "$deb") in: $(ls "$work/pkg")"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for library in libc6 libssl3 libstdc++6 libyaml-cpp libsqlite3 libbpf; do
  grep -q "$library" <<<"$depends" || fail "Depends lacks $library (computed by dpkg-shlibdeps?): $depends"
done
dpkg-deb -e "$deb" "$work/control"
sort "$work/control/conffiles" >"$work/conffiles"
printf '%s\n' /etc/logrotate.d/vigil-verifier /etc/vigil/agent.yaml /etc/vigil/ima.policy /etc/vigil/verifier.env |
  cmp -s - "$work/conffiles" || fail "conffiles: $(cat "$work/conffiles")"
for script in postinst prerm postrm; do [[ -x $work/control/$script ]] || fail "no $script"; done
dpkg-deb -x "$deb" "$work/data"
grep -qx 'ExecStart=/usr/bin/vigil agent --config /etc/vigil/agent.yaml' "$work/data/usr/lib/systemd/system/vigil-agent.service" ||
  fail "the packaged unit's ExecStart"
# The listing goes to a variable first: with pipefail, `dpkg-deb -c | grep -q` could report no
# match when grep stops early and dpkg-deb dies of SIGPIPE.
listing=$(dpkg-deb -c "$deb")
if grep -q -- '_CPack_Packages\|/usr/local\|/usr/etc' <<<"$listing"; then fail "stray paths in the package"; fi

# ---- 2. a throwaway root ----
root=$work/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers" "$root/etc"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
echo 'root:*:19000:0:99999:7:::' >"$root/etc/shadow"
echo 'root:*::' >"$root/etc/gshadow"
chmod 0640 "$root/etc/shadow" "$root/etc/gshadow"
# The account database's own companions (backups, lock), which adding the verifier's user
# touches: the system's files, not the package's.
for file in passwd group shadow gshadow; do cp -p "$root/etc/$file" "$root/etc/$file-"; done
touch "$root/etc/.pwd.lock"
snapshot() { (cd "$root" && find . -path ./var/lib/dpkg -prune -o -print | sort); }
snapshot >"$work/baseline"
dpkg_root() { dpkg --root="$root" --log="$work/dpkg.log" --force-script-chrootless --force-depends "$@" >>"$work/dpkg.out" 2>&1 || { cat "$work/dpkg.out"; fail "dpkg $*"; }; }
status_of() { dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${db:Status-Abbrev}' vigil 2>/dev/null || true; }

dpkg_root -i "$deb"
[[ $(status_of) == "ii " ]] || fail "not installed: $(status_of)"
"$root/usr/bin/vigil" --version | grep -qx "vigil $version" || fail "the installed vigil --version"
"$root/usr/bin/vigil" agent --check-config "$root/etc/vigil/agent.yaml" >"$work/check.out" || { cat "$work/check.out"; fail "the installed config"; }
[[ $(stat -c %a "$root/var/lib/vigil") == 700 ]] || fail "/var/lib/vigil is $(stat -c %a "$root/var/lib/vigil")"
uid=$(awk -F: '$1 == "vigil-verifier" { print $3 }' "$root/etc/passwd")
[[ -n $uid && $uid -ne 0 ]] || fail "no vigil-verifier user in $(cat "$root/etc/passwd")"
[[ $(stat -c '%u %a' "$root/var/lib/vigil-verifier") == "$uid 700" ]] || fail "/var/lib/vigil-verifier: $(stat -c '%u %a' "$root/var/lib/vigil-verifier")"
[[ -z $(find "$root/etc/systemd" -name 'vigil*' 2>/dev/null) ]] || fail "installing enabled a unit"
dpkg_root -i "$deb"  # reinstalling over itself: the upgrade path
[[ $(status_of) == "ii " ]] || fail "not installed after the upgrade"

dpkg_root -r vigil
[[ $(status_of) == "rc " ]] || fail "after dpkg -r: $(status_of)"
snapshot >"$work/removed"
left=$(comm -13 "$work/baseline" "$work/removed" | tr '\n' ' ')
[[ $left == "./etc/logrotate.d ./etc/logrotate.d/vigil-verifier ./etc/vigil ./etc/vigil/agent.yaml ./etc/vigil/ima.policy ./etc/vigil/verifier.env " ]] ||
  fail "left after dpkg -r besides the conffiles: $left"

# State the agent wrote survives removal (evidence), and goes with purge, as do the conffiles.
dpkg_root -i "$deb"
echo "10 0000 ima-ng sha256:00 boot_aggregate" >"$root/var/lib/vigil/ascii_runtime_measurements"
echo "# the administrator's" >>"$root/etc/vigil/agent.yaml"
dpkg_root -r vigil
[[ -f $root/var/lib/vigil/ascii_runtime_measurements ]] || fail "removal deleted the agent's measurement list"
grep -q "the administrator's" "$root/etc/vigil/agent.yaml" || fail "removal lost the edited config"
dpkg_root -P vigil
[[ -z $(status_of) || $(status_of) == "un " ]] || fail "after dpkg -P: $(status_of)"
snapshot >"$work/purged"
left=$(comm -13 "$work/baseline" "$work/purged" | tr '\n' ' ')
[[ -z $left ]] || fail "left after dpkg -P: $left"

# ---- 3. the scripts on a live systemd host (simulated in a private mount namespace) ----
systemctl_path=$(readlink -f "$(command -v systemctl || echo /usr/bin/systemctl)")
[[ -e $systemctl_path ]] || skip "no systemctl to stand in for"
cat >"$work/systemctl" <<FAKE
#!/bin/sh
echo "\$*" >>"$work/systemctl.log"
FAKE
chmod +x "$work/systemctl"
cp -a /etc "$work/etc"
cp "$work/data/usr/lib/sysusers.d/vigil.conf" "$work/vigil.conf"
unshare --mount --propagation private bash -euo pipefail -c '
  work=$1 systemctl_path=$2
  mount -t tmpfs vigil-test-run /run
  mkdir -p /run/systemd/system
  mount --bind "$work/etc" /etc
  mount -t tmpfs vigil-test-varlib /var/lib
  mount -t tmpfs vigil-test-sysusers /usr/lib/sysusers.d
  cp "$work/vigil.conf" /usr/lib/sysusers.d/vigil.conf
  mount --bind "$work/systemctl" "$systemctl_path"
  calls() { cat "$work/systemctl.log" 2>/dev/null | tr "\n" "|"; cat "$work/systemctl.log" >>"$work/systemctl.all" 2>/dev/null || true; : >"$work/systemctl.log"; }
  fail() { echo "FAIL: $*" >&2; exit 1; }
  c=$work/control
  "$c/postinst" configure
  [[ $(calls) == "daemon-reload|" ]] || fail "first install called systemctl: $(calls)"
  [[ $(stat -c %a /var/lib/vigil) == 700 ]] || fail "live: /var/lib/vigil"
  getent passwd vigil-verifier >/dev/null || fail "live: no vigil-verifier user"
  [[ $(stat -c %U /var/lib/vigil-verifier) == vigil-verifier ]] || fail "live: /var/lib/vigil-verifier owner"
  "$c/prerm" upgrade 0.1.0
  [[ $(calls) == "" ]] || fail "prerm upgrade called systemctl"
  "$c/postinst" configure 0.0.1
  [[ $(calls) == "daemon-reload|try-restart vigil-agent.service vigil-verifier.service|" ]] || fail "upgrade: $(calls)"
  "$c/prerm" remove
  [[ $(calls) == "stop vigil-agent.service vigil-verifier.service|" ]] || fail "prerm remove: $(calls)"
  "$c/postrm" remove
  [[ $(calls) == "daemon-reload|" ]] || fail "postrm remove: $(calls)"
  [[ ! -e /var/lib/vigil ]] || fail "live: the empty state directory stayed after remove"
  mkdir -p /etc/systemd/system/multi-user.target.wants
  ln -s /usr/lib/systemd/system/vigil-agent.service /etc/systemd/system/multi-user.target.wants/vigil-agent.service
  "$c/postrm" purge
  [[ ! -e /etc/systemd/system/multi-user.target.wants/vigil-agent.service ]] || fail "purge left the enable link"
  calls >/dev/null
  if grep -Eq "^(enable|start|restart|reenable|preset)" "$work/systemctl.all"; then fail "a script enabled or started a unit: $(cat "$work/systemctl.all")"; fi
' _ "$work" "$systemctl_path" || fail "maintainer scripts on a live host"
[[ $(sha256sum /etc/passwd) == "$passwd_before" ]] || fail "the real /etc/passwd was touched"
echo "deb package: ok ($(basename "$deb"), $(du -k "$deb" | cut -f1) KiB)"

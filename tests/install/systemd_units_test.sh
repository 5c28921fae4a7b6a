#!/usr/bin/env bash
# The installed systemd units: `systemd-analyze verify` accepts them, `systemd-analyze security`
# scores them (the verifier, which needs no privilege, must score as well sandboxed; the agent
# keeps what it needs and no mount namespace), and the agent's unit has no option that would
# give it a mount namespace of its own (its fanotify mount marks would then see none of the
# host's opens). Usage: systemd_units_test.sh BUILD_DIR
set -euo pipefail
build=$1
work=$(mktemp -d /tmp/vigil-units-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; [[ ${CI:-} == true ]] && exit 1; exit 77; }
command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed (package systemd)"

root=$work/root
DESTDIR=$root cmake -DCMAKE_INSTALL_PREFIX=/usr -DVIGIL_INSTALL_RECORD="$work/record" -P "$build/cmake_install.cmake" >/dev/null
units=$root/usr/lib/systemd/system
# verify resolves ExecStart= against --root, where the installed binary is; the targets the
# units hang off (sysinit.target, multi-user.target, ...) come from this system's systemd.
cp -an /usr/lib/systemd/system/. "$units/"
for unit in vigil-agent.service vigil-verifier.service; do
  if ! systemd-analyze verify --man=no --generators=no --root="$root" "$units/$unit" >"$work/verify.out" 2>&1; then
    cat "$work/verify.out"
    fail "systemd-analyze verify $unit"
  fi
  # verify reports some problems without failing; any line naming our unit is one.
  if grep -F "$unit" "$work/verify.out"; then fail "systemd-analyze verify complained about $unit"; fi
done

score() {  # UNIT -> the overall exposure, e.g. 4.9
  systemd-analyze security --offline=true --root="$root" "$units/$1" 2>/dev/null |
    sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p'
}
agent=$(score vigil-agent.service)
verifier=$(score vigil-verifier.service)
[[ -n $agent && -n $verifier ]] || fail "no exposure level from systemd-analyze security"
echo "systemd-analyze security: vigil-agent.service $agent, vigil-verifier.service $verifier"
# The verifier has nothing to keep: it must stay among the best scores systemd gives.
awk -v s="$verifier" 'BEGIN { exit !(s <= 2.0) }' || fail "vigil-verifier.service exposure $verifier > 2.0"
# The agent is root with CAP_SYS_ADMIN by nature; it must not lose what confinement it has.
awk -v s="$agent" 'BEGIN { exit !(s <= 6.5) }' || fail "vigil-agent.service exposure $agent > 6.5"

agent_unit=$units/vigil-agent.service
for option in ProtectSystem ProtectHome PrivateTmp PrivateDevices PrivateMounts ProtectKernelTunables \
              ProtectKernelModules ProtectKernelLogs ProtectControlGroups ProtectProc ProcSubset ReadOnlyPaths \
              ReadWritePaths InaccessiblePaths TemporaryFileSystem BindPaths BindReadOnlyPaths RootDirectory \
              RootImage MountAPIVFS PrivateNetwork; do
  if grep -q "^$option=" "$agent_unit"; then fail "vigil-agent.service sets $option= (a mount namespace hides the host from its marks)"; fi
done
grep -qx 'Type=notify' "$agent_unit" || fail "the agent is not Type=notify"
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$agent_unit" || fail "the agent's reload is not SIGHUP"
grep -q '^\[Install\]' "$agent_unit" || fail "no [Install] section"
verifier_unit=$units/vigil-verifier.service
for setting in 'User=vigil-verifier' 'CapabilityBoundingSet=' 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'PrivateTmp=yes' \
               'SystemCallFilter=@system-service' 'StateDirectory=vigil-verifier'; do
  grep -qx "$setting" "$verifier_unit" || fail "vigil-verifier.service lacks $setting"
done
echo "systemd units: ok"

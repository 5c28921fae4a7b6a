#!/usr/bin/env bash
# The units under a real systemd: a container (systemd-nspawn) boots systemd as its PID 1 on
# this system's /usr (read-only), with a private network and a minimal /etc that enables
# nothing. vigil is installed into it (PREFIX=/opt/vigil), the units started for real:
#  - vigil-verifier: runs as its own user, reports READY=1 (Type=notify), stops cleanly;
#  - vigil-agent: Type=notify start returns once the agent is ready, `vigil status` answers,
#    an exec on the watched tmpfs is measured, `systemctl reload` works and is refused for a
#    config that does not validate, the journal holds its lines at their priorities, stop.
# The agent watches only a fresh tmpfs of the container's own (never the host's filesystems).
# nspawn's own seccomp filter refuses fanotify and eBPF to containers: they are let through.
# Usage: systemd_boot_test.sh BUILD_DIR   (root; systemd-nspawn from systemd-container)
set -euo pipefail
build=$1
skip() { echo "SKIP: $*"; [[ ${CI:-} == true ]] && exit 1; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root"
command -v systemd-nspawn >/dev/null || skip "systemd-nspawn not installed (package systemd-container)"
[[ -x /usr/lib/systemd/systemd ]] || skip "no systemd to boot"
work=$(mktemp -d /tmp/vigil-boot-test.XXXXXX)
name=vigil-boot-$$
root=$work/root
nspawn_pid=""
# The container lives in cgroups of its own (below this process's, in the cgroup2 hierarchy
# and systemd's v1 one where the host has it), so that at the end every process it made is
# killed and every cgroup nspawn made is removed, whatever state the test stopped in.
cgroup_dirs=()
while IFS= read -r line; do
  hierarchy=${line#*:}; hierarchy=${hierarchy%%:*}; path=${line#*:*:}
  if [[ $hierarchy == "" ]]; then mount_point=$(findmnt -n -t cgroup2 -o TARGET | head -1)
  elif [[ $hierarchy == name=systemd ]]; then mount_point=$(findmnt -n -t cgroup -o TARGET,OPTIONS | awk '/name=systemd/ { print $1; exit }')
  else continue; fi
  [[ -n $mount_point ]] && cgroup_dirs+=("$mount_point${path%/}/$name")
done </proc/self/cgroup
cleanup() {
  local dir pid
  for dir in "${cgroup_dirs[@]}"; do
    [[ -d $dir ]] || continue
    if [[ -e $dir/cgroup.kill ]]; then echo 1 >"$dir/cgroup.kill" 2>/dev/null || true; fi
    for pid in $(find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  done
  if [[ -n $nspawn_pid ]]; then wait "$nspawn_pid" 2>/dev/null || true; fi
  for dir in "${cgroup_dirs[@]}"; do
    for _ in 1 2 3 4 5; do
      [[ -d $dir ]] || break
      find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || sleep 0.2
    done
  done
  rm -rf "$work" "/run/systemd/nspawn/propagate/$name"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  if [[ -n ${pid1:-} ]]; then in_container journalctl --no-pager -n 60 2>/dev/null | tail -60 >&2 || true; fi
  exit 1
}

# ---- the container's tree: its own /etc (nothing enabled), /usr from this system ----
mkdir -p "$root"/{usr,etc,var/lib,var/log/journal,run,tmp,proc,sys,dev,root,srv/watched,opt}
for link in bin sbin lib lib64; do ln -s "usr/$link" "$root/$link"; done
for file in passwd group shadow gshadow nsswitch.conf; do cp -p "/etc/$file" "$root/etc/$file"; done
cp /usr/lib/os-release "$root/etc/os-release"
: >"$root/etc/machine-id"
echo "$name" >"$root/etc/hostname"
DESTDIR=$root cmake -DCMAKE_INSTALL_PREFIX=/opt/vigil -DVIGIL_INSTALL_RECORD="$work/record" -P "$build/cmake_install.cmake" >/dev/null
mkdir -p "$root/etc/systemd/system" "$root/etc/sysusers.d"
cp "$root/opt/vigil/lib/systemd/system/"*.service "$root/etc/systemd/system/"
cp "$root/opt/vigil/lib/sysusers.d/vigil.conf" "$root/etc/sysusers.d/vigil.conf"
# The agent in the container: log mode on the container's own tmpfs, eBPF and rules on.
cat >"$root/etc/vigil/agent.yaml" <<YAML
mode: log
policy_text: measure func=BPRM_CHECK
watch: [/srv/watched]
runtime:
  enabled: true
YAML

# ---- boot ----
(
  for dir in "${cgroup_dirs[@]}"; do mkdir -p "$dir" && echo "$BASHPID" >"$dir/cgroup.procs"; done
  # A cgroup2 hierarchy inside: the agent's container attribution needs one (a hybrid host's
  # containers otherwise get only v1).
  SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec systemd-nspawn -D "$root" -M "$name" --bind-ro=/usr --private-network \
    --tmpfs=/srv/watched --capability=CAP_BPF,CAP_PERFMON \
    --system-call-filter="fanotify_init fanotify_mark bpf perf_event_open" --register=no --keep-unit \
    --console=pipe -q --boot
) >"$work/console.log" 2>&1 &
nspawn_pid=$!
pid1=""
for _ in $(seq 100); do
  # nspawn's child becomes the container's PID 1 once it has exec'd systemd.
  pid1=$(ps -o pid=,comm= --ppid "$nspawn_pid" 2>/dev/null | awk '$2 == "systemd" { print $1 }' | head -1 || true)
  [[ -n $pid1 ]] && break
  sleep 0.2
done
[[ -n $pid1 ]] || { cat "$work/console.log"; skip "the container did not start"; }
in_container() { nsenter -t "$pid1" -a "$@"; }
state=""
for _ in $(seq 150); do
  state=$(in_container systemctl is-system-running 2>/dev/null || true)
  [[ $state == running || $state == degraded ]] && break
  sleep 0.2
done
[[ $state == running || $state == degraded ]] || { cat "$work/console.log"; skip "systemd in the container did not finish booting ($state)"; }
echo "systemd $(in_container systemctl --version | head -1 | cut -d' ' -f2) booted in the container ($state)"

in_container systemd-sysusers
in_container systemctl daemon-reload
in_container systemctl is-enabled vigil-agent.service vigil-verifier.service >/dev/null 2>&1 && fail "a unit is enabled"

# ---- the verifier ----
in_container systemctl start vigil-verifier.service || fail "starting vigil-verifier"
[[ $(in_container systemctl show -P ActiveState vigil-verifier.service) == active ]] || fail "vigil-verifier is not active"
[[ $(in_container systemctl show -P StatusText vigil-verifier.service) == "listening on 127.0.0.1:8881" ]] ||
  fail "vigil-verifier status: $(in_container systemctl show -P StatusText vigil-verifier.service)"
verifier_pid=$(in_container systemctl show -P MainPID vigil-verifier.service)
[[ $(in_container ps -o user= -p "$verifier_pid") == vigil-verifier ]] || fail "vigil-verifier does not run as its user"
[[ $(in_container sed -n 's/^CapEff:[[:space:]]*//p' "/proc/$verifier_pid/status") == 0000000000000000 ]] ||
  fail "vigil-verifier holds capabilities"
in_container test -f /var/lib/vigil-verifier/ca.crt || fail "the verifier made no CA in its state directory"
echo "online: $(in_container systemd-analyze security vigil-verifier.service 2>/dev/null | tail -1)"
in_container systemctl stop vigil-verifier.service
[[ $(in_container systemctl show -P Result vigil-verifier.service) == success ]] || fail "vigil-verifier did not stop cleanly"

# ---- the agent ----
in_container systemctl start vigil-agent.service || fail "starting vigil-agent"
# Type=notify: start returned only after READY=1, so the agent answers at once.
[[ $(in_container systemctl show -P StatusText vigil-agent.service) == "mode log, watching /srv/watched" ]] ||
  fail "vigil-agent status: $(in_container systemctl show -P StatusText vigil-agent.service)"
in_container /opt/vigil/bin/vigil status >"$work/status.out" || { cat "$work/status.out"; fail "vigil status in the container"; }
grep -q "vigil agent: healthy" "$work/status.out" || fail "status: $(cat "$work/status.out")"
in_container cp /usr/bin/true /srv/watched/true
in_container /srv/watched/true
for _ in $(seq 50); do
  in_container grep -q /srv/watched/true /var/lib/vigil/ascii_runtime_measurements && break
  sleep 0.1
done
in_container grep -q /srv/watched/true /var/lib/vigil/ascii_runtime_measurements || fail "the exec was not measured"
in_container systemctl reload vigil-agent.service || fail "systemctl reload"
echo "bogus_key: 1" >>"$root/etc/vigil/agent.yaml"
in_container systemctl reload vigil-agent.service 2>/dev/null && fail "reload accepted a config that does not validate"
[[ $(in_container systemctl show -P ActiveState vigil-agent.service) == active ]] || fail "a refused reload stopped the agent"
in_container journalctl -u vigil-agent.service -o json --no-pager >"$work/journal.json"
grep -q '"PRIORITY":"5".*"MESSAGE":"ready, mode log' "$work/journal.json" || grep -q '"MESSAGE":"ready, mode log.*"PRIORITY":"5"' "$work/journal.json" ||
  fail "the ready line is not in the journal at notice priority"
grep -q '"MESSAGE":"reload done"' "$work/journal.json" || fail "no 'reload done' in the journal"
# Read the journal into a file before searching it: with pipefail, `journalctl | grep -q` fails
# whenever grep finds the line before journalctl has written everything (SIGPIPE), which a
# journal full of the agent's alerts makes the rule. journald stores lines asynchronously: give
# the refusal a few seconds to arrive.
for _ in $(seq 50); do
  in_container journalctl -u vigil-agent.service --no-pager >"$work/journal.txt"
  grep -q "bogus_key" "$work/journal.txt" && break
  sleep 0.1
done
grep -q "bogus_key" "$work/journal.txt" || fail "the refused reload's reason is not in the journal"
echo "online: $(in_container systemd-analyze security vigil-agent.service 2>/dev/null | tail -1)"
in_container systemctl stop vigil-agent.service
[[ $(in_container systemctl show -P Result vigil-agent.service) == success ]] || fail "vigil-agent did not stop cleanly"
in_container test ! -e /var/lib/vigil/agent.sock || fail "the status socket outlived the agent"
echo "units under systemd: ok"

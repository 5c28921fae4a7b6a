#!/usr/bin/env bash
# Event-capture benchmark (issue 4): a syscall storm (bench/syscall_storm.c: open/close,
# connect on loopback, fork/exec) with and without `vigil agent` capturing events, and with
# bpftrace (Debian's, the peer: eBPF, one printed line per event) capturing the same syscalls.
# From one run it prints, per storm: events/s captured and decoded, kernel drops, the capturer's
# CPU % (and % per 100k events/s), and the storm's slowdown against the no-capture baseline.
# Four agent configurations: capture only (openat+close, then every syscall; rules off); the
# default configuration (the default ruleset decides which syscalls and file paths leave the
# kernel); and every open/close evaluated against every default rule (no path filter). Then the
# highest rates with zero drops (captured; evaluated by the rules) and the target verdicts
# (>= 500k events/s without drops on 2 cores; <= 5 % slowdown of the open/close storm).
# The open/close slowdown is also measured interleaved (ROUNDS pairs of AB_SECONDS storms, one
# without and one with, median of the pairs' ratios: one storm on this VM can be several percent
# off the next), for the default configuration and for the floors of the hooks themselves: empty
# programs on the raw syscall tracepoints vigil uses, and on a per-syscall perf tracepoint
# (bench/syscall_floor.bpf.c). No capture built on a hook can cost less than its floor.
#
# Safety: re-executes itself in a private mount namespace (tracefs for bpftrace is mounted only
# there); only loopback is used; the agent (no fanotify marks: `watch` is empty) and bpftrace
# are stopped by PID, also on failure, and run under a watchdog.
# The fork/exec storm is measured interleaved too (median of ROUNDS pairs), for capture alone
# (every syscall decoded and applied to the process table, no rules) and for the default
# configuration, so the cost the rules add on exec-heavy work is read against capture's own.
# Environment: VIGIL (default /work/main/build/src/vigil), SECONDS_PER_RUN (5), PEER (1|0),
# ROUNDS (10), AB_SECONDS (1), FOCUS (all|forkexec: only the fork/exec measurements).
set -euo pipefail

VIGIL=${VIGIL:-/work/main/build/src/vigil}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
PEER=${PEER:-1}
FOCUS=${FOCUS:-all}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "events.sh: $*" >&2; exit 1; }
note() { echo "# $*"; }

[[ $(id -u) -eq 0 ]] || die "must run as root (eBPF)"
[[ -x $VIGIL ]] || die "vigil binary not found at $VIGIL (build first, or set VIGIL=...)"
if [[ -z ${VIGIL_EVENTS_BENCH_NS:-} ]]; then
  exec env VIGIL_EVENTS_BENCH_NS=1 unshare -m --propagation private "$0" "$@"
fi

WORK=$(mktemp -d /tmp/vigil-events-bench.XXXXXX)
AGENT_PID="" PEER_PID="" FLOOR_PID="" WATCHDOGS=()
WATCHDOG_SECONDS=${WATCHDOG_SECONDS:-600}
# stop_pid, watchdog, start_agent, status_json
source "$HERE/lib.sh"
cleanup() {
  local rc=$?
  set +e
  stop_pid "$AGENT_PID" 10
  stop_pid "$PEER_PID" 10
  stop_pid "$FLOOR_PID" 10
  for pid in "${WATCHDOGS[@]}"; do kill "$pid" 2>/dev/null; done
  rm -rf -- "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


cc -O2 -o "$WORK/storm" "$HERE/syscall_storm.c" || die "cannot build bench/syscall_storm.c"
clang-19 -O2 -g -target bpf -I "$HERE/../bpf/vmlinux/$(uname -m)" -c "$HERE/syscall_floor.bpf.c" \
  -o "$WORK/floor.bpf.o" || die "cannot build bench/syscall_floor.bpf.c"
cc -O2 -o "$WORK/floor_loader" "$HERE/syscall_floor_loader.c" -lbpf || die "cannot build bench/syscall_floor_loader.c"
# The per-syscall perf tracepoints (a floor below, and bpftrace, the peer) need tracefs; this
# script runs in its own mount namespace, so the mount goes with it.
mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
cp "$VIGIL" "$WORK/vigil"
echo "vigil-events-bench" >"$WORK/target"
STORM_FILE=$WORK/target

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # utime + stime of the process
CLK_TCK=$(getconf CLK_TCK)

# storm MODE WORKERS -> ops/s
storm() { "$WORK/storm" "$1" "$SECONDS_PER_RUN" "$2" "$STORM_FILE" | sed 's/.*ops_per_s=//'; }

json_field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }

# start_runtime_agent SYSCALLS RULES PATH_FILTER: SYSCALLS is a YAML list or "default" (only what
# the rules need); RULES on/off runs the default ruleset; PATH_FILTER on/off lets the rules'
# path interest filter file syscalls in the kernel.
start_runtime_agent() {
  rm -rf "$WORK/state"
  {
    printf 'mode: log\nstate_dir: %s\nwatch: []\nruntime:\n  enabled: true\n  ring_buffer_mb: 16\n' "$WORK/state"
    [[ $1 == default ]] || printf '  syscalls: %s\n' "$1"
    printf 'rules:\n  enabled: %s\n  kernel_path_filter: %s\n' "$([[ $2 == on ]] && echo true || echo false)" \
      "$([[ $3 == on ]] && echo true || echo false)"
    printf 'outputs:\n  - type: file\n    path: %s\n' "$WORK/alerts.jsonl"
    # An ephemeral console port: another agent on this host may hold the default one.
    printf 'console:\n  listen: 127.0.0.1:0\n'
  } >"$WORK/agent.yaml"
  start_agent "$WORK/vigil" "$WORK/agent.yaml" "$WORK/state" "$WORK/agent.out"
}

ORDER=()
declare -A OPS BASE RATE DROPS CPU PER100K SLOW
# measure_vigil LABEL MODE WORKERS BASE_OPS
measure_vigil() {
  local before after t0 t1 c0 c1 ops events drops
  before=$(status_json "$WORK/state"); c0=$(cpu_ticks "$AGENT_PID"); t0=$(date +%s.%N)
  ops=$(storm "$2" "$3")
  sleep 0.3  # let the agent drain the ring buffer
  after=$(status_json "$WORK/state"); c1=$(cpu_ticks "$AGENT_PID"); t1=$(date +%s.%N)
  events=$(( $(json_field '["runtime"]["events"]' <<<"$after") - $(json_field '["runtime"]["events"]' <<<"$before") ))
  drops=$(( $(json_field '["runtime"]["drops"]' <<<"$after") - $(json_field '["runtime"]["drops"]' <<<"$before") ))
  row "$1" "$ops" "$4" "$events" "$drops" "$c0" "$c1" "$t0" "$t1"
}
# row LABEL OPS BASE_OPS EVENTS DROPS CPU0 CPU1 T0 T1
row() {
  ORDER+=("$1")
  OPS[$1]=$2; BASE[$1]=$3; DROPS[$1]=$5
  RATE[$1]=$(awk -v ev="$4" -v s="$SECONDS_PER_RUN" 'BEGIN { printf "%.0f", ev / s }')
  CPU[$1]=$(awk -v c0="$6" -v c1="$7" -v t0="$8" -v t1="$9" -v tck="$CLK_TCK" 'BEGIN { printf "%.1f", (c1 - c0) / tck / (t1 - t0) * 100 }')
  PER100K[$1]=$(awk -v c="${CPU[$1]}" -v r="${RATE[$1]}" 'BEGIN { printf "%.2f", (r > 0 ? c / (r / 100000) : 0) }')
  SLOW[$1]=$(awk -v o="$2" -v b="$3" 'BEGIN { printf "%.1f", (b > 0 ? (1 - o / b) * 100 : 0) }')
}

if [[ $FOCUS == forkexec ]]; then
  note "vigil: $VIGIL; $(nproc) cores; ${SECONDS_PER_RUN} s per storm; fork/exec only"
  BASE_FE=$(storm forkexec 1)
  start_runtime_agent "[all]" off off
  measure_vigil "vigil: all syscalls, forkexec x1" forkexec 1 "$BASE_FE"
  stop_pid "$AGENT_PID" 10; AGENT_PID=""
  start_runtime_agent default on on
  measure_vigil "vigil+rules: default, forkexec x1" forkexec 1 "$BASE_FE"
  RULES_STATUS=$(status_json "$WORK/state")
  stop_pid "$AGENT_PID" 10; AGENT_PID=""
  AGENT_STATUS="(not measured)"
else
  note "vigil: $VIGIL; $(nproc) cores; ${SECONDS_PER_RUN} s per storm"
  BASE_OC2=$(storm openclose 2); BASE_OC1=$(storm openclose 1)
  BASE_CONN=$(storm connect 1); BASE_FE=$(storm forkexec 1)
  note "baseline ops/s: openclose x2 $BASE_OC2, openclose x1 $BASE_OC1, connect $BASE_CONN, forkexec $BASE_FE"

  # Capture only (no rules): every open and close leaves the kernel and is decoded.
  start_runtime_agent "[openat, close]" off off
  measure_vigil "vigil: openat+close, storm x2" openclose 2 "$BASE_OC2"
  measure_vigil "vigil: openat+close, storm x1" openclose 1 "$BASE_OC1"
  stop_pid "$AGENT_PID" 10; AGENT_PID=""
  start_runtime_agent "[all]" off off
  measure_vigil "vigil: all syscalls, openclose x2" openclose 2 "$BASE_OC2"
  measure_vigil "vigil: all syscalls, connect x1" connect 1 "$BASE_CONN"
  measure_vigil "vigil: all syscalls, forkexec x1" forkexec 1 "$BASE_FE"
  stop_pid "$AGENT_PID" 10; AGENT_PID=""
  # The default configuration: the default ruleset decides what leaves the kernel (the syscalls
  # its rules match, file paths under the prefixes they look at); the storm's file is under none.
  start_runtime_agent default on on
  measure_vigil "vigil+rules: default, openclose x2" openclose 2 "$BASE_OC2"
  measure_vigil "vigil+rules: default, openclose x1" openclose 1 "$BASE_OC1"
  measure_vigil "vigil+rules: default, connect x1" connect 1 "$BASE_CONN"
  measure_vigil "vigil+rules: default, forkexec x1" forkexec 1 "$BASE_FE"
  RULES_STATUS=$(status_json "$WORK/state")
  stop_pid "$AGENT_PID" 10; AGENT_PID=""
  # Every open and close evaluated against every default rule (no path filter).
  start_runtime_agent "[openat, close]" on off
  measure_vigil "vigil+rules: all evaluated, openclose x2" openclose 2 "$BASE_OC2"
  measure_vigil "vigil+rules: all evaluated, openclose x1" openclose 1 "$BASE_OC1"
  AGENT_STATUS=$(status_json "$WORK/state")
  stop_pid "$AGENT_PID" 10; AGENT_PID=""
fi

ROUNDS=${ROUNDS:-10} AB_SECONDS=${AB_SECONDS:-1}
AB_MODE=openclose
ab_storm() { "$WORK/storm" "$AB_MODE" "$AB_SECONDS" "$1" "$STORM_FILE" | sed 's/.*ops_per_s=//'; }
start_floor() {  # start_floor PROGRAM...: attaches those empty programs of syscall_floor.bpf.c
  "$WORK/floor_loader" "$WORK/floor.bpf.o" "$@" >"$WORK/floor.out" 2>&1 &
  FLOOR_PID=$!
  watchdog "$FLOOR_PID"
  local i
  for ((i = 0; i < 100; i++)); do
    grep -q ready "$WORK/floor.out" && return 0
    kill -0 "$FLOOR_PID" 2>/dev/null || break
    sleep 0.05
  done
  cat "$WORK/floor.out" >&2
  return 1
}
stop_floor() { stop_pid "$FLOOR_PID" 10; FLOOR_PID=""; }
floor_raw_exit_on() { start_floor floor_raw_exit; }
floor_raw_both_on() { start_floor floor_raw_exit floor_raw_enter; }
floor_perf_on() { start_floor floor_perf_exit; }
vigil_default_on() { start_runtime_agent default on on; }
vigil_capture_on() { start_runtime_agent "[all]" off off; }
vigil_off() { stop_pid "$AGENT_PID" 10; AGENT_PID=""; }
AB_ORDER=()
declare -A AB AB_PAIRS
# interleaved LABEL WORKERS ON OFF: ROUNDS pairs (storm without, ON, storm with, OFF); the
# slowdown is 1 - the median of with/without.
interleaved() {
  local ratios=() i base with
  for ((i = 0; i < ROUNDS; i++)); do
    base=$(ab_storm "$2")
    if ! $3; then note "$1: cannot attach, skipped"; return 0; fi
    with=$(ab_storm "$2")
    $4
    ratios+=("$(awk -v w="$with" -v b="$base" 'BEGIN { printf "%.5f", (b > 0 ? w / b : 0) }')")
  done
  AB[$1]=$(printf '%s\n' "${ratios[@]}" | sort -g |
    awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f", (1 - m) * 100 }')
  AB_PAIRS[$1]=${#ratios[@]}
  AB_ORDER+=("$1")
}
if [[ $FOCUS != forkexec ]]; then
  for w in 2 1; do
    interleaved "floor: empty raw sys_exit, x$w" "$w" floor_raw_exit_on stop_floor
    interleaved "floor: empty raw sys_exit+sys_enter, x$w" "$w" floor_raw_both_on stop_floor
    interleaved "floor: perf tracepoint, slow path only, x$w" "$w" floor_perf_on stop_floor
    interleaved "vigil+rules: default, x$w" "$w" vigil_default_on vigil_off
  done
fi
# fork + execve(/bin/true) + exit + wait: capture alone against the default rules.
AB_MODE=forkexec
interleaved "forkexec: vigil capture only (all syscalls), x1" 1 vigil_capture_on vigil_off
interleaved "forkexec: vigil+rules: default, x1" 1 vigil_default_on vigil_off
AB_MODE=openclose

if [[ $FOCUS != forkexec && $PEER == 1 ]] && command -v bpftrace >/dev/null; then
  # One printed line per event, as vigil delivers one decoded record per event.
  measure_peer() {  # measure_peer LABEL MODE WORKERS BASE_OPS
    : >"$WORK/peer.out"
    bpftrace -B full -e 'tracepoint:raw_syscalls:sys_exit /args->id == 257 || args->id == 3/ { printf("%d %d %d %s\n", pid, args->id, args->ret, comm); }' \
      >"$WORK/peer.out" 2>"$WORK/peer.err" &
    PEER_PID=$!
    watchdog "$PEER_PID"
    local i
    for ((i = 0; i < 100; i++)); do grep -q Attaching "$WORK/peer.out" && break; sleep 0.1; done
    local c0 t0 ops c1 t1 lines lost
    c0=$(cpu_ticks "$PEER_PID"); t0=$(date +%s.%N); local l0; l0=$(wc -l <"$WORK/peer.out")
    ops=$(storm "$2" "$3")
    sleep 0.3
    c1=$(cpu_ticks "$PEER_PID"); t1=$(date +%s.%N)
    lines=$(( $(wc -l <"$WORK/peer.out") - l0 ))
    stop_pid "$PEER_PID" 10; PEER_PID=""
    lost=$({ grep -ho 'Lost [0-9]* events' "$WORK/peer.out" "$WORK/peer.err" || true; } | awk '{ n += $2 } END { print n + 0 }')
    row "$1" "$ops" "$4" "$lines" "$lost" "$c0" "$c1" "$t0" "$t1"
  }
  measure_peer "bpftrace (peer): openat+close, x2" openclose 2 "$BASE_OC2"
  measure_peer "bpftrace (peer): openat+close, x1" openclose 1 "$BASE_OC1"
else
  note "peer skipped (PEER=0 or bpftrace not installed)"
fi

printf '\n%-40s %10s %10s %9s %12s %8s %8s %10s\n' "configuration" "ops/s" "base ops/s" "slowdown" "events/s" "drops" "CPU %" "CPU/100k"
printf '%s\n' "----------------------------------------------------------------------------------------------------------------"
for l in "${ORDER[@]}"; do
  printf '%-40s %10s %10s %8s%% %12s %8s %8s %10s\n' "$l" "${OPS[$l]}" "${BASE[$l]}" "${SLOW[$l]}" "${RATE[$l]}" "${DROPS[$l]}" "${CPU[$l]}" "${PER100K[$l]}"
done
echo
note "agent status after the all-evaluated runs: $AGENT_STATUS"
note "agent status after the default-rules runs: $RULES_STATUS"
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? (v >= t) : (v <= t); print (ok ? "met" : "MISSED") }'; }
best_rate() {  # best_rate PATTERN: highest events/s among rows matching PATTERN with zero drops
  local best=0 l
  for l in "${ORDER[@]}"; do
    [[ $l == $1 && ${DROPS[$l]} == 0 ]] || continue
    awk -v a="${RATE[$l]}" -v b="$best" 'BEGIN { exit !(a > b) }' && best=${RATE[$l]}
  done
  echo "$best"
}
if [[ $FOCUS != forkexec ]]; then
  best=$(best_rate "vigil: *")
  echo "highest vigil event rate captured and decoded with zero drops: $best events/s (target >= 500000: $(verdict "$best" 500000 ">="))"
  best_eval=$(best_rate "vigil+rules: all evaluated*")
  echo "highest event rate evaluated against every default rule with zero drops: $best_eval events/s (target >= 500000: $(verdict "$best_eval" 500000 ">="))"
  for l in "vigil+rules: default, openclose x2" "vigil+rules: default, openclose x1" "vigil: openat+close, storm x2" "vigil: openat+close, storm x1"; do
    echo "open/close storm slowdown, $l (one run): ${SLOW[$l]}% (target <= 5%: $(verdict "${SLOW[$l]}" 5 "<="))"
  done
  echo
fi
echo
echo "storm slowdown, interleaved (median of $ROUNDS pairs of ${AB_SECONDS} s storms; open/close unless named):"
for l in "${AB_ORDER[@]}"; do
  printf '  %-48s %6s%%\n' "$l" "${AB[$l]}"
done
for w in 2 1; do
  l="vigil+rules: default, x$w"; f="floor: empty raw sys_exit, x$w"; p="floor: perf tracepoint, slow path only, x$w"
  [[ -n ${AB[$l]:-} ]] || continue
  echo "default configuration x$w: ${AB[$l]}% (target <= 5%: $(verdict "${AB[$l]}" 5 "<=")); the empty raw sys_exit hook alone: ${AB[$f]:-n/a}%, the syscall slow path alone: ${AB[$p]:-n/a}%"
done
V2="vigil: openat+close, storm x2"; V1="vigil: openat+close, storm x1"
P2="bpftrace (peer): openat+close, x2"; P1="bpftrace (peer): openat+close, x1"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 <= 0) print "n/a"; else printf "%.2f", a / b }'; }
for pair in "$V2|$P2" "$V1|$P1"; do
  v=${pair%%|*}; p=${pair##*|}
  [[ -n ${RATE[$p]:-} ]] || continue
  echo "vigil / bpftrace ($p): events/s $(ratio "${RATE[$v]}" "${RATE[$p]}"), storm ops/s $(ratio "${OPS[$v]}" "${OPS[$p]}"), CPU per 100k events/s $(ratio "${PER100K[$v]}" "${PER100K[$p]}"), drops ${DROPS[$v]} vs ${DROPS[$p]}"
done
fc="forkexec: vigil capture only (all syscalls), x1"; fr="forkexec: vigil+rules: default, x1"
if [[ -n ${AB[$fc]:-} && -n ${AB[$fr]:-} ]]; then
  echo "fork/exec storm, interleaved: default rules ${AB[$fr]}%, capture alone ${AB[$fc]}% (the rules add $(awk -v a="${AB[$fr]}" -v b="${AB[$fc]}" 'BEGIN { printf "%.1f", a - b }') points)"
fi

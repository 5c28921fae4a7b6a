#!/usr/bin/env bash
# Network policy: vigil (eBPF, cgroup/connect4 + LPM trie) against iptables and nftables with
# the same rules, at 10, 1k, 10k, 100k and 1M rules, in one run. Two network namespaces joined by
# a veth pair (198.18.0.1 client, 198.18.0.2 server); the rules deny TCP to (address, port)
# pairs in 198.19.0.0/16 that the bench never contacts, so every connection walks the whole rule
# set and is allowed. Per engine and size: new TCP connections/s (a fresh connection each time,
# one byte each way), their latency p50/p99, iperf3 throughput, time to apply the rule set,
# kernel memory it took. Nothing leaves the machine; everything is removed on exit.
#   VIGIL=build/src/vigil CONNRATE=build/bench/vigil_netpolicy_connrate bench/netpolicy.sh
# Environment: SIZES ("10 1000 10000 100000 1000000"), ENGINES ("none vigil iptables nftables"),
# SECONDS_PER_RUN (3), APPLY_TIMEOUT (240: an engine whose apply takes longer is skipped at that
# size and larger), OUT (a JSON-lines file of the figures).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
VIGIL=${VIGIL:-$repo/build/src/vigil}
CONNRATE=${CONNRATE:-$repo/build/bench/vigil_netpolicy_connrate}
SIZES=${SIZES:-"10 1000 10000 100000 1000000"}
ENGINES=${ENGINES:-"none vigil iptables nftables"}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-3}
APPLY_TIMEOUT=${APPLY_TIMEOUT:-240}
OUT=${OUT:-/tmp/vigil-netpolicy-bench.jsonl}
PORT=9000
# The classic, linear iptables (Debian's default `iptables` is the nft backend).
IPTABLES_RESTORE=$(command -v iptables-legacy-restore || command -v iptables-restore || true)

die() { echo "netpolicy bench: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root"
for tool in ip nft iperf3 timeout bc python3; do command -v "$tool" >/dev/null || die "needs $tool (scripts/deps.txt)"; done
[[ -x $VIGIL && -x $CONNRATE ]] || die "build first (make build): $VIGIL, $CONNRATE"

tag=$$
ns_c=vnpb-c-$tag
ns_s=vnpb-s-$tag
work=$(mktemp -d)
cgroot=$(awk '$9 == "cgroup2" && $4 == "/" {print $5; exit}' /proc/self/mountinfo)
[[ -n $cgroot ]] || die "no cgroup2 hierarchy"
cg=$cgroot/vigil-np-bench-$tag
pins=/sys/fs/bpf/vigil-np-bench-$tag
server_pid=
iperf_pid=

cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null || true
  [[ -n $iperf_pid ]] && kill "$iperf_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  "$VIGIL" netpolicy detach --pin-dir "$pins" >/dev/null 2>&1 || true
  ip netns del "$ns_c" 2>/dev/null || true
  ip netns del "$ns_s" 2>/dev/null || true
  rmdir "$cg" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns_c"
ip netns add "$ns_s"
ip -n "$ns_c" link add veth-c type veth peer name veth-s netns "$ns_s"
ip -n "$ns_c" addr add 198.18.0.1/24 dev veth-c
ip -n "$ns_s" addr add 198.18.0.2/24 dev veth-s
for ns in "$ns_c" "$ns_s"; do ip -n "$ns" link set lo up; done
ip -n "$ns_c" link set veth-c up
ip -n "$ns_s" link set veth-s up
mkdir "$cg"

ip netns exec "$ns_s" "$CONNRATE" server "$PORT" &
server_pid=$!
ip netns exec "$ns_s" iperf3 -s -B 198.18.0.2 -p 5201 >/dev/null 2>&1 &
iperf_pid=$!
sleep 0.5

# Runs a command in the client namespace and in the bench cgroup (vigil judges that cgroup).
# Joins the cgroup first: `ip netns exec` remounts /sys, where the cgroup2 tree is not mounted.
in_client() { sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cg" ip netns exec "$ns_c" "$@"; }

# Rule i denies tcp to 198.19.(i/16/256).(i/16%256) port 1000+i%16: 1,048,576 distinct rules fit.
write_rules() {  # write_rules N: $work/{cidrs.txt,vigil.yaml,iptables.rules,nft.rules}
  local n=$1
  python3 - "$n" "$work" <<'EOF'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
hosts = (n + 15) // 16
with open(f"{work}/cidrs.txt", "w") as f:
    for h in range(hosts):
        f.write(f"198.19.{h // 256}.{h % 256}/32\n")
with open(f"{work}/vigil.yaml", "w") as f:
    f.write("policies:\n  - name: bench\n    subject: {cgroup: /%s}\n    egress:\n" % sys.argv[2].split("/")[-1])
with open(f"{work}/iptables.rules", "w") as ipt, open(f"{work}/nft.rules", "w") as nft:
    ipt.write("*filter\n:OUTPUT ACCEPT [0:0]\n")
    nft.write("table ip vigilbench {\n chain out {\n  type filter hook output priority 0; policy accept;\n")
    for i in range(n):
        h = i // 16
        addr = f"198.19.{h // 256}.{h % 256}"
        port = 1000 + i % 16
        ipt.write(f"-A OUTPUT -d {addr}/32 -p tcp --dport {port} -j DROP\n")
        nft.write(f"  ip daddr {addr} tcp dport {port} drop\n")
    ipt.write("COMMIT\n")
    nft.write(" }\n}\n")
EOF
  # vigil: one rule per port, each naming the address file: n (address, port) pairs.
  local cg_rel=${cg#"$cgroot"}
  {
    echo "policies:"
    echo "  - name: bench"
    echo "    subject: {cgroup: $cg_rel}"
    echo "    egress:"
    local p
    for ((p = 0; p < 16 && p < n; p++)); do
      echo "      - {id: deny-$p, action: deny, to_file: cidrs.txt, ports: [$((1000 + p))], protocol: tcp}"
    done
  } >"$work/vigil.yaml"
}

kernel_kb() { awk '/^(Slab|Percpu|KernelStack|PageTables):/ {s += $2} END {print s}' /proc/meminfo; }

apply_engine() {  # apply_engine ENGINE: prints seconds taken, or "timeout"
  local engine=$1 start end
  start=$(date +%s.%N)
  case $engine in
    none) ;;
    vigil) timeout "$APPLY_TIMEOUT" "$VIGIL" netpolicy apply --json --pin-dir "$pins" --cgroup "$cg" "$work/vigil.yaml" >"$work/apply.out" 2>"$work/apply.err" || { cat "$work/apply.err" >&2; echo timeout; return; } ;;
    iptables) timeout "$APPLY_TIMEOUT" ip netns exec "$ns_c" $IPTABLES_RESTORE "$work/iptables.rules" || { echo timeout; return; } ;;
    nftables) timeout "$APPLY_TIMEOUT" ip netns exec "$ns_c" nft -f "$work/nft.rules" || { echo timeout; return; } ;;
  esac
  end=$(date +%s.%N)
  printf "%.6f\n" "$(echo "$end - $start" | bc -l)"
}

remove_engine() {
  case $1 in
    vigil) "$VIGIL" netpolicy detach --pin-dir "$pins" >/dev/null 2>&1 || true ;;
    iptables) ip netns exec "$ns_c" ${IPTABLES_RESTORE%-restore} -F OUTPUT ;;
    nftables) ip netns exec "$ns_c" nft delete table ip vigilbench 2>/dev/null || true ;;
  esac
}

: >"$OUT"
echo "# netpolicy bench $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg) cpus: $(nproc)"
printf '%-9s %8s %10s %10s %9s %9s %10s %10s %9s\n' engine rules apply_s conn/s p50_us p99_us iperf_Gbps kernel_MB fails
declare -A skip
for n in $SIZES; do
  write_rules "$n"
  for engine in $ENGINES; do
    [[ $engine == none && $n != "${SIZES%% *}" ]] && continue  # the baseline once
    if [[ -n ${skip[$engine]:-} ]]; then
      printf '%-9s %8s %10s\n' "$engine" "$n" "skipped (${skip[$engine]})"
      continue
    fi
    before=$(kernel_kb)
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    took=$(apply_engine "$engine")
    if [[ $took == timeout ]]; then
      skip[$engine]="apply > ${APPLY_TIMEOUT}s at $n"
      remove_engine "$engine"
      printf '%-9s %8s %10s\n' "$engine" "$n" "apply timed out (${APPLY_TIMEOUT}s)"
      echo "{\"engine\":\"$engine\",\"rules\":$n,\"apply_s\":null}" >>"$OUT"
      continue
    fi
    after=$(kernel_kb)
    read -r rate p50 p99 fails < <(in_client "$CONNRATE" client 198.18.0.2 "$PORT" "$SECONDS_PER_RUN")
    gbps=$(in_client timeout $((SECONDS_PER_RUN + 20)) iperf3 -c 198.18.0.2 -p 5201 -t "$SECONDS_PER_RUN" -J 2>/dev/null |
      python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))' 2>/dev/null || echo "?")
    mem=$(( (after - before) / 1024 ))
    load_after=$(cut -d' ' -f1 /proc/loadavg)
    # vigil: also the kernel part of the apply (write the new generation beside the old, switch)
    switch=null
    [[ $engine == vigil ]] && switch=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["last_apply"]["write_us"] / 1e6)' "$work/apply.out" 2>/dev/null || echo null)
    printf '%-9s %8s %10.3f %10s %9s %9s %10s %10s %9s\n' "$engine" "$n" "$took" "$rate" "$p50" "$p99" "$gbps" "$mem" "$fails"
    echo "{\"engine\":\"$engine\",\"rules\":$n,\"apply_s\":$took,\"switch_s\":$switch,\"conns_per_s\":$rate,\"p50_us\":$p50,\"p99_us\":$p99,\"iperf_gbps\":\"$gbps\",\"kernel_mb\":$mem,\"failures\":$fails,\"load\":[$load_before,$load_after]}" >>"$OUT"
    remove_engine "$engine"
  done
done
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg); figures in $OUT"
# Side by side: vigil's figures over each peer's at the same size (conn/s > 1: vigil faster;
# p99 and apply < 1: vigil faster), and vigil's own connection rate against its 10-rule rate.
python3 - "$OUT" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
by = {(r["engine"], r["rules"]): r for r in rows}
sizes = sorted({r["rules"] for r in rows})
def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b not in (None, 0) else "-"
def get(engine, n, key):
    r = by.get((engine, n))
    return None if r is None else r.get(key)
base = get("vigil", sizes[0], "conns_per_s") if sizes else None
print("\n%8s %10s %10s %10s | %9s %9s | %9s %9s | %9s %9s %9s | %9s" % (
    "rules", "vigil c/s", "ipt c/s", "nft c/s", "c/s÷ipt", "c/s÷nft", "p99÷ipt", "p99÷nft",
    "vigil_ap", "ipt_ap", "nft_ap", "c/s÷10r"))
for n in sizes:
    v, i, f = (get(e, n, "conns_per_s") for e in ("vigil", "iptables", "nftables"))
    fmt = lambda x: "-" if x is None else ("%.0f" % x if isinstance(x, (int, float)) else str(x))
    fmt3 = lambda x: "-" if x is None else "%.3f" % x
    print("%8d %10s %10s %10s | %9s %9s | %9s %9s | %9s %9s %9s | %9s" % (
        n, fmt(v), fmt(i), fmt(f), ratio(v, i), ratio(v, f),
        ratio(get("vigil", n, "p99_us"), get("iptables", n, "p99_us")),
        ratio(get("vigil", n, "p99_us"), get("nftables", n, "p99_us")),
        fmt3(get("vigil", n, "apply_s")), fmt3(get("iptables", n, "apply_s")), fmt3(get("nftables", n, "apply_s")),
        ratio(v, base)))
EOF

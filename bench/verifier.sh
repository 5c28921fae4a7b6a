#!/usr/bin/env bash
# Verifier benchmark (docs/attestation.md): recorded attestation rounds, each a TPM quote over
# PCRs 0-7 and 10 plus a 1,000-entry measurement-list delta, judged (quote check + replay to the
# quoted PCR 10 + runtime-policy check of every entry) on 2 cores, in rounds/s. The peer is the
# same work done as Keylime does it (tpm2_checkquote + Python replay and allowlist lookup;
# Keylime itself is not in Debian): bench/keylime_style_verifier.py on the same recorded rounds.
# Then the number of agents one verifier sustains at a 2 s interval: vigil_verifier_agents_bench
# runs the verifier in-process with simulated agents (each its own client certificate, a fresh
# mutual-TLS connection per round, a quote over the verifier's nonce and AGENT_ENTRIES new
# entries per round) at growing counts until one misses its schedule. The peer's figure is an
# upper bound: its rounds/s on AGENT_ENTRIES-entry rounds times 2 s, with no TLS and no database.
# Builds nothing: run `cmake --build build --target vigil_verifier_bench vigil_verifier_agents_bench` first.
# Environment:
#   VERIFIER_BENCH  the bench binary (default build/bench/vigil_verifier_bench)
#   AGENTS_BENCH    the agents bench binary (default build/bench/vigil_verifier_agents_bench)
#   AGENT_COUNTS    agent counts tried in order (default 200,400,600,800,1000,1200,1600,2000)
#   AGENT_ENTRIES   new entries per agent round (default 20)
#   ROUNDS          recorded rounds (default 20)
#   ENTRIES         entries per round (default 1000)
#   SECONDS_EACH    measuring time per side (default 10)
#   BENCH_TMP       parent of the scratch directory (default /tmp)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
VERIFIER_BENCH=${VERIFIER_BENCH:-build/bench/vigil_verifier_bench}
AGENTS_BENCH=${AGENTS_BENCH:-build/bench/vigil_verifier_agents_bench}
AGENT_COUNTS=${AGENT_COUNTS:-200,400,600,800,1000,1200,1600,2000}
AGENT_ENTRIES=${AGENT_ENTRIES:-20}
ROUNDS=${ROUNDS:-20}
ENTRIES=${ENTRIES:-1000}
SECONDS_EACH=${SECONDS_EACH:-10}
BENCH_TMP=${BENCH_TMP:-/tmp}
die() { echo "verifier.sh: $*" >&2; exit 1; }

[[ -x $AGENTS_BENCH ]] || die "agents bench binary not found at $AGENTS_BENCH"
[[ -x $VERIFIER_BENCH ]] || die "bench binary not found at $VERIFIER_BENCH (build vigil_verifier_bench, or set VERIFIER_BENCH=...)"
command -v tpm2_checkquote >/dev/null || die "tpm2_checkquote (tpm2-tools) is needed for the peer"
WORK=$(mktemp -d "$BENCH_TMP/vigil-verifier-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

field() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$1"; }

echo "verifier: recording $ROUNDS rounds of $ENTRIES entries, then ${SECONDS_EACH}s per side on 2 workers"
vigil_json=$("$VERIFIER_BENCH" --dir "$WORK" --rounds "$ROUNDS" --entries "$ENTRIES" --threads 2 --seconds "$SECONDS_EACH")
peer_json=$(/usr/bin/python3 "$here/keylime_style_verifier.py" "$WORK" "$SECONDS_EACH" 2)
vigil_rate=$(field rounds_per_second <<<"$vigil_json")
peer_rate=$(field rounds_per_second <<<"$peer_json")
printf '%-44s %14s %22s %10s\n' metric vigil "keylime-style peer" "vigil/peer"
printf '%-44s %14s %22s %9.1fx\n' "rounds/s ($ENTRIES-entry deltas, 2 workers)" "$vigil_rate" "$peer_rate" \
  "$(/usr/bin/python3 -c "print($vigil_rate / $peer_rate)")"
printf '%-44s %14s %22s\n' "entries/s" "$(/usr/bin/python3 -c "print(round($vigil_rate * $ENTRIES))")" \
  "$(/usr/bin/python3 -c "print(round($peer_rate * $ENTRIES))")"

echo
echo "verifier: agents sustained at a 2 s interval ($AGENT_ENTRIES new entries per round), counts $AGENT_COUNTS"
mkdir -p "$WORK/agents" "$WORK/small"
agents_out=$("$AGENTS_BENCH" --dir "$WORK/agents" --agents "$AGENT_COUNTS" --seconds "$SECONDS_EACH" --entries "$AGENT_ENTRIES" \
  --client-threads 16 | tee /dev/stderr | tail -1)
vigil_agents=$(field sustained_agents <<<"$agents_out")
"$VERIFIER_BENCH" --dir "$WORK/small" --rounds "$ROUNDS" --entries "$AGENT_ENTRIES" --threads 2 --seconds 1 >/dev/null
small_json=$(/usr/bin/python3 "$here/keylime_style_verifier.py" "$WORK/small" "$SECONDS_EACH" 2)
peer_agents=$(/usr/bin/python3 -c "print(int($(field rounds_per_second <<<"$small_json") * 2))")
printf '%-44s %14s %22s %9.1fx\n' "agents at a 2 s interval" "$vigil_agents" "<= $peer_agents (bound)" \
  "$(/usr/bin/python3 -c "print($vigil_agents / max($peer_agents, 1))")"

#!/usr/bin/env bash
# Verifier benchmark (docs/attestation.md): recorded attestation rounds, each a TPM quote over
# PCRs 0-7 and 10 plus a 1,000-entry measurement-list delta, judged (quote check + replay to the
# quoted PCR 10 + runtime-policy check of every entry) on 2 cores, in rounds/s. The peer is the
# same work done as Keylime does it (tpm2_checkquote + Python replay and allowlist lookup;
# Keylime itself is not in Debian): bench/keylime_style_verifier.py on the same recorded rounds.
# Builds nothing: run `cmake --build build --target vigil_verifier_bench` first.
# Environment:
#   VERIFIER_BENCH  the bench binary (default build/bench/vigil_verifier_bench)
#   ROUNDS          recorded rounds (default 20)
#   ENTRIES         entries per round (default 1000)
#   SECONDS_EACH    measuring time per side (default 10)
#   BENCH_TMP       parent of the scratch directory (default /tmp)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
VERIFIER_BENCH=${VERIFIER_BENCH:-build/bench/vigil_verifier_bench}
ROUNDS=${ROUNDS:-20}
ENTRIES=${ENTRIES:-1000}
SECONDS_EACH=${SECONDS_EACH:-10}
BENCH_TMP=${BENCH_TMP:-/tmp}
die() { echo "verifier.sh: $*" >&2; exit 1; }

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

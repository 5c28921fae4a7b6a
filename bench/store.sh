#!/usr/bin/env bash
# Console store benchmark (src/store, docs/store.md): 1,000,000 rows (half alerts, half
# events) inserted through the store's interface until committed, then p50/p99 latency of
# filtered queries; the peer is what users do without a store, the same JSON lines appended
# to files (fwrite, fflush per batch) and queried by scanning them (substring pre-filter,
# nlohmann::json parse of the candidate lines). Prints metric, vigil, peer, advantage.
# Builds nothing: run `cmake --build build --target vigil_store_bench` first.
# Environment:
#   STORE_BENCH  the bench binary (default build/bench/vigil_store_bench)
#   ROWS         rows in all (default 1000000)
#   RUNS         runs per query for the store (default 200)
#   PEER_RUNS    runs per query for the peer, each a full file scan (default 20)
#   BENCH_TMP    parent of the scratch directory (default /tmp)
set -euo pipefail

STORE_BENCH=${STORE_BENCH:-build/bench/vigil_store_bench}
ROWS=${ROWS:-1000000}
RUNS=${RUNS:-200}
PEER_RUNS=${PEER_RUNS:-20}
BENCH_TMP=${BENCH_TMP:-/tmp}
die() { echo "store.sh: $*" >&2; exit 1; }

[[ -x $STORE_BENCH ]] || die "bench binary not found at $STORE_BENCH (build vigil_store_bench, or set STORE_BENCH=...)"
WORK=$(mktemp -d "$BENCH_TMP/vigil-store-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

"$STORE_BENCH" --rows "$ROWS" --runs "$RUNS" --peer-runs "$PEER_RUNS" --dir "$WORK"

#!/usr/bin/env bash
# Runs every libFuzzer target in DIR for SECONDS each, from the committed seed corpus.
# A crash fails the run and leaves the reproducer in the build directory.
set -euo pipefail
dir=$1
seconds=${2:-30}
repo=$(cd "$(dirname "$0")/.." && pwd)
status=0
for target in "$dir"/fuzz_*; do
  [[ -x "$target" ]] || continue
  name=$(basename "$target")
  seeds="$repo/tests/fuzz/corpus/${name#fuzz_}"
  work="$dir/corpus-$name"
  mkdir -p "$work"
  echo "fuzz: $name for ${seconds}s"
  if ! "$target" -max_total_time="$seconds" -artifact_prefix="$dir/" -print_final_stats=1 "$work" "$seeds" \
       >"$dir/$name.log" 2>&1; then
    echo "fuzz: $name FAILED; reproducer and log in $dir" >&2
    tail -40 "$dir/$name.log" >&2
    status=1
  else
    grep -E '^stat::number_of_executed_units' "$dir/$name.log" | sed "s/^/fuzz: $name /"
  fi
done
exit $status

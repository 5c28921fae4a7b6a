#!/usr/bin/env bash
# Sign-speed benchmark (issue "sign speed"): vigil sign -r vs evmctl ima_sign -r on a tree of
# >= 20,000 files (a copy of the system's shared libraries plus many small files), warm page
# cache for both, and vigil's SM3 hashing vs `openssl speed -evp sm3`.
#
# Needs root (security.* xattrs), evmctl, openssl, and a built tree (`make bench`).
# Environment:
#   VIGIL       vigil binary            (default /work/main/build/src/vigil)
#   HASH_SPEED  vigil_hash_speed binary (default: BUILD/bench/vigil_hash_speed, BUILD = two levels above VIGIL)
#   RUNS        timed runs per tool and algorithm pair; the best is reported (default 1)
#   FILES       minimum number of files in the tree (default 20000)
#   LIB_DIR     where the shared libraries are copied from (default /usr/lib/x86_64-linux-gnu)
#   BENCH_TMP   parent of the scratch directory; must be on a filesystem with security.* xattrs (default /var/tmp)
#   JOBS        passed to vigil sign -j if set (default: vigil's own default, one per core)
#   HASH_ROUNDS openssl/vigil hashing measurements, interleaved, best of each (default 3)
#
# Every timed run also reports how many cores other processes kept busy meanwhile (from
# /proc/stat minus the tool's own CPU time): vigil uses every core, evmctl one, so a busy
# machine skews the ratio against vigil. Such runs are flagged.
set -euo pipefail

VIGIL=${VIGIL:-/work/main/build/src/vigil}
BUILD_DIR=$(cd "$(dirname "$VIGIL")/.." 2>/dev/null && pwd) || BUILD_DIR=$(dirname "$VIGIL")/..
HASH_SPEED=${HASH_SPEED:-$BUILD_DIR/bench/vigil_hash_speed}
RUNS=${RUNS:-1}
FILES=${FILES:-20000}
LIB_DIR=${LIB_DIR:-/usr/lib/x86_64-linux-gnu}
BENCH_TMP=${BENCH_TMP:-/var/tmp}
JOBS=${JOBS:-}
HASH_ROUNDS=${HASH_ROUNDS:-3}

die() { echo "sign.sh: $*" >&2; exit 1; }

[[ -x $VIGIL ]] || die "vigil binary not found at $VIGIL (build first: make bench, or set VIGIL=...)"
[[ -x $HASH_SPEED ]] || die "vigil_hash_speed not found at $HASH_SPEED (build first: make bench, or set HASH_SPEED=...)"
command -v evmctl >/dev/null || die "evmctl (ima-evm-utils) is not installed"
command -v openssl >/dev/null || die "openssl is not installed"
[[ $(id -u) -eq 0 ]] || die "must run as root (writing security.ima needs CAP_SYS_ADMIN)"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ $FILES =~ ^[1-9][0-9]*$ ]] || die "FILES must be a positive integer"
[[ $HASH_ROUNDS =~ ^[1-9][0-9]*$ ]] || die "HASH_ROUNDS must be a positive integer"
[[ -d $LIB_DIR ]] || die "LIB_DIR $LIB_DIR is not a directory"
VIGIL=$(realpath "$VIGIL")
HASH_SPEED=$(realpath "$HASH_SPEED")

fstype=$(stat -f -c %T "$BENCH_TMP")
case $fstype in
  tmpfs|ramfs) die "$BENCH_TMP is $fstype; set BENCH_TMP to a directory on the root (disk) filesystem" ;;
esac

WORK=$(mktemp -d "$BENCH_TMP/vigil-sign-bench.XXXXXX")
WORK=$(realpath "$WORK")
cleanup() { rm -rf -- "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TREE=$WORK/tree
KEYS=$WORK/keys
mkdir -p "$TREE/lib" "$TREE/small" "$KEYS"

now() { date +%s.%N; }
# elapsed START END -> seconds
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# Timing with load accounting. begin_timing/end_timing must run in this shell (not in $(...)):
# `times` reports the CPU time of this shell's waited-for children.
CLK_TCK=$(getconf CLK_TCK)
busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
children_cpu() {  # the second line of `times`: children's user and system time
  awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } printf "%.3f", t }' "$1"
}
busy_runs=0
begin_timing() {
  times >"$WORK/times.begin"
  T_BUSY=$(busy_jiffies)
  T_START=$(now)
}
end_timing() {  # sets T_ELAPSED (s), T_CPU (s of the timed command), T_OTHER (cores used by others)
  local end busy
  end=$(now)
  times >"$WORK/times.end"
  busy=$(busy_jiffies)
  T_ELAPSED=$(elapsed "$T_START" "$end")
  T_CPU=$(awk -v a="$(children_cpu "$WORK/times.begin")" -v b="$(children_cpu "$WORK/times.end")" 'BEGIN { printf "%.2f", b - a }')
  T_OTHER=$(awk -v j="$(( busy - T_BUSY ))" -v hz="$CLK_TCK" -v c="$T_CPU" -v t="$T_ELAPSED" \
    'BEGIN { o = (j / hz - c) / t; if (o < 0) o = 0; printf "%.2f", o }')
  if awk -v o="$T_OTHER" 'BEGIN { exit !(o > 0.25) }'; then
    busy_runs=$(( busy_runs + 1 ))
    T_NOTE=" -- WARNING: other processes busy, timing not representative"
  else
    T_NOTE=""
  fi
}

echo "== vigil sign-speed benchmark"
echo "vigil:      $VIGIL"
echo "evmctl:     $(evmctl --version 2>&1 | head -1)"
echo "openssl:    $(openssl version)"
echo "cpus:       $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))"
echo "scratch:    $WORK ($fstype)"
echo "runs:       $RUNS per tool and pair (best reported)"
echo "loadavg:    $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------------------------------------
# The tree: every regular *.so* file of LIB_DIR (realistic sizes), then small generated files.
echo
echo "== building the tree"
t0=$(now)
(cd "$LIB_DIR" && find . -type f -name '*.so*' -print0 | xargs -0 -r cp --parents -t "$TREE/lib" --)
lib_count=$(find "$TREE/lib" -type f | wc -l)
small_count=$(( FILES > lib_count ? FILES - lib_count : 0 ))

# Small files, 200..4295 bytes, text cut from a random pool; 200 files per directory.
# Pure bash builtins (no fork per file); RANDOM is seeded so the tree is the same every run.
pool=$(head -c 12000 /dev/urandom | base64 -w 0)
pool_len=${#pool}
RANDOM=20240601
for (( i = 0; i < small_count; i++ )); do
  if (( i % 200 == 0 )); then
    dir=$TREE/small/d$(( i / 200 ))
    mkdir -p "$dir"
  fi
  size=$(( 200 + (RANDOM * 32768 + RANDOM) % 4096 ))
  offset=$(( (RANDOM * 32768 + RANDOM) % (pool_len - size) ))
  printf '%s\n' "${pool:offset:size}" >"$dir/f$i.txt"
done

file_count=$(find "$TREE" -type f | wc -l)
total_bytes=$(find "$TREE" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }')
total_mb=$(awk -v b="$total_bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
echo "files:      $file_count ($lib_count libraries from $LIB_DIR, $small_count small generated)"
echo "total:      $total_mb MB"
echo "built in    $(elapsed "$t0" "$(now)") s"
(( file_count >= FILES )) || die "tree has only $file_count files, wanted >= $FILES"

# ---------------------------------------------------------------------------------------------
echo
echo "== keys"
"$VIGIL" keygen --algo sm2 -o "$KEYS/sm2" >/dev/null
"$VIGIL" keygen --algo ecdsa-p256 -o "$KEYS/ecdsa-p256" >/dev/null
# One keyring directory per key: verifying an evmctl run must not be satisfied by a
# signature some earlier run left behind with the other key.
for k in sm2 ecdsa-p256; do
  mkdir -p "$KEYS/ring-$k"
  cp "$KEYS/$k.der" "$KEYS/ring-$k/"
  [[ -s $KEYS/$k.key && -s $KEYS/$k.crt && -s $KEYS/$k.der ]] || die "vigil keygen did not write $KEYS/$k.{key,crt,der}"
  echo "$k: $KEYS/$k.key, $KEYS/$k.crt, $KEYS/$k.der"
done

# Warm cache for both tools: one untimed read of everything.
echo
echo "== warm-up read of the tree (untimed)"
t0=$(now)
find "$TREE" -type f -print0 | xargs -0 cat >/dev/null
echo "read in     $(elapsed "$t0" "$(now)") s"

# ---------------------------------------------------------------------------------------------
# Sanity checks.
# A sample of files spread over the tree (libraries and small files), checked with evmctl.
mapfile -t all_files < <(find "$TREE" -type f | sort)
sample=()
step=$(( ${#all_files[@]} / 60 ))
(( step > 0 )) || step=1
for (( i = 0; i < ${#all_files[@]}; i += step )); do sample+=("${all_files[i]}"); done
sample+=("${all_files[-1]}")
# The largest library too.
sample+=("$(find "$TREE/lib" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)")

check_with_evmctl() {  # PAIR CERT_DER
  local pair=$1 cert=$2 f out bad=0
  for f in "${sample[@]}"; do
    if ! out=$(evmctl ima_verify --key "$cert" "$f" 2>&1) || [[ $out != *"verification is OK"* ]]; then
      echo "FAIL: evmctl ima_verify rejects vigil's signature on $f:" >&2
      echo "    ${out//$'\n'/$'\n    '}" >&2
      bad=$(( bad + 1 ))
    fi
  done
  (( bad == 0 )) || die "$pair: $bad of ${#sample[@]} vigil-signed files fail evmctl ima_verify"
  echo "    check: evmctl ima_verify OK on ${#sample[@]} sampled vigil-signed files"
}

check_with_vigil() {  # PAIR KEYRING_DIR
  local pair=$1 ring=$2 out rc=0
  out=$("$VIGIL" verify -r --no-progress --keyring "$ring" -q "$TREE" 2>&1) || rc=$?
  if (( rc != 0 )); then
    echo "$out" | head -20 >&2
    die "$pair: vigil verify -r exits $rc on the evmctl-signed tree"
  fi
  echo "    check: vigil verify -r exits 0 on the evmctl-signed tree"
}

# ---------------------------------------------------------------------------------------------
declare -A best_vigil best_evmctl
jobs_opt=()
[[ -n $JOBS ]] && jobs_opt=(-j "$JOBS")

run_pair() {  # LABEL HASH KEYNAME
  local label=$1 hash=$2 keyname=$3
  local key=$KEYS/$keyname.key cert=$KEYS/$keyname.crt der=$KEYS/$keyname.der ring=$KEYS/ring-$keyname
  local run t0 t vout expected="signed $file_count, skipped 0, failed 0"
  echo
  echo "== $label"
  for (( run = 1; run <= RUNS; run++ )); do
    begin_timing
    vout=$("$VIGIL" sign -r --no-progress "${jobs_opt[@]}" --key "$key" --cert "$cert" --hash "$hash" "$TREE")
    end_timing
    t=$T_ELAPSED
    echo "run $run vigil sign:      $t s  cpu $T_CPU s, other load $T_OTHER cores$T_NOTE"
    echo "    vigil: $vout"
    [[ $vout == "$expected" ]] || die "$label: vigil sign said '$vout', expected '$expected'"
    check_with_evmctl "$label" "$der"
    if [[ -z ${best_vigil[$label]:-} ]] || awk -v a="$t" -v b="${best_vigil[$label]}" 'BEGIN { exit !(a < b) }'; then
      best_vigil[$label]=$t
    fi

    # evmctl -r prints every signature on stdout and "hash(...)" lines on stderr: the first
    # goes to /dev/null, the second to a log file (shown if evmctl fails).
    local log=$WORK/evmctl-$keyname-$run.log rc=0
    begin_timing
    evmctl ima_sign -r --hashalgo "$hash" --key "$key" "$TREE" >/dev/null 2>"$log" || rc=$?
    end_timing
    t=$T_ELAPSED
    if (( rc != 0 )); then
      grep -v -e '^hash(' -e '^evm/ima signature:' "$log" | tail -20 >&2 || true
      die "$label: evmctl ima_sign -r exits $rc"
    fi
    echo "run $run evmctl ima_sign: $t s  cpu $T_CPU s, other load $T_OTHER cores$T_NOTE"
    check_with_vigil "$label" "$ring"
    if [[ -z ${best_evmctl[$label]:-} ]] || awk -v a="$t" -v b="${best_evmctl[$label]}" 'BEGIN { exit !(a < b) }'; then
      best_evmctl[$label]=$t
    fi
  done
}

run_pair "SM3 + SM2" sm3 sm2
run_pair "SHA-256 + ECDSA P-256" sha256 ecdsa-p256

# ---------------------------------------------------------------------------------------------
echo
echo "== SM3 hashing throughput (1 MB = 1e6 bytes)"
big=$WORK/hash-256MiB.bin
head -c $(( 256 * 1024 * 1024 )) /dev/urandom >"$big"
cat "$big" >/dev/null
# openssl speed prints "type 16384 bytes" / "sm3 293718.94k" (k = 1000 bytes/s). -bytes 16384
# runs only the 16384-byte column (the default runs six sizes, 18 s). Rounds are interleaved
# with vigil's and the best of each is kept, so a noisy moment penalises neither side.
max() { awk -v a="$1" -v b="$2" 'BEGIN { m = (a == "" || b + 0 > a + 0) ? b : a; print m }'; }
openssl_16k="" vigil_bytes="" vigil_fd=""
for (( round = 1; round <= HASH_ROUNDS; round++ )); do
  os_out=$(openssl speed -evp sm3 -seconds 3 -bytes 16384 2>/dev/null)
  # The header is "type 16 bytes 64 bytes ... 16384 bytes": count the numbers to find the column.
  os=$(awk '
    /^type/ { n = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) { n++; if ($i == "16384") col = n + 1 } }
    /^sm3[ \t]/ && col { v = $(col); sub(/k$/, "", v); printf "%.1f", v / 1000 }' <<<"$os_out")
  [[ -n $os ]] || die "cannot parse openssl speed output: $os_out"
  hs_out=$("$HASH_SPEED" "$big")
  vb=$(awk -F': *' '$1 == "of_bytes_16k" { print $2 + 0 }' <<<"$hs_out")
  vf=$(awk -F': *' '$1 == "of_fd" { print $2 + 0 }' <<<"$hs_out")
  [[ -n $vb && -n $vf ]] || die "cannot parse vigil_hash_speed output: $hs_out"
  echo "round $round: openssl $os MB/s, vigil of_bytes $vb MB/s, vigil of_fd $vf MB/s"
  openssl_16k=$(max "$openssl_16k" "$os")
  vigil_bytes=$(max "$vigil_bytes" "$vb")
  vigil_fd=$(max "$vigil_fd" "$vf")
done
hash_verdict() { awk -v r="$1" 'BEGIN { print (r >= 90 ? ">= 90%: met" : "< 90%: missed") }'; }
ratio_bytes=$(awk -v a="$vigil_bytes" -v b="$openssl_16k" 'BEGIN { printf "%.1f", 100 * a / b }')
ratio_fd=$(awk -v a="$vigil_fd" -v b="$openssl_16k" 'BEGIN { printf "%.1f", 100 * a / b }')
echo "best of $HASH_ROUNDS:"
printf '%-44s %10s MB/s\n' "openssl speed -evp sm3, 16384-byte blocks" "$openssl_16k"
printf '%-44s %10s MB/s  %6s%% of openssl  %s\n' "vigil Hasher::of_bytes, 16 KiB buffers" "$vigil_bytes" "$ratio_bytes" "$(hash_verdict "$ratio_bytes")"
printf '%-44s %10s MB/s  %6s%% of openssl  %s\n' "vigil Hasher::of_fd, 256 MiB cached file" "$vigil_fd" "$ratio_fd" "$(hash_verdict "$ratio_fd")"

# ---------------------------------------------------------------------------------------------
echo
echo "== results: $file_count files, $total_mb MB, warm cache, best of $RUNS"
printf '%-24s %14s %14s %12s %14s\n' "algorithms" "vigil files/s" "evmctl files/s" "vigil/evmctl" "target (>= 3x)"
all_met=1
for label in "SM3 + SM2" "SHA-256 + ECDSA P-256"; do
  tv=${best_vigil[$label]} te=${best_evmctl[$label]}
  fv=$(awk -v n="$file_count" -v t="$tv" 'BEGIN { printf "%.0f", n / t }')
  fe=$(awk -v n="$file_count" -v t="$te" 'BEGIN { printf "%.0f", n / t }')
  ratio=$(awk -v a="$te" -v b="$tv" 'BEGIN { printf "%.2f", a / b }')
  if awk -v r="$ratio" 'BEGIN { exit !(r >= 3) }'; then verdict="target met"; else verdict="target missed"; all_met=0; fi
  printf '%-24s %14s %14s %11sx %14s\n' "$label" "$fv" "$fe" "$ratio" "$verdict"
  printf '%-24s %13ss %13ss\n' "" "$tv" "$te"
done
echo
if (( busy_runs > 0 )); then
  echo "WARNING: other processes kept the machine busy during $busy_runs timed run(s); see 'other load' above."
fi
if (( all_met )); then echo "sign speed: target met (>= 3x evmctl for every pair)"; else echo "sign speed: target missed"; fi
hash_ok=$(awk -v r="$ratio_bytes" 'BEGIN { print (r >= 90 ? 1 : 0) }')
if (( hash_ok )); then
  echo "SM3 hashing: target met (vigil ${ratio_bytes}% of openssl speed)"
else
  echo "SM3 hashing: target missed (vigil ${ratio_bytes}% of openssl speed)"
fi

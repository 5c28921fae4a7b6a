#!/usr/bin/env bash
# Image-manifest benchmark (issue 21 item 8): `vigil image sign` and `vigil image verify` of a
# root filesystem, in files/s and MB/s, beside `find | sha256sum` and `evmctl ima_sign -r` over
# the same files, and the time `vigil oci-hook` takes for that tree (what it adds to a
# container's start). Warm page cache for every tool; best of RUNS.
#
# Needs root (evmctl writes security.ima), evmctl, and a built tree (`make build`).
# Environment:
#   VIGIL      vigil binary (default /work/main/build/src/vigil)
#   FILES      small files generated (default 10000)
#   LIB_MB     megabytes of shared libraries copied from LIB_DIR as large files (default 200)
#   LIB_DIR    default /usr/lib/x86_64-linux-gnu
#   RUNS       timed runs per measurement, best reported (default 3)
#   BENCH_TMP  parent of the scratch directory, a disk filesystem with xattrs (default /var/tmp)
#   JOBS       vigil --jobs (default: one per core)
set -euo pipefail

VIGIL=${VIGIL:-/work/main/build/src/vigil}
FILES=${FILES:-10000}
LIB_MB=${LIB_MB:-200}
LIB_DIR=${LIB_DIR:-/usr/lib/x86_64-linux-gnu}
RUNS=${RUNS:-3}
BENCH_TMP=${BENCH_TMP:-/var/tmp}
JOBS=${JOBS:-}

die() { echo "image.sh: $*" >&2; exit 1; }
[[ -x $VIGIL ]] || die "vigil binary not found at $VIGIL (make build, or set VIGIL=...)"
command -v evmctl >/dev/null || die "evmctl (ima-evm-utils) is not installed"
[[ $(id -u) -eq 0 ]] || die "must run as root (evmctl writes security.ima)"
for n in FILES LIB_MB RUNS; do [[ ${!n} =~ ^[0-9]+$ ]] || die "$n must be a non-negative integer"; done
(( RUNS > 0 )) || die "RUNS must be positive"
VIGIL=$(realpath "$VIGIL")
jobs_opt=()
[[ -n $JOBS ]] && jobs_opt=(--jobs "$JOBS")

WORK=$(mktemp -d "$BENCH_TMP/vigil-image-bench.XXXXXX")
cleanup() { rm -rf -- "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
TREE=$WORK/rootfs
mkdir -p "$TREE/usr/lib" "$TREE/srv" "$WORK/keys"

now() { date +%s.%N; }
# best_of CMD...: runs CMD RUNS times (output discarded), prints the best wall time in seconds.
best_of() {
  local best="" t0 t1 t
  for (( r = 0; r < RUNS; r++ )); do
    t0=$(now)
    "$@" >/dev/null 2>&1 || die "failed: $*"
    t1=$(now)
    t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    if [[ -z $best ]] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then best=$t; fi
  done
  echo "$best"
}
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", (t > 0 ? n / t : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

echo "== vigil image benchmark"
echo "vigil:    $VIGIL"
echo "cpus:     $(nproc); loadavg $(cut -d' ' -f1-3 /proc/loadavg) (other processes skew every tool)"

# The tree: libraries up to LIB_MB (large files), then FILES small files in 200-file directories.
limit=$(( LIB_MB * 1000000 ))
copied=0
while IFS= read -r -d '' lib; do
  size=$(stat -c %s "$lib")
  (( copied + size > limit )) && break
  cp -- "$lib" "$TREE/usr/lib/"
  copied=$(( copied + size ))
done < <(find "$LIB_DIR" -maxdepth 1 -type f -name '*.so*' -print0 | sort -z)
pool=$(head -c 12000 /dev/urandom | base64 -w 0)
RANDOM=2112
for (( i = 0; i < FILES; i++ )); do
  (( i % 200 == 0 )) && { dir=$TREE/srv/d$(( i / 200 )); mkdir -p "$dir"; }
  size=$(( 200 + (RANDOM * 32768 + RANDOM) % 4096 ))
  printf '%s\n' "${pool:$(( RANDOM % 4000 )):size}" >"$dir/f$i"
done
file_count=$(find "$TREE" -type f | wc -l)
entry_count=$(find "$TREE" | wc -l)
bytes=$(find "$TREE" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }')
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
echo "tree:     $file_count files ($entry_count entries), $mb MB"
find "$TREE" -type f -print0 | xargs -0 cat >/dev/null  # warm cache

"$VIGIL" keygen --algo sm2 -o "$WORK/keys/sm2" >/dev/null
"$VIGIL" keygen --algo ecdsa-p256 -o "$WORK/keys/ecdsa" >/dev/null
mkdir -p "$WORK/ring"
cp "$WORK/keys/sm2.crt" "$WORK/keys/ecdsa.crt" "$WORK/ring/"

echo
printf '%-44s %9s %10s %9s\n' "measurement" "seconds" "files/s" "MB/s"
report() {  # LABEL SECONDS
  printf '%-44s %9s %10s %9s\n' "$1" "$2" "$(rate "$file_count" "$2")" "$(rate "$mb" "$2")"
}

t_sha=$(best_of sh -c "find '$TREE' -type f -print0 | xargs -0 sha256sum")
report "find | xargs sha256sum (one core)" "$t_sha"
t_sha_par=$(best_of sh -c "find '$TREE' -type f -print0 | xargs -0 -P $(nproc) -n 500 sha256sum")
report "find | xargs -P$(nproc) sha256sum" "$t_sha_par"

declare -A sign_t verify_t
for pair in "sm2 sm3" "ecdsa sha256"; do
  set -- $pair
  key=$1 hash=$2
  sign_t[$key]=$(best_of "$VIGIL" image sign "$TREE" --key "$WORK/keys/$key.key" -o "$WORK/$key.manifest" \
                 --no-progress "${jobs_opt[@]}")
  report "vigil image sign ($key/$hash)" "${sign_t[$key]}"
  verify_t[$key]=$(best_of "$VIGIL" image verify "$TREE" "$WORK/$key.manifest" --keyring "$WORK/ring" \
                   --no-progress -q "${jobs_opt[@]}")
  report "vigil image verify ($key/$hash)" "${verify_t[$key]}"
done
"$VIGIL" image verify "$TREE" "$WORK/sm2.manifest" --keyring "$WORK/ring" -q --no-progress || die "verify failed"

t_evm_sm3=$(best_of evmctl ima_sign -r -a sm3 --key "$WORK/keys/sm2.key" "$TREE")
report "evmctl ima_sign -r (sm2/sm3)" "$t_evm_sm3"
t_evm_sha=$(best_of evmctl ima_sign -r -a sha256 --key "$WORK/keys/ecdsa.key" "$TREE")
report "evmctl ima_sign -r (ecdsa/sha256)" "$t_evm_sha"

# The hook on the same tree as a bundle's rootfs: the time it adds to a container's start.
mkdir -p "$WORK/bundle"
printf '{"ociVersion":"1.0.2","root":{"path":"%s"},"annotations":{"io.vigil.image.manifest":"%s"}}\n' \
  "$TREE" "$WORK/sm2.manifest" >"$WORK/bundle/config.json"
printf '{"ociVersion":"1.0.2","id":"bench","status":"creating","pid":1,"bundle":"%s"}\n' "$WORK/bundle" >"$WORK/state.json"
t_hook=$(best_of sh -c "'$VIGIL' oci-hook --keyring '$WORK/ring' ${JOBS:+--jobs $JOBS} <'$WORK/state.json'")
report "vigil oci-hook (sm2/sm3, whole tree)" "$t_hook"

echo
echo "ratios (higher: vigil faster)"
echo "  verify sha256 vs find|sha256sum (one core):  $(ratio "$t_sha" "${verify_t[ecdsa]}")x"
echo "  verify sha256 vs find|xargs -P sha256sum:    $(ratio "$t_sha_par" "${verify_t[ecdsa]}")x"
echo "  verify sm3 vs find|sha256sum (one core):     $(ratio "$t_sha" "${verify_t[sm2]}")x"
echo "  image sign sm3 vs evmctl ima_sign sm3:       $(ratio "$t_evm_sm3" "${sign_t[sm2]}")x"
echo "  image sign sha256 vs evmctl ima_sign sha256: $(ratio "$t_evm_sha" "${sign_t[ecdsa]}")x"

#!/usr/bin/env bash
# `make run`: a short tour of signing (make an SM2 key, sign a sample tree, verify it, tamper
# with one file, show the report), then the main job: `vigil agent` on config/default.yaml
# (log mode: measures every program run on /, blocks nothing) until Ctrl-C.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
vigil=${VIGIL:-$repo/build/src/vigil}
demo=$repo/build/demo
rm -rf "$demo"
mkdir -p "$demo/keys" "$demo/tree/bin" "$demo/tree/etc"

storage=()
if [[ $(id -u) -ne 0 ]]; then
  echo "(not root: security.ima needs CAP_SYS_ADMIN, so the demo writes PATH.sig files)"
  storage=(--sigfile)
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "vigil keygen --algo sm2"
"$vigil" keygen --algo sm2 -o "$demo/keys/demo"

step "a sample tree: a few programs and config files"
for prog in ls cat sh grep; do cp "$(command -v $prog)" "$demo/tree/bin/"; done
printf 'greeting=hello\n' >"$demo/tree/etc/app.conf"
printf 'name with spaces\n' >"$demo/tree/etc/notes with spaces.txt"
find "$demo/tree" -type f | sed "s|$demo/||"

step "vigil sign -r (SM2 signatures over SM3 digests, evmctl's format)"
"$vigil" sign -r "${storage[@]}" --key "$demo/keys/demo.key" --cert "$demo/keys/demo.crt" "$demo/tree"

step "vigil verify -r"
"$vigil" verify -r "${storage[@]}" --keyring "$demo/keys" "$demo/tree"

step "tamper: append one byte to bin/grep"
printf 'x' >>"$demo/tree/bin/grep"

step "vigil verify -r (now one file fails and the exit code is non-zero)"
set +e
"$vigil" verify -r "${storage[@]}" --keyring "$demo/keys" "$demo/tree"
code=$?
set -e
echo "exit code: $code"
if command -v evmctl >/dev/null && [[ ${#storage[@]} -eq 0 ]]; then
  step "evmctl agrees (ima-evm-utils)"
  evmctl ima_verify --key "$demo/keys/demo.der" "$demo/tree/etc/app.conf" 2>&1 | tail -1
  evmctl ima_verify --key "$demo/keys/demo.der" "$demo/tree/bin/grep" 2>&1 | tail -1 || true
fi
[[ $code -eq 1 ]]

if [[ "${VIGIL_DEMO_ONLY:-}" == 1 ]]; then exit 0; fi
if [[ $(id -u) -ne 0 ]]; then
  echo "vigil agent needs root (fanotify); run make run as root to start it." >&2
  exit 1
fi
config=${VIGIL_CONFIG:-$repo/config/default.yaml}
step "vigil agent --config ${config#$repo/} (Ctrl-C to stop)"
echo "measurement list: /var/lib/vigil/ascii_runtime_measurements; audit: /var/lib/vigil/audit.jsonl"
echo "dashboard: the URL the agent prints below (http://127.0.0.1:7373/ by default)"
exec "$vigil" agent --config "$config"

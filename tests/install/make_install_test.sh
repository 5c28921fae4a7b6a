#!/usr/bin/env bash
# `make install` as cmake_install.cmake does it, into DESTDIR (never the real system): every
# file where docs/install.md says, the units pointing at the installed binary, the installed
# binary working on the installed config; then `make uninstall` removes it all but the
# configuration the administrator changed. Usage: make_install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 source=$2
work=$(mktemp -d /tmp/vigil-install-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_file() { [[ -f $1 ]] || fail "missing $1"; }

install_to() {  # DESTDIR PREFIX RECORD
  DESTDIR=$1 cmake -DCMAKE_INSTALL_PREFIX="$2" -DVIGIL_INSTALL_RECORD="$3" -P "$build/cmake_install.cmake" >"$work/install.log" ||
    { cat "$work/install.log"; fail "install to $1 (prefix $2)"; }
}

# ---- PREFIX=/usr/local (make install's default) ----
root=$work/local
install_to "$root" /usr/local "$work/local.record"
expect_file "$root/usr/local/bin/vigil"
for file in agent.yaml ima.policy verifier.env; do expect_file "$root/etc/vigil/$file"; done
cmp -s "$root/etc/vigil/agent.yaml" "$source/config/default.yaml" || fail "agent.yaml is not config/default.yaml"
cmp -s "$root/etc/vigil/ima.policy" "$source/policies/default.policy" || fail "ima.policy is not policies/default.policy"
expect_file "$root/etc/logrotate.d/vigil-verifier"
expect_file "$root/usr/local/share/vigil/rules/default.yaml"
expect_file "$root/usr/local/share/doc/vigil/README.md"
expect_file "$root/usr/local/share/doc/vigil/install.md"
expect_file "$root/usr/local/share/doc/vigil/examples/policies/payment-app.policy"
expect_file "$root/usr/local/share/man/man8/vigil.8"
expect_file "$root/usr/local/share/man/man8/vigil-agent.8"
expect_file "$root/usr/local/share/man/man8/vigil-status.8"
expect_file "$root/usr/local/share/bash-completion/completions/vigil"
expect_file "$root/usr/local/share/zsh/site-functions/_vigil"
expect_file "$root/usr/local/lib/sysusers.d/vigil.conf"
unit=$root/usr/local/lib/systemd/system/vigil-agent.service
expect_file "$unit"
expect_file "$root/usr/local/lib/systemd/system/vigil-verifier.service"
grep -qx 'ExecStart=/usr/local/bin/vigil agent --config /etc/vigil/agent.yaml' "$unit" || fail "agent ExecStart: $(grep ExecStart "$unit")"
grep -Eq '@[A-Z_]+@' "$unit" && fail "unsubstituted @VAR@ in $unit"
[[ $(stat -c %a "$root/var/lib/vigil") == 700 ]] || fail "state directory is $(stat -c %a "$root/var/lib/vigil"), not 700"
[[ ! -e $root/usr/local/etc ]] || fail "configuration went to PREFIX/etc"
grep -qx "/usr/local/bin/vigil" "$work/local.record" || fail "the install record lacks the binary"

"$root/usr/local/bin/vigil" --version | grep -qx "vigil [0-9.]*" || fail "installed vigil --version"
"$root/usr/local/bin/vigil" agent --check-config "$root/etc/vigil/agent.yaml" >"$work/check.out" ||
  { cat "$work/check.out"; fail "the installed config does not validate"; }
grep -q ": ok: mode log" "$work/check.out" || fail "check-config said: $(cat "$work/check.out")"

# ---- uninstall: an edited config stays, everything else goes ----
echo "# edited by the administrator" >>"$root/etc/vigil/agent.yaml"
DESTDIR=$root cmake -DVIGIL_INSTALL_RECORD="$work/local.record" -P "$build/cmake_uninstall.cmake" >"$work/uninstall.log" ||
  { cat "$work/uninstall.log"; fail "uninstall"; }
grep -q "Kept (changed since installed): $root/etc/vigil/agent.yaml" "$work/uninstall.log" || fail "the edited config was not named as kept"
left=$(cd "$root" && find . -type f | sort)
[[ $left == "./etc/vigil/agent.yaml" ]] || fail "left after uninstall: $left"
left_dirs=$(cd "$root" && find . -type d -path '*vigil*' | sort | tr '\n' ' ')
[[ $left_dirs == "./etc/vigil ./var/lib/vigil " ]] || fail "vigil directories left after uninstall: $left_dirs"

# ---- PREFIX=/usr (what the package uses) ----
root=$work/usr
install_to "$root" /usr "$work/usr.record"
grep -qx 'ExecStart=/usr/bin/vigil agent --config /etc/vigil/agent.yaml' "$root/usr/lib/systemd/system/vigil-agent.service" ||
  fail "ExecStart under /usr"
expect_file "$root/usr/share/zsh/vendor-completions/_vigil"
[[ ! -e $root/usr/etc ]] || fail "configuration went to /usr/etc"
DESTDIR=$root cmake -DVIGIL_INSTALL_RECORD="$work/usr.record" -P "$build/cmake_uninstall.cmake" >/dev/null
left=$(cd "$root" && find . -type f | sort)
[[ -z $left ]] || fail "left after uninstall of unchanged files: $left"
echo "make install/uninstall: ok"

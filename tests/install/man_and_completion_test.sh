#!/usr/bin/env bash
# The man pages and shell completions the build made from the CLI definitions cover every
# command `vigil --help` lists, at every level, and every option of each; the pages render
# without a groff warning; the bash completion offers them; the zsh one parses and walks the
# same command tree. Usage: man_and_completion_test.sh BUILD_DIR
set -euo pipefail
build=$1
vigil=$build/src/vigil
generated=$build/generated
work=$(mktemp -d /tmp/vigil-docs-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The command tree as --help shows it (CLI11's layout): PATH -> subcommands, long options.
declare -A subs opts
paths=("")
for ((i = 0; i < ${#paths[@]}; i++)); do
  path=${paths[i]}
  # shellcheck disable=SC2086
  help=$("$vigil" $path --help)
  subs[x$path]=$(awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^[^ ]/ { on = 0 }' <<<"$help")
  # The names in the first column of the Options: section ("  -c,--config TEXT  ...").
  opts[x$path]=$(awk '/^Options:/ { on = 1; next } on && /^  -/ { n = split($1, names, ","); for (i = 1; i <= n; i++) if (names[i] ~ /^--/ && names[i] != "--help") print names[i] } on && /^[^ ]/ { on = 0 }' <<<"$help")
  for sub in ${subs[x$path]}; do paths+=("${path:+$path }$sub"); done
done
((${#paths[@]} > 10)) || fail "only ${#paths[@]} command paths found in --help"

# ---- man pages ----
top=${subs[x]}
declare -A rendered
for page in vigil $(for sub in $top; do echo "vigil-$sub"; done); do
  file=$generated/man/$page.8
  [[ -f $file ]] || fail "no man page $page.8"
  warnings=$(groff -man -ww -z -Tutf8 "$file" 2>&1) || fail "groff failed on $page.8"
  [[ -z $warnings ]] || fail "groff warnings in $page.8: $warnings"
  rendered[$page]=$(MANWIDTH=200 man -l "$file" 2>/dev/null | col -b)
  grep -q '^NAME' <<<"${rendered[$page]}" || fail "$page.8 renders without NAME"
done
for sub in $top; do grep -q "vigil-$sub(8)" <<<"${rendered[vigil]}" || fail "vigil.8 does not list $sub"; done
for path in "${paths[@]:1}"; do
  page=vigil-${path%% *}
  grep -q "vigil $path" <<<"${rendered[$page]}" || fail "$page.8 does not describe 'vigil $path'"
  for option in ${opts[x$path]}; do
    grep -q -- "$option" <<<"${rendered[$page]}" || fail "$page.8 lacks $option of 'vigil $path'"
  done
done

# ---- bash: one shell answers every question (lines "CURRENT|WORDS...") ----
for path in "${paths[@]}"; do printf '|vigil %s\n--|vigil %s\n' "$path" "$path"; done >"$work/questions"
printf '|vigil agent --mode\n' >>"$work/questions"
bash --norc --noprofile -c '
  source "$1"
  while IFS="|" read -r current line; do
    read -ra COMP_WORDS <<<"$line"
    COMP_WORDS+=("$current")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    _vigil
    echo "${COMPREPLY[*]}"
  done' _ "$generated/vigil.bash" <"$work/questions" >"$work/bash-answers"
mapfile -t answers <"$work/bash-answers"
n=0
for path in "${paths[@]}"; do
  offered=" ${answers[n]} " offered_options=" ${answers[n + 1]} "
  n=$((n + 2))
  for sub in ${subs[x$path]}; do [[ $offered == *" $sub "* ]] || fail "bash: 'vigil $path <TAB>' does not offer $sub"; done
  for option in ${opts[x$path]}; do [[ $offered_options == *" $option "* ]] || fail "bash: 'vigil $path --<TAB>' lacks $option"; done
  [[ $offered != *__docs* ]] || fail "bash offers the hidden __docs"
done
[[ ${answers[n]} == "enforce log fix" ]] || fail "bash: 'vigil agent --mode <TAB>' offers '${answers[n]}'"

# ---- zsh: the script parses, its table holds every subcommand, its walk finds every path ----
if command -v zsh >/dev/null; then
  zsh -n "$generated/_vigil" || fail "zsh: _vigil does not parse"
  for path in "${paths[@]}"; do echo "vigil $path"; done >"$work/zsh-questions"
  echo "vigil agent --config /etc/vigil/agent.yaml" >>"$work/zsh-questions"
  zsh -f -c '
    compdef() { :; }
    source "$1"
    while IFS= read -r line; do
      words=(${=line} "")
      CURRENT=${#words}
      _vigil_path
      local -a n
      n=(${(f)_vigil_subcommands[$REPLY]})
      n=(${n%%:*})
      print -r -- "$REPLY|${(j: :)n}"
    done' _ "$generated/_vigil" <"$work/zsh-questions" >"$work/zsh-answers"
  mapfile -t answers <"$work/zsh-answers"
  n=0
  for path in "${paths[@]}"; do
    walked=${answers[n]%%|*} offered=" ${answers[n]#*|} "
    n=$((n + 1))
    [[ $walked == "vigil${path:+ $path}" ]] || fail "zsh: the words 'vigil $path' walk to '$walked'"
    for sub in ${subs[x$path]}; do [[ $offered == *" $sub "* ]] || fail "zsh: 'vigil $path' lacks $sub"; done
  done
  [[ ${answers[n]%%|*} == "vigil agent" ]] || fail "zsh: an option's value was taken for a command: ${answers[n]}"
else
  echo "zsh not installed: its completion untested" >&2
  [[ ${CI:-} == true ]] && fail "zsh is required under CI"
fi
echo "man pages and completions: ok (${#paths[@]} command paths)"

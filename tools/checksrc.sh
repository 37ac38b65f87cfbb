#!/usr/bin/env bash
# Source checks the compiler does not make: no call to a banned function, no
# include of a later pipeline stage's header (the stage order is below), and no
# function longer than the hard limit (STYLE.md: keep functions under ~80 lines,
# 120 is the limit). A function's length is counted from the line that names it
# to its closing brace, both included.
#
# Usage: tools/checksrc.sh [--list-long N] [FILE...]
#   With no FILE: banned functions and the length limit in src/, include/, tests/,
#   fuzz/ and tools/ (a test's scenarios are helpers of their own, as the code's are).
#   --list-long N  only prints every function longer than N lines (no verdict).
# Exit status: 0 clean, 1 a finding (each printed as file:line: what), 2 bad usage.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
max_lines=120
list_only=""
if [[ "${1:-}" == "--list-long" ]]; then
  [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "checksrc: --list-long needs a number of lines" >&2; exit 2; }
  list_only=1
  max_lines=$2
  shift 2
fi

files=("$@")
if ((${#files[@]} == 0)); then
  cd "$root"
  mapfile -t files < <(find src include tests fuzz tools -maxdepth 3 \( -name '*.c' -o -name '*.h' \) \
                         -not -path '*/build*' | sort)
fi

# Unbounded writes, unchecked conversions and a function with no safe use.
banned='sprintf|vsprintf|strcpy|strcat|gets|atoi|atol|atoll|atof'

status=0
if [[ -z "$list_only" ]]; then
  # Comments and string literals may name them; code may not. snprintf and
  # vsnprintf are what to use instead, so they are not matched (\b before the name).
  if grep -HnE "(^|[^A-Za-z0-9_])($banned)[[:space:]]*\(" "${files[@]}" |
     grep -vE ':[0-9]+:[[:space:]]*(/?\*|//)' >/tmp/checksrc.$$; then
    sed 's/$/   <- banned function/' /tmp/checksrc.$$
    status=1
  fi
  rm -f /tmp/checksrc.$$
fi

# Stages in the order they may depend on each other (docs/architecture.md): a file
# in src/STAGE/, or the header of a module there, may include the header of a module
# of its own stage or an earlier one, never of a later one, so no dependency runs
# back up the pipeline. The pipeline wires sources, legs, detectors and alerts and
# posts into the outbox, so it comes after them all; a header with no .c of its
# own (cue.h, transcript.h: plain data) is core.
stages=(core sources leg detect alert "sinks bus store console web" pipeline app)
if [[ -z "$list_only" ]]; then
  declare -A stage_rank=() module_rank=()
  for i in "${!stages[@]}"; do
    for s in ${stages[$i]}; do stage_rank[$s]=$i; done
  done
  for c in "$root"/src/*/*.c; do
    d=${c%/*}; d=${d##*/}
    [[ -n "${stage_rank[$d]:-}" ]] || { echo "src/$d/: a folder missing from checksrc.sh's stage order"; status=1; continue; }
    m=${c##*/}; module_rank[${m%.c}]=${stage_rank[$d]}
  done
  rank_of() {  # $1 = a path from the root; prints its stage's index, nothing outside src/ and include/
    case $1 in
      src/*/*) local d=${1#src/}; d=${d%%/*}; echo "${stage_rank[$d]:-}" ;;
      include/callwatch/*.h) local m=${1##*/}; echo "${module_rank[${m%.h}]:-0}" ;;
    esac
  }
  while IFS=: read -r f line text; do
    rel=${f#"$root"/}
    from=$(rank_of "$rel")
    [[ -n "$from" ]] || continue
    h=${text#*\"callwatch/}; h=${h%%\"*}
    to=$(rank_of "include/callwatch/$h")
    if ((to > from)); then
      echo "$rel:$line: includes callwatch/$h of a later stage (${stages[$to]}) than its own (${stages[$from]})   <- arrow back up the pipeline"
      status=1
    fi
  done < <(grep -HnE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"callwatch/[A-Za-z0-9_]+\.h"' "${files[@]}" || true)
fi

# A definition starts at a line in column 0 that names a function (an identifier
# followed by '(') and is not a declaration (ends without ';'); its body opens with
# '{' in column 0 or at the end of the signature, and ends at '}' in column 0.
long=$(awk -v max="$max_lines" '
  FNR == 1 { sig = 0; body = 0 }
  !body && /^[A-Za-z_][A-Za-z0-9_ \t*]*[ \t*]\**[A-Za-z_][A-Za-z0-9_]*\(/ && !/;[ \t]*$/ && !/^(return|else|typedef)/ {
    name = $0; sub(/\(.*/, "", name); sub(/.*[ \t*]/, "", name)
    sig = FNR; signame = name
  }
  !body && sig && (/^\{/ || /\)[ \t]*\{[ \t]*$/) { body = 1; start = sig; fname = signame; next }
  !body && sig && /;[ \t]*$/ { sig = 0 }
  body && /^\}/ {
    n = FNR - start + 1
    if (n > max) printf "%s:%d: %s() is %d lines\n", FILENAME, start, fname, n
    body = 0; sig = 0
  }
' "${files[@]}")
if [[ -n "$long" ]]; then
  if [[ -n "$list_only" ]]; then
    echo "$long"
    exit 0
  fi
  sed "s/\$/, over the limit of $max_lines/" <<<"$long"
  status=1
fi
[[ -n "$list_only" ]] && exit 0
((status == 0)) && echo "checksrc: ${#files[@]} files clean (banned functions, includes of a later stage, functions over $max_lines lines)"
exit $status

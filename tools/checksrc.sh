#!/usr/bin/env bash
# Source checks the compiler does not make: no call to a banned function, and no
# function longer than the hard limit (STYLE.md: keep functions under ~80 lines,
# 120 is the limit). A function's length is counted from the line that names it
# to its closing brace, both included.
#
# Usage: tools/checksrc.sh [--list-long N] [FILE...]
#   With no FILE: banned functions in src/, include/, tests/, fuzz/ and tools/; the
#   length limit in the same files but tests/ (a test's scenario may read top to
#   bottom; tools/checksrc.sh --list-long 120 tests/*.c lists the long ones).
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
long_files=("$@")
if ((${#files[@]} == 0)); then
  cd "$root"
  mapfile -t files < <(find src include tests fuzz tools -maxdepth 3 \( -name '*.c' -o -name '*.h' \) \
                         -not -path '*/build*' | sort)
  mapfile -t long_files < <(printf '%s\n' "${files[@]}" | grep -v '^tests/')
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
' "${long_files[@]}")
if [[ -n "$long" ]]; then
  if [[ -n "$list_only" ]]; then
    echo "$long"
    exit 0
  fi
  sed "s/\$/, over the limit of $max_lines/" <<<"$long"
  status=1
fi
[[ -n "$list_only" ]] && exit 0
((status == 0)) && echo "checksrc: ${#files[@]} files clean (banned functions, functions over $max_lines lines)"
exit $status

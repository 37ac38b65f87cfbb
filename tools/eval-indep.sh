#!/usr/bin/env bash
# Full evaluation on the second, independent call generator: dev and test halves, scored apart.
#
#   tools/eval-indep.sh [OUT_DIR] [--crosstalk-db DB] [-- extra tools/eval.py arguments]
#
# Renders tools/make-calls-indep.py's dev and test halves (18 calls each, ~7.5 min of audio per
# half) into OUT_DIR (default: a temporary directory, removed afterwards), runs tools/eval.py on
# each with the binary in $CALLWATCH (default build/callwatch), and prints the two reports one after
# the other, dev first. Tune on dev only; the test half is the held-out number. --crosstalk-db DB
# renders the calls with each leg leaking into the other DB dB down. Extra arguments after --
# go to tools/eval.py (e.g. -- --gate-f1 0.9, which makes the exit status 1 when a half is below).
# Exit status 2 on usage errors. See docs/evaluation.md.
set -euo pipefail

src="$(cd "$(dirname "$0")/.." && pwd)"
cw="${CALLWATCH:-$src/build/callwatch}"
out=""
gen=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --crosstalk-db) [[ $# -ge 2 ]] || { echo "eval-indep: --crosstalk-db needs a value" >&2; exit 2; }
                    gen+=(--crosstalk-db "$2"); shift 2 ;;
    --) shift; break ;;
    -*) echo "eval-indep: unknown option $1" >&2; exit 2 ;;
    *) out="$1"; shift ;;
  esac
done
if [[ ! -x "$cw" ]]; then
  echo "eval-indep: callwatch binary not found or not executable: $cw (set CALLWATCH)" >&2
  exit 2
fi
if [[ -z "$out" ]]; then
  out="$(mktemp -d "${TMPDIR:-/tmp}/cw-eval-indep.XXXXXX")"
  trap 'rm -rf "$out"' EXIT
fi
python3 "$src/tools/make-calls-indep.py" "$out" --split both --seed 1 --jobs 2 "${gen[@]}"
rc=0
for split in dev test; do
  echo "=== $split half ($out/$split)"
  python3 "$src/tools/eval.py" --binary "$cw" --corpus "$out/$split" --jobs 2 --save "$out/out-$split" \
    --details "$@" || rc=1
done
exit $rc

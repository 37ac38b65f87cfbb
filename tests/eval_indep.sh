#!/usr/bin/env bash
# Evaluation test: alert quality on calls from the second, independent generator.
#
# tools/make-calls-indep.py renders the small dev subset (8 calls, ~3.5 min of audio: one call per
# kind, espeak-ng and flite voices nobody tuned on, sox noise at 15-25 dB SNR, some at 8 kHz
# G.711 u-law 300-3400 Hz, call levels 0 to -12 dB, cue phrasings the lexicon does not hold
# verbatim) into a temporary directory. tools/eval.py runs `callwatch analyze` on each (2 at a
# time) and prints per-kind precision, recall, F1, macro F1 and the latency after the cue.
#
# Gate: a REGRESSION FLOOR, not the target. Measured on this subset when the test was written
# (2026-12-07): macro F1 0.444 (anger 0.00, despair 0.00, escalation 0.00, flat_affect 0.67,
# talk_over 1.00, dead_air 1.00); the floor is set a little below. Issue 12's target is macro F1
# >= 0.90 on the held-out test half (docs/evaluation.md: tools/eval-indep.sh runs dev and test).
# Never tune on the test half.
#
# Environment: CALLWATCH (binary), CALLWATCH_SRC (repo root), EVAL_INDEP_GATE_F1 overrides the
# floor, EVAL_KEEP=DIR keeps corpus and outputs. Exit 77 (skip) when espeak-ng, flite, sox or
# python3 is missing. About 1.5 minutes of CPU on an idle 2-core machine.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
GATE_F1="${EVAL_INDEP_GATE_F1:-0.40}"

need_tools --for "synthesise the evaluation calls" espeak-ng flite sox python3
need_callwatch
eval_tmpdir tmp cw-eval-indep

t0=$SECONDS
python3 "$src/tools/make-calls-indep.py" "$tmp/corpus" --split dev --subset small --seed 1 --jobs 2
echo "calls rendered in $((SECONDS - t0)) s"
rc=0
python3 "$src/tools/eval.py" --binary "$cw" --corpus "$tmp/corpus/dev" --jobs 2 --save "$tmp/out" \
  --details --gate-f1 "$GATE_F1" || rc=$?
echo "took $((SECONDS - t0)) s"
if [[ $rc -ne 0 ]]; then
  echo "FAIL: dev macro F1 below the floor $GATE_F1 (or callwatch failed); outputs were in $tmp/out"
  exit 1
fi
echo "PASS"

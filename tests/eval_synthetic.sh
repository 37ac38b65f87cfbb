#!/usr/bin/env bash
# Evaluation test: alert quality of `callwatch analyze` on the labelled synthetic corpus.
#
# tools/make-eval-corpus.py renders 16 short flite calls (~6.5 min of audio, 16 kHz pcm16) into a
# temporary directory: every alert kind has labelled spans (escalation, anger by words / by
# prosody, despair, agent flat affect, talk-over, dead air) and two calm calls carry tricky
# words ("I'm not angry", "my manager at work", "I don't want to cancel", "no need to speak to a
# supervisor") that must not raise alerts. tools/eval.py runs callwatch on each call (2 at a
# time), matches alerts to the spans (same kind and leg, overlap with the span widened by 1 s,
# each span at most once) and prints TP/FP/FN, precision, recall, F1 and latency per kind.
#
# Gate: macro F1 >= 0.75 over escalation, anger (words and voice), despair:words, talk_over,
# dead_air. This is a safe floor, NOT the target: the target (BRIEF.md, evaluation) is macro F1
# >= 0.95 over every kind, alerts within 300 ms (p95) of the end of the cue, and no alert on calm
# calls. Measured at the time of writing: 1.00 on the gated kinds, 0.91 over all kinds;
# flat_affect (0.44: monotone flite agents are caught, lively ones draw `info` alerts) is
# reported but not gated.
#
# Environment: CALLWATCH (binary; default <repo>/build/callwatch), CALLWATCH_SRC (repo root),
# EVAL_GATE_F1 / EVAL_GATE_KINDS override the gate, EVAL_KEEP=DIR keeps corpus and outputs.
# Exit 77 (skip) only when flite, sox or python3 is missing. Runs in well under 3 minutes on 2 cores
# (corpus ~30 s; analysis depends on callwatch's speed).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
GATE_F1="${EVAL_GATE_F1:-0.75}"
GATE_KINDS="${EVAL_GATE_KINDS:-escalation,anger,despair:words,talk_over,dead_air}"

need_tools --for "synthesise the evaluation corpus" flite sox python3
need_callwatch
eval_tmpdir tmp cw-eval

t0=$SECONDS
python3 "$src/tools/make-eval-corpus.py" "$tmp/corpus" --rate 16000 --seed 1 --jobs 2
echo "corpus rendered in $((SECONDS - t0)) s"

t1=$SECONDS
rc=0
python3 "$src/tools/eval.py" --binary "$cw" --corpus "$tmp/corpus" --jobs 2 --save "$tmp/out" \
  --details --gate-f1 "$GATE_F1" --gate-kinds "$GATE_KINDS" || rc=$?
echo "evaluation took $((SECONDS - t1)) s (total $((SECONDS - t0)) s)"
if [[ $rc -ne 0 ]]; then
  echo "FAIL: macro F1 over $GATE_KINDS below $GATE_F1 (or callwatch failed); outputs were in $tmp/out"
  exit 1
fi
echo "PASS"

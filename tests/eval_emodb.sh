#!/usr/bin/env bash
# Evaluation test: voice cues on real recorded emotional speech (Emo-DB dev speakers, German,
# acoustic side only; tools/eval-emodb.py explains the protocol). Speaker-independent: the
# thresholds callwatch ships, the same for every speaker.
#
# Gates (safe floors, not the targets): anger-vs-neutral UAR >= 0.85 (target 0.90) and
# flat-affect UAR (boredom, sadness vs neutral, happiness) >= 0.60 (target 0.85).
# Then the same corpus through a telephone channel (tools/make-telephone-corpus.sh: 8 kHz mu-law,
# 300-3400 Hz; cached in EMODB_TEL_DIR, default ~/.cache/callwatch/emodb-dev-tel), where YIN's
# harmonic errors used to pass for pitch range: anger UAR >= 0.70 and flat-affect UAR >= 0.60
# (0.50 before harmonic folding). Skipped without sox.
# Skips (77) when the corpus folder is absent: ../shared/corpora/emodb-dev next to the
# repository, or EMODB_DIR.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
corpus="${EMODB_DIR:-$src/../shared/corpora/emodb-dev}"

if [[ ! -d "$corpus" ]]; then
  echo "SKIP: no Emo-DB corpus at $corpus (set EMODB_DIR)"
  exit 77
fi
echo "== wideband (original recordings)"
python3 "$src/tools/eval-emodb.py" --binary "$cw" --corpus "$corpus" \
  --gate-anger "${EMODB_GATE_ANGER:-0.85}" --gate-flat "${EMODB_GATE_FLAT:-0.60}"

if ! command -v sox >/dev/null; then
  echo "telephone band: not run (no sox)"
  exit 0
fi
tel="${EMODB_TEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/callwatch/$(basename "$corpus")-tel}"
tel="$("$src/tools/make-telephone-corpus.sh" "$corpus" "$tel")"
echo "== telephone band ($tel)"
python3 "$src/tools/eval-emodb.py" --binary "$cw" --corpus "$tel" \
  --gate-anger "${EMODB_TEL_GATE_ANGER:-0.70}" --gate-flat "${EMODB_TEL_GATE_FLAT:-0.60}"

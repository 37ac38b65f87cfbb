#!/usr/bin/env bash
# Evaluation test: voice cues on real recorded emotional speech (Emo-DB dev speakers, German,
# acoustic side only; tools/eval-emodb.py explains the protocol). Speaker-independent: the
# thresholds callwatch ships, the same for every speaker.
#
# Gates (safe floors, not the targets): anger-vs-neutral UAR >= 0.85 (target 0.90) and
# flat-affect UAR (boredom, sadness vs neutral, happiness) >= 0.60 (target 0.85).
# Skips (77) when the corpus folder is absent: ../shared/corpora/emodb-dev next to the
# repository, or EMODB_DIR.
set -euo pipefail

src="${CALLWATCH_SRC:-$(cd "$(dirname "$0")/.." && pwd)}"
cw="${CALLWATCH:-$src/build/callwatch}"
corpus="${EMODB_DIR:-$src/../shared/corpora/emodb-dev}"

if [[ ! -d "$corpus" ]]; then
  echo "SKIP: no Emo-DB corpus at $corpus (set EMODB_DIR)"
  exit 77
fi
python3 "$src/tools/eval-emodb.py" --binary "$cw" --corpus "$corpus" \
  --gate-anger "${EMODB_GATE_ANGER:-0.85}" --gate-flat "${EMODB_GATE_FLAT:-0.60}"

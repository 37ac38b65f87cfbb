#!/usr/bin/env bash
# Evaluation test: cue phrasings end to end. tools/eval-phrasings.py speaks every phrasing of
# tests/data/phrasings.json (several per cue family, dev and held-out) and the calm sentences with
# the flite voice rms, at 16 kHz and through G.711 u-law at 8 kHz, runs `callwatch analyze` and
# counts the phrasings that raise their alert kind. Gate (safe floors under the measured 58/62 dev,
# 26/34 held-out, 10/10 calm): dev >= 0.80, held-out >= 0.60, calm without word alert >= 0.80.
# The full measurement (three voices) is `tools/eval-phrasings.py` without --voices.
# Exit 77 (skip) when flite or sox is missing.
set -euo pipefail
src="${CALLWATCH_SRC:-$(cd "$(dirname "$0")/.." && pwd)}"
cw="${CALLWATCH:-$src/build/callwatch}"
exec python3 "$src/tools/eval-phrasings.py" --binary "$cw" --voices rms --rates 16000,8000 \
  --min-dev 0.80 --min-heldout 0.60 --min-calm 0.80

#!/usr/bin/env bash
# Behaviour test: telephone lines decoded natively with [asr] model_8k (tools/eval-8k.py explains
# the protocol). 8 kHz G.711 synthetic calls and the pocketsphinx-testdata LibriVox files through
# G.711, each analysed twice: without model_8k (8 kHz legs upsampled for the 16 kHz model, as
# before) and with it. Passes when model_8k's WER is clearly lower on the calls and on LibriVox,
# when it finds cue phrases the upsampled path misses, and when cue (keyphrase) mode with model_8k
# raises the escalation alerts. Prints both WERs and the CPU per second of audio of each path.
#
# The 8 kHz model is not shipped: CALLWATCH_MODEL_8K, else ../shared/models/en-us-8k/hub4wsj_sc_8k
# next to the repository (README, "Telephone lines"). Skips (77) when it or flite/sox is absent.
set -euo pipefail

src="${CALLWATCH_SRC:-$(cd "$(dirname "$0")/.." && pwd)}"
cw="${CALLWATCH:-$src/build/callwatch}"
model="${CALLWATCH_MODEL_8K:-$src/../shared/models/en-us-8k/hub4wsj_sc_8k}"

if [[ ! -f "$model/mdef" ]]; then
  echo "SKIP: no 8 kHz acoustic model at $model (set CALLWATCH_MODEL_8K; see README, Telephone lines)"
  exit 77
fi
for prog in flite sox python3; do
  if ! command -v "$prog" >/dev/null 2>&1; then
    echo "SKIP: $prog is not installed (needed to synthesise the test calls)"
    exit 77
  fi
done
python3 "$src/tools/eval-8k.py" --binary "$cw" --model-8k "$model"

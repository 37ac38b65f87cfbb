#!/usr/bin/env bash
# Behaviour test: a short soak (tools/soak) - `callwatch run` takes calls over AudioSocket back to
# back (one at a time, 12 s each, for 60 s) and must not leak grossly: after a 20 s warm-up its
# resident memory grows by less than 32 MiB per minute, i.e. about 6 MiB per call (40 s of samples
# are too few to see a slow leak: the decoders' and the allocator's high-water marks still rise by
# about 1.5 MiB per call this early, measured 8-16 MiB/min on an idle machine; this catches a call
# that keeps its decoder state or all its audio, and the long run catches the rest), it
# holds no more open file descriptors once idle again than before the first call, and it exits 0
# on SIGTERM. The long run is the same tool by hand:
#   tools/soak --calls 4 --duration 1800
# Exit 77 (skip) only when sox or python3 is missing.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
for prog in sox python3; do
  command -v "$prog" >/dev/null 2>&1 || { echo "SKIP: $prog is not installed"; exit 77; }
done
cw_tmpdir tmp cw-soak-short
# The first 12 s of the sample call: greeting, double charge, "this is ridiculous".
sox "$src/models/sample-call.flac" "$tmp/call.wav" trim 0 12
rc=0
python3 "$src/tools/soak" --callwatch "$cw" --call "$tmp/call.wav" --calls 1 --duration 60 --interval 5 \
  --warmup 20 --max-rss-slope 32768 --max-fd-growth 0 --out "$tmp/out" || rc=$?
if [[ $rc -ne 0 ]]; then
  echo "--- samples"; cat "$tmp/out/soak.csv" || true
  echo "--- daemon log (tail)"; tail -20 "$tmp/out/daemon.log" || true
  echo "FAIL: soak exited $rc"
  exit 1
fi
grep -q '"calls_done": [1-9]' "$tmp/out/soak.json" || { echo "FAIL: no call completed"; exit 1; }
echo "PASS"

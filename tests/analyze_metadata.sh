#!/usr/bin/env bash
# Behaviour test: re-analysing recordings as what they were, the way QA does it.
#  1. `analyze --agent --team --started-at` puts them into call_start and the archive:
#     `qa shift --agent` lists the recording at its original time with its alerts.
#  2. A sidecar FILE.json does the same per file for a batch; the command line wins over it.
#  3. The progress line appears on a terminal (file n of N, rate, ETA), never in a pipe.
#  4. Bad input: an unparsable --started-at, a sidecar with bad JSON, an unknown key, a bad
#     time in a sidecar, --started-at for several files: exit 2 naming the option or file.
set -euo pipefail

src="${CALLWATCH_SRC:-$(cd "$(dirname "$0")/.." && pwd)}"
cw="${CALLWATCH:-$src/build/callwatch}"
for prog in sox python3; do
  command -v "$prog" >/dev/null 2>&1 || { echo "SKIP: $prog is not installed"; exit 77; }
done
tmp="$(mktemp -d "${TMPDIR:-/tmp}/cw-meta.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
fail=0
failed() { echo "FAIL: $*"; fail=1; }
db="$tmp/qa.db"
mkdir "$tmp/rec"
cp "$src/models/sample-call.flac" "$tmp/rec/morning.flac"
sox "$src/models/sample-call.flac" "$tmp/rec/later.wav" trim 0 10
start_of() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["type"] == "call_start":
        print(e.get("agent_id", "-"), e.get("team", "-"), e["started_at"])' "$1"; }

# 1. Command line.
"$cw" analyze --archive "$db" --agent carol --team blue --started-at "2026-11-30 09:05:00+01:00" \
  "$tmp/rec/morning.flac" >"$tmp/morning.jsonl" 2>"$tmp/morning.err" || { failed "analyze"; cat "$tmp/morning.err"; }
got=$(start_of "$tmp/morning.jsonl")
[[ "$got" == "carol blue 2026-11-30T08:05:00.000Z" ]] || failed "call_start from the command line: $got"
alerts=$(grep -c '"type":"alert"' "$tmp/morning.jsonl" || true)

# 2. Sidecar, and the command line over it.
cat >"$tmp/rec/later.wav.json" <<'EOF'
{"agent_id": "carol", "team": "blue", "started_at": "2026-11-30T10:20:30Z"}
EOF
"$cw" analyze --no-asr --archive "$db" "$tmp/rec/later.wav" >"$tmp/later.jsonl" 2>"$tmp/later.err" ||
  { failed "analyze with a sidecar"; cat "$tmp/later.err"; }
got=$(start_of "$tmp/later.jsonl")
[[ "$got" == "carol blue 2026-11-30T10:20:30.000Z" ]] || failed "call_start from the sidecar: $got"
"$cw" analyze --no-asr --agent dave "$tmp/rec/later.wav" >"$tmp/over.jsonl" 2>/dev/null || failed "analyze --agent over a sidecar"
got=$(start_of "$tmp/over.jsonl")
[[ "$got" == "dave blue 2026-11-30T10:20:30.000Z" ]] || failed "--agent over the sidecar: $got"

"$cw" qa --db "$db" shift --agent carol >"$tmp/shift.txt" || failed "qa shift"
grep -q "2 call(s), $alerts alert(s)" "$tmp/shift.txt" || failed "shift totals (want 2 calls, $alerts alerts): $(head -1 "$tmp/shift.txt")"
grep -qE "^2026-11-30 08:05:00Z +morning " "$tmp/shift.txt" || failed "morning's call not at 08:05: $(cat "$tmp/shift.txt")"
grep -qE "^2026-11-30 10:20:30Z +later " "$tmp/shift.txt" || failed "later's call not at 10:20:30"
grep -qE "^2026-11-30 08:00:00Z +1 +$alerts " "$tmp/shift.txt" || failed "hour 08:00 lacks the call and its $alerts alerts"
((alerts > 0)) || failed "the sample call gave no alert to find in the shift"
echo "ok  qa shift: $(head -1 "$tmp/shift.txt")"

# 3. Progress: a batch on a terminal shows it, the same batch into a file does not.
cp "$tmp/rec/later.wav" "$tmp/rec/third.wav"
script -qec "'$cw' analyze --no-asr '$tmp/rec/later.wav' '$tmp/rec/third.wav' >/dev/null" "$tmp/typescript" >/dev/null ||
  failed "batch on a terminal"
grep -qaE "analyze: file 2 of 2 done, [0-9.]+x real time, ETA" "$tmp/typescript" ||
  failed "no progress line on a terminal: $(tr '\r' '\n' <"$tmp/typescript" | tail -3)"
"$cw" analyze --no-asr "$tmp/rec/later.wav" "$tmp/rec/third.wav" >/dev/null 2>"$tmp/batch.err" || failed "batch"
grep -q "file 2 of 2" "$tmp/batch.err" && failed "progress line written to a file"

# 4. Bad input.
expect2() { # pattern command...
  local pattern=$1 rc=0; shift
  "$@" >/dev/null 2>"$tmp/err" || rc=$?
  [[ $rc -eq 2 ]] || failed "exit $rc, want 2: $*"
  grep -q -- "$pattern" "$tmp/err" || failed "message lacks '$pattern': $(cat "$tmp/err")"
}
expect2 "--started-at: 'next tuesday' is not an ISO-8601" "$cw" analyze --no-asr --started-at "next tuesday" "$tmp/rec/third.wav"
expect2 "--started-at is one call's start" "$cw" analyze --no-asr --started-at 2026-11-30T10:00Z "$tmp/rec/third.wav" "$tmp/rec/later.wav"
printf '{"agent_id": "carol",\n' >"$tmp/rec/third.wav.json"
expect2 "third.wav.json:2:.*bad JSON" "$cw" analyze --no-asr "$tmp/rec/third.wav"
printf '{"agent": "carol"}\n' >"$tmp/rec/third.wav.json"
expect2 'third.wav.json: unknown key "agent"' "$cw" analyze --no-asr "$tmp/rec/third.wav"
printf '{"started_at": "30/11/2026"}\n' >"$tmp/rec/third.wav.json"
expect2 'third.wav.json: "started_at".*30/11/2026' "$cw" analyze --no-asr "$tmp/rec/third.wav"

((fail)) && exit 1
echo "PASS: analyze --agent/--team/--started-at and sidecars reach call_start and qa shift; progress; errors"

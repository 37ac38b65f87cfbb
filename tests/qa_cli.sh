#!/usr/bin/env bash
# Behaviour test of `callwatch qa`, the way QA staff use it, on events this script generates:
# a shift of agent alice (8 calls, 08:00-11:30 UTC, her F0 spread falling from 6 to 2.5
# semitones, one hostile call) and of bob (4 steady calls). Checks import, search by every
# filter, a call's timeline order, the shift summary with and without drift, CSV and JSON Lines
# exports (parsed back), `analyze --archive` on a generated recording, and clear errors, never a crash, for bad flags and for damaged,
# foreign or missing archive files.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is not installed"; exit 77; }
[[ -x "$cw" ]] || { echo "FAIL: callwatch binary not found: $cw"; exit 1; }

cw_tmpdir tmp cw-qa
db="$tmp/qa.db"
fail=0
failed() { echo "FAIL: $*"; fail=1; }

python3 - "$tmp/shift.jsonl" <<'EOF'
import json, sys
out = open(sys.argv[1], "w")
def emit(ev, topic=None):
    if topic:
        out.write(topic + "\t" + json.dumps(ev) + "\n")
    else:
        out.write(json.dumps(ev) + "\n")

def call(cid, agent, started, spread, hostile):
    emit({"type": "call_start", "call_id": cid, "t": 0, "line": "desk-" + agent, "agent_id": agent, "team": "blue",
          "legs": {"agent": {"rate_hz": 8000}, "customer": {"rate_hz": 8000}}, "started_at": started},
         "call." + cid)
    emit({"type": "transcript", "call_id": cid, "t": 5, "leg": "agent", "t_start": 0.5, "t_end": 4.0,
          "text": "thank you for calling how can i help", "words": [], "final": True, "utterance": 1})
    emit({"type": "transcript", "call_id": cid, "t": 7, "leg": "customer", "t_start": 4.5, "t_end": 6.0,
          "text": "i was", "words": [], "final": False, "utterance": 2})
    said = "i will complain to the ombudsman, this is \"unacceptable\"" if hostile else "i have a billing question"
    emit({"type": "transcript", "call_id": cid, "t": 10, "leg": "customer", "t_start": 4.5, "t_end": 9.0,
          "text": said, "words": [], "final": True, "utterance": 2})
    if hostile:
        emit({"type": "alert", "call_id": cid, "t": 9.4, "id": cid + "-a1", "leg": "customer", "kind": "escalation",
              "severity": "critical", "score": 0.95, "t_start": 4.5, "t_end": 9.0,
              "evidence": {"words": ["ombudsman"]}, "text": "customer threatens the ombudsman, \"unacceptable\""})
        emit({"type": "whisper", "call_id": cid, "t": 9.6, "agent_id": agent,
              "prompt": "Acknowledge the delay and give a concrete time", "because": cid + "-a1",
              "kind": "escalation", "severity": "critical", "lang": "en"}, "whisper." + agent)
        emit({"type": "ack", "call_id": cid, "t": 0, "alert_id": cid + "-a1", "by": "sup-maria",
              "at": started[:11] + "23:59:00.000Z", "acked_at": started[:11] + "23:59:00.000Z",
              "note": "listening in"})
    emit({"type": "transcript", "call_id": cid, "t": 14, "leg": "agent", "t_start": 10.0, "t_end": 13.0,
          "text": "i understand let me fix that now", "words": [], "final": True, "utterance": 3})
    emit({"type": "alert", "call_id": cid, "t": 13.5, "id": cid + "-a2", "leg": "agent", "kind": "flat_affect",
          "severity": "warning" if spread < 4 else "info", "score": 0.5, "t_start": 10.0, "t_end": 13.0,
          "evidence": {"prosody": {"f0_spread_st": spread + 0.3}}, "text": "agent sounds flat"})
    emit({"type": "call_end", "call_id": cid, "t": 240, "reason": "hangup", "duration_s": 240,
          "frames_dropped": {"agent": 0, "customer": 0},
          "prosody_summary": {"agent": {"f0_spread_st": spread}}}, "call." + cid)

for i in range(8):
    call(f"alice-{i+1}", "alice", f"2026-11-20T{8 + i // 2:02d}:{(i % 2) * 30:02d}:00.000Z", 6.0 - 0.5 * i, i == 3)
for i in range(4):
    call(f"bob-{i+1}", "bob", f"2026-11-20T{8 + i:02d}:15:00.000Z", 5.0 + (0.3 if i % 2 else -0.3), False)
EOF

# --- import
"$cw" qa --db "$db" import "$tmp/shift.jsonl" 2>"$tmp/import.err" || { failed "import"; cat "$tmp/import.err"; }
grep -q "event(s) into" "$tmp/import.err" || failed "import says what it did"
[[ "$(stat -c %a "$db")" == "600" ]] || failed "archive created with mode $(stat -c %a "$db")"

count_rows() { # lines of a search table, without header and footer
  "$cw" qa --db "$db" search "$@" | awk 'NR > 1 && !/ match(es)?$/' | wc -l
}
# --- search filters
n=$(count_rows --agent alice --kind flat_affect); [[ "$n" == 8 ]] || failed "alice's flat_affect alerts: $n, expected 8"
n=$(count_rows --severity critical); [[ "$n" == 1 ]] || failed "critical alerts: $n, expected 1"
n=$(count_rows --call bob-2); [[ "$n" == 1 ]] || failed "alerts of bob-2: $n, expected 1"
n=$(count_rows --agent alice --since 2026-11-20T10:00 --until "2026-11-20 11:00:00Z")
[[ "$n" == 2 ]] || failed "alice's alerts 10:00-11:00: $n, expected 2"
n=$(count_rows --text OMBUDSMAN); [[ "$n" == 2 ]] || failed "text search (transcript + alert): $n, expected 2"
n=$(count_rows --text ombudsman --type transcript); [[ "$n" == 1 ]] || failed "text in transcripts only: $n"
n=$(count_rows --type whisper,ack); [[ "$n" == 2 ]] || failed "whisper and ack: $n, expected 2"
n=$(count_rows --text "i was" --type transcript); [[ "$n" == 0 ]] || failed "partial transcripts are not archived: $n"
"$cw" qa --db "$db" search --agent nobody | grep -q "^0 matches$" || failed "no match says 0 matches"

# --- timeline: what was said, the alert it caused with its ack right after it, the whisper, in call-time order
"$cw" qa --db "$db" timeline alice-4 >"$tmp/timeline.txt" || failed "timeline"
grep -q "agent alice" "$tmp/timeline.txt" || failed "timeline header names the agent"
order="$(awk 'NR > 3 {print $2}' "$tmp/timeline.txt" | tr '\n' ' ')"
[[ "$order" == "agent customer ALERT ACK WHISPER agent ALERT " ]] || failed "timeline order: '$order'"
# time-to-acknowledge: when the ack was made and how long after its alert
grep -Eq "ACK .*acknowledged by sup-maria.* at [0-9-]+T23:59:00\.000Z, [0-9]+\.[0-9] s after the alert" \
  "$tmp/timeline.txt" || failed "timeline ack lacks its wall time: $(grep ACK "$tmp/timeline.txt")"
"$cw" qa --db "$db" timeline alice-4 --format jsonl | python3 -c '
import json, sys
types = [json.loads(l)["type"] for l in sys.stdin]
assert types == ["transcript", "transcript", "alert", "ack", "whisper", "transcript", "alert"], types
' || failed "timeline as JSON Lines"
if "$cw" qa --db "$db" timeline no-such-call 2>"$tmp/err.txt"; then failed "unknown call accepted"; fi
grep -q "no call 'no-such-call'" "$tmp/err.txt" || failed "unknown call message: $(cat "$tmp/err.txt")"

# --- shift summary and the wellbeing signal
"$cw" qa --db "$db" shift --agent alice >"$tmp/alice.txt" || failed "shift alice"
grep -q "^DRIFT: alice" "$tmp/alice.txt" || { failed "alice's drift not flagged"; cat "$tmp/alice.txt"; }
grep -q "8 call(s), 9 alert(s), 1 hostile call(s)" "$tmp/alice.txt" || failed "alice totals: $(head -1 "$tmp/alice.txt")"
hours=$(awk '/^alerts per hour/{on=1; next} /^$/{on=0} on && /^2026/' "$tmp/alice.txt" | wc -l)
[[ "$hours" == 4 ]] || failed "alice's hours: $hours, expected 4"
grep -q "slope -0.50 st/call" "$tmp/alice.txt" || failed "alice's slope: $(grep slope "$tmp/alice.txt")"
"$cw" qa --db "$db" shift --agent bob >"$tmp/bob.txt" || failed "shift bob"
grep -q "^no drift" "$tmp/bob.txt" || { failed "bob flagged"; cat "$tmp/bob.txt"; }
"$cw" qa --db "$db" shift --agent alice --since 2026-11-20T10:00 --until 2026-11-20T12:00 >"$tmp/late.txt"
grep -q "4 call(s)" "$tmp/late.txt" || failed "shift window: $(head -1 "$tmp/late.txt")"

# --- exports, parsed back
"$cw" qa --db "$db" export --format csv --agent alice >"$tmp/alice.csv" 2>/dev/null || failed "csv export"
python3 - "$tmp/alice.csv" <<'EOF' || failed "csv content"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert len(rows) == 9, len(rows)
esc = [r for r in rows if r["kind"] == "escalation"]
assert len(esc) == 1 and esc[0]["text"] == 'customer threatens the ombudsman, "unacceptable"', esc
assert esc[0]["time_utc"] == "2026-11-20 09:30:09Z" and esc[0]["severity"] == "critical", esc[0]
assert all(r["agent_id"] == "alice" for r in rows)
EOF
"$cw" qa --db "$db" export --format jsonl --type all --call alice-4 >"$tmp/alice4.jsonl" 2>/dev/null || failed "jsonl export"
python3 - "$tmp/alice4.jsonl" "$tmp/shift.jsonl" <<'EOF' || failed "jsonl content"
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
src = [json.loads(l.split("\t")[-1]) for l in open(sys.argv[2])]
want = [e for e in src if e["call_id"] == "alice-4" and e["type"] in ("alert", "transcript", "whisper", "ack")
        and e.get("final", True)]
key = lambda e: json.dumps(e, sort_keys=True)
assert sorted(map(key, got)) == sorted(map(key, want)), (len(got), len(want))
EOF

# --- bad flags: usage errors (2), never a crash
expect_status() { # status, message fragment, command...
  local want="$1" msg="$2"; shift 2
  local rc=0
  "$@" >"$tmp/out.txt" 2>"$tmp/err.txt" || rc=$?
  if [[ "$rc" != "$want" ]]; then failed "'$*' exited $rc, expected $want"; cat "$tmp/err.txt"; return; fi
  grep -q -- "$msg" "$tmp/err.txt" || failed "'$*' says: $(cat "$tmp/err.txt"), expected '$msg'"
}
expect_status 2 "expected info, warning or critical" "$cw" qa --db "$db" search --severity extreme
expect_status 2 "is not a time" "$cw" qa --db "$db" search --since yesterday
expect_status 2 "unknown command 'serch'" "$cw" qa --db "$db" serch
expect_status 2 "format csv or --format jsonl is required" "$cw" qa --db "$db" export
expect_status 2 "expected csv or jsonl" "$cw" qa --db "$db" export --format xml
expect_status 2 "agent ID is required" "$cw" qa --db "$db" shift
expect_status 2 "exactly one CALL_ID" "$cw" qa --db "$db" timeline
expect_status 2 "expected alert, transcript" "$cw" qa --db "$db" search --type alerts,calls

# --- bad files: clear errors (1), never a crash
printf 'call notes\nnot a database\n' >"$tmp/notes.db"
expect_status 1 "notes.db is not a callwatch archive" "$cw" qa --db "$tmp/notes.db" search
python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("create table invoices(id)"); c.commit()' \
  "$tmp/foreign.db"
expect_status 1 "foreign.db is not a callwatch archive" "$cw" qa --db "$tmp/foreign.db" search
expect_status 1 "cannot open archive" "$cw" qa --db "$tmp/missing.db" search
[[ ! -e "$tmp/missing.db" ]] || failed "qa search created a missing archive"
cp "$db" "$tmp/damaged.db"
python3 - "$tmp/damaged.db" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    size = f.seek(0, 2)
    for off in range(4096, size, 8192):
        f.seek(off); f.write(b"\x5a" * 4096)
EOF
expect_status 1 "damaged" "$cw" qa --db "$tmp/damaged.db" search
head -c 100 "$db" >"$tmp/truncated.db"
rc=0; "$cw" qa --db "$tmp/truncated.db" search >/dev/null 2>"$tmp/err.txt" || rc=$?
[[ "$rc" == 1 ]] && [[ -s "$tmp/err.txt" ]] || failed "truncated archive: exit $rc, $(cat "$tmp/err.txt")"
printf '{"type":"alert","call_id":"x","id":"x-a1"}\nnot json\n' >"$tmp/bad.jsonl"
expect_status 1 "bad.jsonl:2:" "$cw" qa --db "$db" import "$tmp/bad.jsonl"
n=$(count_rows --call x); [[ "$n" == 0 ]] || failed "a failed import left $n rows"

# --- analyze --archive: re-analysed recordings land in the archive; analysing again replaces
if command -v sox >/dev/null 2>&1; then
  sox -n -r 16000 -c 2 -b 16 "$tmp/quiet-call.wav" synth 2 whitenoise vol 0.001
  for run in 1 2; do
    "$cw" analyze --archive "$tmp/re.db" "$tmp/quiet-call.wav" >"$tmp/re.jsonl" 2>"$tmp/re.err" \
      || { failed "analyze --archive"; cat "$tmp/re.err"; }
  done
  grep -q '"type":"call_end"' "$tmp/re.jsonl" || failed "analyze --archive still prints the events"
  "$cw" qa --db "$tmp/re.db" timeline quiet-call >"$tmp/re.txt" || failed "timeline of an analysed call"
  grep -q "ended: eof" "$tmp/re.txt" || failed "analysed call archived with its end: $(head -1 "$tmp/re.txt")"
  calls=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from calls").fetchone()[0])' "$tmp/re.db")
  [[ "$calls" == 1 ]] || failed "analysing twice made $calls calls"
else
  echo "note: sox missing, analyze --archive not checked"
fi

if (( fail )); then exit 1; fi
echo "PASS: qa import, search, timeline, shift (drift flagged for alice, not bob), exports, errors"

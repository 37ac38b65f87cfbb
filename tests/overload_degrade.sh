#!/usr/bin/env bash
# Overload, as an operator sees it: `callwatch run` with one decoder and more
# calls than it can follow ([asr] workers = 1, five --file lines replayed at
# real time, each with speech on both legs and anger/despair words).
# Checks, from a `callwatch tap` subscriber on the bus:
#  - a `status` event on topic status.<node> with change "degrade" names
#    calls that exist (their call_start was seen), the legs switched to cue
#    mode, and a reason naming the decoder backlog;
#  - agent legs are degraded before any customer leg;
#  - when the short calls end and the load drops (the long call goes on in
#    silence), the long call's legs get a "recover" status event (back to
#    full mode); the daemon is then stopped;
#  - every short call ends with call_end covering its whole file (no audio
#    lost on the way in), and every call_end counts frames_dropped: 0 here,
#    because degrading keeps the backlog from overflowing;
#  - the calls still raise word alerts (anger or despair on the customer).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
for tool in sox python3; do
  command -v "$tool" >/dev/null || { echo "$tool missing: skipping"; exit 77; }
done

cw_tmpdir work cw-overload

# 12 s of the sample call: both legs talk, the customer says "this is
# ridiculous ... third time I am calling ... nobody helps".
sox "$CALLWATCH_SRC/models/sample-call.flac" "$work/short.wav" trim 11 12
# The long call: the same speech, then 200 s of silence (no decoder
# work) during which its degraded legs can recover.
sox "$work/short.wav" "$work/long.wav" pad 0 200
port=$(free_port)
bus="tcp://127.0.0.1:$port"
cat >"$work/run.ini" <<INI
[asr]
workers = 1
degrade_backlog_s = 2
recover_backlog_s = 1
recover_hold_s = 1
[bus]
endpoint = $bus
node = busynode
INI

"$CALLWATCH" tap --endpoint "$bus" --topics --timeout 260 >"$work/tap.out" 2>"$work/tap.err" &
pids+=("$!")
sleep 0.5
files=()
for i in 1 2 3 4; do files+=(--file "$work/short.wav"); done
# The long call is the last line, so the newest: its agent leg goes first.
files+=(--file "$work/long.wav")
"$CALLWATCH" run --ack-endpoint 'tcp://127.0.0.1:*' --config "$work/run.ini" "${files[@]}" 2>"$work/run.log" &
run_pid=$!
pids+=("$run_pid")

deadline=$((SECONDS + 200))
until [ "$(grep -c 'call busynode-.* ended' "$work/run.log" 2>/dev/null)" -ge 4 ] &&
      grep -q '"change":"recover"' "$work/tap.out"; do
  [ "$SECONDS" -lt "$deadline" ] || fail "short calls did not end or nothing recovered: $(tail -30 "$work/run.log")"
  kill -0 "$run_pid" 2>/dev/null || fail "daemon exited early: $(tail -20 "$work/run.log")"
  sleep 0.2
done
sleep 0.5
kill -TERM "$run_pid"
wait "$run_pid" || fail "daemon exit status $?"
grep overload "$work/run.log" || true

python3 - "$work/tap.out" "$(soxi -D "$work/short.wav")" "$(soxi -D "$work/long.wav")" <<'PY'
import json, sys
events = []
for line in open(sys.argv[1]):
    topic, _, body = line.rstrip("\n").partition("\t")
    events.append((topic, json.loads(body)))
short_s, long_s = float(sys.argv[2]), float(sys.argv[3])
def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)
starts = [e for _, e in events if e["type"] == "call_start"]
ends = {e["call_id"]: e for _, e in events if e["type"] == "call_end"}
ids = [e["call_id"] for e in starts]
if len(ids) != 5 or set(ids) != set(ends):
    fail("want 5 calls started and ended, got %d starts, %d ends" % (len(ids), len(ends)))
status = [(t, e) for t, e in events if e["type"] == "status"]
for t, e in status:
    if t != "status.busynode" or e["call_id"] != "" or e["node"] != "busynode":
        fail("status event topic/fields: %s %s" % (t, e))
    print("status %-8s t=%6.2f legs=%s degraded=%d (%s)" %
          (e["change"], e["t"], [(l["call_id"][-2:], l["leg"]) for l in e["legs"]], e["legs_degraded"], e["reason"]))
degrades = [e for _, e in status if e["change"] == "degrade"]
if not degrades:
    fail("no status event degraded a call")
for e in degrades:
    if "backlog" not in e["reason"] or not e["legs"] or e["legs_degraded"] != len(e["degraded"]):
        fail("degrade event without reason or legs: %s" % e)
    for l in e["legs"] + e["degraded"]:
        if l["call_id"] not in ids or l["mode"] != "cue":
            fail("degraded leg names an unknown call or mode: %s" % l)
order = [l["leg"] for e in degrades for l in e["legs"]]
if "customer" in order and "agent" in order[order.index("customer"):]:
    fail("a customer leg was degraded before an agent leg: %s" % order)
long_id = ids[-1]
if degrades[0]["legs"][0]["call_id"] != long_id or degrades[0]["legs"][0]["leg"] != "agent":
    fail("first degraded leg should be the newest call's agent leg %s: %s" % (long_id, degrades[0]["legs"]))
recovers = [e for _, e in status if e["change"] == "recover"]
if not any(l["call_id"] == long_id and l["mode"] == "full" for e in recovers for l in e["legs"]):
    fail("the long call was not returned to full mode after the load dropped")
for cid, e in ends.items():
    if cid == long_id:
        if e["reason"] != "shutdown" or not short_s < e["duration_s"] < long_s:
            fail("long call %s ended %s after %.2f s" % (cid, e["reason"], e["duration_s"]))
    elif e["reason"] != "eof" or abs(e["duration_s"] - short_s) > 0.5:
        fail("call %s ended %s after %.2f s of %.2f s" % (cid, e["reason"], e["duration_s"], short_s))
    dropped = e["frames_dropped"]
    if dropped != {"agent": 0, "customer": 0}:
        fail("call %s dropped audio: %s" % (cid, dropped))
alerted = {e["call_id"] for _, e in events if e["type"] == "alert" and e["kind"] in ("anger", "despair")
           and e["leg"] == "customer"}
missing = [c for c in ids if c not in alerted]
if missing:
    fail("calls without a customer anger/despair alert: %s" % missing)
cue_tr = sum(1 for _, e in events if e["type"] == "transcript" and e.get("mode") == "cue")
print("ok: %d degrade and %d recover status events, %d cue-mode transcripts, every call alerted, nothing dropped"
      % (len(degrades), len(recovers), cue_tr))
PY

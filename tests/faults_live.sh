#!/usr/bin/env bash
# Behaviour test: faults on a live daemon with three lines.
#   desk1  a virtual ALSA capture device (tools/alsa-virtual-device.sh); file1, file2: calls
#          replayed at real time (--file).
#   - A slow subscriber: a second `callwatch tap` stopped with SIGSTOP right after it connects,
#     while a fast tap keeps reading. The daemon must keep publishing: the fast tap gets every
#     alert and call event the archive holds.
#   - The device stops delivering and then vanishes (its FIFO is removed): desk1's call ends with
#     reason device_lost while file1's call goes on to its end (reason eof) with its escalation
#     alert; the daemon logs that desk1 is still unavailable and keeps retrying.
#   - The device comes back (a new FIFO and feeder): desk1 gets a new call with transcripts.
#   - SIGTERM while an utterance of file2 (the shipped sample call) is in flight - a partial
#     transcript of the customer's speech past 27 s is out, no final one reaching there is: the
#     utterance is transcribed to the end and published before file2's call_end (reason
#     shutdown), and the daemon exits 0 within 20 s.
# Exit 77 (skip) only when flite, sox, perl or python3 is missing.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
need_tools flite sox perl python3
need_callwatch

cw_tmpdir tmp cw-faults
stopped_tap=""
CALLWATCH_VIRTUAL_FEEDER_PID=""
on_exit() {
  [[ -n "$stopped_tap" ]] && kill -CONT "$stopped_tap" 2>/dev/null || true
  [[ -n "$CALLWATCH_VIRTUAL_FEEDER_PID" ]] && kill "$CALLWATCH_VIRTUAL_FEEDER_PID" 2>/dev/null || true
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  exec 9>&- 2>/dev/null || true
}
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# The device's call: a greeting per leg (a leg's first utterance carries no key words), then one
# sentence each.
device_call() { # out.wav agent-text customer-text
  flite -voice slt -t "hello" -o "$tmp/a1.wav"; flite -voice slt -t "$2" -o "$tmp/a2.wav"
  flite -voice rms -t "hello there" -o "$tmp/c1.wav"; flite -voice rms -t "$3" -o "$tmp/c2.wav"
  sox "$tmp/a1.wav" -r 16000 "$tmp/a1p.wav" pad 0.2 0.8; sox "$tmp/a2.wav" -r 16000 "$tmp/a2p.wav"
  sox "$tmp/c1.wav" -r 16000 "$tmp/c1p.wav" pad 0.3 0.8; sox "$tmp/c2.wav" -r 16000 "$tmp/c2p.wav"
  sox "$tmp/a1p.wav" "$tmp/a2p.wav" "$tmp/agent.wav"; sox "$tmp/c1p.wav" "$tmp/c2p.wav" "$tmp/customer.wav"
  sox -M "$tmp/agent.wav" "$tmp/customer.wav" -c 2 "$1" pad 0 0.5
}
device_call "$tmp/device1.wav" "I will forward your complaint to the billing team" "cancel my account"
device_call "$tmp/device2.wav" "thank you for waiting" "the internet is down again"
start_device() { # wav: (re)creates the FIFO and its feeder, which then holds the device silent
  CALLWATCH_VIRTUAL_HOLD_S=300 "$src/tools/alsa-virtual-device.sh" "$1" "$tmp/alsa" 16000 2 >"$tmp/device.env"
  # shellcheck disable=SC1091
  . "$tmp/device.env"
  export ALSA_CONFIG_PATH
}
start_device "$tmp/device1.wav"

cat >"$tmp/script.json" <<'EOF'
{"turns": [
 {"leg": "agent", "voice": "slt", "at": 0.5,
  "text": "Thank you for calling. My name is Sarah. How can I help you today?"},
 {"leg": "customer", "voice": "rms",
  "text": "Hello. I have a problem with my bill this month."},
 {"leg": "agent", "voice": "slt",
  "text": "I will forward your complaint to the billing team."},
 {"leg": "customer", "voice": "rms",
  "text": "No. I want to speak to your manager."}
]}
EOF
python3 "$src/tools/make-call.py" --script "$tmp/script.json" --out "$tmp/file1.wav" --truth "$tmp/truth.json" \
  >/dev/null
sox "$src/models/sample-call.flac" "$tmp/file2.wav"

endpoint="tcp://127.0.0.1:$(free_port)"
cat >"$tmp/faults.ini" <<EOF
[bus]
endpoint = $endpoint
[capture]
ring_s = 20
stall_timeout_ms = 1500
retry_s = 1
[archive]
path = $tmp/archive.db
[line desk1]
device = $CALLWATCH_VIRTUAL_DEVICE
sample_rate = 16000
agent_channel = 0
customer_channel = 1
agent_id = alice
EOF

# Both subscribers connect first; ZeroMQ retries until the daemon binds.
"$cw" tap --endpoint "$endpoint" --timeout 900 >"$tmp/fast.jsonl" 2>"$tmp/fast.err" &
pids+=($!)
"$cw" tap --endpoint "$endpoint" --timeout 900 >"$tmp/slow.jsonl" 2>"$tmp/slow.err" &
slow=$!
pids+=("$slow")
sleep 0.5
"$cw" run --ack-endpoint 'tcp://127.0.0.1:*' --config "$tmp/faults.ini" --file "$tmp/file1.wav" --file "$tmp/file2.wav" 2>"$tmp/daemon.log" &
daemon=$!
wait_pid=$daemon  # wait_for gives up once the daemon has exited
pids+=("$daemon")
wait_for 60 grep -q "line(s) up" "$tmp/daemon.log" || { echo "FAIL: daemon did not start"; cat "$tmp/daemon.log"; exit 1; }
up_at=$SECONDS
wait_for 10 grep -q '"call_start"' "$tmp/slow.jsonl" || bad "the slow subscriber got nothing before it was stopped"
kill -STOP "$slow"
stopped_tap=$slow
echo "ok  slow subscriber stopped (SIGSTOP) after its first events"

# 1. The device stops delivering: desk1's call ends with device_lost.
ended_lost() { grep '"call_end"' "$tmp/fast.jsonl" | grep -q 'desk1.*device_lost\|device_lost.*desk1'; }
wait_for 90 ended_lost || bad "no call_end with device_lost for desk1 on the bus"
# 2. It vanishes: a held write end keeps the old FIFO silent (an exiting feeder would make ALSA
# replay stale data), the feeder goes, the FIFO's path is removed so reopening fails.
fifo="$tmp/alsa/callwatch_virtual.fifo"
exec 9<>"$fifo"
kill "$CALLWATCH_VIRTUAL_FEEDER_PID"
CALLWATCH_VIRTUAL_FEEDER_PID=""
rm -f "$fifo"
lost_n=$(grep -c '"call_start".*desk1\|desk1.*"call_start"' "$tmp/fast.jsonl" || true)
wait_for 20 grep -q "line desk1: still unavailable" "$tmp/daemon.log" ||
  bad "no 'line desk1: still unavailable' log line after the device vanished"
grep "line desk1: still unavailable" "$tmp/daemon.log" | head -1 | sed 's/^/ok  log: /'
# 3. It comes back.
start_device "$tmp/device2.wav"
exec 9>&-
back() { (($(grep -c '"call_start".*desk1\|desk1.*"call_start"' "$tmp/fast.jsonl" || true) > lost_n)); }
wait_for 20 back || bad "desk1 got no new call after the device came back"
back_transcript() { grep '"transcript"' "$tmp/fast.jsonl" | grep -q '"internet\|internet '; }
wait_for 180 back_transcript || bad "no transcript from the device after it came back"
echo "ok  the device came back after $((SECONDS - up_at)) s of the test"
# file1 must have ended by itself by now (it is 11 s long).
wait_for 180 grep -q '"call_end".*file1\|file1.*"call_end"' "$tmp/fast.jsonl" || bad "file1's call did not end"

# 4. SIGTERM while the customer of file2 is in the middle of the turn at 26.7 .. 31 s.
in_flight() {
  python3 - "$tmp/fast.jsonl" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip().endswith("}")]
f2 = [e["call_id"] for e in ev if e["type"] == "call_start" and e.get("line") == "file2"]
tr = [e for e in ev if f2 and e.get("call_id") == f2[0] and e["type"] == "transcript" and e["leg"] == "customer"
      and e["t_end"] > 27]
partial = [e["t_end"] for e in tr if not e["final"]]
if partial and not any(e["final"] for e in tr):
    print(max(partial))
    sys.exit(0)
sys.exit(1)
PY
}
until_s=$((SECONDS + 240))
partial_t=""
until partial_t=$(in_flight) || ((SECONDS > until_s)); do sleep 0.2; done
[[ -n "$partial_t" ]] && echo "ok  SIGTERM with file2's customer utterance in flight (partial up to $partial_t s)" ||
  bad "never saw file2's customer speech past 27 s in flight (partial, no final) to stop during"
kill -TERM "$daemon"
term_at=$(date +%s%N)
rc=0
wait "$daemon" || rc=$?
stop_ms=$((($(date +%s%N) - term_at) / 1000000))
pids=("${pids[@]/$daemon/}")
[[ $rc -eq 0 ]] || bad "the daemon exited with status $rc on SIGTERM"
((stop_ms < 20000)) && echo "ok  exit $rc $stop_ms ms after SIGTERM" || bad "stopping took $stop_ms ms"
kill -0 "$slow" 2>/dev/null || bad "the stopped subscriber died"
sleep 0.5

python3 - "$tmp/fast.jsonl" "$tmp/archive.db" "${partial_t:-27}" <<'EOF' || fail=1
import json, sqlite3, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
partial_t = float(sys.argv[3])
db = sqlite3.connect(sys.argv[2])
fails = []
def check(ok, msg):
    print(("ok  " if ok else "FAIL: ") + msg)
    if not ok:
        fails.append(msg)
def calls_of(line):
    return [e["call_id"] for e in events if e["type"] == "call_start" and e.get("line") == line]
def of(cid, kind):
    return [e for e in events if e.get("call_id") == cid and e["type"] == kind]
desk = calls_of("desk1")
check(len(desk) >= 2, "desk1 had %d calls (lost, then back)" % len(desk))
ends = [of(c, "call_end") for c in desk]
check(bool(ends) and ends[0] and ends[0][0]["reason"].startswith("device_lost"),
      "desk1's first call ended: %s" % (ends[0][0]["reason"] if ends and ends[0] else None))
f1 = calls_of("file1")
f1_end = of(f1[0], "call_end") if f1 else []
check(bool(f1_end) and f1_end[0]["reason"] == "eof", "file1 ran to its end: %s" % [e["reason"] for e in f1_end])
esc = [a for a in of(f1[0], "alert") if a["kind"] == "escalation"] if f1 else []
check(bool(esc), "file1's escalation alert arrived")
lost_t = next(i for i, e in enumerate(events) if e["type"] == "call_end" and e["call_id"] == desk[0]) if desk else 0
check(any(i > lost_t and e.get("call_id") == f1[0] for i, e in enumerate(events)) if f1 else False,
      "file1's events kept coming after desk1 lost its device")
f2 = calls_of("file2")
mine = [e for e in events if f2 and e.get("call_id") == f2[0]]
end2 = [e for e in mine if e["type"] == "call_end"]
check(len(end2) == 1 and end2[0]["reason"] == "shutdown" and mine[-1] is end2[0],
      "file2 ended once, last, with reason shutdown: %s" % [e["reason"] for e in end2])
late = [e for e in mine if e["type"] == "transcript" and e.get("final") and e["leg"] == "customer"
        and e["t_end"] >= partial_t - 0.05]
check(bool(late), "the customer's utterance in flight at SIGTERM was transcribed before call_end: %s"
      % [(round(e["t_start"], 1), round(e["t_end"], 1), e["text"]) for e in late])
# The fast subscriber missed nothing while the other one was stopped.
got = {e["id"] for e in events if e["type"] == "alert"}
archived = {r[0] for r in db.execute("SELECT id FROM alerts")}
check(bool(archived) and archived <= got, "fast tap got all %d archived alerts (missing %s)"
      % (len(archived), sorted(archived - got)[:5]))
ended = {e["call_id"] for e in events if e["type"] == "call_end"}
arch_ended = {r[0] for r in db.execute("SELECT call_id FROM calls WHERE ended_ms IS NOT NULL")}
check(arch_ended <= ended, "fast tap got all %d archived call_end events" % len(arch_ended))
sys.exit(1 if fails else 0)
EOF

if [[ $fail -ne 0 ]]; then
  echo "--- daemon log"; cat "$tmp/daemon.log"
  exit 1
fi
echo "PASS"

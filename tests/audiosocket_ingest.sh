#!/usr/bin/env bash
# Behaviour test: `callwatch run` takes a call from "the PBX" over AudioSocket.
#
# tools/make-call.py speaks a two-leg call with flite at 8 kHz (the customer ends with "I want to
# speak to your manager"); tools/audiosocket-client.py streams it the way Asterisk's
# AudioSocket() does: one TCP connection per leg, a UUID message first (legs differ only in the
# last hex digit: ...0 agent, ...1 customer), 20 ms slin frames in real time, then a hangup.
# While it streams, the client opens connections that break the protocol (garbage kind, oversize
# length, truncated frame, audio before the UUID, odd audio, a second UUID, a reset).
# `callwatch tap` on the bus must show, for the good call:
#   - call_start with call_id = the agent UUID and line "audiosocket", both legs at 8000 Hz;
#   - final transcripts on both legs, the customer's with "manager";
#   - an escalation alert on the customer leg;
#   - call_end with reason "hangup", after every other event of the call.
# Each bad connection must be closed by the daemon, with a log line naming its address and what
# was wrong, and the daemon must stay up and stop cleanly on SIGTERM.
# Exit 77 (skip) only when flite, sox or python3 is missing.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
need_tools flite sox python3
need_callwatch

cw_tmpdir tmp cw-audiosocket
client=(python3 "$src/tools/audiosocket-client.py")
fail=0
bad() { echo "FAIL: $*"; fail=1; }

python3 "$src/tools/make-call.py" --script "$src/tests/data/pbx-call.json" --out "$tmp/call.wav" --truth "$tmp/truth.json" \
  --rate 8000 --encoding pcm16

bus_port=$(free_port)
endpoint="tcp://127.0.0.1:$bus_port"
"$cw" run --ack-endpoint 'tcp://127.0.0.1:*' --config "$src/models/callwatch.ini" --endpoint "$endpoint" --audiosocket 127.0.0.1:0 \
  2>"$tmp/daemon.log" &
daemon=$!
pids+=("$daemon")
as_port=""
for _ in $(seq 300); do
  as_port=$(sed -n 's/.*accepting calls from the PBX on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$tmp/daemon.log")
  [[ -n "$as_port" ]] && break
  kill -0 "$daemon" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$as_port" ]]; then
  echo "FAIL: the daemon did not start its AudioSocket server; its log:"; cat "$tmp/daemon.log"; exit 1
fi
for _ in $(seq 300); do grep -q "publishing on" "$tmp/daemon.log" && break; sleep 0.1; done
echo "daemon up: AudioSocket on 127.0.0.1:$as_port, bus $endpoint"

"$cw" tap --endpoint "$endpoint" --timeout 110 >"$tmp/events.jsonl" 2>"$tmp/tap.err" &
tap=$!
pids+=("$tap")
sleep 1 # let the subscription reach the publisher before the call starts

uuid=5f0c1a52-8d3e-4b7a-9c61-2e4f7a9b3c40
call_id=$uuid
"${client[@]}" --server "127.0.0.1:$as_port" --uuid "$uuid" call "$tmp/call.wav" --speed 1 \
  >"$tmp/client.out" 2>"$tmp/client.err" &
good=$!
pids+=("$good")
sleep 2

# case  what the daemon's log must say about that connection
cases=(
  "garbage-kind|protocol error: unknown message kind 0x42"
  "oversize|protocol error: message kind 0x10 declares 65535 payload bytes, over the maximum of 4096"
  "truncated|disconnected: closed in the middle of a message"
  "no-uuid|protocol error: the first message is kind 0x10; expected the UUID"
  "second-uuid|protocol error: a second UUID message"
  "odd-audio|protocol error: audio message (0x10) with an odd payload of 321 bytes"
  "reset|disconnected: Connection reset by peer"
)
# All at once, while the good call streams.
bad_pids=()
for i in "${!cases[@]}"; do
  name=${cases[$i]%%|*}
  "${client[@]}" --server "127.0.0.1:$as_port" bad "$name" --wait 5 >"$tmp/bad$i.out" 2>&1 &
  bad_pids+=($!)
  pids+=($!)
done
for i in "${!cases[@]}"; do
  name=${cases[$i]%%|*}
  want=${cases[$i]#*|}
  wait "${bad_pids[$i]}" || bad "$name: $(cat "$tmp/bad$i.out")"
  out=$(cat "$tmp/bad$i.out")
  peer=${out##* from }
  line=""
  for _ in $(seq 50); do
    line=$(grep -F "$peer" "$tmp/daemon.log" | grep -F "$want" || true)
    [[ -n "$line" ]] && break
    sleep 0.1
  done
  if [[ -n "$line" ]]; then
    echo "ok  $name: $line"
  else
    bad "$name: no log line naming $peer and '$want'"
  fi
done
kill -0 "$daemon" 2>/dev/null || bad "the daemon died"
grep -q "$call_id.*hangup after" "$tmp/daemon.log" && bad "the good call ended before the bad connections were done"

wait "$good" || bad "the streaming client failed: $(cat "$tmp/client.err")"
[[ "$(cat "$tmp/client.out")" == "$call_id" ]] || bad "client printed call id '$(cat "$tmp/client.out")'"
for _ in $(seq 600); do
  grep -q "\"call_end\".*$call_id\|$call_id.*\"call_end\"" "$tmp/events.jsonl" && break
  kill -0 "$daemon" 2>/dev/null || break
  sleep 0.1
done
sleep 0.5
kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
[[ $rc -eq 0 ]] || bad "the daemon exited with status $rc on SIGTERM"
kill "$tap" 2>/dev/null || true

python3 - "$tmp/events.jsonl" "$call_id" <<'EOF' || fail=1
import json, re, sys
path, call_id = sys.argv[1:3]
events = [json.loads(l) for l in open(path) if l.strip()]
mine = [e for e in events if e.get("call_id") == call_id]
fails = []
def check(ok, msg):
    print(("ok  " if ok else "FAIL: ") + msg)
    if not ok:
        fails.append(msg)
types = [e["type"] for e in mine]
check(bool(mine) and types[0] == "call_start" and types.count("call_start") == 1,
      "one call_start for %s, first of its events (types %s)" % (call_id, sorted(set(types))))
start = mine[0] if mine else {}
check(start.get("line") == "audiosocket", "call_start line %r" % start.get("line"))
finals = {leg: " ".join(e["text"] for e in mine if e["type"] == "transcript" and e.get("final") and e["leg"] == leg)
          for leg in ("agent", "customer")}
for leg in ("agent", "customer"):
    check(bool(finals[leg].strip()), "final transcripts on the %s leg: %r" % (leg, finals[leg]))
check("manager" in finals["customer"].split(), "the customer said 'manager'")
alerts = [e for e in mine if e["type"] == "alert"]
check(any(a["kind"] == "escalation" and a["leg"] == "customer" for a in alerts),
      "escalation alert on the customer leg: %s" % [(a["kind"], a["leg"], a["text"]) for a in alerts])
ends = [e for e in mine if e["type"] == "call_end"]
check(len(ends) == 1 and types[-1] == "call_end", "one call_end, last of the call's events")
check(bool(ends) and ends[0].get("reason") == "hangup", "call_end reason %r" % (ends[0].get("reason") if ends else None))
check(bool(ends) and 15.5 < ends[0].get("duration_s", 0) < 17.5, "call duration %s s (the file is 16.4 s)"
      % (ends[0].get("duration_s") if ends else None))
# The bad connections that had sent a UUID became one-leg calls that ended with the reason.
others = [e for e in events if e["type"] == "call_end" and e.get("call_id") != call_id]
check(all(e["reason"].startswith("disconnect: ") for e in others) and len(others) == 6,
      "%d one-leg calls of bad connections ended with 'disconnect: ...': %s"
      % (len(others), sorted({e["reason"][:60] for e in others})))
sys.exit(1 if fails else 0)
EOF

if [[ $fail -ne 0 ]]; then
  echo "--- daemon log:"; cat "$tmp/daemon.log"
  exit 1
fi
echo "PASS"

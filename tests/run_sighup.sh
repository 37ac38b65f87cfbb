#!/usr/bin/env bash
# Behaviour test: SIGHUP makes `callwatch run` re-read its configuration without dropping calls.
#
# The daemon starts with a config whose cue lexicon has no escalation phrases. Calls come in over
# AudioSocket (tools/audiosocket-client.py); the customer says "I want to speak to your manager".
#   1. Call 1 streams; once it has started the config file is replaced by one with the full lexicon and the
#      daemon gets SIGHUP. Call 1 keeps going with the lexicon it started with: transcripts with
#      "manager", no escalation alert, call_end reason "hangup" (not dropped).
#   2. Call 2, after the reload: an escalation alert on the customer leg.
#   3. The file is replaced by a config naming a corrupt lexicon, SIGHUP: an error is logged naming
#      the lexicon, the daemon keeps running; then by a config with an unknown option, SIGHUP: an
#      error naming file:line.
#   4. Call 3: still an escalation alert (the good config was kept). SIGTERM: exit 0.
# Exit 77 (skip) only when flite, sox or python3 is missing.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
need_tools flite sox python3
need_callwatch

cw_tmpdir tmp cw-sighup
client=(python3 "$src/tools/audiosocket-client.py")
fail=0
bad() { echo "FAIL: $*"; fail=1; }

cat >"$tmp/script.json" <<'EOF'
{"turns": [
 {"leg": "agent", "voice": "slt", "at": 0.5,
  "text": "Thank you for calling. My name is Sarah. How can I help you today?"},
 {"leg": "customer", "voice": "rms",
  "text": "Hello. I have a problem with my bill this month."},
 {"leg": "customer", "voice": "rms",
  "text": "I want to speak to your manager."}
]}
EOF
python3 "$src/tools/make-call.py" --script "$tmp/script.json" --out "$tmp/call.wav" --truth "$tmp/truth.json" \
  --rate 8000 --encoding pcm16 >/dev/null

python3 - "$src/models/cues-en.json" "$tmp/cues-no-escalation.json" <<'EOF'
import json, sys
lex = json.load(open(sys.argv[1]))
lex["entries"] = [e for e in lex["entries"] if e["kind"] != "escalation"]
json.dump(lex, open(sys.argv[2], "w"))
EOF
printf '{"language": "en", "entries": [{"phrase": "manager", "kind": ' >"$tmp/cues-corrupt.json"

bus_port=$(free_port)
endpoint="tcp://127.0.0.1:$bus_port"
write_config() { # lexicon [extra line]
  { echo "[models]"; echo "cues = $1"; echo "[bus]"; echo "endpoint = $endpoint"; echo "[audiosocket]"
    echo "listen = 127.0.0.1:0"; [[ -n "${2:-}" ]] && echo "$2"; true; } >"$tmp/callwatch.ini.new"
  mv "$tmp/callwatch.ini.new" "$tmp/callwatch.ini"
}
write_config "$tmp/cues-no-escalation.json"

"$cw" run --ack-endpoint 'tcp://127.0.0.1:*' --config "$tmp/callwatch.ini" 2>"$tmp/daemon.log" &
daemon=$!
pids+=("$daemon")
as_port=""
for _ in $(seq 300); do
  as_port=$(sed -n 's/.*accepting calls from the PBX on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$tmp/daemon.log")
  [[ -n "$as_port" ]] && grep -q "publishing on" "$tmp/daemon.log" && break
  kill -0 "$daemon" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$as_port" ]]; then
  echo "FAIL: the daemon did not start; its log:"; cat "$tmp/daemon.log"; exit 1
fi
"$cw" tap --endpoint "$endpoint" --timeout 900 >"$tmp/events.jsonl" 2>"$tmp/tap.err" &
pids+=($!)
sleep 1 # let the subscription reach the publisher

wait_call_end() { # call_id
  for _ in $(seq 2400); do # generous: decoding lags on a loaded or sanitized build
    grep -q "\"call_end\".*$1\|$1.*\"call_end\"" "$tmp/events.jsonl" && return 0
    kill -0 "$daemon" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
call() { # uuid: streams the call, waits for its call_end on the bus
  "${client[@]}" --server "127.0.0.1:$as_port" --uuid "$1" call "$tmp/call.wav" --speed 1 >/dev/null \
    2>"$tmp/client.err" || bad "the streaming client failed: $(cat "$tmp/client.err")"
  wait_call_end "$1" || bad "no call_end for $1 on the bus"
}
hup_and_wait() { # what the log must then say
  local before
  before=$(grep -c "SIGHUP" "$tmp/daemon.log" || true)
  kill -HUP "$daemon"
  for _ in $(seq 100); do
    (($(grep -c "SIGHUP" "$tmp/daemon.log" || true) > before + 1)) && break
    sleep 0.1
  done
  grep -q "$1" "$tmp/daemon.log" && echo "ok  log: $(grep "$1" "$tmp/daemon.log" | tail -1)" ||
    bad "no log line '$1' after SIGHUP"
  kill -0 "$daemon" 2>/dev/null || bad "the daemon died on SIGHUP"
}

call1=11111111-8d3e-4b7a-9c61-2e4f7a9b3c40
call2=22222222-8d3e-4b7a-9c61-2e4f7a9b3c40
call3=33333333-8d3e-4b7a-9c61-2e4f7a9b3c40
"${client[@]}" --server "127.0.0.1:$as_port" --uuid "$call1" call "$tmp/call.wav" --speed 1 >/dev/null \
  2>"$tmp/client1.err" &
first=$!
pids+=("$first")
for _ in $(seq 600); do grep -q "call $call1 started" "$tmp/daemon.log" && break; sleep 0.1; done
grep -q "call $call1 started" "$tmp/daemon.log" || bad "call 1 did not start"
sleep 1 # into the call: the customer's sentence with "manager" comes after the reload
write_config "$src/models/cues-en.json"
hup_and_wait "SIGHUP: reloaded"
wait "$first" || bad "the streaming client of call 1 failed: $(cat "$tmp/client1.err")"
wait_call_end "$call1" || bad "no call_end for call 1 on the bus"
call "$call2"

write_config "$tmp/cues-corrupt.json"
hup_and_wait "cues-corrupt.json.*rejected, still running with the previous configuration"
write_config "$src/models/cues-en.json" "no_such_option = 1"
hup_and_wait "callwatch.ini:7.*no_such_option"
grep -q "callwatch.ini rejected; still running with the previous configuration" "$tmp/daemon.log" ||
  bad "the bad option did not say the config was rejected"
call "$call3"

kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
[[ $rc -eq 0 ]] || bad "the daemon exited with status $rc on SIGTERM"

python3 - "$tmp/events.jsonl" "$call1" "$call2" "$call3" <<'EOF' || fail=1
import json, sys
path, call1, call2, call3 = sys.argv[1:5]
events = [json.loads(l) for l in open(path) if l.strip()]
fails = []
def check(ok, msg):
    print(("ok  " if ok else "FAIL: ") + msg)
    if not ok:
        fails.append(msg)
for n, cid in ((1, call1), (2, call2), (3, call3)):
    mine = [e for e in events if e.get("call_id") == cid]
    said = " ".join(e["text"] for e in mine if e["type"] == "transcript" and e.get("final")
                    and e["leg"] == "customer").split()
    esc = [e for e in mine if e["type"] == "alert" and e["kind"] == "escalation"]
    ends = [e for e in mine if e["type"] == "call_end"]
    check("manager" in said, "call %d: the customer said 'manager' (%s)" % (n, " ".join(said)))
    check(len(ends) == 1 and ends[0].get("reason") == "hangup",
          "call %d ended once with reason hangup: %s" % (n, [e.get("reason") for e in ends]))
    if n == 1:
        check(not esc, "call 1 (started before the reload) has no escalation alert: %s" % [a["text"] for a in esc])
    else:
        check(bool(esc), "call %d (after the reload) has an escalation alert" % n)
sys.exit(1 if fails else 0)
EOF

if [[ $fail -ne 0 ]]; then
  echo "--- daemon log"; cat "$tmp/daemon.log"
  exit 1
fi
echo "PASS"

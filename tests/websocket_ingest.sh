#!/usr/bin/env bash
# Behaviour test: `callwatch run --websocket` takes calls streamed over the three WebSocket
# media-stream protocols on one listener.
#
# tools/make-call.py speaks a two-leg call with flite at 8 kHz (the customer ends with "I want to
# speak to your manager"); tools/websocket-client.py streams it in real time three times
#   /freeswitch  mod_audio_fork: metadata text frame, then L16 stereo at 16 kHz (sox-resampled);
#   /twilio      Twilio Media Streams: connected, start (callSid, customParameters agent/team),
#                base64 u-law media per track, stop;
#   /audiohook   Genesys AudioHook: open -> opened, PCMU stereo frames, ping -> pong, close -> closed.
# (one after the other). `callwatch tap` on the bus must show, for each of the three calls:
#   - call_start with line "websocket", the call id, agent_id and team from the stream's metadata,
#     both legs at the stream's rate;
#   - final transcripts on both legs, the customer's with "manager"; an escalation alert on the
#     customer leg;
#   - call_end with reason "hangup", after every other event of the call.
# While the first streams, bad clients break the protocols (unknown path, audio before the metadata,
# malformed JSON, an unsupported rate or format, an oversized message, no acceptable AudioHook
# offer, a peer that vanishes mid-call, one that stalls, one that never speaks): each must be
# closed with a log line naming its address and what was wrong, the daemon must stay up, the good
# calls must not end early, and the daemon must stop cleanly on SIGTERM. Then a second daemon
# (no recognition) serving wss:// ([websocket] tls_cert, a self-signed certificate) carries a
# Twilio call over TLS, and with [websocket] max_connections = 1 refuses a second stream.
# Exit 77 (skip) when flite, sox or Debian's python3-websocket is missing.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
need_tools flite sox
py=/usr/bin/python3
"$py" -c 'import websocket' 2>/dev/null || { echo "SKIP: python3-websocket is missing (tools/deps.sh)"; exit 77; }
need_callwatch

cw_tmpdir tmp cw-websocket
client=("$py" "$src/tools/websocket-client.py")
fail=0
bad() { echo "FAIL: $*"; fail=1; }

python3 "$src/tools/make-call.py" --script "$src/tests/data/pbx-call.json" --out "$tmp/call.wav" --truth "$tmp/truth.json" \
  --rate 8000 --encoding pcm16
sox "$tmp/call.wav" -r 16000 "$tmp/call16.wav"

# The shipped configuration with short [websocket] timeouts, so the stalled and silent clients
# are closed within the test.
awk '
  /^\[/ { sec = $0 }
  sec == "[websocket]" && /^first_message_timeout_ms =/ { $0 = "first_message_timeout_ms = 2000" }
  sec == "[websocket]" && /^idle_timeout_ms =/ { $0 = "idle_timeout_ms = 3000" }
  { print }' "$src/models/callwatch.ini" >"$tmp/callwatch.ini"
awk '
  /^\[/ { sec = $0 }
  sec == "[websocket]" && /^max_connections =/ { $0 = "max_connections = 1" }
  { print }' "$tmp/callwatch.ini" >"$tmp/limit.ini"
grep -q '^idle_timeout_ms = 3000' "$tmp/callwatch.ini" || { echo "FAIL: could not set [websocket] timeouts"; exit 1; }

# Starts a daemon (extra arguments to `run`) logging to $1; sets ws_port.
start_daemon() {
  local log=$1
  shift
  : >"$log" # exists before the daemon opens it, for the sed below
  "$cw" run --ack-endpoint 'tcp://127.0.0.1:*' --websocket 127.0.0.1:0 "$@" 2>"$log" &
  daemon=$!
  pids+=("$daemon")
  ws_port=""
  for _ in $(seq 300); do
    ws_port=$(sed -n 's/.*accepting media streams on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log" || true)
    [[ -n "$ws_port" ]] && grep -q "publishing on" "$log" && return 0
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: the daemon did not start its WebSocket server; its log:"; cat "$log"; exit 1
}

bus_port=$(free_port)
endpoint="tcp://127.0.0.1:$bus_port"
start_daemon "$tmp/daemon.log" --config "$tmp/callwatch.ini" --endpoint "$endpoint"
echo "daemon up: WebSocket on 127.0.0.1:$ws_port, bus $endpoint"

"$cw" tap --endpoint "$endpoint" --timeout 300 >"$tmp/events.jsonl" 2>"$tmp/tap.err" &
tap=$!
pids+=("$tap")
sleep 1 # let the subscription reach the publisher before the calls start

protocols=(freeswitch twilio audiohook)
declare -A team=([freeswitch]=billing [twilio]=retention [audiohook]=tech-support)
# One call at a time: three recognised at once would measure the machine's load, not the ingest.
stream_call() {
  local p=$1 file="$tmp/call.wav"
  [[ $p == freeswitch ]] && file="$tmp/call16.wav"
  "${client[@]}" --server "127.0.0.1:$ws_port" call "$p" "$file" --call-id "$p-call-1" --agent "agent-$p" \
    --team "${team[$p]}" --speed 1 >"$tmp/$p.out" 2>"$tmp/$p.err" &
  good=$!
  pids+=("$good")
}
# Waits for the client streaming protocol $1, then for its call_end on the bus.
finish_call() {
  local p=$1
  wait "$good" || bad "the $p client failed: $(cat "$tmp/$p.err")"
  for _ in $(seq 900); do
    grep -q "\"call_end\".*\"$p-call-1\"\|\"$p-call-1\".*\"call_end\"" "$tmp/events.jsonl" && break
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.1
  done
}
stream_call freeswitch
sleep 2

# case  what the daemon's log must say about that connection
cases=(
  "unknown-path|refused: unknown path '/nowhere'"
  "fs-binary-first|protocol error: binary audio (320 bytes) before the metadata text message"
  "fs-bad-json|protocol error: malformed JSON at line 1"
  "fs-bad-rate|protocol error: metadata: sample_rate 44100 not supported"
  "twilio-media-first|protocol error: media before the start message"
  "twilio-bad-format|protocol error: start: mediaFormat must be audio/x-mulaw"
  "twilio-oversize|protocol error: a message of more than 65536 bytes"
  "audiohook-no-offer|protocol error: open: no media offer of PCMU 8000 Hz"
  "audiohook-bad-json|protocol error: malformed JSON at line 1"
  "vanish|disconnected: the connection closed without the stream's end message"
  "stall|disconnected: nothing received for 3000 ms"
  "silent|protocol error: no metadata within 2000 ms"
)
bad_pids=()
for i in "${!cases[@]}"; do
  "${client[@]}" --server "127.0.0.1:$ws_port" bad "${cases[$i]%%|*}" --wait 8 >"$tmp/bad$i.out" 2>&1 &
  bad_pids+=($!)
  pids+=($!)
done
for i in "${!cases[@]}"; do
  name=${cases[$i]%%|*}
  want=${cases[$i]#*|}
  wait "${bad_pids[$i]}" || bad "$name: the server did not close it: $(cat "$tmp/bad$i.out")"
  out=$(head -1 "$tmp/bad$i.out")
  peer=""
  [[ "$out" == *" from "* ]] && peer="${out##* from } /"
  line=""
  for _ in $(seq 50); do
    line=$(grep -F -- "$peer" "$tmp/daemon.log" | grep -F -- "$want" || true)
    [[ -n "$line" ]] && break
    sleep 0.1
  done
  if [[ -n "$line" ]]; then
    echo "ok  $name: $line"
  else
    bad "$name: no log line naming '$peer' and '$want'"
  fi
done
grep -q '^disconnect: {"reason": "error", "info": "malformed JSON' "$tmp"/bad*.out &&
  echo "ok  audiohook-bad-json: the peer got a disconnect (reason error) before the close" ||
  bad "audiohook-bad-json: no AudioHook disconnect message before the close"
kill -0 "$daemon" 2>/dev/null || bad "the daemon died"
grep -q "call-1).*stream ended" "$tmp/daemon.log" && bad "the good call ended before the bad connections were done"
finish_call freeswitch
for p in twilio audiohook; do
  stream_call "$p"
  finish_call "$p"
done
sleep 0.5
kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
[[ $rc -eq 0 ]] || bad "the daemon exited with status $rc on SIGTERM"
kill "$tap" 2>/dev/null || true

"$py" - "$tmp/events.jsonl" <<'EOF' || fail=1
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
teams = {"freeswitch": ("billing", 16000), "twilio": ("retention", 8000), "audiohook": ("tech-support", 8000)}
fails = []
def check(ok, msg):
    print(("ok  " if ok else "FAIL: ") + msg)
    if not ok:
        fails.append(msg)
for proto, (team, rate) in teams.items():
    call_id = proto + "-call-1"
    mine = [e for e in events if e.get("call_id") == call_id]
    types = [e["type"] for e in mine]
    check(bool(mine) and types[0] == "call_start" and types.count("call_start") == 1,
          "%s: one call_start, first of its events (types %s)" % (proto, sorted(set(types))))
    start = mine[0] if mine else {}
    legs = start.get("legs", {})
    check(start.get("line") == "websocket" and start.get("agent_id") == "agent-" + proto and start.get("team") == team
          and all(legs.get(l, {}).get("rate_hz") == rate for l in ("agent", "customer")),
          "%s: call_start line %r agent %r team %r legs %s" % (proto, start.get("line"), start.get("agent_id"),
                                                               start.get("team"), legs))
    finals = {leg: " ".join(e["text"] for e in mine if e["type"] == "transcript" and e.get("final")
                            and e["leg"] == leg) for leg in ("agent", "customer")}
    for leg in ("agent", "customer"):
        check(bool(finals[leg].strip()), "%s: final transcripts on the %s leg: %r" % (proto, leg, finals[leg]))
    check("manager" in finals["customer"].split(), "%s: the customer said 'manager'" % proto)
    alerts = [e for e in mine if e["type"] == "alert"]
    check(any(a["kind"] == "escalation" and a["leg"] == "customer" for a in alerts),
          "%s: escalation alert on the customer leg: %s" % (proto, [(a["kind"], a["leg"]) for a in alerts]))
    ends = [e for e in mine if e["type"] == "call_end"]
    check(len(ends) == 1 and types[-1] == "call_end" and ends[0].get("reason") == "hangup",
          "%s: one call_end, last, reason %r" % (proto, ends[0].get("reason") if ends else None))
    check(bool(ends) and 15.5 < ends[0].get("duration_s", 0) < 17.5,
          "%s: call duration %s s (the file is 16.4 s)" % (proto, ends[0].get("duration_s") if ends else None))
# The vanished and stalled streams had started: their calls end with the reason.
for call_id, why in (("CAvanish", "disconnect: the connection closed without"),
                     ("stall-audiohook", "disconnect: nothing received for 3000 ms")):
    ends = [e for e in events if e["type"] == "call_end" and e.get("call_id") == call_id]
    check(len(ends) == 1 and ends[0]["reason"].startswith(why),
          "%s: call_end reason %r" % (call_id, ends[0]["reason"] if ends else None))
sys.exit(1 if fails else 0)
EOF

# TLS and the connection limit, on a daemon without recognition: [websocket] tls_cert/tls_key
# (a self-signed certificate) and max_connections = 1.
if command -v openssl >/dev/null 2>&1; then
  openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 -keyout "$tmp/tls.key" \
    -out "$tmp/tls.crt" 2>/dev/null
  awk -v crt="$tmp/tls.crt" -v key="$tmp/tls.key" '
    /^\[/ { sec = $0 }
    sec == "[websocket]" && /^tls_cert =/ { $0 = "tls_cert = " crt }
    sec == "[websocket]" && /^tls_key =/ { $0 = "tls_key = " key }
    { print }' "$tmp/limit.ini" >"$tmp/tls.ini" && mv "$tmp/tls.ini" "$tmp/limit.ini"
  tls=(--tls)
  sox "$tmp/call.wav" "$tmp/short.wav" trim 0 3
else
  echo "note: openssl missing, the limit is checked without TLS"
  tls=()
fi
start_daemon "$tmp/limit.log" --config "$tmp/limit.ini" --endpoint "tcp://127.0.0.1:$(free_port)" --no-asr
if [[ ${#tls[@]} -gt 0 ]]; then
  grep -q "accepting media streams on .*(wss, TLS" "$tmp/limit.log" || bad "tls: the daemon does not say it serves wss"
  "${client[@]}" --server "127.0.0.1:$ws_port" --tls call twilio "$tmp/short.wav" --call-id CAtls --speed 0 \
    >"$tmp/tls.out" 2>&1 || bad "tls: the Twilio stream over wss:// failed: $(cat "$tmp/tls.out")"
  for _ in $(seq 50); do grep -q "(call CAtls): stream ended" "$tmp/limit.log" && break; sleep 0.1; done
  grep -q "(call CAtls): stream ended" "$tmp/limit.log" && echo "ok  tls: a Twilio call over wss:// ended normally" ||
    bad "tls: no normal end of the call over wss:// in the log"
fi
"${client[@]}" --server "127.0.0.1:$ws_port" "${tls[@]}" bad silent --wait 6 >"$tmp/hold.out" 2>&1 &
hold=$!
pids+=("$hold")
sleep 1
"${client[@]}" --server "127.0.0.1:$ws_port" "${tls[@]}" bad silent --wait 2 >"$tmp/second.out" 2>&1 || true
if grep -q "refused" "$tmp/second.out" && grep -q "refused: 1 streams are open (\[websocket\] max_connections)" \
  "$tmp/limit.log"; then
  echo "ok  limit: $(grep 'max_connections' "$tmp/limit.log")"
else
  bad "limit: a second stream over max_connections = 1 was not refused: $(cat "$tmp/second.out")"
fi
wait "$hold" || true
kill -TERM "$daemon"
wait "$daemon" || bad "the second daemon did not stop cleanly"

if [[ $fail -ne 0 ]]; then
  echo "--- daemon log:"; cat "$tmp/daemon.log"
  exit 1
fi
echo "PASS"

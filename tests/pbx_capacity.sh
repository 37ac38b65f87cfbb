#!/usr/bin/env bash
# Behaviour test: a node at capacity refuses new PBX streams with a clear reason instead of
# degrading every call (issue 17, part 4).
#
# One daemon takes AudioSocket and WebSocket calls with [ingest] max_calls = 1. The ingest tests'
# two-leg call (tests/data/pbx-call.json, flite, 8 kHz, 16 s; the customer asks for the manager)
# streams in over AudioSocket at real time.
# While it runs:
#   - a second AudioSocket call is refused: its client gets an error message (kind 0xff) whose text
#     says "at capacity", and exits 3;
#   - a Twilio stream on /twilio is refused: closed with status 1013 (try again later) and the
#     reason as the close frame's text;
#   - /health answers 503 {"status":"full", "reason":"at capacity: 1 of 1 PBX calls ..."}, which
#     tells a load balancer to send new calls to another node;
#   - the daemon logs each refusal with the peer and the call id.
# The first call must still complete with its escalation alert and call_end "hangup"; the refused
# calls must never reach the bus; afterwards /health is 200 again and /metrics counts the two
# refused connections (callwatch_pbx_calls_refused_total: the two legs of the second AudioSocket
# call and the Twilio stream) and the cap (callwatch_pbx_calls_max).
# Exit 77 (skip) when flite, curl or Debian's python3-websocket is missing.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
need_tools flite curl python3
/usr/bin/python3 -c 'import websocket' 2>/dev/null || { echo "SKIP: python3-websocket is missing (tools/deps.sh)"; exit 77; }
need_callwatch

cw_tmpdir tmp cw-pbx-capacity
as_client=(python3 "$src/tools/audiosocket-client.py")
ws_client=(/usr/bin/python3 "$src/tools/websocket-client.py")
http() { curl --noproxy '*' -s -m 5 "$@"; }
start_s=$SECONDS

python3 "$src/tools/make-call.py" --script "$src/tests/data/pbx-call.json" --out "$tmp/call.wav" --rate 8000 --encoding pcm16 \
  >/dev/null

bus="tcp://127.0.0.1:$(free_port)"
cat >"$tmp/node.ini" <<INI
[asr]
workers = 1
[bus]
endpoint = $bus
[metrics]
listen = 127.0.0.1:0
[ingest]
max_calls = 1
INI
"$cw" run --ack-endpoint 'tcp://127.0.0.1:*' --config "$tmp/node.ini" --audiosocket 127.0.0.1:0 \
  --websocket 127.0.0.1:0 2>"$tmp/daemon.log" &
daemon=$!
pids+=("$daemon")
wait_pid=$daemon wait_for 30 log_has "$tmp/daemon.log" "publishing on" ||
  fail "the daemon did not start; its log: $(cat "$tmp/daemon.log")"
as_port=$(sed -n 's/.*accepting calls from the PBX on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/daemon.log")
ws_port=$(sed -n 's/.*accepting media streams on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/daemon.log")
base=$(sed -n 's#.*health check on \(http://127.0.0.1:[0-9]*\)/health.*#\1#p' "$tmp/daemon.log")
[[ -n "$as_port" && -n "$ws_port" && -n "$base" ]] || fail "ports not logged: $(cat "$tmp/daemon.log")"
grep -q "at most 1 PBX calls at once (\[ingest\] max_calls)" "$tmp/daemon.log" || fail "the cap is not logged"

"$cw" tap --endpoint "$bus" --timeout 60 >"$tmp/events.jsonl" 2>/dev/null &
pids+=("$!")
sleep 1 # the subscription reaches the publisher before the call starts

first=5f0c1a52-8d3e-4b7a-9c61-2e4f7a9b3c40
"${as_client[@]}" --server "127.0.0.1:$as_port" --uuid "$first" call "$tmp/call.wav" --speed 1 \
  >"$tmp/first.out" 2>"$tmp/first.err" &
first_pid=$!
pids+=("$first_pid")
wait_for 10 log_has "$tmp/daemon.log" "call $first started" || fail "the first call did not start: $(cat "$tmp/daemon.log")"

# The node is full now.
code=$(http -o "$tmp/health.json" -w '%{http_code}' "$base/health" || true)
[[ "$code" == 503 ]] && grep -q '"status":"full","reason":"at capacity: 1 of 1 PBX calls' "$tmp/health.json" ||
  fail "/health while full: $code $(cat "$tmp/health.json")"
echo "ok  /health while full: $code $(cat "$tmp/health.json")"

second=7a1b2c3d-0000-4000-8000-00000000aa00
rc=0
"${as_client[@]}" --server "127.0.0.1:$as_port" --uuid "$second" call "$tmp/call.wav" --speed 1 \
  >/dev/null 2>"$tmp/second.err" || rc=$?
[[ $rc -eq 3 ]] && grep -q "refused: .*this node is at capacity: 1 of 1 calls (\[ingest\] max_calls); try another node" \
  "$tmp/second.err" || fail "second AudioSocket call: exit $rc, $(cat "$tmp/second.err")"
echo "ok  AudioSocket: $(grep refused "$tmp/second.err")"

rc=0
"${ws_client[@]}" --server "127.0.0.1:$ws_port" call twilio "$tmp/call.wav" --call-id CAfull --speed 1 \
  >/dev/null 2>"$tmp/twilio.err" || rc=$?
[[ $rc -eq 3 ]] && grep -q "refused: close 1013 this node is at capacity: 1 of 1 calls" "$tmp/twilio.err" ||
  fail "Twilio stream: exit $rc, $(cat "$tmp/twilio.err")"
echo "ok  WebSocket: $(grep refused "$tmp/twilio.err")"

for want in "(call $second): refused: this node is at capacity" "/twilio (call CAfull): refused: this node is at capacity"; do
  grep -qF "$want" "$tmp/daemon.log" || fail "no log line '$want': $(cat "$tmp/daemon.log")"
done
echo "ok  both refusals logged"

wait "$first_pid" || fail "the first call's client failed: $(cat "$tmp/first.err")"
wait_for 20 log_has "$tmp/events.jsonl" "\"call_end\".*$first|$first.*\"call_end\"" || fail "no call_end for the first call"
wait_for 5 eval '[[ "$(http -o /dev/null -w "%{http_code}" "$base/health")" == 200 ]]' ||
  fail "/health did not come back to 200 after the call: $(http "$base/health")"
echo "ok  /health 200 again"
http "$base/metrics" >"$tmp/metrics.txt"
# 3: both legs of the second AudioSocket call (two connections) and the Twilio stream.
grep -qx "callwatch_pbx_calls_refused_total 3" "$tmp/metrics.txt" && grep -qx "callwatch_pbx_calls_max 1" "$tmp/metrics.txt" ||
  fail "metrics: $(grep pbx "$tmp/metrics.txt")"
echo "ok  metrics: $(grep '^callwatch_pbx' "$tmp/metrics.txt" | tr '\n' ' ')"

kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
[[ $rc -eq 0 ]] || fail "the daemon exited with status $rc on SIGTERM"

# The bus: only the first call, with its escalation alert, ended by the hangup.
ev="$tmp/events.jsonl"
others=$(grep '"type":"call_start"' "$ev" | grep -vF "\"$first\"" || true)
[[ -z "$others" ]] || fail "a refused call reached the bus: $others"
grep -F "\"$first\"" "$ev" | grep '"type":"alert"' | grep '"leg":"customer"' | grep '"kind":"escalation"' >/dev/null ||
  fail "no escalation alert on the first call: $(grep '"type":"alert"' "$ev")"
grep -F "\"$first\"" "$ev" | grep '"type":"call_end"' | grep '"reason":"hangup"' >/dev/null ||
  fail "the first call did not end with hangup: $(grep '"type":"call_end"' "$ev")"
echo "ok  only the first call on the bus, with its escalation alert, ended by hangup"
echo "PASS in $((SECONDS - start_s)) s"

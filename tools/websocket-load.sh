#!/usr/bin/env bash
# websocket-load.sh - N concurrent real-time calls over one WebSocket protocol into
# `callwatch run --no-asr --websocket`: how many ended, how many lost frames (call_end
# frames_dropped), and the daemon's CPU time while they streamed. A measurement, not a test
# (the clients are Python processes on the same machine and take CPU too); not yet part of
# tools/bench.
#
#   tools/websocket-load.sh N freeswitch|twilio|audiohook CALL.wav [BINARY]
#     CALL.wav: 16-bit stereo, ch0 agent, ch1 customer; 8000 Hz (16000 also for freeswitch)
set -euo pipefail
[[ $# -ge 3 && "$1" =~ ^[0-9]+$ ]] || { sed -n '2,9p' "$0" >&2; exit 2; }
n=$1 proto=$2 call=$3
src="$(cd "$(dirname "$0")/.." && pwd)"
cw="${4:-$src/build/callwatch}"
py=/usr/bin/python3
work="$(mktemp -d)"
trap 'kill $daemon $tap 2>/dev/null || true; rm -rf "$work"' EXIT
bus=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

: >"$work/daemon.log"
"$cw" run --no-asr --ack-endpoint 'tcp://127.0.0.1:*' --endpoint "tcp://127.0.0.1:$bus" --websocket 127.0.0.1:0 \
  2>"$work/daemon.log" &
daemon=$!
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/.*media streams on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/daemon.log")
  [[ -n "$port" ]] && break
  sleep 0.1
done
[[ -n "$port" ]] || { cat "$work/daemon.log" >&2; exit 1; }
"$cw" tap --endpoint "tcp://127.0.0.1:$bus" --topic call. --timeout 600 >"$work/events.jsonl" 2>/dev/null &
tap=$!
sleep 1

ticks() { awk '{print $14 + $15}' "/proc/$daemon/stat"; }
t0=$(ticks)
start=$(date +%s.%N)
clients=()
for i in $(seq "$n"); do
  "$py" "$src/tools/websocket-client.py" --server "127.0.0.1:$port" call "$proto" "$call" --call-id "$proto-$i" \
    >/dev/null 2>>"$work/clients.err" &
  clients+=($!)
done
failed=0
for p in "${clients[@]}"; do wait "$p" || failed=$((failed + 1)); done
sleep 2
t1=$(ticks)
wall=$(echo "$(date +%s.%N) - $start" | bc)
ended=$(grep -c '"call_end"' "$work/events.jsonl" || true)
lossy=$(grep '"call_end"' "$work/events.jsonl" | grep -v '"frames_dropped":{"agent":0,"customer":0}' | grep -c . || true)
hz=$(getconf CLK_TCK)
echo "$n x $proto: $ended calls ended, $failed clients failed, $lossy calls with dropped frames;" \
  "daemon CPU $(echo "scale=2; ($t1 - $t0) / $hz" | bc) s over $wall s wall; load $(cut -d' ' -f1 /proc/loadavg)"

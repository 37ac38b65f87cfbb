#!/usr/bin/env bash
# Behaviour test: a node whose key the CURVE broker refuses is told, and so is the broker's operator.
#  - node-x: a key in neither the nodes nor the clients directory: the handshake fails; the node
#    logs "the broker at ... refused this node's CURVE key", the broker logs "refused a node's
#    CURVE handshake".
#  - node-s: a subscriber's key (clients directory, not nodes): refused the same way, since the
#    frontend admits the nodes directory only; nothing of it reaches the subscriber.
#  - a subscriber with a node's key at the backend is refused and gets nothing.
#  - kill -9 of the broker leaves nothing in TMPDIR (the key lists are read where they are), and
#    neither does a broker stopped by SIGTERM.
# Nodes run --no-asr on a short generated call, so no speech model is loaded.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
need_tools sox python3
cw_tmpdir work cw-refkey
fail=0
bad() { echo "FAIL: $*"; fail=1; }

curve_broker_setup "$work"
sox -n -r 16000 -c 2 -b 16 "$work/call.wav" synth 20 sine 300 vol 0.3

node_cfg() { # NAME KEY
  printf '[bus]\nmode = connect\nendpoint = %s\nnode = %s\ncurve = on\n' "$front" "$1"
  printf 'ack_endpoint = tcp://127.0.0.1:%s\n' "$(free_port)"
  printf 'curve_server_cert = %s\ncurve_clients_dir = %s\n' "$work/keys/$2.key_secret" "$work/clients"
  printf 'curve_client_cert = %s\ncurve_server_public = %s\n' "$work/keys/$2.key_secret" "$work/keys/broker.key"
}
node_cfg nodex node-x >"$work/x.ini"
node_cfg nodes sub >"$work/s.ini"

mkdir "$work/tmp"
TMPDIR="$work/tmp" "$CALLWATCH" broker --config "$work/broker.ini" 2>"$work/broker.log" &
broker=$!
pids+=("$broker")
wait_for 20 log_has "$work/broker.log" "subscribers connect to" || { bad "broker did not start"; cat "$work/broker.log"; exit 1; }
# A subscriber, so that nodes have subscriptions to publish for.
printf '[bus]\nendpoint = %s\ncurve = on\ncurve_client_cert = %s\ncurve_server_public = %s\n' \
  "$back" "$work/keys/sub.key_secret" "$work/keys/broker.key" >"$work/sub.ini"
"$CALLWATCH" tap --config "$work/sub.ini" --timeout 120 >"$work/tap.jsonl" 2>"$work/tap.err" &
pids+=($!)
"$CALLWATCH" run --config "$work/x.ini" --no-asr --file "$work/call.wav" 2>"$work/x.log" &
pids+=($!)
"$CALLWATCH" run --config "$work/s.ini" --no-asr --file "$work/call.wav" 2>"$work/s.log" &
pids+=($!)

wait_for 30 log_has "$work/x.log" "refused this node's CURVE key" ||
  bad "node-x was not told its key was refused: $(cat "$work/x.log")"
wait_for 30 log_has "$work/broker.log" "refused a node's CURVE handshake" ||
  bad "the broker did not log the refused handshake: $(cat "$work/broker.log")"
wait_for 30 log_has "$work/s.log" "refused this node's CURVE key" ||
  bad "the node with a subscriber's key was not told it was refused: $(cat "$work/s.log")"
grep "refused\|refusing" "$work/x.log" "$work/s.log" "$work/broker.log" | sed 's/^/ok  /'
# A node's key subscribing at the backend: refused, gets nothing while node-s publishes.
printf '[bus]\nendpoint = %s\ncurve = on\ncurve_client_cert = %s\ncurve_server_public = %s\n' \
  "$back" "$work/keys/node-a.key_secret" "$work/keys/broker.key" >"$work/nodesub.ini"
"$CALLWATCH" tap --config "$work/nodesub.ini" --timeout 3 >"$work/nodetap.jsonl" 2>/dev/null || true
[[ -s "$work/nodetap.jsonl" ]] && bad "a node's key subscribed at the backend and got events"
grep -q '"nodes-' "$work/tap.jsonl" && bad "an event of the node with a subscriber's key reached the subscriber"
grep -q '"nodex-' "$work/tap.jsonl" && bad "an event of the refused node reached the subscriber"

# kill -9 leaves nothing behind; a broker restarted after it starts.
kill -9 "$broker"
wait "$broker" 2>/dev/null || true
left=$(ls -A "$work/tmp")
[[ -z "$left" ]] || bad "left in TMPDIR by a broker killed with kill -9: $left"
TMPDIR="$work/tmp" "$CALLWATCH" broker --config "$work/broker.ini" 2>"$work/broker2.log" &
broker2=$!
pids+=("$broker2")
wait_for 20 log_has "$work/broker2.log" "subscribers connect to" || bad "second broker did not start: $(cat "$work/broker2.log")"
kill -TERM "$broker2"
wait "$broker2" 2>/dev/null || true
left=$(ls -A "$work/tmp")
[[ -z "$left" ]] && echo "ok  nothing left in TMPDIR after kill -9 and a clean stop" || bad "left in TMPDIR: $left"

((fail)) && exit 1
echo "PASS: a refused node key is logged on the node and on the broker"

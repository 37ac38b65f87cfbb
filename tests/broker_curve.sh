#!/usr/bin/env bash
# Behaviour test: a `callwatch broker` with [bus] curve = on, set up the way
# docs/deployment.md tells an operator to. Keys from `callwatch keygen`: the
# broker's, a subscriber's (in [bus] curve_clients_dir), node A's (in
# [broker] curve_nodes_dir) and node X's (listed nowhere). Three `callwatch run`
# nodes with mode = connect replay the same short call: A with curve = on, X
# with curve = on and its unlisted key, P plain. A `callwatch tap` with the
# subscriber key at the backend must get A's whole call (call_start first,
# call_end last) and nothing of X's or P's.
# Refusals, none of which needs models or a peer:
#  - broker with curve = on but no nodes directory: exit 2 naming curve_nodes_dir;
#  - plain broker frontend on 0.0.0.0: refused naming it and allow_plain_remote;
#  - a connect node with curve = on lacking curve_client_cert / curve_server_public,
#    or with an unreadable one: `run --check-config` fails naming the option;
#  - the complete node config passes --check-config, which shows "connect, CURVE".
set -euo pipefail

. "$(dirname "$0")/lib.sh"
need_tools sox python3

cw_tmpdir work cw-bcurve
curve_broker_setup "$work"
# node_cfg NAME KEY CURVE: a connect-mode node; its ack channel is a CURVE
# server with its own key, as on any node with curve = on.
node_cfg() {
  printf '[asr]\nworkers = 1\n[bus]\nmode = connect\nendpoint = %s\nnode = %s\ncurve = %s\n' "$front" "$1" "$3"
  printf 'curve_server_cert = %s\ncurve_clients_dir = %s\n' "$work/keys/$2.key_secret" "$work/clients"
  printf 'curve_client_cert = %s\ncurve_server_public = %s\n' "$work/keys/$2.key_secret" "$work/keys/broker.key"
}
node_cfg nodea node-a on >"$work/a.ini"
node_cfg nodex node-x on >"$work/x.ini"
node_cfg nodep node-x off >"$work/p.ini"

# --- refusals -----------------------------------------------------------
status=0
grep -v curve_nodes_dir "$work/broker.ini" >"$work/nonodes.ini"
timeout 20 "$CALLWATCH" broker --config "$work/nonodes.ini" 2>"$work/err" || status=$?
[ "$status" -eq 2 ] && grep -q "curve_nodes_dir" "$work/err" && grep -q -- "--nodes-dir" "$work/err" ||
  fail "broker without a nodes directory: exit $status, $(cat "$work/err")"

status=0
timeout 20 "$CALLWATCH" broker --frontend "tcp://0.0.0.0:$(free_port)" --backend "tcp://127.0.0.1:$(free_port)" \
  2>"$work/err" || status=$?
[ "$status" -eq 2 ] && grep -q "refusing to bind tcp://0.0.0.0:" "$work/err" && grep -q "allow_plain_remote" "$work/err" ||
  fail "plain non-loopback frontend: exit $status, $(cat "$work/err")"

for option in curve_client_cert curve_server_public; do
  grep -v "^$option" "$work/a.ini" >"$work/missing.ini"
  status=0
  "$CALLWATCH" run --config "$work/missing.ini" --check-config >/dev/null 2>"$work/err" || status=$?
  [ "$status" -ne 0 ] && grep -q "needs $option" "$work/err" ||
    fail "node without $option: exit $status, $(cat "$work/err")"
done
sed "s|^curve_client_cert = .*|curve_client_cert = $work/keys/nobody.key_secret|" "$work/a.ini" >"$work/unreadable.ini"
status=0
"$CALLWATCH" run --config "$work/unreadable.ini" --check-config >/dev/null 2>"$work/err" || status=$?
[ "$status" -ne 0 ] && grep -q "curve_client_cert" "$work/err" && grep -q "nobody.key_secret" "$work/err" ||
  fail "node with a missing key file: exit $status, $(cat "$work/err")"

"$CALLWATCH" run --config "$work/a.ini" --check-config >"$work/check.out" 2>"$work/err" ||
  fail "complete node config rejected: $(cat "$work/err")"
grep -q "bus: $front (connect, CURVE)" "$work/check.out" || fail "--check-config bus line: $(cat "$work/check.out")"

# --- events through the broker -------------------------------------------
"$CALLWATCH" broker --config "$work/broker.ini" 2>"$work/broker.log" &
broker_pid=$!
pids+=("$broker_pid")
wait_for 10 log_has "$work/broker.log" 'subscribers connect to' || fail "broker did not start: $(cat "$work/broker.log")"
grep -q "CURVE on both sides" "$work/broker.log" || fail "broker does not say it uses CURVE: $(cat "$work/broker.log")"

printf '[bus]\nendpoint = %s\ncurve = on\ncurve_client_cert = %s\ncurve_server_public = %s\n' \
  "$back" "$work/keys/sub.key_secret" "$work/keys/broker.key" >"$work/sub.ini"
"$CALLWATCH" tap --config "$work/sub.ini" --timeout 100 >"$work/tap.out" 2>"$work/tap.err" &
tap_pid=$!
pids+=("$tap_pid")
sleep 1

sox "$CALLWATCH_SRC/models/sample-call.flac" "$work/call.wav" trim 11 6
for n in a x p; do
  "$CALLWATCH" run --ack-endpoint 'tcp://127.0.0.1:*' --config "$work/$n.ini" --file "$work/call.wav" \
    2>"$work/node$n.log" &
  pids+=($!)
  eval "node_${n}_pid=$!"
done
for n in a x p; do
  wait_for 100 log_has "$work/node$n.log" 'call node[a-z]-.* ended' || fail "node $n's call did not end: $(cat "$work/node$n.log")"
done
sleep 1
kill -TERM "$tap_pid"
wait "$tap_pid" || true
for n in a x p; do
  eval "pid=\$node_${n}_pid"
  kill -TERM "$pid"
  status=0
  wait "$pid" || status=$?
  [ "$status" -eq 0 ] || fail "node $n exited with $status: $(tail -3 "$work/node$n.log")"
done
kill -TERM "$broker_pid"
wait "$broker_pid" || fail "broker exited with $?"
pids=()

python3 - "$work/tap.out" <<'EOF'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by_node = {}
for e in events:
    by_node.setdefault(e["call_id"].split("-")[0], []).append(e)
a = by_node.get("nodea", [])
print("tap got %d events: %s" % (len(events), {k: len(v) for k, v in by_node.items()}))
fail = []
if not a or a[0]["type"] != "call_start" or a[-1]["type"] != "call_end":
    fail.append("node A's call is not whole: %s" % [e["type"] for e in a][:5])
for other in ("nodex", "nodep"):
    if by_node.get(other):
        fail.append("%d events of %s got through" % (len(by_node[other]), other))
for f in fail:
    print("FAIL:", f)
sys.exit(1 if fail else 0)
EOF
echo "broker_curve: OK"

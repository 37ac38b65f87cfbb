#!/usr/bin/env bash
# Behaviour test: acknowledgements through the broker (docs/deployment.md), with CURVE on.
# A `callwatch broker` with [broker] ack_endpoint and node_ack_endpoint; two `callwatch run`
# nodes (nodea, nodeb) publish into it and link their ack servers to it ([bus]
# broker_ack_endpoint), each replaying a short call with an anger alert. A supervisor's
# `callwatch console --ack` connected to the broker only (its [bus] endpoint and ack_endpoint
# are the broker's) acknowledges the alert of each node:
#  - each ack is answered ok by the owning node and its ack event reaches a subscriber at the
#    broker's backend, with the supervisor's name and note;
#  - an alert id the node never raised is refused with the node's reason ("unknown alert");
#  - a call no connected node owns is refused by the broker ("no node for call");
#  - a client key not in the clients directory, and a node's key used as a console, are
#    refused at the handshake: no answer, exit 1, and no ack event;
#  - `callwatch web` configured like the console shows the broker as its daemon (pings answered
#    by the broker) and its supervisor's acknowledgement on the page goes through the broker too;
#  - a node that stopped is noticed by the broker, which then refuses its calls' acks with a reason;
#  - the broker's closing log counts what it forwarded and refused.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
need_tools sox python3 curl
need_callwatch
cw_tmpdir work cw-backs
started=$SECONDS

curve_broker_setup "$work" # keys broker, sub (clients), node-a (nodes), node-x (nowhere)
"$cw" keygen --dir "$work/keys" node-b >/dev/null
cp "$work/keys/node-b.key" "$work/nodes/"
"$cw" keygen --dir "$work/keys" eve >/dev/null # a console key listed nowhere
ack="tcp://127.0.0.1:$(free_port)"
node_ack="tcp://127.0.0.1:$(free_port)"
printf 'ack_endpoint = %s\nnode_ack_endpoint = %s\n' "$ack" "$node_ack" >>"$work/broker.ini"

node_cfg() { # NAME KEY
  printf '[asr]\nworkers = 1\n[bus]\nmode = connect\nendpoint = %s\nnode = %s\ncurve = on\n' "$front" "$1"
  printf 'ack_endpoint = tcp://127.0.0.1:%s\nbroker_ack_endpoint = %s\n' "$(free_port)" "$node_ack"
  printf 'curve_server_cert = %s\ncurve_clients_dir = %s\n' "$work/keys/$2.key_secret" "$work/clients"
  printf 'curve_client_cert = %s\ncurve_server_public = %s\n' "$work/keys/$2.key_secret" "$work/keys/broker.key"
}
node_cfg nodea node-a >"$work/a.ini"
node_cfg nodeb node-b >"$work/b.ini"
client_cfg() { # KEY: a console or tap connected to the broker only
  printf '[bus]\nendpoint = %s\nack_endpoint = %s\ncurve = on\n' "$back" "$ack"
  printf 'curve_client_cert = %s\ncurve_server_public = %s\n' "$work/keys/$1.key_secret" "$work/keys/broker.key"
}
client_cfg sub >"$work/sup.ini"
client_cfg eve >"$work/eve.ini"
client_cfg node-a >"$work/nodekey.ini"

"$cw" run --config "$work/a.ini" --check-config >"$work/check.out" 2>"$work/check.err" ||
  fail "node config rejected: $(cat "$work/check.err")"
grep -q "acks: .*, and through the broker at $node_ack as node nodea" "$work/check.out" ||
  fail "--check-config does not show the broker link: $(cat "$work/check.out")"

"$cw" broker --config "$work/broker.ini" 2>"$work/broker.log" &
broker_pid=$!
pids+=("$broker_pid")
wait_for 10 log_has "$work/broker.log" 'acknowledgements from consoles at' ||
  fail "broker did not start its ack endpoints: $(cat "$work/broker.log")"
"$cw" tap --config "$work/sup.ini" --topics --timeout 60 >"$work/tap.out" 2>"$work/tap.err" &
tap_pid=$!
pids+=("$tap_pid")
sleep 1

sox "$src/models/sample-call.flac" "$work/call.wav" trim 11 6
for n in a b; do
  "$cw" run --config "$work/$n.ini" --file "$work/call.wav" 2>"$work/node$n.log" &
  pids+=($!)
  eval "node_${n}_pid=$!"
done
for n in a b; do
  wait_for 60 log_has "$work/node$n.log" 'call node[ab]-.* ended' || fail "node $n's call did not end: $(cat "$work/node$n.log")"
done
# Both nodes said hello to the broker by now (every second from their start).
for n in a b; do
  wait_for 5 log_has "$work/broker.log" "node node$n connected for acknowledgements" ||
    fail "node $n did not link to the broker: $(cat "$work/broker.log")"
done

# An alert of each node, as the console saw it on the bus.
alert_of() { # NODE -> "CALL_ID ALERT_ID"
  python3 - "$work/tap.out" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line.split("\t", 1)[1])
    if e["type"] == "alert" and e["call_id"].startswith(sys.argv[2] + "-"):
        print(e["call_id"], e["id"]); break
PY
}
failures=0

for n in a b; do
  read -r call alert < <(alert_of node$n) || true
  [ -n "${alert:-}" ] || fail "no alert of node$n on the bus: $(cut -c1-200 "$work/tap.out" | head -5)"
  eval "call_$n=$call alert_$n=$alert"
  expect 0 "acknowledged $alert of call $call as sup1" "ack-$n" \
    "$cw" console --config "$work/sup.ini" --user sup1 --ack "$alert" --call "$call" --note "rang back $n"
  grep -q '"ok":true' "$work/ack-$n.out" || bad "ack of node$n's alert: stdout $(cat "$work/ack-$n.out")"
done
expect 1 'not acknowledged: unknown alert "nodea-nosuch-a9"' unknown \
  "$cw" console --config "$work/sup.ini" --ack nodea-nosuch-a9 --call "$call_a"
grep -q '"ok":false' "$work/unknown.out" || bad "unknown alert: stdout $(cat "$work/unknown.out")"
expect 1 'no node for call "nodez-desk1-1"' nonode \
  "$cw" console --config "$work/sup.ini" --ack nodez-desk1-1-a1 --call nodez-desk1-1
expect 1 "not acknowledged: .*not reachable" eve \
  "$cw" console --config "$work/eve.ini" --user eve --ack "$alert_a" --call "$call_a" --timeout 1
expect 1 "not acknowledged: .*not reachable" nodekey \
  "$cw" console --config "$work/nodekey.ini" --user rogue --ack "$alert_b" --call "$call_b" --timeout 1

# The web pages, set up like the console: acknowledging on the page goes through the broker.
echo "pw-1" | "$cw" user add --users "$work/users" sarah --role supervisor >/dev/null 2>&1
web_port=$(free_port)
"$cw" web --config "$work/sup.ini" --users "$work/users" --listen "127.0.0.1:$web_port" 2>"$work/web.log" &
pids+=($!)
wait_for 10 log_has "$work/web.log" "web: daemon connected" ||
  bad "web did not see the broker answer its pings: $(cat "$work/web.log")"
python3 - "$web_port" "$call_a" "$alert_a" >"$work/webacks.out" 2>&1 <<'PY' || bad "web acks: $(cat "$work/webacks.out")"
import http.client, json, sys
port, call, alert = sys.argv[1], sys.argv[2], sys.argv[3]
def req(method, path, body=None, headers={}):
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = c.getresponse()
    return r, r.read().decode()
r, _ = req("POST", "/login", {"name": "sarah", "password": "pw-1"}, {"Content-Type": "application/json"})
cookie = r.getheader("Set-Cookie").split(";")[0]
_, me = req("GET", "/api/me", headers={"Cookie": cookie})
h = {"Cookie": cookie, "X-CSRF-Token": json.loads(me)["csrf"], "Content-Type": "application/json"}
r, text = req("POST", "/api/ack", {"call_id": call, "alert_ids": [alert], "note": "seen on the wallboard"}, h)
print("web ack:", r.status, text)
assert r.status == 200 and '"ok": true' in text.replace('":true', '": true'), text
r, text = req("POST", "/api/ack", {"call_id": call, "alert_ids": [call + "-a99"]}, h)
print("web ack of an unknown alert:", r.status, text)
assert r.status == 400 and "unknown alert" in text, text
PY
sed 's/^/ok  /' "$work/webacks.out"

# The acks reach the bus through the broker; nothing of eve's or the node key's.
acked() { [ "$(grep -c $'^ack\\.node[ab]-.*"by":"sup1"' "$work/tap.out")" -ge 2 ] && grep -q '"by":"sarah"' "$work/tap.out"; }
wait_for 10 acked || bad "ack events on the bus: $(grep '^ack\.' "$work/tap.out" || echo none)"
for n in a b; do
  eval "call=\$call_$n alert=\$alert_$n"
  grep -q "^ack\\.$call	.*\"alert_id\":\"$alert\".*\"by\":\"sup1\".*\"note\":\"rang back $n\"" "$work/tap.out" ||
    bad "no ack event of $alert (node$n) with its note: $(grep '^ack\.' "$work/tap.out" || echo none)"
done
grep -q '"by":"eve"\|"by":"rogue"' "$work/tap.out" && bad "an ack of a refused key reached the bus"

# Nodes and broker stop cleanly (under the sanitizers: no leak, no error).
for n in a b; do
  eval "pid=\$node_${n}_pid"
  kill -TERM "$pid"
  status=0
  wait "$pid" || status=$?
  [ "$status" -eq 0 ] || bad "node $n exited with $status: $(tail -3 "$work/node$n.log")"
done
# A node gone: the broker says so and refuses its calls' acks with a reason.
wait_for 6 log_has "$work/broker.log" "node nodea has not said hello" ||
  bad "the broker did not notice node a had gone: $(tail -3 "$work/broker.log")"
expect 1 "no node for call \"$call_a\"" gone \
  "$cw" console --config "$work/sup.ini" --ack "$alert_a" --call "$call_a"
kill -TERM "$broker_pid"
status=0
wait "$broker_pid" || status=$?
[ "$status" -eq 0 ] || bad "broker exited with $status: $(tail -3 "$work/broker.log")"
grep -Eq "acknowledgement requests: 5 forwarded to nodes, 5 answered by them, 2 refused by the broker, [1-9]" \
  "$work/broker.log" || bad "broker's closing counts: $(grep acknowledgement "$work/broker.log")"
echo "broker_acks: $((SECONDS - started)) s"
((failures == 0)) || exit 1
echo PASS

#!/usr/bin/env bash
# Scale-out end to end, the way an operator deploys it: one `callwatch broker`,
# three `callwatch run` nodes publishing into it ([bus] mode = connect), each
# replaying a short call with alerts, and a `callwatch tap` on the broker's
# backend standing in for a console or an archive.
#
# What each node published is known from the node itself: its
# callwatch_events_published_total{type} on /metrics counts the events its bus
# socket took (and callwatch_bus_dropped_total must be 0). The test checks
#  - the tap got, per node, exactly that many events of each type, none twice;
#  - each node's call ids start with its node name and are unique across nodes,
#    call_start comes first and call_end last;
#  - the node's final transcripts and word-cue alert kinds are those
#    `callwatch analyze` finds in the same audio (the events are the call's, not another node's);
#  - the broker's own count of events in equals the sum the nodes published;
#  - a second broker on the same port fails with exit 1 naming the endpoint,
#    a malformed endpoint with exit 2 naming it.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
for tool in sox curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool missing: skipping"; exit 77; }
done

cw_tmpdir work cw-broker3
http_get() { curl --noproxy '*' -s -m 5 "$@"; }

# 12 s of the sample call in which the customer gets angry and despairs.
sox "$CALLWATCH_SRC/models/sample-call.flac" "$work/call.wav" trim 11 12
"$CALLWATCH" analyze "$work/call.wav" >"$work/analyze.jsonl" 2>/dev/null

start_broker "$work/broker.log"
echo "broker: frontend $frontend, backend $backend"

# Another broker on a taken port: a clear message, exit 1, at once.
status=0
timeout 20 "$CALLWATCH" broker --frontend "$frontend" --backend 'tcp://127.0.0.1:*' 2>"$work/second.log" || status=$?
[ "$status" -eq 1 ] || fail "second broker on $frontend: exit $status, want 1"
grep -q "cannot bind broker frontend $frontend: Address already in use" "$work/second.log" ||
  fail "second broker message: $(cat "$work/second.log")"

status=0
timeout 20 "$CALLWATCH" broker --frontend carrier-pigeon://roof 2>"$work/bad.log" || status=$?
[ "$status" -eq 2 ] && grep -q "carrier-pigeon://roof" "$work/bad.log" || fail "bad endpoint: exit $status, $(cat "$work/bad.log")"

"$CALLWATCH" tap --endpoint "$backend" --topics --timeout 110 >"$work/tap.out" 2>"$work/tap.err" &
tap_pid=$!
pids+=("$tap_pid")
# The tap's subscription has to reach the broker before the nodes publish;
# nodes connecting later get it from the broker when they connect.
sleep 1

for n in 1 2 3; do
  cat >"$work/node$n.ini" <<INI
[asr]
workers = 1
[bus]
mode = connect
endpoint = $frontend
node = node$n
[metrics]
listen = 127.0.0.1:0
INI
  "$CALLWATCH" run --ack-endpoint 'tcp://127.0.0.1:*' --config "$work/node$n.ini" --file "$work/call.wav" 2>"$work/node$n.log" &
  pids+=($!)
  eval "node${n}_pid=$!"
done

for n in 1 2 3; do
  wait_for 100 log_has "$work/node$n.log" 'call node[0-9]-.* ended' || fail "node$n's call did not end: $(cat "$work/node$n.log")"
done

# What each node says it published.
for n in 1 2 3; do
  port=$(sed -n 's#.*metrics on http://127.0.0.1:\([0-9]*\)/metrics.*#\1#p' "$work/node$n.log")
  [ -n "$port" ] || fail "node$n logged no metrics port"
  http_get "http://127.0.0.1:$port/metrics" >"$work/node$n.metrics" || fail "node$n /metrics unreachable"
done

# Let the last events cross the broker, then stop everything in order.
sleep 1
kill -TERM "$tap_pid"
wait "$tap_pid" || true
for n in 1 2 3; do
  eval "pid=\$node${n}_pid"
  kill -TERM "$pid"
  status=0
  wait "$pid" || status=$?
  [ "$status" -eq 0 ] || fail "node$n exited with $status: $(tail -3 "$work/node$n.log")"
done
kill -TERM "$broker_pid"
status=0
wait "$broker_pid" || status=$?
[ "$status" -eq 0 ] || fail "broker exited with $status"
pids=()
cat "$work/broker.log"

python3 - "$work" <<'EOF'
import collections, json, re, sys
work = sys.argv[1]
fail = []

def published(path):
    counts, dropped = {}, None
    for line in open(path):
        m = re.match(r'callwatch_events_published_total\{type="([^"]+)"\} (\S+)$', line)
        if m:
            counts[m.group(1)] = int(float(m.group(2)))
        m = re.match(r'callwatch_bus_dropped_total (\S+)$', line)
        if m:
            dropped = float(m.group(1))
    return {k: v for k, v in counts.items() if v}, dropped

lines = [l.rstrip("\n") for l in open(work + "/tap.out")]
dups = [l for l, c in collections.Counter(lines).items() if c > 1]
if dups:
    fail.append("%d messages arrived more than once, e.g. %s" % (len(dups), dups[0][:120]))
events = []
for l in lines:
    topic, js = l.split("\t", 1)
    e = json.loads(js)
    # whisper.<agent_id> is addressed to the agent; every other topic ends with the call.
    expected_end = e.get("agent_id", "") if e.get("type") == "whisper" else e["call_id"]
    if not expected_end or not topic.endswith(expected_end):
        fail.append("topic %s does not end with %s" % (topic, expected_end or "anything (empty id)"))
    events.append(e)

offline = [json.loads(l) for l in open(work + "/analyze.jsonl")]
def finals(evs, leg):
    return [e["text"] for e in evs if e["type"] == "transcript" and e["final"] and e["leg"] == leg]
# Word-cue alerts follow from the final transcripts; turn-taking ones
# (talk_over, dead_air) depend on live timing and are not compared.
def kinds(evs):
    return sorted({e["kind"] for e in evs if e["type"] == "alert" and e["kind"] in ("anger", "despair", "escalation")})

ids_by_node, total_published = {}, 0
for n in (1, 2, 3):
    node = "node%d" % n
    want, dropped = published("%s/%s.metrics" % (work, node))
    total_published += sum(want.values())
    if dropped != 0:
        fail.append("%s: callwatch_bus_dropped_total %s" % (node, dropped))
    mine = [e for e in events if e["call_id"].startswith(node + "-")]
    got = dict(collections.Counter(e["type"] for e in mine))
    print("%s published %s; tap received %s" % (node, want, got))
    if got != want:
        fail.append("%s: published %s but the subscriber got %s" % (node, want, got))
    ids = sorted({e["call_id"] for e in mine})
    ids_by_node[node] = ids
    if len(ids) != 1:
        fail.append("%s: expected one call, got ids %s" % (node, ids))
    if not mine or mine[0]["type"] != "call_start" or mine[-1]["type"] != "call_end":
        fail.append("%s: events must open with call_start and close with call_end" % node)
    for leg in ("agent", "customer"):
        if finals(mine, leg) != finals(offline, leg):
            fail.append("%s %s finals %s differ from analyze's %s" % (node, leg, finals(mine, leg), finals(offline, leg)))
    if kinds(mine) != kinds(offline) or not kinds(mine):
        fail.append("%s alert kinds %s, analyze finds %s" % (node, kinds(mine), kinds(offline)))
all_ids = sum(ids_by_node.values(), [])
if len(set(all_ids)) != len(all_ids):
    fail.append("call ids repeat across nodes: %s" % all_ids)
foreign = [e for e in events if not re.match(r"node[123]-", e["call_id"])]
if foreign:
    fail.append("%d events from no known node" % len(foreign))

m = re.search(r"broker stopping: (\d+) events", open(work + "/broker.log").read())
if not m or int(m.group(1)) != total_published:
    fail.append("broker counted %s events in, the nodes published %d" % (m and m.group(1), total_published))
print("%d events from 3 nodes, each exactly once" % len(events))
for f in fail:
    print("FAIL:", f)
sys.exit(1 if fail else 0)
EOF

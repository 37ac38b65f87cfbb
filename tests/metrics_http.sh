#!/usr/bin/env bash
# Health and metrics as an operator and Prometheus see them, on a running
# `callwatch run` replaying a 12 s call with alerts:
#  - /health answers 200 {"status":"ok",...} once the pipeline is live, with
#    the node name, calls_active and uptime; 503 with a reason before that
#    (checked when the first poll is early enough to see it);
#  - /metrics is valid Prometheus text (every sample after its family's HELP
#    and TYPE, histogram buckets cumulative and ending at +Inf = _count) and
#    its values move with the call: a call active while it runs, none after;
#    transcripts and alerts counted; one latency observation per alert;
#    events_published_total agrees with what a tap on the bus received;
#  - unknown paths get 404, POST gets 405 with Allow, HEAD works;
#  - a second daemon on the same metrics port exits 1 naming it, and a
#    malformed listen value is a configuration error naming file:line.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
for tool in sox curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool missing: skipping"; exit 77; }
done

cw_tmpdir work cw-metrics-http

http() { curl --noproxy '*' -s -m 5 "$@"; }
# metric FILE SAMPLE: the value of one sample line ("" if absent).
metric() { awk -v s="$2" '$1 == s { print $2 }' "$1"; }

sox "$CALLWATCH_SRC/models/sample-call.flac" "$work/call.wav" trim 11 12
port=$(free_port)
bus="tcp://127.0.0.1:$port"
cat >"$work/run.ini" <<INI
[asr]
workers = 1
[bus]
endpoint = $bus
node = metricsnode
[metrics]
listen = 127.0.0.1:0
INI

"$CALLWATCH" run --ack-endpoint 'tcp://127.0.0.1:*' --config "$work/run.ini" --file "$work/call.wav" 2>"$work/run.log" &
run_pid=$!
pids+=("$run_pid")
wait_for 20 log_has "$work/run.log" 'health check on http://' || fail "no metrics address logged: $(cat "$work/run.log")"
base=$(sed -n 's#.*health check on \(http://127.0.0.1:[0-9]*\)/health.*#\1#p' "$work/run.log")
"$CALLWATCH" tap --endpoint "$bus" --topics --timeout 100 >"$work/tap.out" 2>/dev/null &
tap_pid=$!
pids+=("$tap_pid")

# Until live: 503 with a reason, then 200.
seen_503=""
deadline=$((SECONDS + 60))
while :; do
  code=$(http -o "$work/health.json" -w '%{http_code}' "$base/health" || true)
  if [ "$code" = 503 ]; then
    grep -q '"status":"unavailable","reason":"starting' "$work/health.json" || fail "503 body: $(cat "$work/health.json")"
    seen_503=yes
  elif [ "$code" = 200 ]; then
    break
  else
    fail "/health answered '$code'"
  fi
  [ "$SECONDS" -lt "$deadline" ] || fail "/health never became 200"
  sleep 0.05
done
echo "health: ${seen_503:+503 while starting, then }200 $(cat "$work/health.json")"
python3 - "$work/health.json" <<'EOF'
import json, sys
h = json.load(open(sys.argv[1]))
assert h["status"] == "ok" and h["node"] == "metricsnode", h
assert h["calls_active"] == 1 and h["decoders"] == 1 and h["uptime_s"] > 0, h
EOF

http "$base/metrics" >"$work/during.prom"
[ "$(metric "$work/during.prom" callwatch_calls_active)" = 1 ] || fail "calls_active during the call: $(grep calls_active "$work/during.prom")"
[ "$(metric "$work/during.prom" 'callwatch_events_published_total{type="call_start"}')" = 1 ] || fail "call_start not counted"

wait_for 90 log_has "$work/run.log" 'call metricsnode-file1-.* ended' || fail "the call did not end: $(cat "$work/run.log")"
sleep 0.5
http "$base/metrics" >"$work/after.prom"
http -D "$work/after.headers" -o /dev/null "$base/metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$work/after.headers" || fail "content type: $(cat "$work/after.headers")"

# Wrong paths and methods.
[ "$(http -o /dev/null -w '%{http_code}' "$base/nope")" = 404 ] || fail "unknown path is not 404"
[ "$(http -o /dev/null -w '%{http_code}' "$base/")" = 404 ] || fail "/ is not 404"
[ "$(http -o /dev/null -D "$work/post.headers" -w '%{http_code}' -X POST -d x=1 "$base/metrics")" = 405 ] || fail "POST is not 405"
grep -qi '^allow: GET, HEAD' "$work/post.headers" || fail "405 without Allow"
[ "$(http -o /dev/null -w '%{http_code}' -I "$base/health")" = 200 ] || fail "HEAD /health is not 200"

# A second daemon on the taken metrics port stops at once, naming it.
mport=${base##*:}
sed "s/^listen = .*/listen = 127.0.0.1:$mport/" "$work/run.ini" >"$work/second.ini"
status=0
timeout 30 "$CALLWATCH" run --ack-endpoint 'tcp://127.0.0.1:*' --config "$work/second.ini" --endpoint 'tcp://127.0.0.1:*' --file "$work/call.wav" \
  2>"$work/second.log" || status=$?
[ "$status" -eq 1 ] || fail "second daemon on metrics port $mport: exit $status, want 1"
grep -q "cannot listen on 127.0.0.1:$mport: Address already in use" "$work/second.log" || fail "second daemon: $(cat "$work/second.log")"

printf '[metrics]\nlisten = localhost\n' >"$work/bad.ini"
status=0
timeout 30 "$CALLWATCH" run --config "$work/bad.ini" --check-config 2>"$work/bad.log" || status=$?
[ "$status" -eq 2 ] && grep -q 'bad.ini:2' "$work/bad.log" && grep -q 'listen' "$work/bad.log" ||
  fail "bad listen value: exit $status, $(cat "$work/bad.log")"

kill -TERM "$tap_pid"
wait "$tap_pid" || true
kill -TERM "$run_pid"
status=0
wait "$run_pid" || status=$?
pids=()
[ "$status" -eq 0 ] || fail "daemon exited with $status"

python3 - "$work" <<'EOF'
import collections, json, re, sys
work = sys.argv[1]
fail = []
SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? (\S+)$')

def parse(path):
    """Checks the text format; returns {sample with labels: value}."""
    helped, typed, samples, current = set(), {}, {}, None
    for n, line in enumerate(open(path), 1):
        line = line.rstrip("\n")
        m = re.match(r"# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$", line)
        if m:
            if m.group(1) == "HELP":
                helped.add(m.group(2))
            else:
                typed[m.group(2)] = m.group(3)
            current = m.group(2)
            continue
        m = SAMPLE.match(line)
        if not m:
            fail.append("%s:%d: not a sample line: %r" % (path, n, line))
            continue
        name = m.group(1)
        family = re.sub(r"_(bucket|sum|count)$", "", name) if typed.get(current) == "histogram" else name
        if family != current or current not in helped or current not in typed:
            fail.append("%s:%d: %s is not under its own HELP and TYPE" % (path, n, name))
        samples[name + (m.group(2) or "")] = float(m.group(3))
    return samples

parse(work + "/during.prom")
after = parse(work + "/after.prom")
v = lambda k: after.get(k, -1)
if v("callwatch_calls_active") != 0:
    fail.append("calls_active after the call: %s" % v("callwatch_calls_active"))
prefix = 'callwatch_events_published_total{type="'
pub = {k[len(prefix):-2]: int(x) for k, x in after.items() if k.startswith(prefix) and x}
tap = dict(collections.Counter(json.loads(l.split("\t", 1)[1])["type"] for l in open(work + "/tap.out")))
print("published per /metrics:", pub, " received by tap:", tap)
if pub != tap:
    fail.append("events_published_total %s, tap received %s" % (pub, tap))
if pub.get("transcript", 0) < 5 or pub.get("alert", 0) < 1 or pub.get("call_end") != 1:
    fail.append("expected transcripts, alerts and one call_end: %s" % pub)
if v('callwatch_frames_dropped_total{leg="agent"}') != 0 or v("callwatch_legs_degraded") != 0:
    fail.append("audio lost? %s" % {k: x for k, x in after.items() if "dropped" in k or "degraded" in k})

count = v("callwatch_alert_latency_seconds_count")
if count != pub.get("alert", 0):
    fail.append("latency observations %s for %s alerts" % (count, pub.get("alert")))
buckets = [(k, x) for k, x in after.items() if k.startswith("callwatch_alert_latency_seconds_bucket")]
values = [x for _, x in buckets]
if not buckets or values != sorted(values) or not buckets[-1][0].endswith('le="+Inf"}') or values[-1] != count:
    fail.append("histogram buckets not cumulative up to +Inf = count: %s" % buckets)
if count > 0:
    mean = v("callwatch_alert_latency_seconds_sum") / count
    print("alert latency: %d alerts, mean %.3f s; cumulative buckets %s" % (count, mean,
          ", ".join("%s:%d" % (re.search(r'le="([^"]+)"', k).group(1), x) for k, x in buckets)))
    # Word cues fire on the final transcript, so an alert can follow its
    # evidence by the rest of the utterance (here up to ~6 s); beyond 30 s,
    # or nothing at all, the measurement itself would be wrong.
    if not 0 < mean or after.get('callwatch_alert_latency_seconds_bucket{le="30"}') != count:
        fail.append("alert latency out of range: mean %.3f s, %s" % (mean, buckets))
if v("callwatch_decoders") != 1 or v("process_resident_memory_bytes") <= 0 or v("process_start_time_seconds") <= 0:
    fail.append("process figures: %s" % {k: x for k, x in after.items() if k.startswith(("process", "callwatch_decoders"))})
for f in fail:
    print("FAIL:", f)
sys.exit(1 if fail else 0)
EOF

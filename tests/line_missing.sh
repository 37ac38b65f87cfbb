#!/usr/bin/env bash
# Behaviour test: a daemon with two lines, one of which has no device.
#   desk1  a virtual ALSA capture device (tools/alsa-virtual-device.sh) playing a short call
#   desk2  device = NoSuchCard
#  1. `run --check-config` opens both: desk1 OK, desk2 FAILED naming NoSuchCard, exit 1.
#  2. `run` starts anyway: the log says desk2 is down and retried, a `status` event
#     (change line_down) names desk2 on the bus, /health answers 200 "degraded" with desk2 in
#     lines_down, callwatch_lines_down is 1; desk1's call gets transcripts and its alert.
#  3. SIGTERM: exit 0.
# Exit 77 (skip) when flite, sox, curl or python3 is missing.
set -euo pipefail

src="${CALLWATCH_SRC:-$(cd "$(dirname "$0")/.." && pwd)}"
cw="${CALLWATCH:-$src/build/callwatch}"
for prog in flite sox curl python3; do
  command -v "$prog" >/dev/null 2>&1 || { echo "SKIP: $prog is not installed"; exit 77; }
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/cw-linemissing.XXXXXX")"
pids=()
daemon=""
CALLWATCH_VIRTUAL_FEEDER_PID=""
cleanup() {
  [[ -n "$CALLWATCH_VIRTUAL_FEEDER_PID" ]] && kill "$CALLWATCH_VIRTUAL_FEEDER_PID" 2>/dev/null || true
  for p in "${pids[@]}"; do [[ -n "$p" ]] && kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do [[ -n "$p" ]] && wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { # seconds command...
  local until=$((SECONDS + $1)); shift
  while ((SECONDS < until)); do
    "$@" && return 0
    kill -0 "$daemon" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

# desk1's call: a greeting per leg, then one sentence each (the customer's threatens to leave).
flite -voice slt -t "hello" -o "$tmp/a1.wav"; flite -voice slt -t "thank you for waiting" -o "$tmp/a2.wav"
flite -voice rms -t "hello there" -o "$tmp/c1.wav"; flite -voice rms -t "cancel my account" -o "$tmp/c2.wav"
sox "$tmp/a1.wav" -r 16000 "$tmp/a1p.wav" pad 0.2 0.8; sox "$tmp/a2.wav" -r 16000 "$tmp/a2p.wav"
sox "$tmp/c1.wav" -r 16000 "$tmp/c1p.wav" pad 0.3 0.8; sox "$tmp/c2.wav" -r 16000 "$tmp/c2p.wav"
sox "$tmp/a1p.wav" "$tmp/a2p.wav" "$tmp/agent.wav"; sox "$tmp/c1p.wav" "$tmp/c2p.wav" "$tmp/customer.wav"
sox -M "$tmp/agent.wav" "$tmp/customer.wav" -c 2 "$tmp/device.wav" pad 0 0.5
start_device() { # a fresh FIFO and feeder (opening the device reads it)
  [[ -n "$CALLWATCH_VIRTUAL_FEEDER_PID" ]] && kill "$CALLWATCH_VIRTUAL_FEEDER_PID" 2>/dev/null || true
  CALLWATCH_VIRTUAL_HOLD_S=120 "$src/tools/alsa-virtual-device.sh" "$tmp/device.wav" "$tmp/alsa" 16000 2 >"$tmp/device.env"
  # shellcheck disable=SC1091
  . "$tmp/device.env"
  export ALSA_CONFIG_PATH
}
start_device

endpoint="tcp://127.0.0.1:$(free_port)"
port=$(free_port)
cat >"$tmp/lines.ini" <<EOF
[bus]
endpoint = $endpoint
ack_endpoint = tcp://127.0.0.1:$(free_port)
[metrics]
listen = 127.0.0.1:$port
[capture]
ring_s = 20
retry_s = 1
[line desk1]
device = $CALLWATCH_VIRTUAL_DEVICE
sample_rate = 16000
agent_id = alice
[line desk2]
device = NoSuchCard
agent_id = bob
EOF

# 1. --check-config names the missing device, and only it.
rc=0
"$cw" run --config "$tmp/lines.ini" --check-config >"$tmp/check.out" 2>"$tmp/check.err" || rc=$?
[[ $rc -eq 1 ]] || bad "--check-config exited $rc with a missing device, want 1"
grep -q "open \[line desk2\] device 'NoSuchCard': FAILED: .*NoSuchCard" "$tmp/check.out" ||
  bad "--check-config does not name desk2's missing device: $(cat "$tmp/check.out")"
grep -q "open \[line desk1\] device '$CALLWATCH_VIRTUAL_DEVICE': OK" "$tmp/check.out" ||
  bad "--check-config does not say desk1's device opened: $(cat "$tmp/check.out")"
grep -q "NoSuchCard" "$tmp/check.err" || bad "--check-config's stderr does not name NoSuchCard"
grep -q "config OK" "$tmp/check.out" && bad "--check-config still says config OK"
grep "desk2" "$tmp/check.out" | tail -1 | sed 's/^/ok  /'

# 2. The daemon runs desk1 and reports desk2.
start_device
"$cw" tap --endpoint "$endpoint" --timeout 300 >"$tmp/events.jsonl" 2>"$tmp/tap.err" &
pids+=($!)
sleep 0.5
"$cw" run --config "$tmp/lines.ini" 2>"$tmp/daemon.log" &
daemon=$!
pids+=("$daemon")
wait_for 90 grep -q "line(s) up" "$tmp/daemon.log" || { bad "daemon did not start"; cat "$tmp/daemon.log"; exit 1; }
grep -q "line desk2: .*NoSuchCard.*retried every 1.0 s" "$tmp/daemon.log" ||
  bad "log does not say desk2 is down and retried: $(grep desk2 "$tmp/daemon.log")"
health=$(curl --noproxy '*' -s -m 5 -w ' %{http_code}' "http://127.0.0.1:$port/health")
echo "ok  /health: $health"
python3 - "$health" <<'PY' || bad "/health does not report desk2 down: $health"
import json, sys
body, code = sys.argv[1].rsplit(" ", 1)
h = json.loads(body)
assert code == "200" and h["status"] == "degraded", (code, h["status"])
assert [d["line"] for d in h["lines_down"]] == ["desk2"] and "NoSuchCard" in h["lines_down"][0]["reason"]
PY
curl --noproxy '*' -s -m 5 "http://127.0.0.1:$port/metrics" | grep -qx "callwatch_lines_down 1" ||
  bad "callwatch_lines_down is not 1"
got_alert() { grep '"alert"' "$tmp/events.jsonl" | grep -q desk1; }
wait_for 120 got_alert || bad "desk1's call gave no alert while desk2 was missing"
kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
pids=("${pids[@]/$daemon/}")
[[ $rc -eq 0 ]] || bad "daemon exited $rc on SIGTERM"
sleep 0.3

python3 - "$tmp/events.jsonl" <<'PY' || fail=1
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip().endswith("}")]
fails = []
def check(ok, msg):
    print(("ok  " if ok else "FAIL: ") + msg)
    if not ok:
        fails.append(msg)
down = [e for e in ev if e["type"] == "status" and e.get("change") == "line_down"]
check(any(l.get("line") == "desk2" and l.get("device") == "NoSuchCard" for e in down for l in e["legs"]),
      "status event line_down for desk2: %s" % [e["reason"] for e in down])
desk1 = [e["call_id"] for e in ev if e["type"] == "call_start" and e.get("line") == "desk1"]
tr = [e for e in ev if desk1 and e.get("call_id") == desk1[0] and e["type"] == "transcript" and e["final"]]
al = [e["kind"] for e in ev if desk1 and e.get("call_id") == desk1[0] and e["type"] == "alert"]
check(len(tr) >= 2, "desk1's call has %d final transcripts: %s" % (len(tr), [e["text"] for e in tr]))
check(bool(al), "desk1's call has alerts: %s" % al)
check(not any(e["type"] == "call_start" and e.get("line") == "desk2" for e in ev), "desk2 never started a call")
sys.exit(1 if fails else 0)
PY

if [[ $fail -ne 0 ]]; then
  echo "--- daemon log"; cat "$tmp/daemon.log"
  exit 1
fi
echo "PASS"

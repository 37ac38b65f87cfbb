#!/usr/bin/env bash
# Behaviour test: no alert that reached the bus is lost from the archive when the daemon is
# killed with SIGKILL in the middle of heavy traffic, and the archive opens cleanly afterwards.
#
# `callwatch run` replays models/sample-call.flac on three lines at once (live pacing, alert
# cooldown 0 and a low info threshold so alerts keep coming, partial transcripts every 250 ms),
# archiving into a fresh file. `callwatch tap` records every alert it receives on the bus. As
# soon as the tap has seen ALERTS_BEFORE_KILL alerts the daemon gets `kill -9` while calls are
# still running (the kill comes from the subscriber the moment the alert arrives). Then: PRAGMA integrity_check is ok, `callwatch qa` opens and searches the
# file, the file is mode 0600, some calls have no call_end (killed mid-call), and every alert
# id seen on the bus is in the archive.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
ALERTS_BEFORE_KILL="${ALERTS_BEFORE_KILL:-5}"
LINES=3
TIMEOUT_S=110  # a cap for a loaded machine; it usually kills within 25-45 s

for prog in sqlite3 python3; do
  if ! command -v "$prog" >/dev/null 2>&1; then
    echo "SKIP: $prog is not installed"
    exit 77
  fi
done
[[ -x "$cw" ]] || { echo "FAIL: callwatch binary not found: $cw"; exit 1; }

cw_tmpdir tmp cw-kill9
CW_KEEP_TMP="${KILL9_KEEP:-}"
daemon=""
tap=""
# The daemon dies by SIGKILL, as in the crash the test is about.
on_exit() {
  [[ -n "$daemon" ]] && kill -9 "$daemon" 2>/dev/null || true
  [[ -n "$tap" ]] && kill "$tap" 2>/dev/null || true
  wait 2>/dev/null || true
}

port="$(free_port)"
endpoint="tcp://127.0.0.1:$port"
db="$tmp/archive.db"
cat >"$tmp/site.ini" <<EOF
[asr]
partial_interval_ms = 250
[alerts]
info_score = 0.2
cooldown_s = 0
[bus]
endpoint = $endpoint
[archive]
path = $db
# Long enough that the bounded wait never lets an event through before its commit here.
commit_timeout_ms = 20000
EOF

files=()
for i in $(seq 1 $LINES); do
  files+=(--file "$src/models/sample-call.flac")
done

"$cw" run --ack-endpoint 'tcp://127.0.0.1:*' --config "$tmp/site.ini" "${files[@]}" >"$tmp/run.out" 2>"$tmp/run.err" &
daemon=$!

# The subscriber records every alert and kills the daemon the moment the Nth arrives, so the kill
# lands right after a publish: were alerts published before their commit, the last ones would
# often be missing from the archive.
cat >"$tmp/killer.py" <<'EOF'
import os, select, signal, sys, time
want, pid, path, timeout = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
out = open(path, "wb")
seen, killed_at, start, buf = 0, None, time.time(), b""
while True:
    now = time.time()
    if killed_at is not None and now - killed_at > 1.0:
        break  # whatever was already on its way has arrived
    if killed_at is None and now - start > timeout:
        print(f"FAIL: only {seen} alerts on the bus after {timeout:.0f} s")
        sys.exit(1)
    ready, _, _ = select.select([0], [], [], 0.1)
    if not ready:
        continue
    chunk = os.read(0, 65536)
    if not chunk:
        break
    buf += chunk
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        out.write(line + b"\n")
        if b'"type":"alert"' in line:
            seen += 1
            if seen == want and killed_at is None:
                os.kill(pid, signal.SIGKILL)
                killed_at = time.time()
                print(f"kill -9 after {killed_at - start:.1f} s, right after alert {seen} arrived")
    out.flush()
if killed_at is None:
    print(f"FAIL: the subscriber stopped after {seen} alerts")
    sys.exit(1)
EOF
mkfifo "$tmp/bus.fifo"
"$cw" tap --endpoint "$endpoint" --topic alert. >"$tmp/bus.fifo" 2>"$tmp/tap.err" &
tap=$!
rc=0
python3 "$tmp/killer.py" "$ALERTS_BEFORE_KILL" "$daemon" "$tmp/bus.jsonl" "$TIMEOUT_S" <"$tmp/bus.fifo" || rc=$?
kill "$tap" 2>/dev/null || true
wait "$tap" 2>/dev/null || true
tap=""
if (( rc != 0 )); then
  tail -5 "$tmp/run.err"
  exit 1
fi
wait "$daemon" 2>/dev/null || true
daemon=""

seen=$(grep -c '"type":"alert"' "$tmp/bus.jsonl" || true)
echo "the bus carried $seen alerts"
fail=0

integrity="$(sqlite3 "$db" 'PRAGMA integrity_check' 2>&1)"
if [[ "$integrity" != "ok" ]]; then
  echo "FAIL: integrity_check after kill -9: $integrity"
  fail=1
fi
for f in "$db" "$db-wal" "$db-shm"; do
  [[ -e "$f" ]] || continue
  mode="$(stat -c %a "$f")"
  if [[ "$mode" != "600" ]]; then
    echo "FAIL: $(basename "$f") has mode $mode, expected 600"
    fail=1
  fi
done
if ! "$cw" qa --db "$db" search >"$tmp/search.txt" 2>"$tmp/qa.err"; then
  echo "FAIL: callwatch qa search on the killed daemon's archive:"
  cat "$tmp/qa.err"
  fail=1
fi
"$cw" qa --db "$db" export --format jsonl --type alert >"$tmp/archived.jsonl" 2>/dev/null || fail=1
open_calls="$(sqlite3 "$db" 'SELECT count(*) FROM calls WHERE end_json IS NULL')"
if (( open_calls < 1 )); then
  echo "FAIL: every call has a call_end: the daemon was not killed mid-call"
  fail=1
fi

python3 - "$tmp/bus.jsonl" "$tmp/archived.jsonl" <<'EOF' || fail=1
import json, sys
bus = [json.loads(l)["id"] for l in open(sys.argv[1]) if l.strip()]
archived = {json.loads(l)["id"] for l in open(sys.argv[2]) if l.strip()}
missing = [i for i in bus if i not in archived]
print(f"bus alerts {len(bus)}, archived alerts {len(archived)}, missing from archive {len(missing)}")
if missing:
    print("FAIL: published but not archived:", ", ".join(missing[:20]))
    sys.exit(1)
if len(bus) < 1:
    print("FAIL: no alert was published")
    sys.exit(1)
EOF

if (( fail )); then
  echo "--- daemon log"; tail -20 "$tmp/run.err"
  exit 1
fi
echo "PASS: $seen published alerts all archived; archive intact after kill -9 ($open_calls call(s) cut mid-call)"

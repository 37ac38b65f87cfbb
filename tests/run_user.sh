#!/usr/bin/env bash
# Behaviour test: `callwatch run --user NAME`.
# Not root: refused at once with a message saying root is needed (exit 2).
# Root: the daemon binds the bus, then runs as NAME (checked in
# /proc/PID/status: real, effective and saved uid and gid all NAME's) and
# still publishes (a tap sees call_start).
# An unknown user is refused either way.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
cw_tmpdir tmp cw-user
chmod 755 "$tmp"

set +e
"$cw" run --ack-endpoint 'tcp://127.0.0.1:*' --user no-such-user-cw --file /dev/null 2>"$tmp/err" >/dev/null
rc=$?
set -e
[[ $rc == 2 ]] || fail "unknown user: exit $rc, want 2"
if [[ "$(id -u)" != 0 ]]; then
  grep -q "needs callwatch to be started as root" "$tmp/err" || fail "non-root message: $(cat "$tmp/err")"
  set +e
  "$cw" run --ack-endpoint 'tcp://127.0.0.1:*' --user nobody --file /dev/null 2>"$tmp/err" >/dev/null
  rc=$?
  set -e
  [[ $rc == 2 ]] && grep -q "started as root" "$tmp/err" || fail "non-root --user: exit $rc: $(cat "$tmp/err")"
  echo "PASS (not root: refusal checked; the drop itself needs root)"
  exit 0
fi
grep -q "no such user" "$tmp/err" || fail "unknown user message: $(cat "$tmp/err")"

target=nobody
uid="$(id -u "$target")"
gid="$(id -g "$target")"
sox -n -r 16000 -c 2 -b 16 "$tmp/silence.wav" trim 0 30 2>/dev/null ||
  { echo "SKIP: sox cannot make a test file"; exit 77; }
chmod 644 "$tmp/silence.wav"
port="$(free_port)"
ep="tcp://127.0.0.1:$port"
"$cw" tap --endpoint "$ep" --timeout 60 --count 1 >"$tmp/tap.jsonl" 2>/dev/null &
tap_pid=$!
pids+=($tap_pid)
sleep 0.3
"$cw" run --ack-endpoint 'tcp://127.0.0.1:*' --user "$target" --endpoint "$ep" --file "$tmp/silence.wav" >/dev/null 2>"$tmp/run.err" &
run_pid=$!
pids+=($run_pid)
for _ in $(seq 1 300); do
  grep -q "running as user $target" "$tmp/run.err" 2>/dev/null && break
  kill -0 "$run_pid" 2>/dev/null || break
  sleep 0.1
done
grep -q "running as user $target" "$tmp/run.err" || { cat "$tmp/run.err"; fail "run did not report the drop"; }
uids="$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$run_pid/status")"
gids="$(awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$run_pid/status")"
[[ "$uids" == "$uid $uid $uid $uid" ]] || fail "uids of the daemon: $uids, want $uid"
[[ "$gids" == "$gid $gid $gid $gid" ]] || fail "gids of the daemon: $gids, want $gid"
wait "$tap_pid" || fail "tap saw no event from the dropped daemon"
grep -q '"type":"call_start"' "$tmp/tap.jsonl" || fail "no call_start on the bus"
echo "daemon uids: $uids, gids: $gids"
echo "PASS"

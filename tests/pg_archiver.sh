#!/usr/bin/env bash
# The central `callwatch archiver`: two nodes behind a broker whose [archive] url is the
# archiver's endpoint hand it their events before publishing them; it writes them into a
# PostgreSQL server this test starts (lib.sh pg_server; skipped when absent). The archiver is
# killed with SIGKILL mid-call and started again a moment later. Then every call, alert and
# final transcript a tap on the broker saw is in the database exactly once, and the nodes
# logged the failed commits they retried. Also: bad archiver setups fail at once, clearly.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
need_callwatch
need_tools --for "cut the sample call and compare events" sox python3
start_s=$SECONDS
cw_tmpdir work cw-pgarch
pg_server "$work"
pg_createdb callwatch
url="postgresql://cw:s3cret-pw@127.0.0.1:$pg_port/callwatch"
archiver_ep="tcp://127.0.0.1:$(free_port)"
archiver_pid=""
on_exit() { [[ -n "$archiver_pid" ]] && kill -9 "$archiver_pid" 2>/dev/null || true; }

expect_exit() { # STATUS REGEX COMMAND...
  local want=$1 re=$2 status=0
  shift 2
  timeout 20 "$@" >/dev/null 2>"$work/bad.err" || status=$?
  [[ $status -eq $want ]] || fail "$*: exit $status, want $want: $(cat "$work/bad.err")"
  grep -Eq -- "$re" "$work/bad.err" || fail "$*: message lacks /$re/: $(cat "$work/bad.err")"
  ! grep -q s3cret-pw "$work/bad.err" || fail "$*: the password is in the message"
}
expect_exit 2 'tcp://0.0.0.0:[0-9]+.*\[bus\] allow_plain_remote' \
  "$cw" archiver --listen "tcp://0.0.0.0:$(free_port)" --db "$url"
expect_exit 1 '\[archive\] url: cannot connect to postgresql://cw@127.0.0.1:[0-9]+/x' \
  "$cw" archiver --listen "tcp://127.0.0.1:$(free_port)" --db "postgresql://cw:s3cret-pw@127.0.0.1:$(free_port)/x"
expect_exit 2 'no archive to write' "$cw" archiver --listen "tcp://127.0.0.1:$(free_port)" --db "$archiver_ep"
expect_exit 1 'archiver` endpoint, which only takes events' "$cw" qa --db "$archiver_ep" search

start_archiver() {
  "$cw" archiver --listen "$archiver_ep" --db "$url" 2>>"$work/archiver.log" &
  archiver_pid=$!
  wait_for 10 log_has "$work/archiver.log" "taking the nodes' events on $archiver_ep" ||
    fail "the archiver did not start: $(cat "$work/archiver.log")"
}
start_archiver

# A batch of 2500 events (more than one request carries) through the archiver, twice: all
# archived, none twice; one event PostgreSQL refuses (utterance 1.5 is not an integer) is left
# out alone and logged.
python3 -c 'import json
for i in range(2500):
    print(json.dumps({"type": "transcript", "call_id": "bulk-%d" % (i // 50), "leg": "agent", "t": i,
                      "t_start": i, "t_end": i + 0.5, "text": "segment %d" % i, "final": True, "utterance": i}))
    if i == 1234:
        print(json.dumps({"type": "transcript", "call_id": "bulk-bad", "leg": "agent", "final": True,
                          "text": "refused", "utterance": 1.5}))' \
  >"$work/bulk.jsonl"
for i in 1 2; do
  "$cw" qa --db "$archiver_ep" import "$work/bulk.jsonl" 2>"$work/import.err" || fail "import via the archiver: $(cat "$work/import.err")"
done
bulk=$(pg_psql -d callwatch -c "SELECT count(*) FROM transcripts WHERE call_id LIKE 'bulk-%'")
[[ "$bulk" == 2500 ]] || fail "2500 events imported twice through the archiver: $bulk archived"
log_has "$work/archiver.log" "event not archived: .*bigint" || fail "the refused event was not logged: $(cat "$work/archiver.log")"
pg_psql -d callwatch -c "DELETE FROM transcripts WHERE call_id LIKE 'bulk-%'"

sox "$src/models/sample-call.flac" "$work/call.wav" trim 11 12
start_broker "$work/broker.log"
archiving_nodes "$work" "$archiver_ep" 2
start_node 1; node1_pid=$node_pid
start_node 2; node2_pid=$node_pid
pids+=("$node1_pid" "$node2_pid")

alerts_on_bus() { [[ $(grep -c '"type":"alert"' "$work/tap.out" 2>/dev/null || true) -ge $1 ]]; }
wait_for 40 alerts_on_bus 1 || fail "no alert on the bus: $(tail -3 "$work/node1.log")"
kill -9 "$archiver_pid"
wait "$archiver_pid" 2>/dev/null || true
log_has "$work/node1.log" 'call node1-.* ended' && fail "node1's call ended before the kill: not mid-call"
echo "archiver killed with SIGKILL mid-call after $(grep -c '"type":"alert"' "$work/tap.out") alert(s) on the bus"
# Down longer than a node waits for an answer (3 s): the nodes' commits fail and are retried.
sleep 3.5
start_archiver

for n in 1 2; do
  wait_for 60 log_has "$work/node$n.log" "call node$n-.* ended" || fail "node$n: the call did not end"
done
sleep 0.5
for n in 1 2; do
  eval "pid=\$node${n}_pid"
  kill -TERM "$pid"
  wait "$pid" || fail "node$n exited with status $?: $(tail -3 "$work/node$n.log")"
done
pids=("${pids[@]:0:2}")
kill -TERM "$tap_pid"
wait "$tap_pid" || true
kill -TERM "$archiver_pid"
wait "$archiver_pid" || fail "the archiver exited with status $?"
archiver_pid=""

"$cw" qa --db "$url" export --format jsonl --type all >"$work/archived.jsonl" 2>"$work/qa.err" ||
  fail "qa export: $(cat "$work/qa.err")"
python3 "$src/tests/archived_check.py" "$work/tap.out" "$work/archived.jsonl" 2 2
grep -h "commit of .* failed" "$work"/node[12].log | head -2
grep -q "commit of .* failed.*archiver $archiver_ep" "$work"/node[12].log ||
  fail "no node logged a failed commit while the archiver was down"
tail -1 "$work/archiver.log"
echo "PASS: two nodes archived through a central archiver killed mid-call ($((SECONDS - start_s)) s)"

#!/usr/bin/env bash
# The PostgreSQL archive shared by several nodes, against a real server this test starts
# itself (initdb into a temporary folder, a free port, its unix socket in that folder; as
# root the server runs as nobody). Skipped (77) when the PostgreSQL server binaries are absent.
#
#  - a bad [archive] url (server unreachable, malformed URL, wrong scheme) fails at once with
#    a message naming [archive] url and never the password;
#  - three `callwatch run` nodes behind one broker, each with [archive] url = the same database,
#    replay calls while the PostgreSQL server is stopped (pg_ctl stop -m fast) and started again,
#    and one node is killed with SIGKILL mid-call and started again;
#  - then every call, final transcript and alert a tap on the broker saw is in the database,
#    none twice, `callwatch qa search` / `timeline` find every call, and the nodes logged losing
#    the server and reconnecting.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
need_callwatch
need_tools --for "cut the sample call and compare events" sox python3
start_s=$SECONDS
cw_tmpdir work cw-pg
pg_server "$work"
port=$pg_port
node3_pid=""
on_exit() { [[ -n "$node3_pid" ]] && kill -9 "$node3_pid" 2>/dev/null || true; }
pg_createdb callwatch
secret="s3cret-pw"
url="postgresql://cw:$secret@127.0.0.1:$port/callwatch"
echo "PostgreSQL up on port $port after $((SECONDS - start_s)) s"

# ---- bad configuration: clear, at once, without the password
closed="$(free_port)"
expect_bad() { # NAME WANT_REGEX COMMAND...
  local name=$1 want=$2 status=0
  shift 2
  timeout 30 "$@" >"$work/bad.out" 2>"$work/bad.err" || status=$?
  [[ $status -ne 0 && $status -ne 124 ]] || fail "$name: exit $status, want a failure: $(cat "$work/bad.err")"
  grep -Eq -- "$want" "$work/bad.err" || fail "$name: message lacks /$want/: $(cat "$work/bad.err")"
  ! grep -q "$secret" "$work/bad.err" || fail "$name: the password is in the message: $(cat "$work/bad.err")"
  echo "$name: exit $status: $(head -1 "$work/bad.err")"
}
sox "$src/models/sample-call.flac" "$work/call.wav" trim 11 12
# node3's first call lasts long enough to be cut by the kill; after its restart a short one.
sox "$work/call.wav" "$work/call.wav" "$work/long.wav"
sox "$work/call.wav" "$work/short.wav" trim 0 6
cat >"$work/unreachable.ini" <<INI
[bus]
endpoint = tcp://127.0.0.1:$(free_port)
[archive]
url = postgresql://cw:$secret@127.0.0.1:$closed/callwatch
INI
expect_bad "run, server unreachable" '\[archive\] url: cannot connect to postgresql://cw@127.0.0.1:[0-9]+/callwatch' \
  "$cw" run --no-asr --config "$work/unreachable.ini" --ack-endpoint 'tcp://127.0.0.1:*' --file "$work/call.wav"
expect_bad "qa, malformed URL" '\[archive\] url: malformed PostgreSQL URL' \
  "$cw" qa --db "postgresql://cw:$secret@127.0.0.1:$port/callwatch?bogus=1" search
printf '[archive]\nurl = mysql://cw:%s@127.0.0.1/callwatch\n' "$secret" >"$work/scheme.ini"
expect_bad "config, wrong scheme" '\[archive\] url .*must start with postgresql://' \
  "$cw" run --config "$work/scheme.ini" --file "$work/call.wav"

# ---- `callwatch qa` answers the same from either backend: a generated shift of agent alice
# imported into an SQLite file and into PostgreSQL (twice: the replay adds nothing)
pg_createdb qa
qa_url="postgresql://cw:$secret@127.0.0.1:$port/qa"
python3 - "$work/shift.jsonl" <<'PY'
import json, sys
out = open(sys.argv[1], "w")
def emit(ev):
    out.write(json.dumps(ev) + "\n")
for i in range(6):
    cid, started, spread = f"alice-{i}", f"2026-11-20T{8 + i:02d}:00:00.000Z", 6.0 - 0.7 * i
    emit({"type": "call_start", "call_id": cid, "t": 0, "line": "desk", "agent_id": "alice", "team": "blue",
          "legs": {"agent": {"rate_hz": 8000}}, "started_at": started})
    emit({"type": "transcript", "call_id": cid, "t": 5, "leg": "customer", "t_start": 0.5, "t_end": 4.0,
          "text": "I will complain to the Ombudsman" if i == 2 else "a billing question", "final": True,
          "utterance": 1})
    emit({"type": "alert", "call_id": cid, "t": 9.4, "id": cid + "-a1", "leg": "agent", "kind": "flat_affect",
          "severity": "warning", "score": 0.5, "t_start": 4.5, "t_end": 9.0,
          "evidence": {"prosody": {"f0_spread_st": spread + 0.3}}, "text": "agent sounds flat"})
    if i == 2:
        emit({"type": "alert", "call_id": cid, "t": 4.2, "id": cid + "-a2", "leg": "customer", "kind": "escalation",
              "severity": "critical", "score": 0.9, "t_start": 0.5, "t_end": 4.0, "evidence": {"words": ["ombudsman"]},
              "text": "customer threatens the ombudsman"})
        emit({"type": "whisper", "call_id": cid, "t": 4.5, "agent_id": "alice", "prompt": "Give a concrete time",
              "because": cid + "-a2", "kind": "escalation", "severity": "critical", "lang": "en"})
        emit({"type": "ack", "call_id": cid, "alert_id": cid + "-a2", "by": "sup-maria", "note": "listening",
              "at": "2026-11-20T10:00:30.000Z", "acked_at": "2026-11-20T10:00:30.000Z"})
    emit({"type": "call_end", "call_id": cid, "t": 240, "reason": "hangup", "duration_s": 240,
          "prosody_summary": {"agent": {"f0_spread_st": spread}}})
PY
"$cw" qa --db "$work/qa.db" import "$work/shift.jsonl" 2>/dev/null || fail "qa import into SQLite"
for i in 1 2; do
  "$cw" qa --db "$qa_url" import "$work/shift.jsonl" 2>"$work/qa.err" || fail "qa import into PostgreSQL: $(cat "$work/qa.err")"
done
queries=("search" "search --type all" "search --text ombudsman" "search --agent alice --kind flat_affect --limit 3"
  "search --since 2026-11-20T10:00 --until 2026-11-20T12:00 --type alert,ack" "search --severity critical --type all"
  "timeline alice-2" "timeline alice-2 --format jsonl" "shift --agent alice --since 2026-11-20"
  "export --format csv --type all" "export --format jsonl --type all" "timeline nobody" "shift --agent nobody")
for q in "${queries[@]}"; do
  a=0 b=0
  # shellcheck disable=SC2086
  "$cw" qa --db "$work/qa.db" $q >"$work/q.sqlite" 2>/dev/null || a=$?
  # shellcheck disable=SC2086
  "$cw" qa --db "$qa_url" $q >"$work/q.pg" 2>/dev/null || b=$?
  [[ $a -eq $b ]] || fail "qa $q: exit $a on SQLite, $b on PostgreSQL"
  [[ -s "$work/q.pg" || $q == *nobody* ]] || fail "qa $q: no output"
  cmp -s "$work/q.sqlite" "$work/q.pg" || fail "qa $q differs: $(diff "$work/q.sqlite" "$work/q.pg" | head -6)"
done
grep -q "DRIFT\|drift" <("$cw" qa --db "$qa_url" shift --agent alice --since 2026-11-20 2>/dev/null) ||
  fail "qa shift on PostgreSQL shows no drift line"
echo "qa: ${#queries[@]} queries answer byte for byte the same from SQLite and PostgreSQL ($((SECONDS - start_s)) s)"

# Retention: a run with retention_days = 10 deletes the shift of 2026-11-20 (older than that).
printf '[archive]\nretention_days = 10\n' >"$work/retention.ini"
"$cw" analyze --no-asr --config "$work/retention.ini" --archive "$qa_url" "$work/call.wav" >/dev/null 2>&1 ||
  fail "analyze --archive URL"
old=$(pg_psql -d qa -c "SELECT count(*) FROM calls WHERE call_id LIKE 'alice-%'")
[[ "$old" == 0 ]] || fail "retention_days = 10 kept $old call(s) of 2026-11-20"
[[ $(pg_psql -d qa -c "SELECT count(*) FROM calls") -ge 1 ]] || fail "the analysed call is not archived"

# Databases that are not (or not yet, or too new for) a callwatch archive.
pg_createdb other
expect_bad "qa, empty database" 'no callwatch archive in this database yet' \
  "$cw" qa --db "postgresql://cw:$secret@127.0.0.1:$port/other" search
pg_psql -d other -c "CREATE TABLE invoices(id int)"
expect_bad "qa, foreign database" 'postgresql://cw@127.0.0.1:[0-9]+/other is not a callwatch archive' \
  "$cw" qa --db "postgresql://cw:$secret@127.0.0.1:$port/other" search
pg_psql -d qa -c "UPDATE callwatch_meta SET value = '99' WHERE key = 'schema_version'"
expect_bad "qa, newer schema" 'schema version 99, newer than this callwatch' "$cw" qa --db "$qa_url" search

# ---- three nodes behind a broker, one database
echo "checks of a single archive done after $((SECONDS - start_s)) s"
start_broker "$work/broker.log"
# commit_timeout_ms = 30000: no event is published before its commit while the server restarts.
archiving_nodes "$work" "$url" 3
start_node 1; node1_pid=$node_pid; pids+=("$node1_pid")
start_node 2; node2_pid=$node_pid; pids+=("$node2_pid")
start_node 3 "$work/long.wav"; node3_pid=$node_pid

alerts_on_bus() { [[ $(grep -c '"type":"alert"' "$work/tap.out" 2>/dev/null || true) -ge $1 ]]; }
wait_for 40 alerts_on_bus 1 || fail "no alert on the bus: $(tail -3 "$work/node1.log")"

# The server goes away mid-call and comes back.
t0=$SECONDS
pg_ctl_stop fast || fail "pg_ctl stop"
sleep 0.5
pg_ctl_start || fail "PostgreSQL did not restart: $(tail -5 "$work/pg.log")"
echo "PostgreSQL stopped and started again ($((SECONDS - t0)) s)"

# node3 dies by SIGKILL mid-call, right after it published more, and starts again.
node3_events() { [[ $(grep -c '^[a-z_.]*\.node3-' "$work/tap.out" 2>/dev/null || true) -ge $1 ]]; }
before=$(grep -c '^[a-z_.]*\.node3-' "$work/tap.out" || true)
wait_for 30 node3_events $((before + 2)) || fail "node3 published nothing after the restart"
kill -9 "$node3_pid"
wait "$node3_pid" 2>/dev/null || true
log_has "$work/node3.log" 'call node3-.* ended' && fail "node3's call ended before the kill: not mid-call"
echo "node3 killed with SIGKILL mid-call after $(grep -c '^[a-z_.]*\.node3-' "$work/tap.out") event(s)"
start_node 3 "$work/short.wav"; node3_pid=$node_pid

ended() { [[ $(grep -Ec "call node$1-.* ended" "$work/node$1.log" 2>/dev/null || true) -ge $2 ]]; }
for n in 1 2; do wait_for 60 ended "$n" 1 || fail "node$n: calls did not end: $(tail -3 "$work/node$n.log")"; done
wait_for 60 ended 3 1 || fail "node3 (restarted): calls did not end: $(tail -3 "$work/node3.log")"
sleep 0.5
for pid in "$node1_pid" "$node2_pid" "$node3_pid"; do
  kill -TERM "$pid"
  wait "$pid" || fail "a node exited with status $?"
done
node3_pid=""
kill -TERM "$tap_pid"
wait "$tap_pid" || true

# ---- what the bus carried is in the database
"$cw" qa --db "$url" export --format jsonl --type all >"$work/archived.jsonl" 2>"$work/qa.err" ||
  fail "qa export: $(cat "$work/qa.err")"
"$cw" qa --db "$url" search --type all >"$work/search.txt" 2>"$work/qa.err" || fail "qa search: $(cat "$work/qa.err")"
! grep -q "$secret" "$work/qa.err" || fail "qa printed the password"
for call in $(python3 -c 'import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l.split("\t", 1)[1])
    if e["type"] == "call_start": print(e["call_id"])' "$work/tap.out"); do
  grep -q "$call" "$work/search.txt" || fail "qa search does not show call $call"
  "$cw" qa --db "$url" timeline "$call" >"$work/timeline.txt" 2>"$work/qa.err" || fail "qa timeline $call: $(cat "$work/qa.err")"
done
python3 "$src/tests/archived_check.py" "$work/tap.out" "$work/archived.jsonl" 3 4
lost=0
for n in 1 2; do
  log_has "$work/node$n.log" "connection lost" && log_has "$work/node$n.log" "reconnected" && lost=$((lost + 1))
done
[[ $lost -ge 1 ]] || fail "no node logged losing PostgreSQL and reconnecting: $(grep archive "$work/node1.log" | tail -5)"
grep -h -E "connection lost|reconnected" "$work"/node[12].log | head -4
! grep -q "$secret" "$work"/node*.log || fail "a node logged the password"
echo "PASS: three nodes archived into one PostgreSQL database through a server restart and a kill -9 ($((SECONDS - start_s)) s)"

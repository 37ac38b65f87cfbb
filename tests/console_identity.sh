#!/usr/bin/env bash
# Behaviour test: who acknowledges from the console (docs/web.md, "Acknowledging from
# the console"). Two `callwatch run` daemons replay a short call with an anger alert:
# one with a users file ([web] users, the web's), one without. `callwatch console --ack`:
#  - with the users file: a supervisor with the right password (--password-file) is
#    accepted and the ack event on the bus and in the archive carries the name, the
#    role and "verified": true; a wrong password ($CALLWATCH_PASSWORD) is refused with
#    "wrong name or password", an agent with the right password with "agent alice may
#    not acknowledge", no password with "needs a password"; each refusal is logged by
#    the daemon and no ack event of theirs reaches the bus;
#  - without a users file: the name is taken as given, and the event says "verified": false.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
need_tools sox python3
need_callwatch
cw_tmpdir work cw-ident
started=$SECONDS

printf 'sup-pass-1\n' | "$cw" user add --users "$work/users" sarah --role supervisor 2>/dev/null
printf 'agent-pass-2\n' | "$cw" user add --users "$work/users" alice --role agent 2>/dev/null
printf 'sup-pass-1\n' >"$work/sarah.pw"
chmod 600 "$work/sarah.pw"
printf 'agent-pass-2\n' >"$work/alice.pw"
chmod 600 "$work/alice.pw"

daemon_cfg() { # NAME [USERS]
  printf '[asr]\nworkers = 1\n[bus]\nendpoint = tcp://127.0.0.1:%s\nack_endpoint = tcp://127.0.0.1:%s\n' \
    "$(free_port)" "$(free_port)"
  printf 'node = %s\n[archive]\npath = %s\n' "$1" "$work/$1.db"
  [ -z "${2:-}" ] || printf '[web]\nusers = %s\n' "$2"
}
daemon_cfg checked "$work/users" >"$work/checked.ini"
daemon_cfg open >"$work/open.ini"

"$cw" run --config "$work/checked.ini" --check-config 2>&1 | grep -q "acks: .*; only supervisors of $work/users (2 users)" ||
  fail "--check-config does not say who may acknowledge: $("$cw" run --config "$work/checked.ini" --check-config 2>&1)"
"$cw" run --config "$work/open.ini" --check-config 2>&1 | grep -q "acks: .*; names unverified (no \[web\] users)" ||
  fail "--check-config does not say acknowledgements are unverified"
sox "$src/models/sample-call.flac" "$work/call.wav" trim 11 6
for n in checked open; do
  "$cw" tap --config "$work/$n.ini" --timeout 60 >"$work/$n.tap" 2>"$work/$n.taperr" &
  pids+=($!)
done
sleep 0.5
for n in checked open; do
  "$cw" run --config "$work/$n.ini" --file "$work/call.wav" 2>"$work/$n.log" &
  pids+=($!)
done
grep_ok() { grep -q "$2" "$1"; }
for n in checked open; do
  wait_for 60 log_has "$work/$n.log" "call $n-.* ended" || fail "$n's call did not end: $(cat "$work/$n.log")"
done
grep -q "acknowledgements: only supervisors of $work/users" "$work/checked.log" ||
  fail "the daemon does not say it checks acknowledgements: $(cat "$work/checked.log")"
grep -q "acknowledgements: no users file" "$work/open.log" ||
  fail "the daemon does not say its acknowledgements are unverified: $(cat "$work/open.log")"

alert_of() { # TAPFILE -> "CALL_ID ALERT_ID"
  python3 - "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["type"] == "alert":
        print(e["call_id"], e["id"]); break
PY
}
acks_of() { # TAPFILE -> one line per ack event: by verified role
  python3 - "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["type"] == "ack":
        print(e["by"], str(e.get("verified")).lower(), e.get("role", "-"))
PY
}
failures=0

read -r call alert < <(alert_of "$work/checked.tap") || true
[ -n "${alert:-}" ] || fail "no alert on the checked daemon's bus: $(head -c 400 "$work/checked.tap")"
t0=$(date +%s.%N)
expect 1 "not acknowledged: wrong name or password" wrongpw env CALLWATCH_PASSWORD=guess \
  "$cw" console --config "$work/checked.ini" --user sarah --ack "$alert" --call "$call"
expect 1 "not acknowledged: agent alice may not acknowledge" agent \
  "$cw" console --config "$work/checked.ini" --user alice --password-file "$work/alice.pw" --ack "$alert" --call "$call"
expect 1 "not acknowledged: this node checks who acknowledges: .*needs a password" nopw env -u CALLWATCH_PASSWORD \
  "$cw" console --config "$work/checked.ini" --user sarah --ack "$alert" --call "$call"
expect 0 "acknowledged $alert of call $call as sarah \(supervisor, verified" right \
  "$cw" console --config "$work/checked.ini" --user sarah --password-file "$work/sarah.pw" --ack "$alert" --call "$call" \
  --note "called back"
chmod 644 "$work/sarah.pw"
expect 2 "sarah.pw: others may read it" looseperm \
  "$cw" console --config "$work/checked.ini" --user sarah --password-file "$work/sarah.pw" --ack "$alert" --call "$call"
echo "five console runs against the users file took $(python3 -c "print(round($(date +%s.%N) - $t0, 2))") s"

read -r ocall oalert < <(alert_of "$work/open.tap") || true
[ -n "${oalert:-}" ] || fail "no alert on the open daemon's bus"
expect 0 "acknowledged $oalert of call $ocall as mallory \(unverified: the daemon has no users file" open \
  env -u CALLWATCH_PASSWORD "$cw" console --config "$work/open.ini" --user mallory --ack "$oalert" --call "$ocall"

# The bus: exactly sarah's ack from the checked daemon, verified; mallory's unverified.
wait_for 5 grep_ok "$work/open.tap" '"type":"ack"' || bad "no ack event on the open daemon's bus"
got=$(acks_of "$work/checked.tap")
[ "$got" = "sarah true supervisor" ] || bad "ack events on the checked bus: '$got' (want 'sarah true supervisor')"
got=$(acks_of "$work/open.tap")
[ "$got" = "mallory false -" ] || bad "ack events on the open bus: '$got' (want 'mallory false -')"
# The daemon logged each refusal with its reason (never the password).
for why in "wrong name or password" "agent alice may not acknowledge" "needs a password"; do
  grep -q "acks: refused to acknowledge $alert of call $call as .*: .*$why" "$work/checked.log" ||
    bad "no log line for the refusal '$why': $(grep acks: "$work/checked.log")"
done
! grep -q "guess\|agent-pass-2\|sup-pass-1" "$work/checked.log" || bad "a password reached the daemon's log"

# The archive keeps who, and whether that was checked.
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
python3 - "$work/checked.db" "$work/open.db" <<'PY' || bad "archive rows"
import json, sqlite3, sys
want = {sys.argv[1]: ("sarah", True, "supervisor"), sys.argv[2]: ("mallory", False, None)}
for db, (by, verified, role) in want.items():
    rows = sqlite3.connect(db).execute("SELECT by, json FROM acks").fetchall()
    assert len(rows) == 1, (db, rows)
    e = json.loads(rows[0][1])
    assert (rows[0][0], e["verified"], e.get("role")) == (by, verified, role), (db, rows)
    print("ok  archive", db.rsplit("/", 1)[1], rows[0][0], "verified" if verified else "unverified")
PY

echo "console_identity: $((SECONDS - started)) s"
[ "$failures" -eq 0 ] || fail "$failures check(s) failed"
echo PASS

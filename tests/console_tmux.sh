#!/usr/bin/env bash
# console_tmux: the supervisor console for real, in a tmux terminal, against
# the live daemon replaying models/sample-call.flac on a [line] whose agent is
# "alice" of team "north":
# - the call's row appears on the board, then its alerts in the feed;
# - the agent's whisper for an alert is on the bus within 1 s of the alert,
#   and `callwatch whisper --agent alice` prints it;
# - the console asks sup1's password at start without echoing it (the
#   daemon reads a users file, [web] users); the ack key sends an
#   acknowledgement that the daemon checks and that reaches the bus as an ack
#   event (verified, role supervisor) and the QA archive (qa timeline shows
#   who acknowledged) and is marked in the feed;
# - filter and transcript keys work;
# - killing the daemon shows DISCONNECTED; restarting it reconnects by itself.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null || { echo "SKIP: tmux is not installed (tools/deps.sh installs it)"; exit 77; }

cw_tmpdir work cw-console-tmux
sock="cwtest-$$"
daemon_pid=""
bg_pids=()
on_exit() {
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    tmux -L "$sock" kill-server 2>/dev/null || true
    for p in "${bg_pids[@]}" $daemon_pid; do wait "$p" 2>/dev/null || true; done
}

fail() {
    echo "FAIL: $*" >&2
    echo "--- console screen:" >&2
    tmux -L "$sock" list-windows -a >&2 2>&1 || echo "(no tmux server)" >&2
    tmux -L "$sock" capture-pane -p -t con:0 >&2 2>&1 || true
    echo "--- late console:" >&2
    tmux -L "$sock" capture-pane -p -t con:late >&2 2>&1 || true
    cat "$work/console.err" "$work/late.err" >&2 2>/dev/null || true
    echo "--- daemon log:" >&2
    tail -n 20 "$work/run.log" >&2 || true
    exit 1
}

bus="tcp://127.0.0.1:$(free_port)"
acks="tcp://127.0.0.1:$(free_port)"

cat > "$work/site.ini" <<INI
[bus]
endpoint = $bus
ack_endpoint = $acks

[archive]
path = $work/qa.db

[web]
users = $work/users

[line desk7]
file = $CALLWATCH_SRC/models/sample-call.flac
agent_id = alice
team = north
INI

screen() { tmux -L "$sock" capture-pane -p -t con; }

# wait_screen SECONDS REGEX: until the console shows REGEX.
wait_screen() {
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt "$deadline" ]; do
        screen | grep -Eq -- "$2" && return 0
        sleep 0.2
    done
    return 1
}

# Every event on the bus, stamped with the wall clock on arrival (through a
# fifo, so both processes are ours to kill by pid).
mkfifo "$work/tap.fifo"
"$CALLWATCH" tap -e "$bus" --topics > "$work/tap.fifo" 2>/dev/null &
bg_pids+=($!)
while IFS= read -r line; do printf '%s\t%s\n' "$EPOCHREALTIME" "$line"; done < "$work/tap.fifo" > "$work/tap.log" &
bg_pids+=($!)
"$CALLWATCH" whisper --agent alice -e "$bus" > "$work/whisper.out" 2>/dev/null &
bg_pids+=($!)

printf 'sup1-secret\n' | "$CALLWATCH" user add --users "$work/users" sup1 --role supervisor 2>/dev/null
tmux -L "$sock" -f /dev/null new-session -d -s con -x 200 -y 50 \
    "TERM=tmux-256color USER=sup1 '$CALLWATCH' console -e '$bus' --ack-endpoint '$acks' 2>'$work/console.err'; echo console exited \$?; sleep 600"
wait_screen 5 "password of sup1 for acknowledgements" || fail "the console did not ask sup1's password"
tmux -L "$sock" send-keys -t con -l "sup1-secret"
sleep 0.3
screen | grep -q "sup1-secret" && fail "the password was echoed"
tmux -L "$sock" send-keys -t con Enter
wait_screen 5 "callwatch console" || fail "console did not start"
wait_screen 5 "DISCONNECTED" || fail "no daemon yet, but the console does not say DISCONNECTED"

"$CALLWATCH" run -c "$work/site.ini" 2> "$work/run.log" &
daemon_pid=$!

wait_screen 45 " CONNECTED *$" || fail "console never saw the daemon"
wait_screen 45 "alice +north" || fail "the call's row (agent alice, team north) did not appear"
echo "board shows the call"
wait_screen 90 "(warning|critical) +(anger|despair|escalation) +alice" || fail "no customer alert in the feed"
echo "feed shows an alert"
screen | grep -q "evidence: \"" || fail "the alert's evidence (words said) is not shown"

# Whisper within 1 s of its alert, for alice.
python3 - "$work/tap.log" <<'PY' || fail "whisper did not follow its alert within 1 s"
import json, sys
alerts, whispers = {}, {}
for line in open(sys.argv[1], encoding="utf-8"):
    stamp, topic, body = line.rstrip("\n").split("\t", 2)
    ev = json.loads(body)
    if ev["type"] == "alert":
        alerts[ev["id"]] = float(stamp)
    elif ev["type"] == "whisper":
        assert topic == "whisper.alice", topic
        whispers[ev["because"]] = (float(stamp), ev["prompt"])
pairs = [(whispers[a][0] - alerts[a], a, whispers[a][1]) for a in alerts if a in whispers]
if not pairs:
    sys.exit("no whisper for any alert: alerts %s" % list(alerts))
worst = max(p[0] for p in pairs)
print("whispers: %d for %d alerts, worst delay %.3f s; e.g. %r" % (len(pairs), len(alerts), worst, pairs[0][2]))
sys.exit(0 if worst < 1.0 else 1)
PY
grep -Eq "(WARNING|CRITICAL|INFO) +[a-z_]+ +[A-Z\"]" "$work/whisper.out" || fail "callwatch whisper printed no prompt"
echo "whisper viewer: $(head -n 1 "$work/whisper.out")"

# Acknowledge the newest alert in the feed, with a note.
tmux -L "$sock" send-keys -t con Tab
sleep 0.3
tmux -L "$sock" send-keys -t con A
wait_screen 8 "note for the acknowledgement" || fail "no note prompt"
tmux -L "$sock" send-keys -t con -l "calling back at 3pm"
tmux -L "$sock" send-keys -t con Enter
wait_screen 5 "acknowledged .* as sup1" || fail "the console did not confirm the acknowledgement"
wait_screen 5 "\[ACK sup1\]" || fail "the feed does not mark the alert acknowledged"
deadline=$((SECONDS + 5))
until grep -q $'^[0-9.]*\tack\.' "$work/tap.log"; do
    [ $SECONDS -lt $deadline ] || fail "no ack event on the bus"
    sleep 0.2
done
ack=$(grep $'^[0-9.]*\tack\.' "$work/tap.log" | head -n 1 | cut -f3)
python3 -c 'import json,sys; a=json.loads(sys.argv[1]); assert a["by"]=="sup1" and a["alert_id"] and a["at"].endswith("Z") and a["note"]=="calling back at 3pm" and a["verified"] is True and a["role"]=="supervisor", a' "$ack" \
    || fail "bad ack event: $ack"
echo "ack on the bus: $ack"
# P types the password again, shown as stars; Esc leaves it as it was.
tmux -L "$sock" send-keys -t con P
wait_screen 5 "password of sup1 for acknowledgements \(Enter sets" || fail "P did not ask for the password"
tmux -L "$sock" send-keys -t con -l "zq9"
wait_screen 5 "Esc cancels\): \*\*\*_" || fail "the typed password is not shown as stars"
screen | grep -q "zq9" && fail "the password typed after P was echoed"
tmux -L "$sock" send-keys -t con Escape

# A second console opened mid-call knows the call's agent and team at once
# (the daemon lists its calls when asked), though call_start went by long ago.
tmux -L "$sock" new-window -d -t con -n late \
    "TERM=tmux-256color USER=sup2 CALLWATCH_PASSWORD= '$CALLWATCH' console -e '$bus' --ack-endpoint '$acks' 2>'$work/late.err'; echo late console exited \$?; sleep 600"
late_ok=0
for _ in $(seq 25); do
    tmux -L "$sock" capture-pane -p -t con:late | grep -Eq "alice +north" && { late_ok=1; break; }
    sleep 0.2
done
[ $late_ok -eq 1 ] || fail "a console opened mid-call does not show the call's agent and team"
echo "late console knows the call"

# Filter by team: another team hides the call; clearing brings it back.
tmux -L "$sock" send-keys -t con f
tmux -L "$sock" send-keys -t con -l "team=south"
tmux -L "$sock" send-keys -t con Enter
wait_screen 8 "CALLS \(0\)" || fail "team filter did not hide the call"
tmux -L "$sock" send-keys -t con f Enter
wait_screen 8 "CALLS \(1\)" || fail "clearing the filter did not bring the call back"
# Transcript of the selected alert's call.
tmux -L "$sock" send-keys -t con t
wait_screen 8 "Transcript of [a-z0-9._-]*desk7-" || fail "no transcript view"
wait_screen 8 "customer +.*(ridiculous|calling|manager)" || fail "transcript lacks the customer's words"
tmux -L "$sock" send-keys -t con t
wait_screen 8 "ALERTS" || fail "did not return from the transcript"
echo "filter and transcript work"

# The daemon goes away ...
kill -TERM "$daemon_pid"
rc=0
wait "$daemon_pid" || rc=$?
daemon_pid=""
[ "$rc" -eq 0 ] || fail "the daemon stopped with status $rc on SIGTERM"
wait_screen 10 "DISCONNECTED" || fail "console did not notice the daemon went away"
echo "console shows DISCONNECTED"
# The acknowledgement is in the QA archive, with who acknowledged it.
ack_call=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["call_id"])' "$ack")
"$CALLWATCH" qa --db "$work/qa.db" timeline "$ack_call" > "$work/timeline.txt" 2>&1 \
    || fail "qa timeline failed: $(cat "$work/timeline.txt")"
grep -Eq "ACK .*acknowledged by sup1" "$work/timeline.txt" || fail "the acknowledgement is not in the archive: $(cat "$work/timeline.txt")"
grep -Eq "ACK .*acknowledged by sup1.* at [0-9-]+T[0-9:.]+Z, -?[0-9]+\.[0-9] s after the alert" "$work/timeline.txt" \
    || fail "the archived acknowledgement lacks its wall time and time to acknowledge: $(grep ACK "$work/timeline.txt")"
echo "acknowledgement archived: $(grep -E 'ACK ' "$work/timeline.txt" | head -n 1)"
# ... and comes back.
"$CALLWATCH" run -c "$work/site.ini" 2>> "$work/run.log" &
daemon_pid=$!
wait_screen 45 " CONNECTED *$" || fail "console did not reconnect"
wait_screen 45 "alice +north" || fail "the new call did not appear after reconnecting"
screen | grep -q "DISCONNECTED" && fail "still DISCONNECTED after reconnecting"
echo "console reconnected by itself"
echo "PASS"

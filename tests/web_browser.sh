#!/usr/bin/env bash
# web_browser: `callwatch web` in a real browser (headless Chromium driven by
# Selenium, tests/web_browser.py), against a live daemon replaying
# models/sample-call.flac (agent alice, team north) and a silent call (agent
# bob, team south). Checks, as a supervisor and an agent would see them:
# login required, wrong password refused; the call on the wallboard within
# 1 s of its call_start and each alert within 1 s of reaching the bus, the
# worst call on top; the call page's transcript as it is spoken; an
# acknowledgement made on the page reaching the archive; an agent kept to
# their own prompts; a POST without the CSRF token refused. Saves a
# screenshot of each page into docs/screenshots/ (CW_SCREENSHOTS=DIR to
# put them elsewhere).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
py=/usr/bin/python3
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && "$py" -c 'import selenium' 2>/dev/null ||
    { echo "SKIP: chromium, chromium-driver or python3-selenium missing (tools/deps.sh installs them)"; exit 77; }
command -v sox >/dev/null || { echo "SKIP: sox missing"; exit 77; }

cw_tmpdir work cw-web-browser
on_exit() {
    # The daemon is started by the Python half (after the login checks).
    [ -f "$work/daemon.pid" ] && kill "$(cat "$work/daemon.pid")" 2>/dev/null || true
}
bus="tcp://127.0.0.1:$(free_port)"
acks="tcp://127.0.0.1:$(free_port)"
port="$(free_port)"

sox -n -r 16000 -c 2 -b 16 "$work/quiet.wav" synth 40 whitenoise vol 0.0005
cat > "$work/site.ini" <<INI
[bus]
endpoint = $bus
ack_endpoint = $acks

[archive]
path = $work/qa.db

[web]
listen = 127.0.0.1:$port
users = $work/users
db = $work/qa.db
ended_linger_s = 600

[line desk7]
file = $CALLWATCH_SRC/models/sample-call.flac
agent_id = alice
team = north

[line desk9]
file = $work/quiet.wav
agent_id = bob
team = south
INI

printf 'sup-pass-1\n' | "$cw" user add --users "$work/users" sarah --role supervisor
printf 'agent-pass-2\n' | "$cw" user add --users "$work/users" alice --role agent
printf 'agent-pass-3\n' | "$cw" user add --users "$work/users" bob --role agent
stat -c %a "$work/users" | grep -qx 600 || fail "users file is not 0600"

"$cw" web -c "$work/site.ini" 2> "$work/web.log" &
pids+=($!)
wait_pid=$! wait_for 10 grep -q "serving http" "$work/web.log" || { cat "$work/web.log"; fail "web did not start"; }

# Every bus event stamped with the wall clock on arrival.
mkfifo "$work/tap.fifo"
"$cw" tap -e "$bus" --topics > "$work/tap.fifo" 2>/dev/null &
pids+=($!)
while IFS= read -r line; do printf '%s\t%s\n' "$EPOCHREALTIME" "$line"; done < "$work/tap.fifo" > "$work/tap.log" &
pids+=($!)
sleep 0.5

export CW_WORK="$work" CW_URL="http://127.0.0.1:$port" CW_SHOTS="${CW_SCREENSHOTS:-$src/docs/screenshots}"
mkdir -p "$CW_SHOTS"
status=0
"$py" "$src/tests/web_browser.py" || status=$?
if [ "$status" -ne 0 ]; then
    echo "--- web log:"; tail -n 30 "$work/web.log"
    echo "--- daemon log:"; tail -n 20 "$work/run.log" 2>/dev/null || true
    exit "$status"
fi

# The acknowledgement made on the page is in the archive, with its note.
"$cw" qa --db "$work/qa.db" search --type ack > "$work/acks.txt" 2>&1 || true
grep -q "sarah" "$work/acks.txt" || { cat "$work/acks.txt"; fail "the page's acknowledgement is not in the archive"; }
grep -q "called the customer back" "$work/acks.txt" || { cat "$work/acks.txt"; fail "the note is not in the archive"; }
# The daemon checked who acknowledged ([web] users in its config too): the
# web signed for sarah, so the archived ack is hers, verified, as a supervisor.
/usr/bin/python3 - "$work/qa.db" <<'PY' || fail "the page's acknowledgement is not marked verified in the archive"
import json, sqlite3, sys
rows = [json.loads(r[0]) for r in sqlite3.connect(sys.argv[1]).execute("SELECT json FROM acks")]
assert rows and all(a.get("verified") is True and a.get("role") == "supervisor" for a in rows), rows
PY
# Every refusal left a log line.
grep -q "401 .*wrong name or password" "$work/web.log" || fail "no log line for the wrong password"
grep -q "403 POST /api/ack by sarah: missing or wrong CSRF token" "$work/web.log" || fail "no log line for the CSRF refusal"
echo "PASS web_browser"

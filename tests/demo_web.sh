#!/usr/bin/env bash
# demo_web: the README's demo command opens the wallboard on the sample call.
# `tools/demo.sh --web PORT` (install and build skipped) prints the URL and a
# password; logging in with them and reading the board over HTTP (as the
# page's script does) shows the call of line "demo" (agent alice, team north)
# and its alerts; Ctrl-C (SIGINT) stops the demo and leaves no process behind.
# Bad usage is refused with a reason. The page in a browser is web_browser's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cw_tmpdir work cw-demo-web
port="$(free_port)"
CALLWATCH_DEMO_NO_SETUP=1 setsid "$src/tools/demo.sh" --web "$port" 2> "$work/demo.err" &
demo=$!
pids+=("$demo")
on_exit() { kill -INT -- "-$demo" 2>/dev/null || true; }
wait_for 10 grep -q "password" "$work/demo.err" || fail "no login printed: $(cat "$work/demo.err")"
grep -q "http://127.0.0.1:$port/wallboard" "$work/demo.err" || fail "no wallboard URL: $(cat "$work/demo.err")"
password="$(sed -n 's/.*log in as demo, password \([A-Za-z0-9]*\).*/\1/p' "$work/demo.err")"
[[ -n "$password" ]] || fail "no password in: $(cat "$work/demo.err")"
python3 - "$port" "$password" <<'PY' || fail "the wallboard did not show the sample call"
import http.cookiejar, json, sys, time, urllib.request
port, password = sys.argv[1], sys.argv[2]
base = "http://127.0.0.1:%s" % port
jar = http.cookiejar.CookieJar()
web = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
req = urllib.request.Request(base + "/login", data=json.dumps({"name": "demo", "password": password}).encode(),
                             headers={"Content-Type": "application/json"})
me = json.load(web.open(req, timeout=10))
assert me["ok"] and me["role"] == "supervisor" and me["home"] == "/wallboard", me
until = time.time() + 60
while time.time() < until:
    board = json.load(web.open(base + "/api/board", timeout=10))
    calls = [c for c in board["calls"] if c.get("agent") == "alice" and c.get("team") == "north"]
    if calls and any(r.get("kind") for r in calls[0].get("rows", [])):
        print("demo_web: call %s on the wallboard with %s" % (calls[0]["call_id"],
              ", ".join("%s %s" % (r["severity"], r["kind"]) for r in calls[0]["rows"])))
        sys.exit(0)
    time.sleep(0.5)
print("board: %s" % json.dumps(board)[:500])
sys.exit(1)
PY
kill -INT -- "-$demo"
wait_for 10 bash -c "! kill -0 $demo 2>/dev/null" || fail "the demo did not stop on Ctrl-C"
pgrep -f "callwatch-demo\\." >/dev/null && fail "processes of the demo left behind: $(pgrep -af callwatch-demo)"
# Bad usage.
if CALLWATCH_DEMO_NO_SETUP=1 "$src/tools/demo.sh" --web 70000 2> "$work/bad.err"; then fail "port 70000 accepted"; fi
grep -q "port 1..65535" "$work/bad.err" || fail "bad port message: $(cat "$work/bad.err")"
if CALLWATCH_DEMO_NO_SETUP=1 "$src/tools/demo.sh" --wbe 2> "$work/bad.err"; then fail "--wbe accepted"; fi
grep -q "unknown option '--wbe'" "$work/bad.err" || fail "unknown option message: $(cat "$work/bad.err")"
echo "demo_web: ok"

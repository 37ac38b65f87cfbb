#!/usr/bin/env bash
# Command 1 of the README: install, build, and watch callwatch follow the
# bundled sample call live. No sound card needed: the call is a file paced at
# real time, exactly as a live line would deliver it.
#
#   tools/demo.sh                  the call's events as JSON Lines on stdout
#   tools/demo.sh --web [PORT]     the same call on the supervisors' wallboard:
#                                  a daemon plays the call as line "demo", and
#                                  `callwatch web` serves it on 127.0.0.1:PORT
#                                  (default 8088) with a supervisor "demo" whose
#                                  password is printed; the call stays on the
#                                  wallboard (and in the archive) after it
#                                  ends; Ctrl-C stops both.
# CALLWATCH_DEMO_NO_SETUP=1 skips the install and build (tests use it, with
# $CALLWATCH naming the binary).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
web=0
port=8088
case "${1:-}" in
  "") ;;
  --web)
    web=1
    if [[ -n "${2:-}" ]]; then
      [[ "$2" =~ ^[0-9]+$ ]] && (( $2 >= 1 && $2 <= 65535 )) ||
        { echo "demo: --web takes a port 1..65535, not '$2'" >&2; exit 2; }
      port="$2"
    fi ;;
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "demo: unknown option '$1' (try --web [PORT])" >&2; exit 2 ;;
esac
if [[ -z "${CALLWATCH_DEMO_NO_SETUP:-}" ]]; then
  "$root/tools/deps.sh"
  "$root/tools/build.sh" >&2
fi
cw="${CALLWATCH:-$root/build/callwatch}"
call="$root/models/sample-call.flac"
if (( ! web )); then
  echo "callwatch: following models/sample-call.flac live (events as JSON Lines; Ctrl-C stops)" >&2
  exec "$cw" analyze --realtime "$call"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/callwatch-demo.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
password="$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 12)"
printf '%s\n' "$password" | "$cw" user add --users "$work/users" demo --role supervisor >/dev/null 2>"$work/user.log" ||
  { cat "$work/user.log" >&2; exit 1; }
cat > "$work/demo.ini" <<INI
; written by tools/demo.sh --web
[bus]
endpoint = tcp://127.0.0.1:$(free_port)
ack_endpoint = tcp://127.0.0.1:$(free_port)

[archive]
path = $work/archive.db

[web]
listen = 127.0.0.1:$port
users = $work/users
db = $work/archive.db
ended_linger_s = 3600

[line demo]
file = $call
agent_id = alice
team = north
INI
"$cw" web --config "$work/demo.ini" 2> "$work/web.log" &
pids+=($!)
for _ in $(seq 1 50); do
  grep -q "serving" "$work/web.log" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/web.log" >&2; exit 1; }
  sleep 0.1
done
cat >&2 <<MSG
callwatch: the wallboard is at http://127.0.0.1:$port/wallboard
           log in as demo, password $password
           The sample call starts in 5 s and plays for about 35 s at real time; it stays
           on the wallboard, greyed, after it ends. Ctrl-C stops the demo.
MSG
sleep 5
"$cw" run --config "$work/demo.ini" 2> "$work/run.log" &
pids+=($!)
wait "${pids[1]}" || { tail -5 "$work/run.log" >&2; exit 1; }

#!/usr/bin/env bash
# web_cli: `callwatch user add` and `callwatch web` given bad input, the way
# an operator or a stray client would: clear messages and exit 2 for bad
# options; over HTTP, malformed requests, oversized headers and bodies, bad
# cookies, path traversal and unknown routes get a 4xx and a log line, and
# the server stays up.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
cw_tmpdir work cw-web-cli

expect_exit() { # CODE PATTERN CMD...: exit status CODE and PATTERN on stderr
    local code=$1 pat=$2 rc=0
    shift 2
    "$@" > "$work/out" 2> "$work/err" < "${stdin_file:-/dev/null}" || rc=$?
    [ "$rc" -eq "$code" ] || fail "'$*' exited $rc, not $code: $(cat "$work/err")"
    grep -q -- "$pat" "$work/err" || fail "'$*': no '$pat' in: $(cat "$work/err")"
}

echo "pw-1" > "$work/pw"
stdin_file="$work/pw" expect_exit 2 "supervisor, qa or agent" "$cw" user add --users "$work/users" sarah --role boss
stdin_file="$work/pw" expect_exit 2 "bad name" "$cw" user add --users "$work/users" "sa rah" --role qa
expect_exit 2 "password as one line" "$cw" user add --users "$work/users" sarah --role qa
stdin_file="$work/pw" expect_exit 0 "written" "$cw" user add --users "$work/users" sarah --role supervisor
[ "$(stat -c %a "$work/users")" = 600 ] || fail "users file not 0600"
expect_exit 2 "cannot open users file" "$cw" web --users "$work/nope" --listen 127.0.0.1:0
echo "sarah:boss:x" > "$work/bad-users"
expect_exit 2 "bad-users:1: bad role" "$cw" web --users "$work/bad-users" --listen 127.0.0.1:0
expect_exit 2 "expected HOST:PORT" "$cw" web --users "$work/users" --listen nowhere

port=$(free_port)
bus="tcp://127.0.0.1:$(free_port)"
acks="tcp://127.0.0.1:$(free_port)"
"$cw" web --users "$work/users" --listen "127.0.0.1:$port" -e "$bus" --ack-endpoint "$acks" 2> "$work/web.log" &
web=$!
pids+=($web)
wait_pid=$web wait_for 10 grep -q "serving http" "$work/web.log" || fail "web did not start: $(cat "$work/web.log")"
url="http://127.0.0.1:$port"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "$url/api/board")" = 401 ] || fail "no session: not 401"
[ "$(code -b 'cw_session=../../etc' "$url/api/board")" = 401 ] || fail "bad cookie: not 401"
[ "$(code --path-as-is "$url/static/../../../etc/passwd")" = 404 ] || fail "traversal: not 404"
[ "$(code "$url/static/..%2f..%2fcallwatch.ini")" = 404 ] || fail "encoded traversal: not 404"
[ "$(code "$url/no/such/page")" = 404 ] || fail "unknown route: not 404"
[ "$(code -X DELETE "$url/api/board")" = 405 ] || fail "wrong method: not 405"
[ "$(code -X POST -d 'not json' "$url/login")" = 400 ] || fail "malformed login: not 400"
[ "$(code -X POST -d '{"name":"sarah","password":"no"}' "$url/login")" = 401 ] || fail "wrong password: not 401"
[ "$(code -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' a)" "$url/login")" = 431 ] || fail "huge header: not 431"
[ "$(head -c 200000 /dev/zero | code -X POST --data-binary @- "$url/login")" = 413 ] || fail "huge body: not 413"
# A request line that is not HTTP at all.
python3 - "$port" <<'PY'
import socket, sys
# Answered 4xx, closed, or left to the idle timeout: never a crash.
for junk in (b"\x00\xffGARBAGE \r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET /login HTTP/1.1\r\nBad header\r\n\r\n"):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    s.sendall(junk)
    try:
        reply = s.recv(100)
    except socket.timeout:
        reply = b""
    assert reply == b"" or reply[:10] in (b"HTTP/1.1 4", b"HTTP/1.0 4") or reply.startswith(b"HTTP/1.1 505"), (junk, reply)
    s.close()
PY
[ "$(code "$url/login")" = 200 ] || fail "the server died"
kill -0 "$web" || fail "the server process exited"
for pat in "401 GET /api/board" "404 GET /static" "404 GET /no/such/page" "405 DELETE /api/board" "400 POST /login" \
           "401 POST /login: wrong name or password" "413 POST /login" "431"; do
    grep -q -- "$pat" "$work/web.log" || fail "no log line '$pat' in: $(cat "$work/web.log")"
done
echo "PASS web_cli"

#!/usr/bin/env bash
# console_cli: bad input to the console, whisper viewer and the daemon's new
# options is refused with a message naming what is wrong, never a crash.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cw_tmpdir work cw-console-cli
failures=0

# expect STATUS REGEX CMD...: exit status STATUS and stderr matching REGEX.
expect() {
    local want=$1 regex=$2
    shift 2
    "$@" < /dev/null > "$work/out" 2> "$work/err"
    local got=$?
    if [ "$got" -ne "$want" ] || ! grep -Eq -- "$regex" "$work/err"; then
        echo "FAIL: $* -> status $got (want $want), stderr: $(head -c 300 "$work/err")"
        failures=$((failures + 1))
    else
        echo "ok: $* -> $got: $(head -n 1 "$work/err")"
    fi
}

expect 2 "--agent ID is required" "$CALLWATCH" whisper
expect 2 "unexpected argument" "$CALLWATCH" whisper --agent a extra
expect 2 "needs a terminal" "$CALLWATCH" console
expect 2 "--filter 'colour=red'" "$CALLWATCH" console --filter colour=red
expect 2 "longer than 128" "$CALLWATCH" console --user "$(printf 'x%.0s' $(seq 200))"
# console --ack: one acknowledgement without a terminal.
expect 2 "--ack ALERT_ID and --call CALL_ID go together" "$CALLWATCH" console --ack a1
expect 2 "--timeout must be" "$CALLWATCH" console --ack a1 --call c1 --timeout soon
expect 2 "--password-file /nonexistent/pw: No such file" "$CALLWATCH" console --ack a1 --call c1 --password-file /nonexistent/pw
printf '\n' > "$work/empty.pw"; chmod 600 "$work/empty.pw"
expect 2 "empty.pw: expected the password on its first line" "$CALLWATCH" console --ack a1 --call c1 --password-file "$work/empty.pw"
expect 1 "a1 not acknowledged: tcp://127.0.0.1:1 not reachable within 1000 ms" \
  "$CALLWATCH" console --ack a1 --call c1 --ack-endpoint tcp://127.0.0.1:1 --timeout 1
# The broker's ack endpoints go in pairs; a node's link endpoint is checked.
expect 2 "node_ack_endpoint \(--node-ack-endpoint\); node_ack_endpoint is empty" "$CALLWATCH" broker \
  --frontend 'tcp://127.0.0.1:*' --backend 'tcp://127.0.0.1:*' --ack-endpoint 'tcp://127.0.0.1:*'
expect 2 "bogus://x" "$CALLWATCH" broker --frontend 'tcp://127.0.0.1:*' \
  --backend 'tcp://127.0.0.1:*' --ack-endpoint 'tcp://127.0.0.1:*' --node-ack-endpoint bogus://x
printf '[bus]\nbroker_ack_endpoint = udp://x\n' > "$work/f.ini"
expect 2 "f.ini:2: \[bus\] broker_ack_endpoint" "$CALLWATCH" run -c "$work/f.ini" --check-config

# A daemon that checks who acknowledges needs its users file.
printf '[web]\nusers = /nonexistent/users\n' > "$work/g.ini"
expect 2 "g.ini: \[web\] users: cannot open users file /nonexistent/users" "$CALLWATCH" run -c "$work/g.ini" --check-config
expect 1 "acknowledgements: cannot open users file /nonexistent/users" "$CALLWATCH" run -c "$work/g.ini" \
  --endpoint 'tcp://127.0.0.1:*' --ack-endpoint 'tcp://127.0.0.1:*' --file /dev/null

printf '[whisper]\nplaybook = /nonexistent/pb.json\n' > "$work/a.ini"
expect 2 "playbook" "$CALLWATCH" run -c "$work/a.ini" --check-config
printf '[whisper]\nmin_interval_s = -1\n' > "$work/b.ini"
expect 2 "b.ini:2: \[whisper\] min_interval_s" "$CALLWATCH" run -c "$work/b.ini" --check-config
printf '[bus]\nack_endpoint = udp://x\n' > "$work/c.ini"
expect 2 "c.ini:2: \[bus\] ack_endpoint" "$CALLWATCH" run -c "$work/c.ini" --check-config

# tap's closing line says what it received and missed (the bus's seq).
expect 2 "--stats" "$CALLWATCH" tap --stats 0
expect 0 "tap: received 0 events, missed 0 \(0 topics with gaps\)" "$CALLWATCH" tap --endpoint tcp://127.0.0.1:1 --timeout 1
# --stats 1 repeats the line every second, then once more at exit.
expect 0 "missed 0" "$CALLWATCH" tap --endpoint tcp://127.0.0.1:1 --timeout 3 --stats 1
lines=$(grep -c "tap: received 0 events, missed 0" "$work/err")
if [ "$lines" -lt 3 ]; then
    echo "FAIL: tap --stats 1 for 3 s printed the line $lines time(s), want 3 or more"
    failures=$((failures + 1))
fi

# A playbook that is not valid JSON, or misses a kind: the daemon names the
# file and the place before it opens any audio.
printf '{"lang":"en","kinds":' > "$work/broken.json"
printf '[whisper]\nplaybook = %s\n' "$work/broken.json" > "$work/d.ini"
expect 2 "broken.json:1:" "$CALLWATCH" run -c "$work/d.ini" --endpoint tcp://127.0.0.1:* --ack-endpoint tcp://127.0.0.1:*
printf '{"lang":"en","kinds":{}}' > "$work/empty.json"
printf '[whisper]\nplaybook = %s\n' "$work/empty.json" > "$work/e.ini"
expect 2 'empty.json: \$.kinds.anger: missing' "$CALLWATCH" run -c "$work/e.ini" --endpoint tcp://127.0.0.1:* --ack-endpoint tcp://127.0.0.1:*
expect 2 'empty.json: \$.kinds.anger: missing' "$CALLWATCH" run -c "$work/e.ini" --check-config
expect 1 "ack endpoint bogus" "$CALLWATCH" run --endpoint tcp://127.0.0.1:* --ack-endpoint bogus://x --file /dev/null

[ "$failures" -eq 0 ] && echo PASS || { echo "$failures failure(s)"; exit 1; }

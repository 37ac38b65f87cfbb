#!/usr/bin/env bash
# Behaviour test: the CURVE-protected bus as an operator sets it up with the
# command line. `callwatch keygen` makes key pairs (secret 0600); `callwatch
# run` with [bus] curve = on publishes a short flite call; three `callwatch
# tap`s listen: one whose public key is in curve_clients_dir gets every event
# from call_start to call_end, one with an unlisted key and one with no key
# get nothing. A garbage server certificate and a plain bind on 0.0.0.0 are
# refused with messages naming the file / the endpoint and the option.
# Exit 77 only when flite, sox or python3 is missing.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
for prog in flite sox python3; do
  command -v "$prog" >/dev/null 2>&1 || { echo "SKIP: $prog is not installed"; exit 77; }
done

cw_tmpdir tmp cw-curve

mkdir -p "$tmp/keys" "$tmp/clients"
"$cw" keygen --dir "$tmp/keys" server >/dev/null
"$cw" keygen --dir "$tmp/keys" alice >/dev/null
"$cw" keygen --dir "$tmp/keys" mallory >/dev/null
cp "$tmp/keys/alice.key" "$tmp/clients/"
mode="$(stat -c %a "$tmp/keys/alice.key_secret")"
[[ "$mode" == 600 ]] || fail "secret key mode $mode, want 600"
grep -q 'public-key' "$tmp/keys/alice.key" || fail "public certificate lacks its key"
if grep -q 'secret-key' "$tmp/keys/alice.key"; then fail "public certificate holds the secret key"; fi
if "$cw" keygen --dir "$tmp/keys" alice 2>"$tmp/err"; then fail "keygen overwrote a key"; fi
grep -q "already exists" "$tmp/err" || fail "keygen overwrite message: $(cat "$tmp/err")"

port="$(free_port)"
ep="tcp://127.0.0.1:$port"
server_cfg() {
  printf '[bus]\nendpoint = %s\ncurve = on\ncurve_server_cert = %s\ncurve_clients_dir = %s\n' \
    "$ep" "$1" "$tmp/clients"
}
client_cfg() {
  printf '[bus]\nendpoint = %s\ncurve = on\ncurve_client_cert = %s\ncurve_server_public = %s\n' \
    "$ep" "$tmp/keys/$1.key_secret" "$tmp/keys/server.key"
}
server_cfg "$tmp/keys/server.key_secret" >"$tmp/server.ini"
client_cfg alice >"$tmp/alice.ini"
client_cfg mallory >"$tmp/mallory.ini"

cat >"$tmp/script.json" <<'JSON'
{"turns": [
 {"leg": "agent", "voice": "slt", "at": 0.3, "text": "Thank you for calling, how can I help?"},
 {"leg": "customer", "voice": "rms", "text": "I want a refund. I will complain to the ombudsman."}
]}
JSON
python3 "$src/tools/make-call.py" --script "$tmp/script.json" --out "$tmp/call.wav" \
  --truth "$tmp/truth.json" --rate 16000 --encoding pcm16 >/dev/null

# Refusals first: they must not need models or a subscriber.
printf 'not a certificate\n' >"$tmp/garbage.key_secret"
server_cfg "$tmp/garbage.key_secret" >"$tmp/garbage.ini"
if "$cw" run --ack-endpoint 'tcp://127.0.0.1:*' --config "$tmp/garbage.ini" --file "$tmp/call.wav" 2>"$tmp/err" >/dev/null; then
  fail "run accepted a garbage server certificate"
fi
grep -q "garbage.key_secret" "$tmp/err" && grep -qi "certificate" "$tmp/err" ||
  fail "garbage certificate message: $(cat "$tmp/err")"
if timeout 20 "$cw" run --ack-endpoint 'tcp://127.0.0.1:*' --endpoint "tcp://0.0.0.0:$port" --file "$tmp/call.wav" 2>"$tmp/err" >/dev/null; then
  fail "plain bind on 0.0.0.0 was accepted"
fi
grep -q "tcp://0.0.0.0:$port" "$tmp/err" && grep -q "allow_plain_remote" "$tmp/err" ||
  fail "plain remote bind message: $(cat "$tmp/err")"

# A subscriber with a broken certificate: clear error, nothing on stdout
# (stdout carries events; czmq's own parser complaint must not land there).
client_cfg alice | sed "s|$tmp/keys/alice.key_secret|$tmp/garbage.key_secret|" >"$tmp/badclient.ini"
printf 'curve\n    public-key = "x"\n' >"$tmp/garbage.key_secret"
if "$cw" tap --config "$tmp/badclient.ini" --timeout 1 >"$tmp/out" 2>"$tmp/err"; then
  fail "tap accepted a garbage client certificate"
fi
[[ ! -s "$tmp/out" ]] || fail "tap wrote to stdout on a bad certificate: $(cat "$tmp/out")"
grep -q "garbage.key_secret" "$tmp/err" || fail "bad client certificate message: $(cat "$tmp/err")"

# --check-config applies the same rules without starting.
"$cw" run --config "$tmp/server.ini" --check-config | grep -q "CURVE)" || fail "check-config of the CURVE config"
if "$cw" run --config "$tmp/garbage.ini" --check-config >/dev/null 2>"$tmp/err"; then
  fail "check-config accepted a garbage server certificate"
fi
grep -q "garbage.key_secret" "$tmp/err" || fail "check-config message: $(cat "$tmp/err")"

# The call runs as a line of agent bob, so its escalation alert brings a
# whisper prompt: bob's viewer, a subscriber too, needs a listed key as well.
{ server_cfg "$tmp/keys/server.key_secret"
  printf '[line desk1]\nfile = %s\nagent_id = bob\n' "$tmp/call.wav"; } >"$tmp/server-line.ini"
"$cw" whisper --config "$tmp/alice.ini" --agent bob --count 1 --timeout 90 >"$tmp/whisper-alice.txt" 2>"$tmp/whisper-alice.err" &
whisper_alice=$!
pids+=($whisper_alice)
"$cw" whisper --config "$tmp/mallory.ini" --agent bob --timeout 90 >"$tmp/whisper-mallory.txt" 2>/dev/null &
pids+=($!)
"$cw" tap --config "$tmp/alice.ini" --timeout 90 >"$tmp/alice.jsonl" 2>"$tmp/alice.err" &
tap_pid=$!
pids+=($tap_pid)
"$cw" tap --config "$tmp/mallory.ini" --timeout 90 >"$tmp/mallory.jsonl" 2>"$tmp/mallory.err" &
pids+=($!)
"$cw" tap --endpoint "$ep" --timeout 90 >"$tmp/nokey.jsonl" 2>"$tmp/nokey.err" &
pids+=($!)
sleep 0.5
"$cw" run --ack-endpoint 'tcp://127.0.0.1:*' --config "$tmp/server-line.ini" >"$tmp/run.out" 2>"$tmp/run.err" &
run_pid=$!
pids+=($run_pid)
for _ in $(seq 1 600); do
  grep -q '"type":"call_end"' "$tmp/alice.jsonl" 2>/dev/null && break
  kill -0 "$run_pid" 2>/dev/null || break
  sleep 0.1
done
sleep 0.5
alice_n="$(wc -l <"$tmp/alice.jsonl")"
mallory_n="$(wc -l <"$tmp/mallory.jsonl")"
nokey_n="$(wc -l <"$tmp/nokey.jsonl")"
echo "listed key: $alice_n events, unlisted key: $mallory_n, no key: $nokey_n"
grep -q '"type":"call_start"' "$tmp/alice.jsonl" || { cat "$tmp/run.err" "$tmp/alice.err"; fail "listed tap missed call_start"; }
grep -q '"type":"call_end"' "$tmp/alice.jsonl" || fail "listed tap missed call_end"
grep -q '"type":"transcript"' "$tmp/alice.jsonl" || fail "listed tap got no transcript"
(( mallory_n == 0 )) || fail "unlisted key received $mallory_n events"
(( nokey_n == 0 )) || fail "subscriber without a key received $nokey_n events"
grep -q '"type":"whisper"' "$tmp/alice.jsonl" || fail "no whisper prompt was published (the escalation cue was not heard?)"
wait "$whisper_alice" || fail "the listed whisper viewer got no prompt: $(cat "$tmp/whisper-alice.err")"
grep -qi "escalation" "$tmp/whisper-alice.txt" || fail "whisper viewer output: $(cat "$tmp/whisper-alice.txt")"
[[ ! -s "$tmp/whisper-mallory.txt" ]] || fail "an unlisted whisper viewer got: $(cat "$tmp/whisper-mallory.txt")"
# czmq must not have taken over SIGTERM: the CURVE tap stops at once.
kill -TERM "$tap_pid"
for _ in $(seq 1 30); do kill -0 "$tap_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$tap_pid" 2>/dev/null; then fail "CURVE tap ignored SIGTERM"; fi
echo "PASS"

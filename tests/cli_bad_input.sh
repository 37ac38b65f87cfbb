#!/usr/bin/env bash
# Bad input gets a clear message and a non-zero exit, never a crash or a hang:
# each case runs the real binary the way a user would and checks the exit
# status and that stderr says what was wrong and where.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
command -v sox >/dev/null || { echo "sox missing: skipping"; exit 77; }

cw_tmpdir work cw-bad-input
listener_pid=""
on_exit() { [ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null || true; }

failures=0
cases=0

# expect NAME STATUS PATTERN... -- ARGS...: runs callwatch ARGS, checks the exit
# status, that stderr matches every (extended, case-insensitive) PATTERN, and
# that nothing crashed (no sanitizer report, no signal).
expect() {
  local name=$1 want=$2
  shift 2
  local patterns=()
  while [ "$1" != "--" ]; do
    patterns+=("$1")
    shift
  done
  shift
  cases=$((cases + 1))
  local status=0
  timeout 60 "$CALLWATCH" "$@" >"$work/out" 2>"$work/err" </dev/null || status=$?
  local ok=1
  if [ "$status" -ne "$want" ]; then
    echo "FAIL [$name]: exit status $status, want $want"
    ok=0
  fi
  for p in "${patterns[@]}"; do
    if ! grep -Eqi -- "$p" "$work/err"; then
      echo "FAIL [$name]: stderr lacks /$p/"
      ok=0
    fi
  done
  if grep -Eq "AddressSanitizer|runtime error|Segmentation|core dumped" "$work/err"; then
    echo "FAIL [$name]: crashed"
    ok=0
  fi
  if [ -s "$work/out" ] && [ "${ALLOW_STDOUT:-0}" != 1 ]; then
    # analyze prints only events on stdout; a failure before any call starts prints none
    if ! python3 -c 'import json,sys
for l in open(sys.argv[1]): json.loads(l)' "$work/out" 2>/dev/null; then
      echo "FAIL [$name]: stdout is not JSON Lines"
      ok=0
    fi
  fi
  if [ "$ok" -eq 0 ]; then
    failures=$((failures + 1))
    echo "---- stderr of [$name] (callwatch $*):"
    cat "$work/err"
    echo "----"
  else
    echo "ok   [$name]: exit $status: $(head -c 300 "$work/err" | tr '\n' ' ')"
  fi
}

# ---- audio files ----
sox -n -r 16000 -c 2 -b 16 "$work/good.wav" synth 1 sine 440 sine 880 2>/dev/null
sox -n -r 16000 -c 1 -b 16 "$work/mono.wav" synth 1 sine 440 2>/dev/null
sox -n -r 16000 -c 10 -b 16 "$work/ten.wav" synth 0.5 sine 440 2>/dev/null
sox -n -r 16000 -c 2 -b 16 "$work/long.wav" synth 4 sine 440 sine 880 2>/dev/null
cp "$work/long.wav" "$work/truncated.wav"
truncate -s 40000 "$work/truncated.wav" # header promises 256 kB of samples
: >"$work/zero-bytes.wav"
sox -n -r 16000 -c 2 -b 16 "$work/no-frames.wav" trim 0 0 2>/dev/null || head -c 44 "$work/good.wav" >"$work/no-frames.wav"
printf 'this is a text file, not audio\n%.0s' {1..50} >"$work/notes.wav"

expect missing-file 1 "nosuch\.wav" "no such file|cannot open|not found" -- analyze "$work/nosuch.wav"
expect not-audio 1 "notes\.wav" "not.*(audio|recogni|format)|unknown format|format" -- analyze "$work/notes.wav"
expect zero-bytes 1 "zero-bytes\.wav" -- analyze "$work/zero-bytes.wav"
expect no-frames 1 "no-frames\.wav" "no audio|empty|zero|0 frames|no frames" -- analyze "$work/no-frames.wav"
expect truncated 1 "truncated\.wav" "truncat" -- analyze "$work/truncated.wav"
expect mono-without-leg 1 "mono\.wav" "mono" "--leg" -- analyze "$work/mono.wav"
expect too-many-channels 1 "ten\.wav" "10" "channel" -- analyze "$work/ten.wav"
expect channel-out-of-range 1 "good\.wav" "channel 5|5.*channel" "2 channel" -- analyze --customer-channel 5 "$work/good.wav"
expect same-channels 2 "both 1|same" -- analyze --agent-channel 1 --customer-channel 1 "$work/good.wav"
expect bad-leg 2 "--leg 'caller'" "agent.*customer" -- analyze --leg caller "$work/mono.wav"
expect bad-channel-number 2 "--agent-channel 'x'" "integer" -- analyze --agent-channel x "$work/good.wav"
expect no-files 2 "no audio file" -- analyze
expect one-bad-among-good 1 "notes\.wav" -- analyze "$work/good.wav" "$work/notes.wav"
expect unknown-command 2 "unknown command 'frobnicate'" -- frobnicate
expect unknown-flag 2 "usage" -- analyze --frobnicate "$work/good.wav"

# ---- configuration ----
cat >"$work/unknown-option.ini" <<'EOF'
[vad]
threshold_db = -45

hangovr_ms = 300
EOF
expect config-unknown-option 2 "unknown-option\.ini:4" "hangovr_ms" "hangover_ms" -- analyze --config "$work/unknown-option.ini" "$work/good.wav"

cat >"$work/bad-value.ini" <<'EOF'
[asr]
backlog_s = lots
EOF
expect config-bad-value 2 "bad-value\.ini:2" "backlog_s" "lots" -- analyze --config "$work/bad-value.ini" "$work/good.wav"

cat >"$work/out-of-range.ini" <<'EOF'
[vad]
onset_ms = 5
EOF
expect config-out-of-range 2 "out-of-range\.ini:2" "onset_ms" "range|10" -- analyze --config "$work/out-of-range.ini" "$work/good.wav"

cat >"$work/no-model.ini" <<'EOF'
[models]
hmm = /nonexistent/acoustic-model
EOF
expect missing-model-dir 2 "/nonexistent/acoustic-model" "hmm" -- analyze --config "$work/no-model.ini" "$work/good.wav"
expect missing-model-check 2 "/nonexistent/acoustic-model" -- run --config "$work/no-model.ini" --check-config
expect missing-config 2 "nothere\.ini" -- analyze --config "$work/nothere.ini" "$work/good.wav"

# ---- [asr] decoder_args: an unknown PocketSphinx argument, a bad value, an argument callwatch sets, no pairs ----
for bad in "-nosuch 3" "-maxhmmpf lots" "-hmm /tmp" "-maxhmmpf"; do
  printf '[asr]\nworkers = 1\ndecoder_args = %s\n' "$bad" >"$work/decoder-args.ini"
  expect "decoder-args '$bad'" 2 "decoder_args" "${bad%% *}" -- analyze --config "$work/decoder-args.ini" "$work/good.wav"
done
printf '[asr]\nworkers = 1\ndecoder_args = -maxhmmpf 3000 -maxwpf 5\n' >"$work/decoder-args-ok.ini"
expect decoder-args-ok 0 -- analyze --config "$work/decoder-args-ok.ini" "$work/good.wav"

# ---- [asr] model_8k: missing, not a model, a model PocketSphinx cannot load; rates no model serves ----
cat >"$work/model-8k-missing.ini" <<'EOF'
[asr]
workers = 1
model_8k = /nonexistent/8k-model
EOF
expect model-8k-missing 2 "model-8k-missing\.ini:3" "model_8k" "/nonexistent/8k-model" -- \
  analyze --config "$work/model-8k-missing.ini" "$work/good.wav"
expect model-8k-missing-check 2 "model-8k-missing\.ini:3" "model_8k" "/nonexistent/8k-model" -- \
  run --config "$work/model-8k-missing.ini" --check-config
mkdir -p "$work/half-model"
: >"$work/half-model/mdef"
: >"$work/half-model/feat.params"
printf '[asr]\nworkers = 1\n\n\nmodel_8k = %s\n' "$work/half-model" >"$work/model-8k-half.ini"
expect model-8k-not-a-model 2 "model-8k-half\.ini:5" "model_8k" "half-model" "missing.*means" -- \
  analyze --config "$work/model-8k-half.ini" "$work/good.wav"
expect model-8k-not-a-model-check 2 "model-8k-half\.ini:5" "model_8k" "missing.*means" -- \
  run --config "$work/model-8k-half.ini" --check-config
for f in means variances transition_matrices noisedict sendump; do : >"$work/half-model/$f"; done
expect model-8k-unloadable 2 "model-8k-half\.ini:5" "model_8k" "half-model" "could not load" -- \
  analyze --config "$work/model-8k-half.ini" "$work/good.wav"
# Below 16 kHz only exactly 8 kHz has a model of its own (with model_8k): other rates are decoded
# upsampled by the 16 kHz model, and stderr says so instead of mis-decoding silently.
sox -n -r 8000 -c 1 -b 16 "$work/mono8k.wav" synth 1 sine 440 2>/dev/null
sox -n -r 11025 -c 1 -b 16 "$work/mono11k.wav" synth 1 sine 440 2>/dev/null
printf '[asr]\nworkers = 1\n' >"$work/one-worker.ini"
expect rate-8k-without-model 0 "customer leg is 8000 Hz" "model_8k" -- \
  analyze --config "$work/one-worker.ini" --leg customer "$work/mono8k.wav"
model_8k="${CALLWATCH_MODEL_8K:-${CALLWATCH_SRC:-$(dirname "$0")/..}/../shared/models/en-us-8k/hub4wsj_sc_8k}"
if [ -f "$model_8k/mdef" ]; then
  printf '[asr]\nworkers = 1\nworkers_8k = 1\nmodel_8k = %s\n' "$model_8k" >"$work/model-8k.ini"
  expect rate-11k-unserved 0 "11025 Hz" "no acoustic model serves" -- \
    analyze --config "$work/model-8k.ini" --leg customer "$work/mono11k.wav"
else
  echo "skip [rate-11k-unserved]: no 8 kHz model at $model_8k"
fi

# ---- CURVE into a broker: a connect node's and the broker's missing keys ----
mkdir -p "$work/keys" "$work/clients"
"$CALLWATCH" keygen --dir "$work/keys" node >/dev/null
cat >"$work/connect-curve.ini" <<EOF
[bus]
mode = connect
curve = on
curve_server_cert = $work/keys/node.key_secret
curve_clients_dir = $work/clients
curve_server_public = $work/keys/node.key
EOF
expect connect-curve-no-client-cert 2 "connect-curve\.ini" "curve_client_cert" "mode = connect" -- \
  run --config "$work/connect-curve.ini" --check-config
expect broker-curve-no-nodes-dir 2 "connect-curve\.ini" "curve_nodes_dir" "--nodes-dir" -- \
  broker --config "$work/connect-curve.ini" --frontend 'tcp://127.0.0.1:*' --backend 'tcp://127.0.0.1:*'
expect broker-curve-bad-nodes-dir 2 "nodes directory '/nonexistent/nodes'" "curve_nodes_dir" -- \
  broker --config "$work/connect-curve.ini" --nodes-dir /nonexistent/nodes --frontend 'tcp://127.0.0.1:*' \
  --backend 'tcp://127.0.0.1:*'

cat >"$work/unknown-device.ini" <<'EOF'
[bus]
endpoint = tcp://127.0.0.1:*
ack_endpoint = tcp://127.0.0.1:*

[line desk1]
device = no-such-sound-card-xyz
EOF
# `run` starts such a line down and retries it (tests/line_missing.sh); --check-config names it.
ALLOW_STDOUT=1 expect unknown-device 1 "no-such-sound-card-xyz" "desk1" -- run --config "$work/unknown-device.ini" \
  --check-config

cat >"$work/bad-endpoint.ini" <<'EOF'
[bus]
endpoint = carrier-pigeon://roof
EOF
expect bad-endpoint 2 "bad-endpoint\.ini" "endpoint" "carrier-pigeon" -- run --config "$work/bad-endpoint.ini" --file "$work/good.wav"

# ---- an endpoint already in use ----
port=$(free_port)
python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(120)' "$port" &
listener_pid=$!
for _ in $(seq 50); do
  python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$port" 2>/dev/null && break
  sleep 0.1
done
expect endpoint-in-use 1 "tcp://127.0.0.1:$port" "in use" -- run --endpoint "tcp://127.0.0.1:$port" --file "$work/good.wav"

echo "$cases cases, $failures failed"
[ "$failures" -eq 0 ]

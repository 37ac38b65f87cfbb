#!/usr/bin/env bash
# Behaviour test: a customer reads out a card number; it must appear nowhere
# in what callwatch emits - not in `callwatch analyze` output (transcripts,
# partials, alert evidence and text) and not on the bus (`callwatch run` of the
# same call with `callwatch tap` listening).
#
# The call is synthesised with flite (tools/make-call.py). To show the test can
# fail, the call is first analysed with redaction effectively off ([redact]
# min_digits = 64): the recogniser must then produce a run of at least 4
# consecutive digit words, or the test is meaningless and fails.
# "A run" is >= 4 consecutive tokens that are digit words (zero..nine, oh) or
# numerals ("4532"), anywhere in any JSON string of any event.
# Exit 77 only when flite, sox or python3 is missing.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
for prog in flite sox python3; do
  command -v "$prog" >/dev/null 2>&1 || { echo "SKIP: $prog is not installed"; exit 77; }
done

cw_tmpdir tmp cw-redact

cat >"$tmp/script.json" <<'JSON'
{"turns": [
 {"leg": "agent", "voice": "slt", "at": 0.5,
  "text": "Thank you for calling. My name is Sarah. How can I help you today?"},
 {"leg": "customer", "voice": "rms",
  "text": "Hello. I would like to pay my bill with a card."},
 {"leg": "agent", "voice": "slt", "text": "Of course. Please read me the card number."},
 {"leg": "customer", "voice": "rms",
  "text": "four five three two, one one two two, three three four four, five five six six."},
 {"leg": "agent", "voice": "slt", "text": "Thank you. And the expiry date?"},
 {"leg": "customer", "voice": "rms", "text": "zero nine, two seven. My code is eight one five."}
]}
JSON
python3 "$src/tools/make-call.py" --script "$tmp/script.json" --out "$tmp/call.wav" \
  --truth "$tmp/truth.json" --rate 16000 --encoding pcm16 >/dev/null

# Finds runs of >= 4 digit tokens in every string of every JSON line of $1.
longest_run() {
  python3 - "$1" <<'PY'
import json, re, sys
digit = set("zero oh one two three four five six seven eight nine".split())
best, where = 0, ""
def strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from strings(x)
    elif isinstance(v, list):
        # a list of word objects is read as one sentence as well
        ws = [x.get("w", "") for x in v if isinstance(x, dict)]
        if ws:
            yield " ".join(ws)
        for x in v:
            yield from strings(x)
for line in open(sys.argv[1]):
    ev = json.loads(line)
    for s in strings(ev):
        run = 0
        for tok in re.split(r"[\s,.;:]+", s.lower()):
            if tok in digit or tok.isdigit():
                run += 1
                if run > best:
                    best, where = run, s
            else:
                run = 0
print(best, where[:160])
PY
}

printf '[redact]\nmin_digits = 64\n' >"$tmp/noredact.ini"
"$cw" analyze --config "$tmp/noredact.ini" "$tmp/call.wav" >"$tmp/plain.jsonl" 2>"$tmp/plain.err" || {
  cat "$tmp/plain.err"; echo "FAIL: analyze without redaction failed"; exit 1; }
read -r plain_run plain_where < <(longest_run "$tmp/plain.jsonl")
echo "without redaction: longest digit run $plain_run ('$plain_where')"
if (( plain_run < 4 )); then
  echo "FAIL: the recogniser did not hear the card number even unredacted; the test proves nothing"
  exit 1
fi

"$cw" analyze "$tmp/call.wav" >"$tmp/red.jsonl" 2>"$tmp/red.err" || {
  cat "$tmp/red.err"; echo "FAIL: analyze failed"; exit 1; }
read -r red_run red_where < <(longest_run "$tmp/red.jsonl")
echo "analyze with redaction: longest digit run $red_run ('$red_where')"
grep -q '\[digits\]' "$tmp/red.jsonl" || { echo "FAIL: no [digits] mask in the analyze output"; exit 1; }
if (( red_run >= 4 )); then
  echo "FAIL: analyze output still carries $red_run digits in a row: $red_where"
  exit 1
fi

# The bus: run replays the call at real time; tap records everything.
port="$(free_port)"
ep="tcp://127.0.0.1:$port"
"$cw" tap --endpoint "$ep" --timeout 100 >"$tmp/bus.jsonl" 2>"$tmp/tap.err" &
pids+=($!)
"$cw" run --ack-endpoint 'tcp://127.0.0.1:*' --endpoint "$ep" --file "$tmp/call.wav" >"$tmp/run.out" 2>"$tmp/run.err" &
run_pid=$!
pids+=($run_pid)
for _ in $(seq 1 900); do
  grep -q '"type":"call_end"' "$tmp/bus.jsonl" 2>/dev/null && break
  kill -0 "$run_pid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '"type":"call_end"' "$tmp/bus.jsonl"; then
  cat "$tmp/run.err" "$tmp/tap.err"; echo "FAIL: no call_end on the bus within 90 s"; exit 1
fi
read -r bus_run bus_where < <(longest_run "$tmp/bus.jsonl")
echo "bus: $(wc -l <"$tmp/bus.jsonl") events, longest digit run $bus_run ('$bus_where')"
grep -q '\[digits\]' "$tmp/bus.jsonl" || { echo "FAIL: no [digits] mask on the bus"; exit 1; }
if (( bus_run >= 4 )); then
  echo "FAIL: the bus carried $bus_run digits in a row: $bus_where"
  exit 1
fi
echo "PASS"

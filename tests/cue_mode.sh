#!/usr/bin/env bash
# Cue mode ([asr] mode = cue) on a synthetic call, as a supervisor would notice it:
#  - the customer's "I want to speak to your manager" and "this is ridiculous"
#    raise an escalation and an anger alert whose evidence quotes the spotted
#    words, within 1 s of when they were said;
#  - transcripts carry only spotted lexicon phrases, marked "mode":"cue";
#  - "my manager at work told me" (a benign phrase) raises no escalation;
#  - a bad mode or a broken keyphrase file is an error naming file and key.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
for tool in flite sox python3; do
  command -v "$tool" >/dev/null || { echo "$tool missing: skipping"; exit 77; }
done
cw_tmpdir work cw-cue-mode

cat >"$work/script.json" <<'JSON'
{"turns": [
 {"leg": "agent", "text": "Thank you for calling, my name is Sarah. How can I help you today?", "at": 0.3},
 {"leg": "customer", "text": "Hello. I have a question about the bill I got this month."},
 {"leg": "agent", "text": "Of course. Let me pull up your account."},
 {"leg": "customer", "text": "My manager at work told me about your new plan."},
 {"leg": "agent", "text": "I can see a late fee on the bill."},
 {"leg": "customer", "text": "This is ridiculous. I paid on time."},
 {"leg": "agent", "text": "I am sorry, the fee stays on the account."},
 {"leg": "customer", "text": "Then I want to speak to your manager right now."},
 {"leg": "agent", "text": "Please hold while I transfer you."}
]}
JSON
python3 "$CALLWATCH_SRC/tools/make-call.py" --script "$work/script.json" -o "$work/call.wav" --truth "$work/truth.json" >/dev/null
printf '[asr]\nmode = cue\n' >"$work/cue.ini"
"$CALLWATCH" analyze --config "$work/cue.ini" "$work/call.wav" >"$work/cue.jsonl" 2>"$work/cue.err" ||
  fail "analyze in cue mode: $(cat "$work/cue.err")"

python3 - "$work" "$CALLWATCH_SRC/models/cues-en.json" <<'PY'
import json, re, sys
work, lexicon = sys.argv[1], json.load(open(sys.argv[2]))
def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)
def load(name):
    return [json.loads(l) for l in open("%s/%s" % (work, name))]
cue = load("cue.jsonl")
truth = json.load(open(work + "/truth.json"))
turns = truth["turns"] if isinstance(truth, dict) else truth
def turn_with(text):
    return next(t for t in turns if text in t["text"])
phrase_words = set()
for e in lexicon["entries"] + lexicon["benign"]:  # a pattern's words: those of all its alternatives
    phrase_words.update(re.findall(r"[^\s()|?]+", e["phrase"]))
finals = [e for e in cue if e["type"] == "transcript" and e["final"]]
if not finals:
    fail("no transcript in cue mode")
for e in finals:
    if e.get("mode") != "cue":
        fail("cue-mode transcript without mode cue: %s" % e)
    stray = [w["w"] for w in e["words"] if w["w"] not in phrase_words]
    if stray:
        fail("cue-mode transcript has words outside the lexicon: %s" % stray)
print("cue transcripts:", [e["text"] for e in finals])
cue_words = sum(len(e["words"]) for e in finals)
said = sum(len(t["text"].split()) for t in turns)
if not cue_words < said / 2:
    fail("cue mode should carry only the spotted phrases: %d words of %d said" % (cue_words, said))
alerts = [e for e in cue if e["type"] == "alert"]
for e in alerts:
    print("alert %s %s %.2f-%.2f %s" % (e["kind"], e["severity"], e["t_start"], e["t_end"], e["text"]))
def alert_for(kind, turn_text, word):
    t = turn_with(turn_text)
    for e in alerts:
        words = " ".join(w["w"] for w in e["evidence"].get("words", []))
        if e["kind"] == kind and e["leg"] == "customer" and word in words and \
           e["t_start"] < t["t_end"] + 1 and e["t_end"] > t["t_start"] - 1:
            return e
    fail("no %s alert quoting '%s' during '%s' (%.2f-%.2f)" % (kind, word, turn_text, t["t_start"], t["t_end"]))
alert_for("escalation", "speak to your manager", "manager")
alert_for("anger", "This is ridiculous", "ridiculous")
benign = turn_with("My manager at work")
for e in alerts:
    if e["kind"] == "escalation" and e["t_start"] < benign["t_end"] and e["t_end"] > benign["t_start"]:
        fail("escalation on the benign 'my manager at work': %s" % e)
print("ok: cue mode alerts with spotted words, benign phrase suppressed, %d words spotted of %d said" %
      (cue_words, said))
PY

printf '[asr]\nworkers = 1\nmode = fast\n' >"$work/bad.ini"
status=0
"$CALLWATCH" analyze --config "$work/bad.ini" "$work/call.wav" >/dev/null 2>"$work/bad.err" || status=$?
[ "$status" -eq 2 ] && grep -q 'bad.ini:3' "$work/bad.err" && grep -q 'mode' "$work/bad.err" ||
  fail "bad mode: exit $status, $(cat "$work/bad.err")"
printf '{"threshold_by_words": [1e-3], "score_flor": -0.1}\n' >"$work/kp.json"
printf '[models]\nkeyphrases = %s\n' "$work/kp.json" >"$work/badkp.ini"
status=0
"$CALLWATCH" analyze --config "$work/badkp.ini" "$work/call.wav" >/dev/null 2>"$work/badkp.err" || status=$?
[ "$status" -ne 0 ] && grep -q 'kp.json' "$work/badkp.err" && grep -q 'score_flor' "$work/badkp.err" ||
  fail "broken keyphrase file: exit $status, $(cat "$work/badkp.err")"
echo "bad mode and broken keyphrase file refused: $(head -1 "$work/bad.err"); $(head -1 "$work/badkp.err")"

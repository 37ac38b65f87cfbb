#!/usr/bin/env bash
# Behaviour test: every category of escalation threat in one call reaches the supervisor.
#
# A customer (flite voice rms, 16 kHz and 8 kHz u-law) says, turn after turn, "I want your
# manager", "I will call my lawyer" and "I will go to the newspaper". The escalation
# episode is critical after the first two threats; the third must still be surfaced. Checked on
# `callwatch analyze` with the shipped configuration:
#   - the customer's escalation alerts name, between them, the categories manager, lawyer and
#     media (in the evidence of the first alert or in the new_categories of the later ones);
#   - every later alert of the episode is linked to the one before by `escalates`;
#   - a threat category is announced at most once (no storm), and the agent leg has none.
# Exit 77 (skip) when flite, sox or python3 is missing.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
need_tools --for "synthesise the test call" flite sox python3
need_callwatch
cw_tmpdir tmp cw-esc-cats

cat >"$tmp/script.json" <<'EOF'
{"turns": [
 {"leg": "agent", "voice": "slt", "at": 0.5, "text": "Thank you for calling. How can I help you today?"},
 {"leg": "customer", "voice": "rms", "text": "Hello. I have a problem with my bill this month."},
 {"leg": "agent", "voice": "slt", "text": "I am sorry to hear that. Let me look at your account."},
 {"leg": "customer", "voice": "rms", "text": "No. I want your manager, now."},
 {"leg": "agent", "voice": "slt", "text": "I understand. Please give me a moment."},
 {"leg": "customer", "voice": "rms", "text": "I will call my lawyer about this."},
 {"leg": "agent", "voice": "slt", "text": "There is no need for that, sir."},
 {"leg": "customer", "voice": "rms", "text": "And I will go to the newspaper."}
]}
EOF

cat >"$tmp/check.py" <<'EOF'
import json, sys
case, path = sys.argv[1:3]
events = [json.loads(l) for l in open(path) if l.strip()]
alerts = [e for e in events if e["type"] == "alert" and e["kind"] == "escalation"]
fails = []
if any(a["leg"] != "customer" for a in alerts):
    fails.append("escalation alert on the agent leg")
alerts = [a for a in alerts if a["leg"] == "customer"]
announced = []
for i, a in enumerate(alerts):
    if i == 0:
        cats = [w.get("category") for w in a["evidence"].get("words", [])]
    else:
        cats = a.get("new_categories", [])
        if a.get("escalates") != alerts[i - 1]["id"]:
            fails.append("alert %s not linked to %s: %s" % (a["id"], alerts[i - 1]["id"], a.get("escalates")))
    for c in dict.fromkeys(cats):
        if c in announced and i > 0:
            fails.append("category %s announced twice" % c)
        announced.append(c)
for want in ("manager", "lawyer", "media"):
    if want not in announced:
        fails.append("category %s never reached the supervisor" % want)
summary = ", ".join("%s %s %s" % (a["id"], a["severity"], a.get("new_categories", "")) for a in alerts)
print("%s: %d escalation alerts (%s); categories %s" % (case, len(alerts), summary, sorted(set(announced))))
for f in fails:
    print("FAIL [%s]: %s" % (case, f))
sys.exit(1 if fails else 0)
EOF

status=0
for rate in 16000 8000; do
  enc=(--rate "$rate")
  [[ "$rate" == 8000 ]] && enc=(--rate 8000 --encoding ulaw)
  python3 "$src/tools/make-call.py" --script "$tmp/script.json" --out "$tmp/call$rate.wav" \
    --truth "$tmp/call$rate.json" "${enc[@]}" >/dev/null
  "$cw" analyze --call-id "esc$rate" "$tmp/call$rate.wav" >"$tmp/out$rate.jsonl" 2>"$tmp/err$rate.txt" || {
    echo "FAIL: analyze exited $? on the $rate Hz call: $(tail -3 "$tmp/err$rate.txt")"; status=1; continue; }
  python3 "$tmp/check.py" "$rate Hz" "$tmp/out$rate.jsonl" || status=1
done
[[ $status == 0 ]] && echo "PASS: every escalation category reached the supervisor at 16 and 8 kHz"
exit $status

#!/usr/bin/env bash
# Make models/sample-call.flac (16 kHz stereo FLAC, ch0 agent, ch1 customer) and its ground truth
# models/sample-call.json: a synthetic contact-center call about a double charge. The customer
# gets angry, threatens to escalate, despairs; the agent first sounds flat and repeats a scripted
# line (once over the customer), then de-escalates with a concrete refund and a date.
#
# Voices: agent flite slt (prosody controllable), customer flite rms (best recognised by the
# PocketSphinx en-us model; ignores f0 settings, so anger is louder and faster, despair quieter
# and slower). Each turn carries a "cues" annotation (the alert kinds it should provoke); these
# are the author's intent, not measured. Output is deterministic.
#
# Usage: tools/make-sample-call.sh [OUT.flac]   (default: <repo>/models/sample-call.flac)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/models/sample-call.flac}"
truth="${out%.*}.json"

script="$(mktemp)"
trap 'rm -f "$script"' EXIT
cat >"$script" <<'EOF'
{"turns": [
 {"leg": "agent", "voice": "slt", "at": 0.6, "cues": [],
  "text": "Thank you for calling, my name is Sarah. How can I help you today?"},
 {"leg": "customer", "voice": "rms", "gap": 0.7, "cues": [],
  "text": "Hi. I was charged twice for the same bill. Forty nine dollars, two times."},
 {"leg": "agent", "voice": "slt", "gap": 0.9, "cues": ["flat_affect"],
  "f0_std": 2, "stretch": 1.15, "gain_db": -6,
  "text": "Please hold while I check your account."},
 {"leg": "customer", "voice": "rms", "gap": 1.2, "cues": ["anger", "despair"],
  "gain_db": 5, "stretch": 0.88,
  "text": "This is ridiculous. This is the third time I am calling about this and nobody helps me."},
 {"leg": "agent", "voice": "slt", "gap": -0.7, "cues": ["flat_affect", "talk_over"],
  "f0_std": 2, "stretch": 1.15, "gain_db": -6,
  "text": "Please hold while I check your account."},
 {"leg": "customer", "voice": "rms", "gap": 0.4, "cues": ["anger", "escalation"],
  "gain_db": 5, "stretch": 0.88,
  "text": "No, I will not hold again. I want to speak to your manager right now."},
 {"leg": "customer", "voice": "rms", "gap": 0.5, "cues": ["escalation"],
  "gain_db": 5, "stretch": 0.9,
  "text": "If this is not fixed today I will cancel my account and report you to the regulator."},
 {"leg": "agent", "voice": "slt", "gap": 0.8, "cues": [],
  "f0_std": 28, "gain_db": 1,
  "text": "I completely understand how you feel. I am very sorry. I can see the double charge on your account."},
 {"leg": "customer", "voice": "rms", "gap": 0.9, "cues": ["despair"],
  "gain_db": -7, "stretch": 1.25,
  "text": "I can't take this anymore. I give up. What is the point."},
 {"leg": "agent", "voice": "slt", "gap": 0.8, "cues": [],
  "f0_std": 28, "gain_db": 1,
  "text": "You will not need to call again. I am issuing a refund of forty nine dollars now, and it will be back on your card by Friday."},
 {"leg": "agent", "voice": "slt", "gap": 0.6, "cues": [],
  "f0_std": 28,
  "text": "Is there anything else I can help you with?"},
 {"leg": "customer", "voice": "rms", "gap": 0.7, "cues": [],
  "text": "No. Thank you."}
]}
EOF

python3 "$root/tools/make-call.py" --script "$script" --out "$out" --truth "$truth" \
  --rate 16000 --encoding pcm16 --format flac --tail 1.0
echo "wrote $out ($(stat -c %s "$out") bytes) and $truth" >&2

#!/usr/bin/env bash
# Behaviour test: talk-over holds when each leg leaks into the other (echo / crosstalk).
#
# tools/make-calls-indep.py renders four dev calls with each leg mixed into the other 20 dB down
# (--crosstalk-db 20, as real phone recordings do, typically 15-30 dB): talk_over_1 (the agent
# starts ~2 s before the customer finishes and both go on), calm_1 (the agent answers 0.15-0.4 s
# after the customer ends), escalation_1 and anger_first_2 (ordinary turn-taking). On every leg
# the VAD opens on the other speaker's leak, so the legs' activity overlaps at every change of turn.
# `callwatch analyze --no-asr` must:
#   - flag the real talk-over (a talk_over alert on the agent leg overlapping the labelled span);
#   - raise no talk_over alert on the three others (their overlaps are only crosstalk).
# Control, so the test cannot pass on calls without crosstalk: with [detect] crosstalk_db = 0 (no
# crosstalk judgement) at least one of those three calls draws a talk_over alert.
#
# Environment: CALLWATCH (binary), CALLWATCH_SRC (repo root). Exit 77 (skip) when espeak-ng, flite,
# sox or python3 is missing.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
need_tools --for "synthesise the test calls" espeak-ng flite sox python3
need_callwatch
cw_tmpdir tmp cw-crosstalk

python3 "$src/tools/make-calls-indep.py" "$tmp/corpus" --split dev --seed 1 --jobs 2 --crosstalk-db 20 \
  --only talk_over_1,calm_1,escalation_1,anger_first_2
printf '[detect]\ncrosstalk_db = 0\n' >"$tmp/no-crosstalk.ini"

python3 - "$cw" "$tmp/corpus/dev" "$tmp/no-crosstalk.ini" <<'PY'
import json, subprocess, sys

cw, corpus, no_xt = sys.argv[1:4]
truth = {c["name"]: c for c in json.load(open(corpus + "/truth.json"))["calls"]}
fails = []

def talk_overs(name, extra=()):
    p = subprocess.run([cw, "analyze", "--no-asr", *extra, corpus + "/" + truth[name]["audio"]],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    if p.returncode != 0:
        fails.append("%s: analyze exit %d: %s" % (name, p.returncode, p.stderr.decode()[-300:]))
        return []
    evs = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
    return [e for e in evs if e.get("type") == "alert" and e.get("kind") == "talk_over"]

span = [s for s in truth["talk_over_1"]["spans"] if s["kind"] == "talk_over"][0]
got = talk_overs("talk_over_1")
hit = [a for a in got if a["leg"] == "agent" and a["t_start"] <= span["t_end"] + 1 and a["t_end"] >= span["t_start"] - 1]
print("talk_over_1: span %.2f-%.2f, alerts %s" % (span["t_start"], span["t_end"],
      [(a["t_start"], a["t_end"], a["severity"]) for a in got]))
if not hit:
    fails.append("talk_over_1: the real talk-over (%.2f-%.2f) was not flagged" % (span["t_start"], span["t_end"]))
if len(got) != len(hit):
    fails.append("talk_over_1: talk_over alerts outside the labelled span: %s" % got)

control = 0
for name in ("calm_1", "escalation_1", "anger_first_2"):
    got = talk_overs(name)
    print("%s: %d talk_over alerts with crosstalk judged" % (name, len(got)))
    if got:
        fails.append("%s: crosstalk-only overlap flagged as talk-over: %s" % (name, [(a["t_start"], a["t_end"]) for a in got]))
    n = len(talk_overs(name, ("--config", no_xt)))
    print("%s: %d talk_over alerts with crosstalk_db = 0 (control)" % (name, n))
    control += n
if control == 0:
    fails.append("control: without the crosstalk test no call drew a talk-over, so these calls do not exercise it")

for f in fails:
    print("FAIL: " + f)
sys.exit(1 if fails else 0)
PY
echo "PASS"

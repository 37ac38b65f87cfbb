#!/usr/bin/env python3
"""make-eval-corpus.py - render a small labelled corpus of synthetic calls for tools/eval.py.

    tools/make-eval-corpus.py OUT_DIR [--rate 16000|8000] [--seed N] [--jobs 2] [--noise-db DB]

Every call is a JSON script rendered by tools/make-call.py (flite + sox; agent slt on channel 0,
customer rms on channel 1 unless a call says otherwise). OUT_DIR gets, per call NAME:
    NAME.script.json   the script given to make-call.py (turns annotated with "label")
    NAME.wav           the stereo call (16 kHz pcm16, or 8 kHz u-law with --rate 8000)
    NAME.json          make-call.py's ground truth (turn and word times)
and OUT_DIR/truth.json, the labels tools/eval.py scores against:
    {"generator": ..., "rate_hz": ..., "seed": ...,
     "calls": [{"name", "audio", "words_truth", "duration_s", "calm": bool, "notes",
                "spans": [{"kind", "leg", "t_start", "t_end", "cue", "phrase"}]}]}
  kind   anger | despair | escalation | flat_affect | talk_over | dead_air (the alert kinds)
  leg    customer | agent | both (dead_air: either alert leg matches)
  cue    what carries the cue: "words", "prosody", "words+prosody", "timing"
         (tools/eval.py can score a subset, e.g. anger:words)
  phrase the cue words (word cues), else a short description.

How a span is derived (all from make-call.py's word timing, error typically < 0.08 s):
  word cue      first to last word of the labelled phrase inside the turn (several phrases of
                one kind in one turn make one span: one alert is expected for them);
  prosody cue   the whole turn (first word start .. last word end);
  flat_affect   from the first to the last word of the agent's flat turns (one span per call;
                the detector works over a sliding window, so one alert is expected);
  talk_over     the overlap: agent turn start .. end of the customer turn it interrupts
                (the agent turn starts 1.5 s before that end and keeps going well past it);
  dead_air      end of the last speech on either leg .. start of the next turn (12 s).

Every call opens with the agent's greeting and a neutral customer warm-up turn (the recogniser's
cepstral mean and the prosody baselines need one). Calm calls ("calm": true) carry no labels but
contain tricky words ("I'm not angry", "my manager at work", "I don't want to cancel",
"no need to speak to a supervisor"); any alert on them is a false positive.

Prosody: the rms voice ignores flite's f0 settings, so customer arousal on rms is gain + tempo
(duration_stretch); the one prosody-only anger call uses the awb voice for the customer, whose
f0 mean / stddev flite does honour. Agent (slt) flat affect is int_f0_target_stddev 0..1,
slower, quieter, with the same scripted phrase repeated.

Deterministic: same options -> same bytes. --seed jitters the ordinary inter-turn gaps
(+-0.15 s) and seeds the background noise (when --noise-db is given).
"""

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
MAKE_CALL = os.path.join(HERE, "make-call.py")

# Agent prosody presets (slt): lively default and flat/monotone. A lively human's phrases span
# more than 4 semitones of pitch (Emo-DB neutral speech: 4.9 and up); flite's own slt intonation
# spans only 2-3, so a lively agent gets a wider f0 target spread than flite's default.
LIVELY = {"f0_std": 70}
FLAT = {"f0_std": 1, "stretch": 1.2, "gain_db": -6}
FLATTER = {"f0_std": 0, "stretch": 1.25, "gain_db": -7}
# Customer (rms): raised = louder + faster; low = quieter + slower.
RAISED = {"gain_db": 6, "stretch": 0.85}
LOW = {"gain_db": -7, "stretch": 1.3}

GREETING = "Thank you for calling, my name is Sarah. How can I help you today?"


def A(text, **kw):
    t = {"leg": "agent", "text": text}
    t.update(LIVELY)
    t.update(kw)
    return t


def C(text, **kw):
    t = {"leg": "customer", "text": text}
    t.update(kw)
    return t


def L(kind, phrase=None, cue="words"):
    """A label on a turn. phrase: the words of the cue inside the turn's text (word cues)."""
    d = {"kind": kind, "cue": cue}
    if phrase:
        d["phrase"] = phrase
    return d


def opening(warmup="Hello. I have a question about the bill I got this month."):
    return [A(GREETING, at=0.5, **LIVELY), C(warmup)]


# name -> (notes, turns, calm)
CALLS = [
    ("esc_manager", "escalation: your manager", opening() + [
        A("I see a second payment. Billing will review it next week.", **LIVELY),
        C("Why does it take so long?"),
        A("That is our standard process, I am afraid.", **LIVELY),
        C("Next week is too late. I want to speak to your manager.",
          label=[L("escalation", "I want to speak to your manager")]),
    ], False),
    ("esc_regulator", "escalation: regulator", opening("Good morning. My internet has been slow since Monday.") + [
        A("Let me run a line test for you. One moment.", **LIVELY),
        C("I already did all the tests your website asks for."),
        A("The test shows no fault on our side.", **LIVELY),
        C("If this is not fixed this week I will report you to the regulator.",
          label=[L("escalation", "I will report you to the regulator")]),
    ], False),
    ("esc_cancel", "escalation: cancel my account, raised", opening() + [
        A("I can help with that. What seems to be the problem?", **LIVELY),
        C("The price went up again without any notice."),
        A("The new price applies to all customers from this month.", **LIVELY),
        C("Then I am going to cancel my account today.", **RAISED,
          label=[L("escalation", "I am going to cancel my account", cue="words")]),
    ], False),
    ("anger_words", "anger words, neutral prosody", opening("Hi. I ordered a router two weeks ago.") + [
        A("Thank you. I can see the order. It has not been shipped yet.", **LIVELY),
        C("This is ridiculous. You told me it would ship on Monday.",
          label=[L("anger", "This is ridiculous")]),
        A("I apologise. The warehouse had a delay.", **LIVELY),
        C("I paid for express delivery and I still have nothing."),
    ], False),
    ("anger_raised", "anger words with raised loudness and tempo", opening() + [
        A("Please hold while I check your account.", **LIVELY),
        C("I have been holding for twenty minutes already."),
        A("I am sorry, the system is slow today.", **LIVELY),
        C("This is unacceptable. You are useless.", **RAISED,
          label=[L("anger", "This is unacceptable", cue="words+prosody"),
                 L("anger", "You are useless", cue="words+prosody")]),
    ], False),
    ("anger_prosody", "anger by prosody only (awb customer: higher, wider f0, louder, faster)",
     [A(GREETING, at=0.5, **LIVELY),
      C("Hello. I have a question about the bill I got this month.", voice="awb"),
      A("Sure. What would you like to know about it?", **LIVELY),
      C("There is a charge of forty dollars that I do not understand.", voice="awb"),
      A("That is the fee for the late payment in May.", **LIVELY),
      C("I paid in May. I paid on time. I have the receipt right here.", voice="awb",
        gain_db=8, stretch=0.8, f0_mean=190, f0_std=45,
        label=[L("anger", None, cue="prosody")]),
      ], False),
    ("despair_giveup", "despair words, low and slow", opening("Hello. I am calling about my broken phone line.") + [
        A("I see an open ticket. The engineer visit was cancelled.", **LIVELY),
        C("Cancelled again. I give up. Nobody helps me.", **LOW,
          label=[L("despair", "I give up", cue="words+prosody"),
                 L("despair", "Nobody helps me", cue="words+prosody")]),
        A("I am so sorry. I will book the first slot tomorrow morning.", **LIVELY),
    ], False),
    ("despair_third", "despair: third time calling", opening("Hi. It is about my refund for the cancelled order.") + [
        A("Can you give me the order number please?", **LIVELY),
        C("This is the third time I am calling about this.", **LOW,
          label=[L("despair", "This is the third time I am calling", cue="words+prosody")]),
        A("I understand. You will not need to call again. The refund goes out today.", **LIVELY),
    ], False),
    ("flat_hold", "agent flat affect: monotone, slow, quiet, repeated scripted phrase",
     [A(GREETING, at=0.5, **FLAT, label=[L("flat_affect", None, cue="prosody")]),
      C("Hello. I have a question about the bill I got this month."),
      A("Please hold while I check your account.", **FLAT, label=[L("flat_affect", None, cue="prosody")]),
      C("Okay. It is about a charge of forty dollars."),
      A("Please hold while I check your account.", **FLAT, label=[L("flat_affect", None, cue="prosody")]),
      C("You already said that. Can you see the charge?"),
      A("Please hold while I check your account.", **FLAT, label=[L("flat_affect", None, cue="prosody")]),
      ], False),
    ("flat_noted", "agent flat affect: flatter, scripted apology repeated",
     [A(GREETING, at=0.5, **FLATTER, label=[L("flat_affect", None, cue="prosody")]),
      C("Hi. My package arrived damaged yesterday."),
      A("I apologise for the inconvenience. Your request has been noted.", **FLATTER,
        label=[L("flat_affect", None, cue="prosody")]),
      C("Will you send a new one?"),
      A("I apologise for the inconvenience. Your request has been noted.", **FLATTER,
        label=[L("flat_affect", None, cue="prosody")]),
      ], False),
    ("talk_over_1", "agent starts 1.5 s before the customer finishes and keeps going", opening() + [
        A("Sure, tell me what happened.", **LIVELY),
        C("I moved house last month and I asked you to change my address but the letters still go to the old one."),
        A("Yes I know, the address change takes four weeks, there is nothing I can do about it.", gap=-1.5,
          **LIVELY, label=[L("talk_over", None, cue="timing")]),
        C("Can you at least check that the new address is right?"),
    ], False),
    ("talk_over_2", "talk over in a calm call", opening("Hello. I would like to upgrade my plan please.") + [
        A("Great. Which plan are you interested in?", **LIVELY),
        C("The one with unlimited data, and I would also like to add a second line for my daughter."),
        A("Okay so the unlimited plan is thirty dollars and a second line is ten dollars more.", gap=-1.5,
          **LIVELY, label=[L("talk_over", None, cue="timing")]),
        C("That sounds fine. Please go ahead."),
    ], False),
    ("dead_air_1", "12 s of silence on both legs mid-call", opening() + [
        A("Let me look into that for you.", **LIVELY),
        C("Sure, take your time."),
        A("Thank you for waiting. I found the problem, it was a duplicate payment.", gap=12.0,
          **LIVELY, label=[L("dead_air", None, cue="timing")]),
    ], False),
    ("dead_air_2", "12 s of silence after a customer question", opening("Hi. I cannot log in to my account.") + [
        A("I can reset your password. What is your email address?", **LIVELY),
        C("It is john at example dot com. Are you still there?"),
        C("Hello? Is anyone there?", gap=12.0, label=[L("dead_air", None, cue="timing")]),
    ], False),
    ("calm_tricky_1", "calm: not angry, my manager at work", opening("Hello. I saw an advertisement for your new plan.") + [
        A("Great, I can tell you all about it.", **LIVELY),
        C("I'm not angry, just curious. My manager at work told me about your offer."),
        A("It is thirty dollars a month with unlimited calls.", **LIVELY),
    ], True),
    ("calm_tricky_2", "calm: don't want to cancel, no supervisor", opening("Hi. I have a small question about my contract.") + [
        A("Of course. What would you like to know?", **LIVELY),
        C("I don't want to cancel, I love the service. I just want to change the payment date."),
        A("No problem. I can move it to the fifteenth.", **LIVELY),
        C("Perfect. There is no need to speak to a supervisor, you were very helpful."),
    ], True),
]


def norm(w):
    return re.sub(r"[^a-z0-9]", "", w.lower())


def phrase_span(turn, phrase):
    toks = [norm(t) for t in phrase.split() if norm(t)]
    words = turn["words"]
    ws = [norm(w["w"]) for w in words]
    for i in range(len(ws) - len(toks) + 1):
        if ws[i:i + len(toks)] == toks:
            return words[i]["t_start"], words[i + len(toks) - 1]["t_end"]
    raise SystemExit("make-eval-corpus: phrase %r not found in turn %r (words %s)"
                     % (phrase, turn["text"], ws))


def spans_for(truth):
    """Turn labels in make-call.py's ground truth -> evaluation spans."""
    turns = truth["turns"]
    spans = []
    flat = []
    for i, t in enumerate(turns):
        for lab in t.get("label", []):
            kind, cue = lab["kind"], lab["cue"]
            if kind == "flat_affect":
                flat.append(t)
                continue
            if kind == "talk_over":
                prev = [p for p in turns[:i] if p["leg"] == "customer"][-1]
                s, e = t["t_start"], prev["t_end"]
                assert e > s + 0.5 and t["t_end"] > e + 1.0, "talk_over turn does not overlap as designed"
                spans.append({"kind": kind, "leg": "agent", "t_start": s, "t_end": e, "cue": cue,
                              "phrase": "agent starts %.2f s before the customer ends" % (e - s)})
            elif kind == "dead_air":
                s = max(p["t_end"] for p in turns[:i])
                e = t["t_start"]
                spans.append({"kind": kind, "leg": "both", "t_start": s, "t_end": e, "cue": cue,
                              "phrase": "%.1f s of silence on both legs" % (e - s)})
            elif lab.get("phrase"):
                s, e = phrase_span(t, lab["phrase"])
                prev = spans[-1] if spans else None
                if prev and prev.get("_turn") == i and prev["kind"] == kind:
                    # Several phrases of one kind in one turn are one cue (one alert expected).
                    prev["t_end"] = max(prev["t_end"], e)
                    prev["phrase"] += " / " + lab["phrase"]
                    continue
                spans.append({"kind": kind, "leg": t["leg"], "t_start": s, "t_end": e, "cue": cue,
                              "phrase": lab["phrase"], "_turn": i})
            else:
                spans.append({"kind": kind, "leg": t["leg"], "t_start": t["t_start"], "t_end": t["t_end"],
                              "cue": cue, "phrase": "whole turn: " + t["text"]})
    if flat:
        spans.append({"kind": "flat_affect", "leg": "agent", "t_start": flat[0]["t_start"],
                      "t_end": flat[-1]["t_end"], "cue": "prosody",
                      "phrase": "%d monotone agent turns" % len(flat)})
    for sp in spans:
        sp.pop("_turn", None)
    spans.sort(key=lambda s: (s["t_start"], s["kind"]))
    return spans


def build_script(turns, rng):
    out = []
    for t in turns:
        t = dict(t)
        if "at" not in t and "gap" not in t:
            t["gap"] = round(0.6 + rng.uniform(-0.15, 0.15), 3)
        out.append(t)
    return {"turns": out}


def render(name, script, args):
    sp = os.path.join(args.out_dir, name + ".script.json")
    with open(sp, "w", encoding="utf-8") as f:
        json.dump(script, f, indent=1)
        f.write("\n")
    audio = os.path.join(args.out_dir, name + ".wav")
    words = os.path.join(args.out_dir, name + ".json")
    cmd = [sys.executable, MAKE_CALL, "--script", sp, "--out", audio, "--truth", words,
           "--rate", str(args.rate), "--encoding", "ulaw" if args.rate == 8000 else "pcm16",
           "--seed", str(args.seed)]
    if args.noise_db is not None:
        cmd += ["--noise-db", str(args.noise_db)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError("make-call.py failed for %s:\n%s" % (name, p.stderr.decode("utf-8", "replace")))
    err = p.stderr.decode("utf-8", "replace").strip()
    if err:
        print("make-eval-corpus: %s: %s" % (name, err), file=sys.stderr)
    return audio, words


def main():
    ap = argparse.ArgumentParser(description="Render the labelled synthetic evaluation corpus (see the module doc).")
    ap.add_argument("out_dir")
    ap.add_argument("--rate", type=int, default=16000, choices=[16000, 8000],
                    help="16000 (pcm16 WAV, default) or 8000 (u-law WAV, telephone)")
    ap.add_argument("--seed", type=int, default=1, help="gap jitter and noise seed (default 1)")
    ap.add_argument("--jobs", type=int, default=2, help="calls rendered in parallel (default 2)")
    ap.add_argument("--noise-db", type=float, default=None, help="background noise level in dBFS (default none)")
    ap.add_argument("--only", help="comma-separated call names (default all)")
    args = ap.parse_args()
    for prog in ("flite", "sox"):
        if shutil.which(prog) is None:
            print("make-eval-corpus: %s is not installed" % prog, file=sys.stderr)
            return 77
    os.makedirs(args.out_dir, exist_ok=True)
    calls = CALLS
    if args.only:
        want = set(args.only.split(","))
        calls = [c for c in CALLS if c[0] in want]
    # One generator per call, seeded from (seed, name): a call does not change when another is added.
    jobs = []
    for name, notes, turns, calm in calls:
        rng = random.Random("%d/%s" % (args.seed, name))
        jobs.append((name, notes, calm, build_script(turns, rng)))
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        futs = [ex.submit(render, name, script, args) for name, _, _, script in jobs]
        results = [f.result() for f in futs]
    out_calls = []
    total = 0.0
    for (name, notes, calm, _), (audio, words) in zip(jobs, results):
        with open(words, encoding="utf-8") as f:
            truth = json.load(f)
        spans = spans_for(truth)
        if calm:
            assert not spans
        total += truth["duration_s"]
        out_calls.append({"name": name, "audio": os.path.basename(audio), "words_truth": os.path.basename(words),
                          "duration_s": truth["duration_s"], "calm": calm, "notes": notes, "spans": spans})
    doc = {"generator": "tools/make-eval-corpus.py", "rate_hz": args.rate,
           "encoding": "ulaw" if args.rate == 8000 else "pcm16", "seed": args.seed,
           "noise_dbfs": args.noise_db, "total_duration_s": round(total, 3),
           "matching_hint": "alert matches a span of the same kind and leg (leg 'both': any) "
                            "if [t_start,t_end] overlaps the span widened by 1.0 s",
           "calls": out_calls}
    with open(os.path.join(args.out_dir, "truth.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    nspans = sum(len(c["spans"]) for c in out_calls)
    print("make-eval-corpus: %d calls, %.1f s of audio, %d labelled spans -> %s"
          % (len(out_calls), total, nspans, os.path.join(args.out_dir, "truth.json")), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

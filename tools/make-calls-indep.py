#!/usr/bin/env python3
"""make-calls-indep.py - a second, independent generator of labelled two-leg calls.

    tools/make-calls-indep.py OUT_DIR [--split dev|test|both] [--subset small|all] [--seed N]
                              [--jobs 2] [--crosstalk-db DB] [--only NAME,...]

Independent of tools/make-call.py / make-eval-corpus.py on purpose, so callwatch is judged on
calls nobody tuned it to: other voices (espeak-ng variants en-us+m3, en+f2, en-gb, ... with their
own pitch -p, speed -s and amplitude -a; flite kal16 and awb), sox pitch and tempo shifts, sox
noise (white, pink or brown) on each leg at 15-25 dB SNR, half of the calls at 8 kHz G.711 u-law
band-limited to 300-3400 Hz, call levels from 0 to -12 dB, and cue phrasings the lexicon does not
hold verbatim ("I just gave up, what is the point of calling", "get me someone above you").

Stereo WAV per call: channel 0 agent, channel 1 customer. OUT_DIR/<split>/ gets, per call NAME:
    NAME.wav     the call (16 kHz pcm16, or 8 kHz u-law)
    NAME.json    the call's own ground truth: conditions, every turn and segment with its times,
                 and the labelled spans
and OUT_DIR/<split>/truth.json in the format tools/eval.py scores (see make-eval-corpus.py):
    {"calls": [{"name", "audio", "duration_s", "calm", "notes", "split",
                "spans": [{"kind", "leg", "t_start", "t_end", "cue", "phrase"}]}]}

Splits. Every kind has two pools of phrasings and two pools of voice settings, one for `dev`
and one for `test`; a call of a split draws only from its own pools, so the test half holds
phrasings and voices never seen while tuning on dev. Tune on dev only; report both.

Spans (call seconds). Each turn is a list of segments, each synthesised on its own, trimmed to
its sound (10 ms frames within 35 dB of the segment's loudest) and joined with a 0.15 s pause,
so a segment's span is exact to 10 ms:
  word cue     the cue segment;   voice cue   the whole turn;
  flat_affect  first to last word of the agent's flat turns (one span per call);
  talk_over    agent turn start .. end of the customer turn it interrupts (the agent starts
               1.4-2.2 s before the customer ends and goes on for > 1.5 s after);
  dead_air     end of the last speech on either leg .. start of the next turn (10-14 s).
Calm calls carry no spans but tricky words and quick answers (the agent starting 0.15-0.4 s
after the customer ends): any alert on them is a false positive.

--crosstalk-db DB mixes each leg into the other DB dB down (echo / crosstalk of a real line,
typically 15-30 dB); the truth does not change. --subset small renders a few dev calls only
(the ctest eval_indep). Deterministic: same options -> same bytes (random choices are seeded
per call from --seed and the call's name; sox runs with -R).
"""

import argparse
import array
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor

RATE = 16000
FRAME = RATE // 100
SEG_PAUSE_S = 0.15
REF_RMS_DB = -22.0        # a neutral turn's speech RMS before the call level
CHANNEL = {"agent": 0, "customer": 1}

# Voice pools. engine espeak: v (voice+variant), p pitch 0-99, s words/min, a amplitude;
# engine flite: v voice. pitch_c / tempo: sox pitch (cents) and tempo factor after synthesis.
VOICES = {
    "dev": {
        "agent": [{"engine": "espeak", "v": "en-us+f2", "p": 55, "s": 165},
                  {"engine": "espeak", "v": "en+f4", "p": 60, "s": 160},
                  {"engine": "flite", "v": "kal16", "pitch_c": 150, "tempo": 1.05}],
        "customer": [{"engine": "espeak", "v": "en-us+m3", "p": 40, "s": 160},
                     {"engine": "espeak", "v": "en-gb+m1", "p": 45, "s": 170},
                     {"engine": "flite", "v": "awb", "pitch_c": -100, "tempo": 1.0}],
    },
    "test": {
        "agent": [{"engine": "espeak", "v": "en-gb+f3", "p": 58, "s": 155},
                  {"engine": "espeak", "v": "en-us+f5", "p": 50, "s": 170},
                  {"engine": "flite", "v": "awb", "pitch_c": 250, "tempo": 1.1}],
        "customer": [{"engine": "espeak", "v": "en-gb-scotland+m2", "p": 42, "s": 165},
                     {"engine": "espeak", "v": "en-us+m7", "p": 35, "s": 150},
                     {"engine": "flite", "v": "kal16", "pitch_c": -200, "tempo": 0.95}],
    },
}

# Speaking styles, relative to the voice: dp/ds espeak pitch and speed, a amplitude,
# range SSML pitch range, pitch_c / tempo sox shifts, gain_db on top of REF_RMS_DB.
STYLES = {
    "neutral": {},
    "raised": {"p": 80, "s": 200, "a": 200, "range": "x-high", "pitch_c": 350, "tempo": 1.2, "gain_db": 9},
    "low": {"dp": -15, "ds": -45, "a": 70, "range": "x-low", "pitch_c": -250, "tempo": 0.8, "gain_db": -7},
    "flat": {"dp": -5, "ds": -35, "a": 60, "range": "x-low", "f0_std": 0, "tempo": 0.9, "gain_db": -6},
}

# Phrasing pools: (cue text, the words that carry it). None of these is a lexicon entry verbatim.
PHRASES = {
    "dev": {
        "anger": ["this is a joke", "you people are completely hopeless", "I am absolutely fed up with this",
                  "what a shambles this company is"],
        "despair": ["I just gave up, what is the point of calling", "nobody ever gets back to me, ever",
                    "I honestly don't know what else I can do", "I have called so many times I have lost count"],
        "escalation": ["get me someone above you", "I'll be talking to my solicitor about this",
                       "I'm taking this straight to the ombudsman", "I will post about this everywhere online"],
        "calm": ["my solicitor just needs a copy of the bill, no rush",
                 "my supervisor at work asked me to sort this out, nothing urgent",
                 "I was cross last week but you fixed it, so thank you",
                 "there's no point rushing, take your time"],
        "neutral_complaint": ["I paid that bill on the first of the month and I have the receipt",
                              "the engineer was booked for nine and nobody came all day",
                              "the router keeps dropping the connection every evening"],
    },
    "test": {
        "anger": ["this whole thing is a total farce", "I'm sick and tired of your excuses",
                  "your service is a complete disgrace", "you lot are utterly incompetent"],
        "despair": ["there's no point anymore, nothing ever changes", "I've run out of options, nobody listens",
                    "every single time I call it's the same story", "I feel like I'm going round in circles"],
        "escalation": ["put me through to your boss right now", "my lawyer will be in touch with you",
                       "I'm reporting this to trading standards", "I'm switching to another provider this week"],
        "calm": ["my lawyer friend recommended your company to me",
                 "I gave up coffee in January, anyway, about my plan",
                 "nobody else could sort it out, so thank you very much",
                 "I would never switch, I really like the service"],
        "neutral_complaint": ["my card was charged on the fifth and again on the seventh",
                              "the parcel says delivered but there is nothing at my door",
                              "the heating engineer left without fixing the boiler"],
    },
}

AGENT_LINES = {
    "dev": {"greet": "Good afternoon, you are through to customer care, this is Emma speaking.",
            "ack": ["I understand, let me bring up your account.", "Thank you, I can see that here.",
                    "Right, let me check what happened there.", "Okay, bear with me one moment."],
            "long": "Yes so what I can do for you today is raise a priority ticket with the technical team "
                    "and make sure somebody phones you back before five o'clock this evening.",
            "flat": ["Your call is important to us.", "I will log that on the system.",
                     "Your call is important to us.", "Is there anything else today."]},
    "test": {"greet": "Hello and welcome to the service desk, my name is Priya, how may I help?",
             "ack": ["Sure, can I take your postcode please?", "Thanks for waiting, I have the details now.",
                     "Let me have a look at the notes on this.", "Alright, one second while I check."],
             "long": "Okay well the best option I have is to send a replacement unit by courier tomorrow "
                     "morning and arrange collection of the old one at the same time.",
             "flat": ["I have noted your feedback.", "The team will review your case.",
                      "I have noted your feedback.", "Thank you for your patience."]},
}

CUSTOMER_WARMUP = {"dev": "Hi, I'm calling about my broadband account.",
                   "test": "Hello there, it's about the bill I got last week."}


def die(msg):
    print("make-calls-indep: error: " + msg, file=sys.stderr)
    sys.exit(2)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s" % (p.returncode, " ".join(cmd),
                                                             p.stderr.decode("utf-8", "replace")))


def read_wav(path):
    with wave.open(path, "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != RATE:
            raise RuntimeError("unexpected wav format: %s" % path)
        data = array.array("h")
        data.frombytes(w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        data.byteswap()
    return [v / 32768.0 for v in data]


def synth_segment(text, voice, style, tmp, key):
    """One segment as floats at 16 kHz, trimmed to its sound."""
    raw = os.path.join(tmp, key + "_raw.wav")
    conv = os.path.join(tmp, key + ".wav")
    st = STYLES[style]
    if voice["engine"] == "espeak":
        p = st.get("p", voice["p"] + st.get("dp", 0))
        s = st.get("s", voice["s"] + st.get("ds", 0))
        ssml = "<speak><prosody range=\"%s\">%s</prosody></speak>" % (st.get("range", "medium"), text)
        run(["espeak-ng", "-v", voice["v"], "-p", str(max(0, min(99, p))), "-s", str(s),
             "-a", str(st.get("a", 100)), "-m", "-w", raw, ssml])
        pitch_c, tempo = 0, 1.0
        if style == "flat":
            tempo = st["tempo"]
    else:
        cmd = ["flite", "-voice", voice["v"], "-t", text, "-o", raw]
        if "f0_std" in st:
            cmd[1:1] = ["--setf", "int_f0_target_stddev=%g" % st["f0_std"]]
        run(cmd)
        pitch_c = voice.get("pitch_c", 0) + st.get("pitch_c", 0)
        tempo = voice.get("tempo", 1.0) * st.get("tempo", 1.0)
    effects = ["rate", str(RATE)]
    if voice["engine"] == "espeak":
        pitch_c += voice.get("pitch_c", 0)
    if pitch_c:
        effects += ["pitch", str(pitch_c)]
    if abs(tempo - 1.0) > 1e-6:
        effects += ["tempo", "-s", "%g" % tempo]
    run(["sox", "-R", "-D", "-V1", raw, "-c", "1", "-b", "16", "-e", "signed-integer", conv] + effects)
    x = read_wav(conv)
    frames = [sum(v * v for v in x[i:i + FRAME]) / FRAME for i in range(0, len(x) - FRAME + 1, FRAME)]
    if not frames or max(frames) <= 0:
        raise RuntimeError("no sound synthesised for %r" % text)
    gate = max(frames) * 10 ** (-35 / 10.0)
    loud = [i for i, e in enumerate(frames) if e >= gate]
    return x[loud[0] * FRAME:(loud[-1] + 1) * FRAME]


def rms_db(x):
    e = sum(v * v for v in x) / max(1, len(x))
    return 10 * math.log10(e) if e > 0 else -120.0


def synth_turn(turn, tmp, key):
    """Segments -> (samples, [(seg_start_s, seg_end_s)]) relative to the turn's start."""
    out, spans = [], []
    for i, seg in enumerate(turn["segments"]):
        x = synth_segment(seg["text"], turn["voice"], turn["style"], tmp, "%s_%d" % (key, i))
        if out:
            out.extend([0.0] * int(SEG_PAUSE_S * RATE))
        spans.append((len(out) / RATE, (len(out) + len(x)) / RATE))
        out.extend(x)
    g = 10 ** ((REF_RMS_DB + STYLES[turn["style"]].get("gain_db", 0) - rms_db(out)) / 20.0)
    return [v * g for v in out], spans


def seg(text, cue=None):
    return {"text": text, "cue": cue}


class CallBuilder:
    """Collects turns for one call; gap = pause after the previous turn on either leg (s)."""

    def __init__(self, split, rng):
        self.split, self.rng, self.turns = split, rng, []
        self.agent = rng.choice(VOICES[split]["agent"])
        self.customer = rng.choice(VOICES[split]["customer"])

    def add(self, leg, segments, style="neutral", gap=None, label=None):
        if gap is None:
            gap = round(self.rng.uniform(0.5, 0.9), 3)
        self.turns.append({"leg": leg, "voice": self.agent if leg == "agent" else self.customer,
                           "style": style, "segments": segments, "gap": gap, "label": label})

    def opening(self):
        self.add("agent", [seg(AGENT_LINES[self.split]["greet"])], gap=0.5)
        self.add("customer", [seg(CUSTOMER_WARMUP[self.split])])

    def ack(self):
        return seg(self.rng.choice(AGENT_LINES[self.split]["ack"]))


def phrase(split, kind, rng):
    return rng.choice(PHRASES[split][kind])


def build_anger_words(b, split, rng):
    b.opening()
    b.add("agent", [b.ack()])
    b.add("customer", [seg(phrase(split, "neutral_complaint", rng))])
    b.add("agent", [seg("I'm sorry, that should not have happened.")])
    b.add("customer", [seg("Honestly,"), seg(phrase(split, "anger", rng), "anger")], label="words")
    b.add("agent", [b.ack()])


def build_anger_voice(b, split, rng):
    b.opening()
    b.add("agent", [b.ack()])
    b.add("customer", [seg(phrase(split, "neutral_complaint", rng))], style="raised", label="prosody")
    b.add("agent", [seg("I do apologise, let me see what I can do.")])
    b.add("customer", [seg("I want it sorted today, not next week, today.")], style="raised", label="prosody")
    b.add("agent", [b.ack()])


def build_anger_first(b, split, rng):
    """Angry from the first word: no calm warm-up from the customer."""
    b.add("agent", [seg(AGENT_LINES[split]["greet"])], gap=0.5)
    b.add("customer", [seg(phrase(split, "neutral_complaint", rng)), seg(phrase(split, "anger", rng), "anger")],
          style="raised", label="words+prosody")
    b.add("agent", [seg("I'm very sorry to hear that, let me help.")])


def build_despair(b, split, rng):
    b.opening()
    b.add("agent", [b.ack()])
    b.add("customer", [seg("It's still not working."), seg(phrase(split, "despair", rng), "despair")],
          style="low", label="words+prosody")
    b.add("agent", [seg("I'm really sorry, I will make sure this gets fixed.")])


def build_escalation(b, split, rng):
    b.opening()
    b.add("agent", [b.ack()])
    b.add("customer", [seg(phrase(split, "neutral_complaint", rng))])
    b.add("agent", [seg("That can take up to ten working days I'm afraid.")])
    b.add("customer", [seg("No, that's not good enough."), seg(phrase(split, "escalation", rng), "escalation")],
          label="words")
    b.add("agent", [b.ack()])


def build_flat(b, split, rng):
    lines = AGENT_LINES[split]["flat"]
    b.add("agent", [seg(AGENT_LINES[split]["greet"])], style="flat", gap=0.5, label="flat")
    b.add("customer", [seg(CUSTOMER_WARMUP[split])])
    for i, line in enumerate(lines):
        b.add("agent", [seg(line)], style="flat", label="flat")
        if i < len(lines) - 1:
            b.add("customer", [seg(phrase(split, "neutral_complaint", rng) if i == 0 else "Okay, and then what?")])


def build_talk_over(b, split, rng):
    b.opening()
    b.add("agent", [b.ack()])
    b.add("customer", [seg(phrase(split, "neutral_complaint", rng)),
                       seg("and when I rang last time they told me it would be done by the weekend")])
    b.add("agent", [seg(AGENT_LINES[split]["long"])], gap=-round(rng.uniform(1.4, 2.2), 2), label="timing")
    b.add("customer", [seg("Okay, thank you.")])


def build_dead_air(b, split, rng):
    b.opening()
    b.add("agent", [seg("Let me look into that, one moment please.")])
    b.add("customer", [seg("Sure, no problem.")])
    b.add("agent", [seg("Thanks for holding, I have found the problem.")], gap=round(rng.uniform(10, 14), 2),
          label="timing")
    b.add("customer", [seg("Great.")])


def build_calm(b, split, rng):
    b.opening()
    b.add("agent", [b.ack()], gap=round(rng.uniform(0.15, 0.4), 2))
    b.add("customer", [seg(phrase(split, "calm", rng))], gap=round(rng.uniform(0.15, 0.4), 2))
    b.add("agent", [b.ack()], gap=round(rng.uniform(0.15, 0.4), 2))
    b.add("customer", [seg(phrase(split, "calm", rng))], gap=round(rng.uniform(0.15, 0.4), 2))
    b.add("agent", [seg("Lovely, that's all done for you.")], gap=round(rng.uniform(0.15, 0.4), 2))


# name stem -> (builder, notes, calm)
KINDS = [
    ("anger_words", build_anger_words, "anger in paraphrased words, neutral voice", False),
    ("anger_voice", build_anger_voice, "anger by voice alone (loud, fast, high, wide)", False),
    ("anger_first", build_anger_first, "angry from the first word, words and voice", False),
    ("despair", build_despair, "despair paraphrase, low slow voice", False),
    ("escalation", build_escalation, "escalation paraphrase", False),
    ("flat", build_flat, "monotone, slow, quiet agent", False),
    ("talk_over", build_talk_over, "agent starts while the customer talks and both go on", False),
    ("dead_air", build_dead_air, "10-14 s of silence on both legs", False),
    ("calm", build_calm, "calm call, tricky words, quick answers", True),
]
SMALL = ["anger_words_1", "anger_voice_1", "despair_1", "escalation_1", "flat_1", "talk_over_1",
         "dead_air_1", "calm_1"]


def call_plan(split, seed, subset, only):
    plan = []
    for stem, builder, notes, calm in KINDS:
        for n in (1, 2):
            name = "%s_%d" % (stem, n)
            if subset == "small" and name not in SMALL:
                continue
            if only and name not in only:
                continue
            rng = random.Random("%d/%s/%s" % (seed, split, name))
            b = CallBuilder(split, rng)
            builder(b, split, rng)
            cond = {"rate_hz": rng.choice([8000, 16000]), "level_db": round(rng.uniform(-12, 0), 1),
                    "snr_db": round(rng.uniform(15, 25), 1), "noise": rng.choice(["whitenoise", "pinknoise",
                                                                                   "brownnoise"])}
            plan.append({"name": name, "notes": notes, "calm": calm, "turns": b.turns, "cond": cond})
    return plan


def place(turns, rendered):
    """Turn start times: each turn starts gap s after the end of the previous turn."""
    t, out = 0.0, []
    for turn, (x, segs) in zip(turns, rendered):
        start = max(0.0, t + turn["gap"])
        out.append(start)
        t = start + len(x) / RATE
    return out


def spans_for(call, rendered, starts):
    spans, flat = [], []
    turns = call["turns"]
    for i, (turn, (x, segs), st) in enumerate(zip(turns, rendered, starts)):
        end = st + len(x) / RATE
        lab = turn["label"]
        if not lab:
            continue
        if lab == "flat":
            flat.append((st, end))
        elif lab == "timing" and turn["gap"] < 0:
            prev = max(starts[j] + len(rendered[j][0]) / RATE for j in range(i) if turns[j]["leg"] == "customer")
            assert prev > st + 1.0 and end > prev + 1.0, "talk-over turn does not overlap as designed"
            spans.append({"kind": "talk_over", "leg": "agent", "t_start": st, "t_end": prev, "cue": "timing",
                          "phrase": "agent starts %.2f s before the customer ends" % (prev - st)})
        elif lab == "timing":
            s = max(starts[j] + len(rendered[j][0]) / RATE for j in range(i))
            spans.append({"kind": "dead_air", "leg": "both", "t_start": s, "t_end": st, "cue": "timing",
                          "phrase": "%.1f s of silence on both legs" % (st - s)})
        elif lab == "prosody":
            spans.append({"kind": "anger", "leg": turn["leg"], "t_start": st, "t_end": end, "cue": "prosody",
                          "phrase": "whole turn, raised voice"})
        else:
            for sg, (a, b) in zip(turn["segments"], segs):
                if sg["cue"]:
                    spans.append({"kind": sg["cue"], "leg": turn["leg"], "t_start": st + a, "t_end": st + b,
                                  "cue": lab, "phrase": sg["text"]})
    if flat:
        spans.append({"kind": "flat_affect", "leg": "agent", "t_start": flat[0][0], "t_end": flat[-1][1],
                      "cue": "prosody", "phrase": "%d monotone agent turns" % len(flat)})
    for s in spans:
        s["t_start"], s["t_end"] = round(s["t_start"], 3), round(s["t_end"], 3)
    spans.sort(key=lambda s: (s["t_start"], s["kind"]))
    return spans


def noise_for(kind, n, tmp, key):
    path = os.path.join(tmp, key + "_noise.wav")
    run(["sox", "-R", "-D", "-V1", "-n", "-r", str(RATE), "-c", "1", "-b", "16", path, "synth",
         "%.3f" % (n / RATE + 0.1), kind])
    x = read_wav(path)[:n]
    return x + [0.0] * (n - len(x))


def render(call, out_dir, crosstalk_db):
    tmp = tempfile.mkdtemp(prefix="make-calls-indep.")
    try:
        rendered = [synth_turn(t, tmp, "t%02d" % i) for i, t in enumerate(call["turns"])]
        starts = place(call["turns"], rendered)
        total = int((max(s + len(x) / RATE for s, (x, _) in zip(starts, rendered)) + 1.0) * RATE)
        legs = {"agent": [0.0] * total, "customer": [0.0] * total}
        for turn, (x, _), st in zip(call["turns"], rendered, starts):
            buf, off = legs[turn["leg"]], int(round(st * RATE))
            for i, v in enumerate(x):
                buf[off + i] += v
        cond = call["cond"]
        level = 10 ** (cond["level_db"] / 20.0)
        for k, leg in enumerate(("agent", "customer")):
            noise = noise_for(cond["noise"] if k == 0 else "pinknoise" if cond["noise"] != "pinknoise"
                              else "brownnoise", total, tmp, leg)
            g = 10 ** ((REF_RMS_DB - cond["snr_db"] - rms_db(noise)) / 20.0)
            legs[leg] = [(v + g * nz) * level for v, nz in zip(legs[leg], noise)]
        if crosstalk_db is not None:
            leak = 10 ** (-crosstalk_db / 20.0)
            a, c = legs["agent"], legs["customer"]
            legs["agent"], legs["customer"] = ([x + leak * y for x, y in zip(a, c)],
                                               [y + leak * x for x, y in zip(a, c)])
        inter = array.array("h", bytes(4 * total))
        clipped = 0
        for ch, leg in ((0, "agent"), (1, "customer")):
            for i, v in enumerate(legs[leg]):
                s = int(round(v * 32767))
                if s > 32767 or s < -32768:
                    clipped += 1
                    s = max(-32768, min(32767, s))
                inter[2 * i + ch] = s
        if sys.byteorder == "big":
            inter.byteswap()
        mix = os.path.join(tmp, "mix.wav")
        with wave.open(mix, "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(inter.tobytes())
        audio = os.path.join(out_dir, call["name"] + ".wav")
        if cond["rate_hz"] == 8000:
            run(["sox", "-R", "-D", "-V1", mix, "-e", "u-law", "-b", "8", audio, "sinc", "300-3400",
                 "rate", "8000"])
        else:
            run(["sox", "-R", "-D", "-V1", mix, "-e", "signed-integer", "-b", "16", audio])
        spans = spans_for(call, rendered, starts)
        doc = {"generator": "tools/make-calls-indep.py", "name": call["name"], "split": call["split"],
               "audio": os.path.basename(audio), "channel_map": CHANNEL, "duration_s": round(total / RATE, 3),
               "conditions": dict(cond, crosstalk_db=crosstalk_db, encoding="ulaw" if cond["rate_hz"] == 8000
                                  else "pcm16", clipped_samples=clipped),
               "notes": call["notes"], "calm": call["calm"], "spans": spans, "turns": []}
        for turn, (x, segs), st in zip(call["turns"], rendered, starts):
            doc["turns"].append({"leg": turn["leg"], "voice": turn["voice"], "style": turn["style"],
                                 "t_start": round(st, 3), "t_end": round(st + len(x) / RATE, 3),
                                 "label": turn["label"],
                                 "segments": [{"text": s["text"], "cue": s["cue"], "t_start": round(st + a, 3),
                                               "t_end": round(st + b, 3)} for s, (a, b) in zip(turn["segments"],
                                                                                             segs)]})
        with open(os.path.join(out_dir, call["name"] + ".json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        return doc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description="Render the independent labelled call corpus (see the module doc).")
    ap.add_argument("out_dir")
    ap.add_argument("--split", default="both", choices=["dev", "test", "both"])
    ap.add_argument("--subset", default="all", choices=["all", "small"],
                    help="small: a few dev calls, one per kind (the ctest)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--crosstalk-db", type=float, default=None,
                    help="mix each leg into the other this many dB down (e.g. 20); default none")
    ap.add_argument("--only", help="comma-separated call names (e.g. talk_over_1,calm_2)")
    args = ap.parse_args()
    for prog in ("espeak-ng", "flite", "sox"):
        if shutil.which(prog) is None:
            print("make-calls-indep: %s is not installed" % prog, file=sys.stderr)
            return 77
    if args.crosstalk_db is not None and not 0 < args.crosstalk_db <= 60:
        die("--crosstalk-db %g: must be in (0, 60]" % args.crosstalk_db)
    only = set(args.only.split(",")) if args.only else None
    splits = ["dev", "test"] if args.split == "both" else [args.split]
    for split in splits:
        plan = call_plan(split, args.seed, args.subset, only)
        if not plan:
            die("no call selected for split %s (--only %s)" % (split, args.only))
        out_dir = os.path.join(args.out_dir, split)
        os.makedirs(out_dir, exist_ok=True)
        for c in plan:
            c["split"] = split
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
            try:
                docs = list(ex.map(lambda c: render(c, out_dir, args.crosstalk_db), plan))
            except RuntimeError as e:
                die(str(e))
        calls = [{"name": d["name"], "audio": d["audio"], "words_truth": d["name"] + ".json",
                  "duration_s": d["duration_s"], "calm": d["calm"], "notes": d["notes"], "split": split,
                  "rate_hz": d["conditions"]["rate_hz"], "spans": d["spans"]} for d in docs]
        truth = {"generator": "tools/make-calls-indep.py", "split": split, "seed": args.seed,
                 "crosstalk_db": args.crosstalk_db, "rate_hz": "8000 and 16000",
                 "total_duration_s": round(sum(c["duration_s"] for c in calls), 3), "calls": calls}
        with open(os.path.join(out_dir, "truth.json"), "w", encoding="utf-8") as f:
            json.dump(truth, f, indent=1)
            f.write("\n")
        print("make-calls-indep: %s: %d calls, %.1f s of audio, %d spans -> %s"
              % (split, len(calls), truth["total_duration_s"], sum(len(c["spans"]) for c in calls),
                 os.path.join(out_dir, "truth.json")), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

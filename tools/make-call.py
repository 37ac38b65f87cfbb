#!/usr/bin/env python3
"""make-call.py - synthesise a two-leg contact-center call with flite, plus ground truth.

A call script is a list of turns; each turn is spoken by flite on one leg of a stereo file
(channel 0 = agent, channel 1 = customer, the callwatch default). The tool writes the audio
and a ground-truth JSON with, for every turn and every word, its start and end time on the
call timeline (seconds).

Script format (JSON; --script FILE, "-" for stdin, or the built-in demo when omitted):

    {"turns": [
       {"leg": "agent",    "voice": "slt", "text": "Thank you for calling.", "at": 0.5},
       {"leg": "customer", "voice": "rms", "text": "I want a refund."},
       ...]}
    (a bare list of turns is accepted too)

Turn fields:
    leg      "agent" | "customer"                                          (required)
    text     what is said                                                   (required)
    voice    flite voice: kal awb_time kal16 awb rms slt                   (default slt agent, rms customer)
    at       call time (s) where the FIRST WORD starts (flite's leading
             silence is placed before it). When omitted, the turn starts
             `gap` seconds after the end of the previous turn's speech.
    gap      pause before an auto-placed turn (default 0.6 s)
    gain_db  gain applied to this turn (default 0; e.g. +4 for shouting, -8 for quiet)
    stretch  flite duration_stretch (>1 slower, <1 faster)
    f0_mean, f0_std   flite int_f0_target_mean / int_f0_target_stddev (Hz; ignored by rms)

Word timing method (documented accuracy):
    flite's -psdur option prints every phone segment of the utterance with its end time in the
    synthesised waveform (the same waveform written with -o; verified identical bytes). flite's
    Word relation (-pr Word) gives the normalised words ("$25" -> "twenty five dollars"). Each
    word's own phone string is obtained by synthesising the word alone (-ps), the concatenation of
    those is aligned (Levenshtein, with backtrace) to the utterance's phone sequence without
    pauses, and each utterance phone inherits the word of the phone it is aligned with. A word then
    spans from the end of the segment before its first phone to the end of its last phone.
    Accuracy: the phone boundaries are flite's own (exact for the synthetic waveform, to one
    5 ms frame for the clustergen voices); the only error source is a post-lexical change at a
    word boundary (e.g. a flap or a reduced vowel), which can move a boundary by at most one phone
    (typically < 0.08 s). Pauses between words are not part of any word. Turn t_start/t_end are
    the first word's start and the last word's end.
    Measured against PocketSphinx's own word segmentation (callwatch analyze on
    models/sample-call.flac, 154 words matched): word start |difference| mean 0.012 s, p95 0.031 s,
    max 0.071 s; word end mean 0.013 s, p95 0.042 s, max 0.10 s.

Words are written as flite normalises them (lower case, numbers spelled out); when the original
token had an apostrophe that flite dropped ("can't" -> "cant") the original spelling is kept, and
clitics flite splits off ("it 's", "we 'll") are joined back to their word.
Compare with recogniser output after lowercasing and removing punctuation and apostrophes.

Determinism: no time stamps, no randomness except the background noise, which comes from a
seeded generator (--seed). Same script and options -> same bytes (flite and sox are deterministic;
sox is run with -R and -D: repeatable, no dither).
"""

import argparse
import array
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import wave

MIX_RATE = 16000          # internal mixing rate (flite's voices are 16 kHz, kal is 8 kHz)
LEG_CHANNEL = {"agent": 0, "customer": 1}
DEFAULT_VOICE = {"agent": "slt", "customer": "rms"}

BUILTIN_SCRIPT = {
    "turns": [
        {"leg": "agent", "voice": "slt", "at": 0.5,
         "text": "Thank you for calling. How can I help you today?"},
        {"leg": "customer", "voice": "rms",
         "text": "I was charged twice and I want a refund."},
        {"leg": "agent", "voice": "slt",
         "text": "I am sorry about that. I will forward this to billing right now."},
        {"leg": "customer", "voice": "rms",
         "text": "Fine. Otherwise I will cancel my account."},
    ]
}


def die(msg):
    print("make-call: error: " + msg, file=sys.stderr)
    sys.exit(2)


def run(cmd, capture=True):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                           stderr=subprocess.PIPE, check=False)
    except FileNotFoundError:
        die("program not found: %s" % cmd[0])
    if p.returncode != 0:
        die("command failed (%d): %s\n%s" % (p.returncode, " ".join(cmd),
                                             p.stderr.decode("utf-8", "replace")))
    return p.stdout.decode("utf-8", "replace") if capture else ""


def flite_opts(turn):
    opts = []
    if turn.get("stretch") is not None:
        opts += ["--setf", "duration_stretch=%g" % float(turn["stretch"])]
    if turn.get("f0_mean") is not None:
        opts += ["--setf", "int_f0_target_mean=%g" % float(turn["f0_mean"])]
    if turn.get("f0_std") is not None:
        opts += ["--setf", "int_f0_target_stddev=%g" % float(turn["f0_std"])]
    return opts


def parse_segments(out):
    """'pau:0.217 ay:0.339 ...' -> [(phone, end_s), ...]"""
    segs = []
    for tok in out.split():
        if ":" not in tok:
            continue
        ph, _, t = tok.rpartition(":")
        try:
            segs.append((ph, float(t)))
        except ValueError:
            continue
    return segs


_word_phone_cache = {}


def word_phones(voice, opts, word):
    key = (voice, tuple(opts), word)
    if key not in _word_phone_cache:
        out = run(["flite", "-voice", voice] + opts + ["-ps", "-t", word, "-o", "none"])
        _word_phone_cache[key] = [p for p in out.split() if p != "pau"]
    return _word_phone_cache[key]


def align(ref, hyp):
    """Levenshtein alignment of ref labels to hyp; returns for each hyp index the ref index it
    is matched/substituted with, or None for an insertion."""
    n, m = len(ref), len(hyp)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            c = 0 if ref[i - 1] == hyp[j - 1] else 1
            d[i][j] = min(d[i - 1][j - 1] + c, d[i - 1][j] + 1, d[i][j - 1] + 1)
    res = [None] * m
    i, j = n, m
    while i > 0 and j > 0:
        c = 0 if ref[i - 1] == hyp[j - 1] else 1
        if d[i][j] == d[i - 1][j - 1] + c:
            res[j - 1] = i - 1
            i, j = i - 1, j - 1
        elif d[i][j] == d[i][j - 1] + 1:
            j -= 1
        else:
            i -= 1
    return res


def restore_apostrophes(words, text):
    """flite drops apostrophes ("can't" -> "cant"); keep the original spelling then."""
    tokens = [re.sub(r"[^a-z0-9']", "", t.lower()) for t in text.split()]
    tokens = [t.strip("'") for t in tokens if t]
    ti = 0
    out = []
    for w in words:
        form = w
        for k in range(ti, min(ti + 4, len(tokens))):
            if "'" in tokens[k] and tokens[k].replace("'", "") == w:
                form = tokens[k]
                ti = k + 1
                break
            if tokens[k] == w:
                ti = k + 1
                break
        out.append(form)
    return out


def word_times(voice, opts, text, segs):
    """[(word, start, end)] relative to the start of the synthesised waveform."""
    words = run(["flite", "-voice", voice] + opts + ["-pr", "Word", "-t", text, "-o", "none"]).split()
    # Segments without pauses, remembering where each starts (end of the previous segment).
    hyp, hyp_start, hyp_end = [], [], []
    prev_end = 0.0
    for ph, end in segs:
        if ph != "pau":
            hyp.append(ph)
            hyp_start.append(prev_end)
            hyp_end.append(end)
        prev_end = end
    ref, ref_word = [], []
    for wi, w in enumerate(words):
        for ph in word_phones(voice, opts, w):
            ref.append(ph)
            ref_word.append(wi)
    owner = [None] * len(hyp)
    for j, i in enumerate(align(ref, hyp)):
        if i is not None:
            owner[j] = ref_word[i]
    # Insertions belong to the previous word (or the next one at the very start).
    last = None
    for j in range(len(owner)):
        if owner[j] is None:
            owner[j] = last
        last = owner[j]
    nxt = None
    for j in range(len(owner) - 1, -1, -1):
        if owner[j] is None:
            owner[j] = nxt if nxt is not None else 0
        nxt = owner[j]
    # Words must stay in order: force monotonic owners.
    for j in range(1, len(owner)):
        if owner[j] < owner[j - 1]:
            owner[j] = owner[j - 1]
    spans = {}
    for j, wi in enumerate(owner):
        s, e = spans.get(wi, (hyp_start[j], hyp_end[j]))
        spans[wi] = (min(s, hyp_start[j]), max(e, hyp_end[j]))
    forms = restore_apostrophes(words, text)
    result = []
    for wi, w in enumerate(forms):
        if wi in spans:
            result.append((w, spans[wi][0], spans[wi][1]))
        else:  # word with no phone of its own (should not happen): zero length at previous end
            t = result[-1][2] if result else (hyp_start[0] if hyp_start else 0.0)
            result.append((w, t, t))
    # flite splits clitics off ("it's" -> "it" "'s"); the recogniser's dictionary has "it's".
    merged = []
    for w, st, en in result:
        if w.startswith("'") and merged:
            pw, ps, _ = merged[-1]
            merged[-1] = (pw + w, ps, en)
        else:
            merged.append((w, st, en))
    return merged


def read_mono16(path):
    with wave.open(path, "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            die("unexpected wav format from sox: %s" % path)
        data = array.array("h")
        data.frombytes(w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        data.byteswap()
    return data


def synth_turn(turn, tmp, idx):
    voice = turn["voice"]
    opts = flite_opts(turn)
    raw = os.path.join(tmp, "turn%03d_flite.wav" % idx)
    conv = os.path.join(tmp, "turn%03d_16k.wav" % idx)
    segs = parse_segments(run(["flite", "-voice", voice] + opts + ["-psdur", "-t", turn["text"], "-o", raw]))
    if not segs:
        die("flite printed no segments for turn %d" % idx)
    gain = float(turn.get("gain_db", 0.0))
    cmd = ["sox", "-R", "-D", "-V1", raw, "-r", str(MIX_RATE), "-c", "1", "-b", "16",
           "-e", "signed-integer", conv]
    if gain:
        cmd += ["gain", "%g" % gain]
    run(cmd, capture=False)
    samples = read_mono16(conv)
    words = word_times(voice, opts, turn["text"], segs)
    return samples, words


def load_script(path):
    if path is None:
        return json.loads(json.dumps(BUILTIN_SCRIPT))
    try:
        if path == "-":
            script = json.load(sys.stdin)
        else:
            with open(path, "r", encoding="utf-8") as f:
                script = json.load(f)
    except (OSError, ValueError) as e:
        die("cannot read script %s: %s" % (path, e))
    if isinstance(script, list):
        script = {"turns": script}
    if not isinstance(script, dict) or not isinstance(script.get("turns"), list) or not script["turns"]:
        die("script must be a non-empty list of turns or {\"turns\": [...]}")
    return script


def main():
    ap = argparse.ArgumentParser(description="Synthesise a two-leg call (ch0 agent, ch1 customer) with flite, "
                                             "plus word-level ground truth.")
    ap.add_argument("--script", help="call script JSON (\"-\" = stdin); default: built-in demo")
    ap.add_argument("-o", "--out", required=True, help="output audio file")
    ap.add_argument("--truth", help="ground-truth JSON (default: OUT with .json extension)")
    ap.add_argument("--rate", type=int, default=16000, choices=[8000, 16000, 44100, 48000])
    ap.add_argument("--encoding", default="pcm16", choices=["pcm16", "ulaw", "alaw"])
    ap.add_argument("--format", choices=["wav", "flac"], help="default: from OUT's extension")
    ap.add_argument("--noise-db", type=float, default=None,
                    help="add white background noise at this RMS level in dBFS (e.g. -50); default none")
    ap.add_argument("--seed", type=int, default=1, help="noise seed (default 1)")
    ap.add_argument("--tail", type=float, default=1.0, help="silence after the last turn (s, default 1.0)")
    ap.add_argument("--mono-leg", choices=["agent", "customer"],
                    help="write only this leg as a mono file instead of a stereo call")
    args = ap.parse_args()

    fmt = args.format or ("flac" if args.out.lower().endswith(".flac") else "wav")
    if fmt == "flac" and args.encoding != "pcm16":
        die("FLAC supports only --encoding pcm16")
    truth_path = args.truth or os.path.splitext(args.out)[0] + ".json"
    for prog in ("flite", "sox"):
        if shutil.which(prog) is None:
            die("%s is not installed" % prog)

    if args.script not in (None, "-") and os.path.abspath(args.script) == os.path.abspath(truth_path):
        die("the ground truth would overwrite the script %s; pass --truth" % args.script)
    script = load_script(args.script)
    tmp = tempfile.mkdtemp(prefix="make-call.")
    try:
        turns_out = []
        placed = []   # (leg, offset_samples, samples)
        prev_end = 0.0
        for idx, turn in enumerate(script["turns"]):
            if not isinstance(turn, dict) or turn.get("leg") not in LEG_CHANNEL or not turn.get("text"):
                die("turn %d needs leg (agent|customer) and text" % idx)
            turn = dict(turn)
            turn.setdefault("voice", DEFAULT_VOICE[turn["leg"]])
            samples, words = synth_turn(turn, tmp, idx)
            speech_start = words[0][1] if words else 0.0
            at = turn.get("at")
            if at is None:
                at = prev_end + float(turn.get("gap", 0.6))
            at = float(at)
            # Waveform offset so that the first word starts at `at` (sample-exact on the mix grid).
            offset = int(round((at - speech_start) * MIX_RATE))
            if offset < 0:  # clip leading silence that would fall before t=0
                samples = samples[-offset:]
                shift = offset
                offset = 0
            else:
                shift = 0
            base = (offset + shift) / MIX_RATE  # call time of the waveform's (unclipped) start
            wlist = [{"w": w, "t_start": round(base + s, 3), "t_end": round(base + e, 3)} for w, s, e in words]
            t_start = wlist[0]["t_start"] if wlist else round(base, 3)
            t_end = wlist[-1]["t_end"] if wlist else round(base + len(samples) / MIX_RATE, 3)
            prev_end = t_end
            placed.append((turn["leg"], offset, samples))
            entry = {"index": idx, "leg": turn["leg"], "channel": LEG_CHANNEL[turn["leg"]],
                     "voice": turn["voice"], "text": turn["text"], "at": round(at, 3),
                     "t_start": t_start, "t_end": t_end, "words": wlist}
            for k in ("gain_db", "stretch", "f0_mean", "f0_std"):
                if turn.get(k) is not None:
                    entry[k] = turn[k]
            for k, v in turn.items():   # pass through annotations (e.g. "cues")
                if k not in entry and k not in ("gap",):
                    entry[k] = v
            turns_out.append(entry)

        total = max(off + len(s) for _, off, s in placed) + int(round(args.tail * MIX_RATE))
        legs = {"agent": array.array("i", bytes(4 * total)), "customer": array.array("i", bytes(4 * total))}
        for leg, off, s in placed:
            buf = legs[leg]
            for i, v in enumerate(s):
                buf[off + i] += v
        rng = random.Random(args.seed)
        noise_amp = None
        if args.noise_db is not None:
            noise_amp = 32768.0 * math.pow(10.0, args.noise_db / 20.0)
        inter = array.array("h", bytes(2 * 2 * total))
        for ch, leg in ((0, "agent"), (1, "customer")):
            buf = legs[leg]
            if noise_amp is not None:
                g = rng.gauss
                for i in range(total):
                    buf[i] += int(round(g(0.0, noise_amp)))
            clipped = 0
            for i in range(total):
                v = buf[i]
                if v > 32767:
                    v, clipped = 32767, clipped + 1
                elif v < -32768:
                    v, clipped = -32768, clipped + 1
                inter[2 * i + ch] = v
            if clipped:
                print("make-call: warning: %d samples clipped on the %s leg" % (clipped, leg), file=sys.stderr)
        if sys.byteorder == "big":
            inter.byteswap()
        mix = os.path.join(tmp, "mix.wav")
        with wave.open(mix, "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(MIX_RATE)
            w.writeframes(inter.tobytes())

        out_opts = ["-r", str(args.rate)]
        if args.encoding == "pcm16":
            out_opts += ["-e", "signed-integer", "-b", "16"]
            if fmt == "flac":
                out_opts += ["-C", "8"]
        elif args.encoding == "ulaw":
            out_opts += ["-e", "u-law", "-b", "8"]
        else:
            out_opts += ["-e", "a-law", "-b", "8"]
        remix = []
        if args.mono_leg:
            remix = ["remix", str(LEG_CHANNEL[args.mono_leg] + 1)]
        tmp_out = os.path.join(tmp, "out." + fmt)
        run(["sox", "-R", "-D", "-V1", mix] + out_opts + ["-t", fmt, tmp_out] + remix, capture=False)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        shutil.copyfile(tmp_out, args.out)

        truth = {
            "generator": "tools/make-call.py",
            "audio": os.path.basename(args.out),
            "format": fmt, "encoding": args.encoding, "rate_hz": args.rate,
            "channels": 1 if args.mono_leg else 2,
            "channel_map": ({args.mono_leg: 0} if args.mono_leg else dict(LEG_CHANNEL)),
            "duration_s": round(total / MIX_RATE, 3),
            "noise_dbfs": args.noise_db,
            "word_timing": "flite -psdur phone end times; words aligned to phones (see make-call.py); "
                           "boundary error typically < 0.08 s",
            "turns": [t for t in turns_out if not args.mono_leg or t["leg"] == args.mono_leg],
        }
        with open(truth_path, "w", encoding="utf-8") as f:
            json.dump(truth, f, indent=1, sort_keys=False)
            f.write("\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""measure-flat.py - which prosodic features separate bored/sad from neutral/happy speech (Emo-DB).

    tools/measure-flat.py [--build build] [--corpus DIR] [--sessions] [--json]
                          [--extra FILE ...] [--extra-channel N]

Builds the same flat-affect sessions as tools/eval-emodb.py (one speaker's utterances of one
emotion, joined with 0.8 s gaps), runs them through the leg callwatch uses (resampler, VAD, YIN
pitch; tools/prosody-frames.c, compiled here against BUILD/libcallwatch_core.a) and computes, per
session, features over all its speech:

  rate_syl_s     syllable nuclei (voice.c's rule: loudest voiced frame within 50 ms, 2 dB above
                 the dips within 150 ms on both sides) per second of speech
  voiced_share   voiced frames / speech frames
  level_dyn_db   p90 - p10 of voiced frame levels (voice.c's level dynamics)
  f0_median_st   median pitch, semitones re 100 Hz (not speaker-independent: sex)
  f0_spread_st   (p90 - p10) / 2.563 of voiced pitch
  phrase_range   median over talk spurts of p90 - p10 pitch (the shipped flat-affect cue)
  phrase_slope   median over talk spurts of the pitch regression slope, semitones/s
  pitch_step     median |pitch change| between consecutive voiced frames, semitones per 10 ms
  level_step     median |level change| between consecutive voiced frames, dB per 10 ms
  env_rate       upward zero crossings/s of the level envelope (50 ms mean minus 310 ms mean)
  voiced_run_s   median length of uninterrupted voiced runs
  nucleus_prom   median prominence of syllable nuclei over the lower neighbouring dip, dB

Prints per-class medians (L boredom, T sadness, N neutral, F happiness) and, for each feature, the
best single threshold added to the shipped phrase-range route ("flag if phrase_range < norm OR
feature beyond threshold"): its UAR on all speakers, and leave-one-speaker-out (threshold chosen
on 4 speakers, applied to the 5th, rotated). --sessions also prints every session's row. --extra
FILE... prints the same features for other recordings (channel --extra-channel of each), e.g.
real neutral English or the synthetic corpus's agents, to see whether a threshold found on Emo-DB
would hold elsewhere. Exit 77 when the corpus is absent.
"""

import argparse
import collections
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PKG_LIBS = "pocketsphinx sphinxbase portaudio-2.0 libzmq sndfile samplerate jansson inih aubio"
FEATURES = ["rate_syl_s", "voiced_share", "level_dyn_db", "f0_median_st", "f0_spread_st", "phrase_range",
            "phrase_slope", "pitch_step", "level_step", "env_rate", "voiced_run_s", "nucleus_prom"]
FRAME_S = 0.01
NUCLEUS_HALF = 5          # frames: syllables.half_window_s
NUCLEUS_PROMINENCE = 2.0  # dB: syllables.prominence_db
SEGMENT_FRAMES = 300      # segment.max_speech_s
MIN_PHRASE_VOICED = 30    # segment.min_voiced_s


def load_eval_emodb():
    spec = importlib.util.spec_from_file_location("eval_emodb", os.path.join(HERE, "eval-emodb.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def dumper(build):
    exe = os.path.join(build, "prosody-frames")
    src = os.path.join(HERE, "prosody-frames.c")
    lib = os.path.join(build, "libcallwatch_core.a")
    if not os.path.exists(lib):
        raise RuntimeError(f"{lib} is missing: build callwatch first")
    if not os.path.exists(exe) or os.path.getmtime(exe) < max(os.path.getmtime(src), os.path.getmtime(lib)):
        libs = subprocess.run(["pkg-config", "--libs"] + PKG_LIBS.split(), stdout=subprocess.PIPE, text=True,
                              check=True).stdout.split()
        subprocess.run(["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-I", os.path.join(ROOT, "include"), "-o", exe,
                        src, lib] + libs + ["-lm"], check=True)
    return exe


def frames_of(exe, path, channel=0):
    out = subprocess.run([exe, "--channel", str(channel), path], stdout=subprocess.PIPE, text=True, check=True).stdout
    frames = []
    for line in out.splitlines():
        if line.startswith("#"):
            continue
        t, speech, voiced, f0, level = line.split()
        frames.append((float(t), speech == "1", voiced == "1", float(f0), float(level)))
    return frames


def quantile(values, q):
    s = sorted(values)
    if not s:
        return float("nan")
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (pos - lo) * (s[hi] - s[lo])


def semitones(hz):
    return 12 * math.log2(hz / 100.0)


def nuclei(frames):
    reach = 3 * NUCLEUS_HALF
    out = [False] * len(frames)
    for c, f in enumerate(frames):
        if not (f[1] and f[2]):
            continue
        level, ok, dip_before, dip_after = f[4], True, f[4], f[4]
        for i in range(max(0, c - reach), min(len(frames), c + reach + 1)):
            g = frames[i][4]
            if abs(i - c) <= NUCLEUS_HALF and ((i < c and g >= level) or (i > c and g > level)):
                ok = False
                break
            if i < c:
                dip_before = min(dip_before, g)
            elif i > c:
                dip_after = min(dip_after, g)
        out[c] = ok and level - dip_before >= NUCLEUS_PROMINENCE and level - dip_after >= NUCLEUS_PROMINENCE
    return out


def moving_mean(x, width):
    half, out = width // 2, []
    for k in range(len(x)):
        a, b = max(0, k - half), min(len(x), k + half + 1)
        out.append(sum(x[a:b]) / (b - a))
    return out


def features(frames):
    nuc = nuclei(frames)
    speech = [i for i, f in enumerate(frames) if f[1]]
    voiced = [i for i in speech if frames[i][2]]
    if len(voiced) < 100:
        return None
    segments, cur = [], []
    for i, f in enumerate(frames):
        if f[1]:
            cur.append(i)
            if len(cur) >= SEGMENT_FRAMES:
                segments.append(cur)
                cur = []
        elif cur:
            segments.append(cur)
            cur = []
    if cur:
        segments.append(cur)
    ranges, slopes, runs, proms = [], [], [], []
    crossings, envelope_s = 0, 0.0
    for seg in segments:
        v = [i for i in seg if frames[i][2]]
        if len(seg) >= 50:
            levels = [max(frames[i][4], -80.0) for i in seg]
            d = [a - b for a, b in zip(moving_mean(levels, 5), moving_mean(levels, 31))]
            crossings += sum(1 for k in range(1, len(d)) if d[k - 1] < 0 <= d[k])
            envelope_s += len(seg) * FRAME_S
        if len(v) < MIN_PHRASE_VOICED:
            continue
        st = [semitones(frames[i][3]) for i in v]
        ranges.append(quantile(st, 0.9) - quantile(st, 0.1))
        ts = [frames[i][0] for i in v]
        mt, ms = sum(ts) / len(ts), sum(st) / len(st)
        sxx = sum((t - mt) ** 2 for t in ts)
        if sxx > 0:
            slopes.append(sum((t - mt) * (s - ms) for t, s in zip(ts, st)) / sxx)
        run = 0
        for i in range(v[0], v[-1] + 2):
            if i <= v[-1] and frames[i][2]:
                run += 1
            elif run:
                runs.append(run * FRAME_S)
                run = 0
    for c in speech:
        if nuc[c]:
            before = [frames[i][4] for i in range(max(0, c - 15), c)] or [frames[c][4]]
            after = [frames[i][4] for i in range(c + 1, min(len(frames), c + 16))] or [frames[c][4]]
            proms.append(frames[c][4] - max(min(before), min(after)))
    pitch = [semitones(frames[i][3]) for i in voiced]
    levels = [frames[i][4] for i in voiced]
    pairs = [i for i in voiced if i > 0 and frames[i - 1][2]]
    return {
        "rate_syl_s": sum(1 for i in speech if nuc[i]) / (len(speech) * FRAME_S),
        "voiced_share": len(voiced) / len(speech),
        "level_dyn_db": quantile(levels, 0.9) - quantile(levels, 0.1),
        "f0_median_st": quantile(pitch, 0.5),
        "f0_spread_st": (quantile(pitch, 0.9) - quantile(pitch, 0.1)) / 2.563,
        "phrase_range": quantile(ranges, 0.5),
        "phrase_slope": quantile(slopes, 0.5),
        "pitch_step": quantile([abs(semitones(frames[i][3]) - semitones(frames[i - 1][3])) for i in pairs], 0.5),
        "level_step": quantile([abs(frames[i][4] - frames[i - 1][4]) for i in pairs], 0.5),
        "env_rate": crossings / envelope_s if envelope_s else float("nan"),
        "voiced_run_s": quantile(runs, 0.5),
        "nucleus_prom": quantile(proms, 0.5),
    }


def uar(rows, flags):
    pos = [f for r, f in zip(rows, flags) if r["emo"] in "LT"]
    neg = [f for r, f in zip(rows, flags) if r["emo"] in "NF"]
    return (sum(pos) / len(pos) + 1 - sum(neg) / len(neg)) / 2


def route(rows, key, threshold, below, norm_range):
    return [r["phrase_range"] < norm_range or (r[key] < threshold if below else r[key] > threshold) for r in rows]


def best_threshold(rows, key, below, norm_range):
    values = sorted(set(r[key] for r in rows if not math.isnan(r[key])))
    candidates = [(a + b) / 2 for a, b in zip(values, values[1:])]
    scores = [uar(rows, route(rows, key, t, below, norm_range)) for t in candidates]
    # The middle of the best thresholds: not the edge of a tie, which hugs one class's extreme.
    best = [t for t, s in zip(candidates, scores) if s == max(scores)]
    return best[len(best) // 2]


def counts(rows, flags):
    return " ".join(f"{e} {sum(f for r, f in zip(rows, flags) if r['emo'] == e)}/"
                    f"{sum(1 for r in rows if r['emo'] == e)}" for e in "LTNF")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpora", "emodb-dev"))
    ap.add_argument("--sessions", action="store_true", help="print every session's features")
    ap.add_argument("--json", action="store_true", help="print the sessions' features as JSON")
    ap.add_argument("--extra", nargs="*", default=[], help="other recordings to measure")
    ap.add_argument("--extra-channel", type=int, default=0)
    args = ap.parse_args()
    corpus = os.path.normpath(args.corpus)
    if not os.path.isdir(corpus):
        print(f"measure-flat: no corpus at {corpus}: skipped")
        return 77
    ev = load_eval_emodb()
    exe = dumper(args.build)
    with open(os.path.join(ROOT, "models", "prosody.json")) as f:
        norm_range = json.load(f)["flat_affect"]["norm_phrase_range_st"]

    by_speaker = collections.defaultdict(lambda: collections.defaultdict(list))
    for name in sorted(os.listdir(corpus)):
        if len(name) == 11 and name.endswith(".wav"):
            by_speaker[name[0:2]][name[5]].append(name)
    rows = []
    with tempfile.TemporaryDirectory(prefix="cw-flat-") as tmp:
        for spk, emo in sorted(by_speaker.items()):
            for e in "LTNF":
                utts = emo.get(e, [])
                if len(utts) < 4:
                    continue
                groups = [utts[: len(utts) // 2], utts[len(utts) // 2:]] if len(utts) >= 10 else [utts]
                for gi, group in enumerate(groups):
                    path = os.path.join(tmp, f"{spk}-{e}-{gi}.wav")
                    ev.write_joined(path, [ev.read_pcm(os.path.join(corpus, n)) for n in group])
                    feats = features(frames_of(exe, path))
                    if feats:
                        rows.append(dict(spk=spk, emo=e, session=f"{spk}-{e}-{gi}", **feats))
    if args.json:
        print(json.dumps(rows))
        return 0

    print("per-class medians (Emo-DB sessions: " +
          ", ".join(f"{e} {sum(1 for r in rows if r['emo'] == e)}" for e in "LTNF") + ")")
    print(f"{'feature':14s}" + "".join(f"{e:>9s}" for e in "LTNF"))
    for k in FEATURES:
        print(f"{k:14s}" + "".join(f"{statistics.median(r[k] for r in rows if r['emo'] == e):9.2f}" for e in "LTNF"))
    if args.sessions:
        print("\nsession   " + "".join(f"{k[:11]:>12s}" for k in FEATURES))
        for r in rows:
            print(f"{r['session']:10s}" + "".join(f"{r[k]:12.2f}" for k in FEATURES))

    print(f"\nphrase_range < {norm_range} alone: UAR {uar(rows, [r['phrase_range'] < norm_range for r in rows]):.3f} "
          f"({counts(rows, [r['phrase_range'] < norm_range for r in rows])})")
    print("phrase-range route OR one feature beyond a threshold (all speakers | leave one speaker out):")
    speakers = sorted(set(r["spk"] for r in rows))
    for k in FEATURES:
        if k == "phrase_range":
            continue
        below = statistics.median(r[k] for r in rows if r["emo"] == "L") < \
            statistics.median(r[k] for r in rows if r["emo"] in "NF")
        t = best_threshold(rows, k, below, norm_range)
        flags = route(rows, k, t, below, norm_range)
        loso_rows, loso_flags = [], []
        for spk in speakers:
            train = [r for r in rows if r["spk"] != spk]
            test = [r for r in rows if r["spk"] == spk]
            tt = best_threshold(train, k, below, norm_range)
            loso_rows += test
            loso_flags += route(test, k, tt, below, norm_range)
        print(f"  {k:13s} {'<' if below else '>'} {t:7.3f}: UAR {uar(rows, flags):.3f} ({counts(rows, flags)}) | "
              f"LOSO {uar(loso_rows, loso_flags):.3f} ({counts(loso_rows, loso_flags)})")

    if args.extra:
        print(f"\nother recordings (channel {args.extra_channel}):")
        for path in args.extra:
            feats = features(frames_of(exe, path, args.extra_channel))
            if not feats:
                print(f"  {os.path.basename(path)}: under 1 s of voiced speech")
                continue
            print(f"  {os.path.basename(path)[:28]:28s} " + " ".join(f"{k}={feats[k]:.2f}" for k in FEATURES))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError, RuntimeError, subprocess.CalledProcessError) as e:
        print(f"measure-flat: {e}", file=sys.stderr)
        sys.exit(1)

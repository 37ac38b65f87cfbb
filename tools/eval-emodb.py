#!/usr/bin/env python3
"""eval-emodb.py - callwatch's voice cues on real emotional speech (Emo-DB).

    tools/eval-emodb.py --binary build/callwatch [--corpus DIR] [--min-severity warning]
                        [--json] [--dump] [--gate-anger X] [--gate-flat X] [--config FILE]

Only the acoustic side is used (the speech is German; recognition is off: `analyze --no-asr`).
Every speaker is treated alike, with the thresholds callwatch ships (models/prosody.json and
[alerts]); nothing is fitted per speaker or per file.

Anger (customer leg): for every anger (W) and neutral (N) utterance of a speaker, a test call is
made: that speaker's *other* neutral utterances first (the caller's calm opening, from which
callwatch takes the speaker's baseline; replayed until it is 6 utterances long when the speaker has
fewer), then the test utterance. The utterance is flagged when an
`anger` alert of at least --min-severity (default warning: what interrupts a supervisor) covers
it. UAR = mean of recall on W (flagged) and recall on N (not flagged).

Flat affect (agent leg): for every speaker and emotion among boredom (L), sadness (T), neutral (N)
and happiness (F), the speaker's utterances of that emotion are joined into agent speech (split into
two sessions when there is enough) and flagged when a `flat_affect` alert of at least
--min-severity appears. Positive: L and T; negative: N and F. UAR as above. Flat affect is judged
against population norms, so no baseline is involved.

Alerts are counted per segment here: the evaluation config sets [alerts] cooldown_s = 0, so a
flagged baseline segment cannot mask the test utterance behind one episode.

Exit status: 0; 1 if a gate (--gate-anger / --gate-flat: minimum UAR) is missed or callwatch fails;
77 when the corpus is absent (a skip for ctest); 2 on usage errors.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import wave

SEVERITY = {"info": 1, "warning": 2, "critical": 3}
MIN_BASELINE_UTTERANCES = 6
GAP_S = 0.8     # silence between utterances: longer than the VAD hangover, so each is a talk spurt
RATE = None     # the corpus's sample rate, taken from its first file; all must share it


def read_pcm(path):
    global RATE
    with wave.open(path, "rb") as w:
        if RATE is None:
            RATE = w.getframerate()
        if w.getframerate() != RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected mono 16-bit at {RATE} Hz like the rest of the corpus, got "
                             f"{w.getnchannels()} channel(s), {8 * w.getsampwidth()}-bit, {w.getframerate()} Hz")
        return w.readframes(w.getnframes())


def write_joined(path, parts):
    """Writes the utterances with GAP_S of silence before each; returns each part's span (s)."""
    spans, t = [], 0.0
    gap = b"\0\0" * int(GAP_S * RATE)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        for pcm in parts:
            w.writeframes(gap)
            t += GAP_S
            w.writeframes(pcm)
            d = len(pcm) / 2 / RATE
            spans.append((t, t + d))
            t += d
        w.writeframes(gap)
    return spans


def run_analyze(binary, config, leg, files):
    cmd = [binary, "analyze", "--no-asr", "--leg", leg, "--config", config] + files
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise RuntimeError(f"callwatch analyze failed with status {proc.returncode}")
    alerts = collections.defaultdict(list)
    for line in proc.stdout.splitlines():
        ev = json.loads(line)
        if ev.get("type") == "alert":
            alerts[ev["call_id"]].append(ev)
    return alerts


def uar(pos_hits, pos_n, neg_hits, neg_n):
    r_pos = pos_hits / pos_n if pos_n else float("nan")
    r_neg = 1 - neg_hits / neg_n if neg_n else float("nan")
    return (r_pos + r_neg) / 2, r_pos, r_neg


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "..", "..", "shared", "corpora", "emodb-dev"))
    ap.add_argument("--config", help="base config (default: the shipped one)")
    ap.add_argument("--min-severity", default="warning", choices=list(SEVERITY))
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    ap.add_argument("--dump", action="store_true", help="print every judged segment's numbers (tuning)")
    ap.add_argument("--gate-anger", type=float)
    ap.add_argument("--gate-flat", type=float)
    args = ap.parse_args()

    corpus = os.path.normpath(args.corpus)
    if not os.path.isdir(corpus):
        print(f"eval-emodb: no corpus at {corpus}: skipped")
        return 77
    by_speaker = collections.defaultdict(lambda: collections.defaultdict(list))
    for name in sorted(os.listdir(corpus)):
        if len(name) == 11 and name.endswith(".wav"):
            by_speaker[name[0:2]][name[5]].append(name)
    if not by_speaker:
        print(f"eval-emodb: {corpus} holds no Emo-DB files (SSTTTEV.wav): skipped")
        return 77

    min_sev = SEVERITY[args.min_severity]
    with tempfile.TemporaryDirectory(prefix="cw-emodb-") as tmp:
        config = os.path.join(tmp, "eval.ini")
        base = open(args.config).read() if args.config else ""
        with open(config, "w") as f:
            f.write(base + "\n[alerts]\ncooldown_s = 0\n")
            if args.dump:
                f.write("info_score = 0.01\n")

        # Anger: baseline (other neutrals) + test utterance.
        anger_tests = []   # (call_id, speaker, emotion, test span)
        files = []
        for spk, emo in sorted(by_speaker.items()):
            neutrals = emo.get("N", [])
            for e in ("W", "N"):
                for test in emo.get(e, []):
                    baseline = [n for n in neutrals if n != test]
                    if len(baseline) < 3:
                        continue
                    # A short calm opening is replayed until it is long enough for a baseline.
                    while len(baseline) < MIN_BASELINE_UTTERANCES:
                        baseline = baseline + baseline[: MIN_BASELINE_UTTERANCES - len(baseline)]
                    parts = [read_pcm(os.path.join(corpus, n)) for n in baseline]
                    parts.append(read_pcm(os.path.join(corpus, test)))
                    call_id = f"anger-{test[:-4]}"
                    path = os.path.join(tmp, call_id + ".wav")
                    spans = write_joined(path, parts)
                    anger_tests.append((call_id, spk, e, spans[-1]))
                    files.append(path)
        alerts = run_analyze(args.binary, config, "customer", files) if files else {}
        hits = collections.Counter()
        totals = collections.Counter()
        per_speaker = collections.defaultdict(collections.Counter)
        for call_id, spk, e, (t0, t1) in anger_tests:
            flagged = False
            for a in alerts.get(call_id, []):
                if a["kind"] != "anger" or a["t_end"] < t0 - 0.05:
                    continue
                if args.dump:
                    p = a["evidence"].get("prosody", {})
                    print(f"dump anger {call_id} {e} score={a['score']:.3f} " +
                          " ".join(f"{k}={p[k]}" for k in ("pitch_st", "loudness_db", "pitch_range_st", "rate_ratio")))
                if SEVERITY[a["severity"]] >= min_sev:
                    flagged = True
            totals[e] += 1
            per_speaker[spk][e] += 1
            if flagged:
                hits[e] += 1
                per_speaker[spk][e + "+"] += 1
        anger_uar, anger_r_w, anger_r_n = uar(hits["W"], totals["W"], hits["N"], totals["N"])

        # Flat affect: sessions of one speaker and emotion.
        flat_tests = []
        files = []
        for spk, emo in sorted(by_speaker.items()):
            for e in ("L", "T", "N", "F"):
                utts = emo.get(e, [])
                if len(utts) < 4:
                    continue
                groups = [utts[: len(utts) // 2], utts[len(utts) // 2:]] if len(utts) >= 10 else [utts]
                for gi, group in enumerate(groups):
                    call_id = f"flat-{spk}-{e}-{gi}"
                    path = os.path.join(tmp, call_id + ".wav")
                    write_joined(path, [read_pcm(os.path.join(corpus, n)) for n in group])
                    flat_tests.append((call_id, spk, e))
                    files.append(path)
        alerts = run_analyze(args.binary, config, "agent", files) if files else {}
        flat_hits = collections.Counter()
        flat_totals = collections.Counter()
        for call_id, spk, e in flat_tests:
            flagged = False
            for a in alerts.get(call_id, []):
                if a["kind"] != "flat_affect":
                    continue
                if args.dump:
                    p = a["evidence"].get("prosody", {})
                    print(f"dump flat {call_id} {e} score={a['score']:.3f} " +
                          " ".join(f"{k}={p[k]}" for k in ("f0_spread_st", "level_dynamics_db", "rate_syl_s", "phrase_range_st")))
                if SEVERITY[a["severity"]] >= min_sev:
                    flagged = True
            flat_totals[e] += 1
            if flagged:
                flat_hits[e] += 1
        pos_hits = flat_hits["L"] + flat_hits["T"]
        pos_n = flat_totals["L"] + flat_totals["T"]
        neg_hits = flat_hits["N"] + flat_hits["F"]
        neg_n = flat_totals["N"] + flat_totals["F"]
        flat_uar, flat_r_pos, flat_r_neg = uar(pos_hits, pos_n, neg_hits, neg_n)

    result = {
        "speakers": sorted(by_speaker),
        "min_severity": args.min_severity,
        "anger": {"uar": round(anger_uar, 3), "recall_W": round(anger_r_w, 3), "recall_N": round(anger_r_n, 3),
                  "W": totals["W"], "N": totals["N"], "W_flagged": hits["W"], "N_flagged": hits["N"],
                  "per_speaker": {s: {"W": c["W"], "W_flagged": c["W+"], "N": c["N"], "N_flagged": c["N+"]}
                                  for s, c in sorted(per_speaker.items())}},
        "flat_affect": {"uar": round(flat_uar, 3), "recall_flat": round(flat_r_pos, 3),
                        "recall_not_flat": round(flat_r_neg, 3),
                        "sessions": {e: flat_totals[e] for e in "LTNF"},
                        "flagged": {e: flat_hits[e] for e in "LTNF"}},
    }
    if args.json:
        print(json.dumps(result))
    else:
        a = result["anger"]
        print(f"Emo-DB, speakers {', '.join(result['speakers'])}; flagged = alert >= {args.min_severity}")
        print(f"anger vs neutral:  UAR {a['uar']:.3f}  (W flagged {a['W_flagged']}/{a['W']}, "
              f"N flagged {a['N_flagged']}/{a['N']})")
        for s, c in a["per_speaker"].items():
            print(f"  speaker {s}: W {c['W_flagged']}/{c['W']}  N {c['N_flagged']}/{c['N']}")
        fa = result["flat_affect"]
        print(f"flat affect (L,T vs N,F): UAR {fa['uar']:.3f}  (flagged " +
              ", ".join(f"{e} {fa['flagged'][e]}/{fa['sessions'][e]}" for e in "LTNF") + ")")
    status = 0
    if args.gate_anger is not None and not anger_uar >= args.gate_anger:
        print(f"eval-emodb: anger UAR {anger_uar:.3f} is below the gate {args.gate_anger}", file=sys.stderr)
        status = 1
    if args.gate_flat is not None and not flat_uar >= args.gate_flat:
        print(f"eval-emodb: flat-affect UAR {flat_uar:.3f} is below the gate {args.gate_flat}", file=sys.stderr)
        status = 1
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ValueError, RuntimeError) as e:
        print(f"eval-emodb: {e}", file=sys.stderr)
        sys.exit(1)

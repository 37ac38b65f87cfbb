#!/usr/bin/env python3
"""eval-voice.py - callwatch's voice cues on labelled real emotional speech, as calls deliver it.

    tools/eval-voice.py --binary build/callwatch --corpus DIR [--band wide|tel|both] [--calm LABEL]
                        [--opening-s 12] [--levels-db 12] [--per-speaker N] [--gate-anger X]
                        [--gate-cold X] [--gate-fa X] [--work DIR] [--jobs N]

DIR holds WAV files and labels.csv (file, speaker, label, lang), as ../shared/corpora/*-dev do.
`callwatch analyze --leg customer --no-asr` with the shipped config; nothing is fitted per speaker or file.

Anger, for every anger utterance and every calm one (--calm, default neutral) of each speaker:
- after an opening: the speaker's other calm utterances, cycled until --opening-s seconds, then the test
  utterance (a caller calm at first who then erupts, or stays calm);
- from the first word: the test utterance alone (the caller who is furious before the agent speaks).
Each call is played at its own level, 0 to --levels-db dB below the recording (fixed per test file), so no
score can come from a corpus's recording level; --band tel sends every call through a telephone line
(8 kHz G.711 u-law, 300-3400 Hz). Flagged = a warning or critical `anger` alert overlapping the test
utterance. UAR = (anger recall + calm not flagged) / 2; FA = calm utterances flagged.
--per-speaker N keeps the first N anger and N calm utterances of each speaker (a quick subset for CI).

Prints one line per measure; exit 0, 1 when a gate is missed or callwatch fails, 77 when the corpus is
absent (a skip for ctest), 2 on usage errors.
"""
import argparse, csv, json, os, subprocess, sys, tempfile, threading, zlib
from concurrent.futures import ThreadPoolExecutor

GAP_S = 0.8


class Calls:
    def __init__(self, a, band):
        self.a, self.band = a, band
        self.rate = 16000 if band == "wide" else 8000
        self.work = os.path.join(a.work, band)
        os.makedirs(self.work, exist_ok=True)
        self.durations = {}
        # Calls are built on several threads and share the converted utterances: one thread must not
        # read a file another is still writing.
        self.lock = threading.Lock()

    def line(self, name):
        """The corpus file as the line delivers it (16 kHz, or 8 kHz u-law through the telephone band)."""
        out = os.path.join(self.work, "u_" + name)
        with self.lock:
            if not os.path.exists(out):
                src = os.path.join(self.a.corpus, name)
                tmp = out + ".part.wav"
                cmd = (["sox", src, "-r", "16000", "-c", "1", "-b", "16", tmp] if self.band == "wide" else
                       ["sox", src, "-r", "8000", "-c", "1", "-e", "u-law", tmp, "sinc", "300-3400"])
                subprocess.run(cmd, check=True, capture_output=True)
                os.replace(tmp, out)
        return out

    def duration(self, path):
        with self.lock:
            if path not in self.durations:
                self.durations[path] = float(subprocess.run(["soxi", "-D", path], capture_output=True, text=True,
                                                            check=True).stdout)
            return self.durations[path]

    def build(self, names, out, gain_db):
        """Joins the utterances with GAP_S of silence, at gain_db; returns the last one's (start, end)."""
        silence = os.path.join(self.work, "gap.wav")
        with self.lock:
            if not os.path.exists(silence):
                enc = ["-b", "16"] if self.band == "wide" else ["-e", "u-law"]
                tmp = silence + ".part.wav"
                subprocess.run(["sox", "-n", "-r", str(self.rate), "-c", "1"] + enc + [tmp, "trim", "0", str(GAP_S)],
                               check=True)
                os.replace(tmp, silence)
        parts, t, span = [], 0.0, None
        for n in names:
            f = self.line(n)
            d = self.duration(f)
            span = (t, t + d)
            parts += [f, silence]
            t += d + GAP_S
        subprocess.run(["sox"] + parts[:-1] + [out, "gain", str(gain_db)], check=True, capture_output=True)
        return span

    def flagged(self, wav, span):
        p = subprocess.run([self.a.binary, "analyze", "--leg", "customer", "--no-asr", wav], capture_output=True,
                           text=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError("analyze failed on %s: %s" % (wav, p.stderr.strip()[-300:]))
        for line in p.stdout.splitlines():
            e = json.loads(line)
            if (e.get("type") == "alert" and e.get("kind") == "anger" and e.get("severity") in ("warning", "critical")
                    and e["t_start"] <= span[1] + 0.5 and e["t_end"] >= span[0] - 0.5):
                return True
        return False


def level(a, name):
    return -(zlib.crc32(name.encode()) % (a.levels_db + 1)) if a.levels_db else 0


def test_calls(a, calls, rows):
    """[(is_anger, flagged after the opening, flagged from the first word)] for every test utterance."""
    jobs = []
    for spk in sorted({r["speaker"] for r in rows}):
        mine = [r for r in rows if r["speaker"] == spk]
        calm = [r["file"] for r in mine if r["label"] == a.calm]
        angry = [r["file"] for r in mine if r["label"] == "anger"]
        if len(calm) < 2 or not angry:
            continue
        if a.per_speaker:
            calm, angry = calm[:a.per_speaker + 1], angry[:a.per_speaker]
        for test in angry + calm[:a.per_speaker or None]:
            others = [f for f in calm if f != test]
            opening, t = [], 0.0
            while t < a.opening_s:
                f = others[len(opening) % len(others)]
                opening.append(f)
                t += calls.duration(calls.line(f)) + GAP_S
            jobs.append((test in angry, opening, test))

    def run(job):
        is_anger, opening, test = job
        base = os.path.join(calls.work, os.path.splitext(test)[0])
        after = calls.flagged(base + "_after.wav", calls.build(opening + [test], base + "_after.wav", level(a, test)))
        cold = calls.flagged(base + "_cold.wav", calls.build([test], base + "_cold.wav", level(a, test)))
        return is_anger, after, cold

    with ThreadPoolExecutor(max_workers=a.jobs) as pool:
        return list(pool.map(run, jobs))


def summarise(results, which):
    angry = [r[which] for r in results if r[0]]
    calm = [r[which] for r in results if not r[0]]
    recall = sum(angry) / len(angry) if angry else float("nan")
    fa = sum(calm) / len(calm) if calm else float("nan")
    return (recall + 1 - fa) / 2, fa, "%d/%d angry flagged, %d/%d calm flagged" % (sum(angry), len(angry), sum(calm),
                                                                                   len(calm))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--band", default="both", choices=["wide", "tel", "both"])
    ap.add_argument("--calm", default="neutral", help="label of the unemotional utterances (TurEV-DB: calm)")
    ap.add_argument("--opening-s", type=float, default=12.0)
    ap.add_argument("--levels-db", type=int, default=12)
    ap.add_argument("--per-speaker", type=int, default=0)
    ap.add_argument("--gate-anger", type=float)
    ap.add_argument("--gate-cold", type=float)
    ap.add_argument("--gate-fa", type=float, help="most calm utterances flagged (share), either condition")
    ap.add_argument("--work", help="folder for the calls (default: a temporary one)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args()
    labels = os.path.join(a.corpus, "labels.csv")
    if not os.path.exists(labels):
        print("SKIP: no labelled corpus at %s" % a.corpus)
        return 77
    rows = list(csv.DictReader(open(labels)))
    name = os.path.basename(os.path.normpath(a.corpus))
    tmp = None
    if not a.work:
        tmp = tempfile.TemporaryDirectory(prefix="cw-eval-voice-")
        a.work = tmp.name
    ok = True
    for band in (["wide", "tel"] if a.band == "both" else [a.band]):
        results = test_calls(a, Calls(a, band), rows)
        for which, title, gate in ((1, "after a %.0f s calm opening" % a.opening_s, a.gate_anger),
                                   (2, "from the first word", a.gate_cold)):
            uar, fa, counts = summarise(results, which)
            print("%s %s (levels 0..-%d dB): anger %s: %s, UAR %.3f, calm flagged %.1f%%"
                  % (name, band, a.levels_db, title, counts, uar, 100 * fa))
            if gate is not None and not uar >= gate:
                print("  GATE: UAR %.3f below %.2f" % (uar, gate)); ok = False
            if a.gate_fa is not None and not fa <= a.gate_fa:
                print("  GATE: calm flagged %.3f above %.2f" % (fa, a.gate_fa)); ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.CalledProcessError) as e:
        print("eval-voice: %s" % e, file=sys.stderr)
        sys.exit(1)

#!/usr/bin/env python3
"""Train the voice model's two anger scores (models/prosody.json "anger_prior" and "anger_relative").

usage: tools/train-voice.py [--build DIR] [--corpora DIR] [--work DIR] [--write] [--out FILE] [--fa X]

Every utterance of the dev corpora (../shared/corpora: emodb-dev, ravdess-dev, casia-dev, turev-dev) is
measured alone, as the first words of a call, wideband (16 kHz) and through a telephone line (8 kHz
G.711 u-law, 300-3400 Hz), each also with line noise (pink, brown or white, 12-30 dB SNR), by
build/voice-features: the detector's own segment features, all independent of line gain. Anger is the positive class; the unemotional and low-arousal labels (neutral, calm, boredom,
sadness) the negative one. Two logistic regressions on standardised features are fitted, every corpus and
class weighted alike (so the 1735 one-word TurEV files do not outvote 168 RAVDESS ones):
- the prior judges a segment against population norms (no level: it depends on the line's gain), so a
  caller angry from the first word is judged;
- the relative score judges a segment's features minus the caller's own baseline (the medians of the
  segments of the speaker's first baseline.voiced_s of calm speech: here their other calm utterances),
  once that baseline exists. The detector takes the higher of the two.

It prints, before writing anything:
- leave-one-corpus-out: trained on three corpora, scored on the fourth (the honest number for a corpus
  nobody tuned to), per corpus and band, from the first word (the prior alone) and after a calm opening
  (the higher of the two scores, as the detector judges);
- the final prior on all of dev (optimistic, reported apart).
A file counts as flagged when any of its segments scores at or above the warning threshold. The bias is set
so that, on the training set, at most --fa (default 0.10) of the negative files are flagged.
--write stores the final model in models/prosody.json. Only the Python standard library is used.
"""
import argparse, csv, json, math, os, statistics, subprocess, sys, zlib
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CORPORA = ("emodb-dev", "ravdess-dev", "casia-dev", "turev-dev")
NEGATIVE = ("neutral", "calm", "boredom", "sadness")
# Flat affect: the referee's classes (low: flat, normal: not).
LOW, NORMAL = ("sadness", "boredom", "calm"), ("neutral", "happiness")
FEATURES = ("f0_st", "range_st", "level_dyn_db", "rate_syl_s", "voiced_frac", "alpha_db", "hammarberg_db",
            "pitch_conf", "peak_level_db", "line_noise_db")
# The line's noise is the same for the segment and its baseline: the relative score has loudness instead.
RELATIVE_FEATURES = FEATURES[:-1] + ("level_db",)
CALM = {"emodb-dev": "neutral", "ravdess-dev": "neutral", "casia-dev": "neutral", "turev-dev": "calm"}
# Clean, and with line noise (studio corpora have none; real lines do): each noisy file gets its own
# noise colour and SNR, fixed by its name. Noise lowers pitch confidence and lifts spectral tilt for calm
# and angry voices alike; the prior reads how noisy the line is (line_noise_db) and learns to discount it
# from the noisy copies, so the models are fitted on all four.
BANDS = ("wide", "tel", "wide+noise", "tel+noise")
TRAIN_BANDS = list(BANDS)
NOISES = ("pinknoise", "brownnoise", "whitenoise")
SNR_DB = (12.0, 30.0)


def rms_db(path):
    p = subprocess.run(["sox", path, "-n", "stats"], check=True, capture_output=True, text=True)
    for line in p.stderr.splitlines():
        if line.startswith("RMS lev dB"):
            return float(line.split()[3])
    raise RuntimeError("sox stats gave no RMS level for " + path)


def add_noise(src, out, key):
    """src with noise key picks (colour and SNR against src's RMS level), written to out."""
    h = zlib.crc32(key.encode())
    colour = NOISES[h % len(NOISES)]
    snr = SNR_DB[0] + (h >> 8) % 1000 / 999.0 * (SNR_DB[1] - SNR_DB[0])
    duration = subprocess.run(["soxi", "-D", src], check=True, capture_output=True, text=True).stdout.strip()
    noise = out + ".noise.wav"
    subprocess.run(["sox", "-R", "-n", "-r", "16000", "-c", "1", "-b", "16", noise, "synth", duration, colour,
                    "vol", "0.5"], check=True, capture_output=True)
    gain = rms_db(src) - snr - rms_db(noise)
    subprocess.run(["sox", "-m", src, "-v", "%.6f" % 10 ** (gain / 20), noise, out], check=True, capture_output=True)
    os.remove(noise)


def convert(src, out, band):
    if os.path.exists(out):
        return out
    tmp = out + ".part.wav"
    if band.endswith("+noise"):
        clean = out.replace("/" + band + "/", "/wide/")
        noisy = tmp if band == "wide+noise" else out + ".wide.wav"
        add_noise(convert(src, clean, "wide"), noisy, os.path.basename(out))
        if band != "wide+noise":
            subprocess.run(["sox", noisy, "-r", "8000", "-c", "1", "-e", "u-law", tmp, "sinc", "300-3400"],
                           check=True, capture_output=True)
            os.remove(noisy)
    else:
        cmd = (["sox", src, "-r", "16000", "-c", "1", "-b", "16", tmp] if band == "wide" else
               ["sox", src, "-r", "8000", "-c", "1", "-e", "u-law", tmp, "sinc", "300-3400"])
        subprocess.run(cmd, check=True, capture_output=True)
    os.replace(tmp, out)
    return out


def measure(exe, files, config):
    p = subprocess.run([exe] + (["--config", config] if config else []) + files, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("voice-features failed: " + p.stderr.strip()[-400:])
    out = p.stdout
    segs = {}
    for line in out.splitlines():
        d = json.loads(line)
        segs.setdefault(d["file"], []).append(d)
    return segs


def load_corpus(exe, corpora_dir, work, name, config):
    """{band: [(speaker, label, [segment dicts])]} for one corpus, cached in work (per band)."""
    cache = os.path.join(work, name + ".json")
    inputs = (exe, os.path.join(ROOT, "models", "callwatch.ini")) + ((config,) if config else ())
    result = {}
    if os.path.exists(cache) and os.path.getmtime(cache) > max(os.path.getmtime(p) for p in inputs):
        result = json.load(open(cache))
    rows = list(csv.DictReader(open(os.path.join(corpora_dir, name, "labels.csv"))))
    rows = [r for r in rows if r["label"] in ("anger",) + NEGATIVE + NORMAL]
    for band in BANDS:
        if band in result:
            continue
        folder = os.path.join(work, band, name)
        os.makedirs(folder, exist_ok=True)
        with ThreadPoolExecutor(max_workers=2) as pool:
            paths = list(pool.map(lambda r: convert(os.path.join(corpora_dir, name, r["file"]),
                                                    os.path.join(folder, r["file"]), band), rows))
            chunks = [paths[i:i + 100] for i in range(0, len(paths), 100)]
            segs = {}
            for part in pool.map(lambda c: measure(exe, c, config), chunks):
                segs.update(part)
        result[band] = [(r["speaker"], r["label"], segs.get(p, [])) for r, p in zip(rows, paths)]
        json.dump(result, open(cache, "w"))
    return {band: result[band] for band in BANDS}


def solve(a, b):
    """Solves a x = b (small dense system) by Gaussian elimination with partial pivoting."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        if abs(m[c][c]) < 1e-12:
            continue
        for r in range(n):
            if r != c:
                f = m[r][c] / m[c][c]
                for k in range(c, n + 1):
                    m[r][k] -= f * m[c][k]
    return [m[i][n] / m[i][i] if abs(m[i][i]) > 1e-12 else 0.0 for i in range(n)]


def fit_logistic(xs, ys, ws, l2=1.0, iters=30):
    """Weighted L2-regularised logistic regression by Newton's method; returns [bias] + weights."""
    d = len(xs[0]) + 1
    beta = [0.0] * d
    for _ in range(iters):
        grad = [0.0] * d
        hess = [[0.0] * d for _ in range(d)]
        for x, y, w in zip(xs, ys, ws):
            z = beta[0] + sum(b * v for b, v in zip(beta[1:], x))
            p = 1 / (1 + math.exp(-max(-30, min(30, z))))
            xe = [1.0] + x
            g = w * (p - y)
            s = w * p * (1 - p)
            for i in range(d):
                grad[i] += g * xe[i]
                for j in range(d):
                    hess[i][j] += s * xe[i] * xe[j]
        for i in range(1, d):
            grad[i] += l2 * beta[i]
            hess[i][i] += l2
        step = solve(hess, grad)
        beta = [b - s for b, s in zip(beta, step)]
        if max(abs(s) for s in step) < 1e-6:
            break
    return beta


def usable(seg):
    return seg["voiced_s"] > 0


def prior_rows(data):
    """(corpus, band, y, [feature vectors of the file's segments]) for every file: judged alone."""
    return [(corpus, band, 1 if label == "anger" else 0, [[s[f] for f in FEATURES] for s in segs if usable(s)])
            for corpus, bands in data.items() for band, files in bands.items() for _, label, segs in files
            if label == "anger" or label in NEGATIVE]


def relative_rows(data, baseline_voiced_s, min_voiced_s):
    """The same for segments minus the speaker's baseline (and, last, the file's prior vectors): the
    medians over the segments of their other
    calm utterances, taken in order until baseline_voiced_s of voiced speech (as the detector does)."""
    rows = []
    for corpus, bands in data.items():
        for band, files in bands.items():
            for i, (spk, label, segs) in enumerate(files):
                if label != "anger" and label != CALM[corpus]:
                    continue
                # the calm opening cycles through their other calm utterances, as the referee builds it
                others = [s for j, (spk2, label2, segs2) in enumerate(files)
                          if spk2 == spk and label2 == CALM[corpus] and j != i for s in segs2 if usable(s)]
                base, voiced = [], 0.0
                while others and voiced < baseline_voiced_s:
                    s = others[len(base) % len(others)]
                    base.append(s); voiced += s["voiced_s"]
                if voiced < baseline_voiced_s:
                    continue
                med = [statistics.median(b[f] for b in base) for f in RELATIVE_FEATURES]
                rows.append((corpus, band, 1 if label == "anger" else 0,
                             [[s[f] - m for f, m in zip(RELATIVE_FEATURES, med)] for s in segs
                              if usable(s) and s["voiced_s"] >= min_voiced_s],
                             [[s[f] for f in FEATURES] for s in segs if usable(s)]))
    return rows


def examples(rows):
    """Segments with labels and weights: every (corpus, class) pair weighs the same in total."""
    groups = {}
    for corpus, band, y, vectors, *_ in rows:
        for x in vectors:
            groups.setdefault((corpus, y), []).append((x, y))
    xs, ys, ws = [], [], []
    for (corpus, y), items in groups.items():
        for x, yy in items:
            xs.append(x); ys.append(yy); ws.append(1000.0 / len(items))
    return xs, ys, ws


def standardise(xs):
    n, k = len(xs), len(xs[0])
    means = [sum(x[i] for x in xs) / n for i in range(k)]
    sds = [math.sqrt(sum((x[i] - means[i]) ** 2 for x in xs) / n) or 1.0 for i in range(k)]
    return means, sds


def train(rows):
    xs, ys, ws = examples(rows)
    means, sds = standardise(xs)
    zs = [[(v - m) / s for v, m, s in zip(x, means, sds)] for x in xs]
    beta = fit_logistic(zs, ys, ws)
    return {"means": means, "sds": sds, "bias": beta[0], "weights": beta[1:]}


def file_logit(model, vectors):
    best = -1e9
    for x in vectors:
        z = model["bias"] + sum(w * (v - m) / sd for v, w, m, sd in zip(x, model["weights"], model["means"], model["sds"]))
        best = max(best, z)
    return best


def calibrate(model, rows, fa, target_score, judged_only):
    """Shifts the bias so that at most fa of the negative files reach target_score; judged_only: of those with
    a segment the model judges (the relative score skips short ones, and no bias flags a file it never judges)."""
    negs = sorted((file_logit(model, r[3]) for r in rows if not r[2] and (r[3] or not judged_only)), reverse=True)
    k = min(len(negs) - 1, int(fa * len(negs)))
    threshold = negs[k] + 1e-6  # the logit that flags only the k loudest negatives
    model["bias"] += math.log(target_score / (1 - target_score)) - threshold
    return model


def fitted(rows, fa, target_score, judged_only=False):
    rows = [r for r in rows if r[1] in TRAIN_BANDS]
    return calibrate(train(rows), rows, fa, target_score, judged_only)


def score(models, rows_by_model, target_score):
    """Counts per (corpus, band): a file is flagged when any model flags it (the detector's max)."""
    z_thr = math.log(target_score / (1 - target_score))
    hits = {}
    for model, rows in zip(models, rows_by_model):
        for i, (corpus, band, y, v, *_) in enumerate(rows):
            key = (corpus, band, y, i)
            hits[key] = hits.get(key, False) or file_logit(model, v) >= z_thr
    out = {}
    for (corpus, band, y, _), hit in hits.items():
        c = out.setdefault((corpus, band), [0, 0, 0, 0])
        if y:
            c[0] += hit; c[1] += 1
        else:
            c[2] += hit; c[3] += 1
    return out


def report(title, counts):
    print(title)
    uars = []
    for (corpus, band), (ah, an, nh, nn) in sorted(counts.items()):
        uar = (ah / an + 1 - nh / nn) / 2 if an and nn else float("nan")
        uars.append(uar)
        print("  %-12s %-4s angry %4d/%-4d flagged, calm %4d/%-4d flagged, UAR %.3f" % (corpus, band, ah, an, nh, nn, uar))
    print("  mean UAR %.3f, worst %.3f" % (sum(uars) / len(uars), min(uars)))


def linear_json(model, names, why):
    return {"why": why, "bias": round(model["bias"], 4),
            "features": {f: {"mean": round(m, 4), "sd": round(s, 4), "weight": round(w, 4)}
                         for f, m, s, w in zip(names, model["means"], model["sds"], model["weights"])}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--corpora", default=os.path.join(ROOT, "..", "shared", "corpora"))
    ap.add_argument("--work", default="/tmp/callwatch-train-voice")
    ap.add_argument("--fa", type=float, default=0.10)
    ap.add_argument("--score", type=float, default=0.6, help="warning threshold ([alerts] warning_score)")
    ap.add_argument("--train-bands", default=",".join(TRAIN_BANDS), help="bands fitted on (comma-separated)")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--out", help="model file to write (default models/prosody.json)")
    ap.add_argument("--config", help="callwatch config for voice-features (its [models] prosody is the model read)")
    a = ap.parse_args()
    TRAIN_BANDS[:] = a.train_bands.split(",")
    if set(TRAIN_BANDS) - set(BANDS):
        ap.error("--train-bands: each of %s" % ", ".join(BANDS))
    exe = os.path.join(a.build, "voice-features")
    if not os.path.exists(exe):
        sys.exit("%s is missing: build callwatch first (tools/build.sh)" % exe)
    present = [c for c in CORPORA if os.path.exists(os.path.join(a.corpora, c, "labels.csv"))]
    if not present:
        print("no dev corpus under %s: nothing to train on" % a.corpora)
        return 77
    os.makedirs(a.work, exist_ok=True)
    data = {c: load_corpus(exe, a.corpora, a.work, c, a.config) for c in present}

    prior_all = prior_rows(data)
    model_path = a.out or os.path.join(ROOT, "models", "prosody.json")
    shipped = json.load(open(model_path))
    rel_all = relative_rows(data, shipped["baseline"]["voiced_s"], shipped["segment"]["relative_min_voiced_s"])
    by_corpus = lambda rows, keep: [r for r in rows if keep(r[0])]
    for title, evaluate in (("from the first word (prior alone)", False), ("after a calm opening (higher of prior and relative)", True)):
        held = {}
        for c in present:
            train_p = by_corpus(prior_all, lambda k: k != c)
            models, rows = [fitted(train_p, a.fa, a.score)], [by_corpus(prior_all, lambda k: k == c)]
            if evaluate:
                models.append(fitted(by_corpus(rel_all, lambda k: k != c), a.fa, a.score, judged_only=True))
                # the opening is calm: the test utterance is what is judged, by both scores
                test_rel = by_corpus(rel_all, lambda k: k == c)
                rows = [[(r[0], r[1], r[2], r[4]) for r in test_rel], test_rel]
            held.update(score(models, rows, a.score))
        report("leave-one-corpus-out, %s:" % title, held)

    prior = fitted(prior_all, a.fa, a.score)
    relative = fitted(rel_all, a.fa, a.score, judged_only=True)
    report("final prior on all of dev (trained on it: optimistic):", score([prior], [prior_all], a.score))
    print("prior weights (per standard deviation):",
          ", ".join("%s %+.2f" % (f, w) for f, w in zip(FEATURES, prior["weights"])))
    print("relative weights (per standard deviation):",
          ", ".join("%s %+.2f" % (f, w) for f, w in zip(RELATIVE_FEATURES, relative["weights"])))
    if a.write:
        path = a.out or os.path.join(ROOT, "models", "prosody.json")
        doc = json.load(open(path))
        why = ("trained by tools/train-voice.py on the dev corpora (%s), wideband and telephone band (%s), every "
               "corpus and class weighted alike; the bias flags at most %.0f%% of their calm files."
               % (", ".join(present), ", ".join(TRAIN_BANDS), 100 * a.fa))
        doc["anger_prior"] = linear_json(prior, FEATURES, "Anger against population norms, from the first words: "
                                         "logistic(bias + sum of weight x (feature - mean) / sd) over gain-independent "
                                         "segment features; " + why)
        doc["anger_relative"] = linear_json(relative, RELATIVE_FEATURES, "Anger against the caller's own baseline: the "
                                            "same over each feature minus the baseline's median; " + why)
        with open(path, "w") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
        print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

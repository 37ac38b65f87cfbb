#!/usr/bin/env python3
"""Telephone-line recognition: the 16 kHz model on upsampled 8 kHz audio vs [asr] model_8k.

Everything goes through `callwatch analyze`, once with a config without model_8k (today's path:
8 kHz legs upsampled for the 16 kHz model) and once with model_8k set (8 kHz legs decoded natively).

1. Synthetic calls (tools/make-call.py, flite): agent slt, customer in several voices, written
   as 8 kHz G.711 u-law. Per path: word error rate of each leg against the script, the cue
   phrases of the script found in the customer's final transcripts, and the alert kinds raised;
   the same calls in keyphrase (cue) mode with model_8k.
2. LibriVox read speech (pocketsphinx-testdata) through G.711 (8 kHz u-law): WER over the separate
   files and over one stream of all of them with 1 s gaps (as on a call: the cepstral mean adapts).
3. CPU per second of audio of each path: user+system CPU of analyze on the joined LibriVox stream
   minus that of analyze on 1 s of silence (model loading), divided by the stream's length.

Gates (exit 1 when missed): model_8k's WER is at least --min-gain points below the upsampled
path's on the calls (both legs) and on LibriVox (separate files and joined stream); model_8k finds
cue phrases in the calls that the upsampled path misses; cue mode with model_8k raises the
escalation alert on most calls. Needs flite, sox and python3; LibriVox parts are skipped with a
message when the data is absent.
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import wave

SPELLING = {"mr": "mister", "mrs": "missus"}

AGENT_TURNS = [
    "Thank you for calling. My name is Sarah. How can I help you today?",
    "I can see the account. Could you confirm your date of birth and your address?",
    "I am sorry about the delay. Let me check what happened.",
    "I understand. I will look into it right now.",
]
CUSTOMER_TURNS = [
    "Hello. I am calling about the bill on my account for this month.",
    "This is ridiculous. I have been waiting for three weeks and nobody helps.",
    "I am going to call my lawyer, and I will report you to the regulator.",
    "No. I want to speak to your supervisor, or I will cancel my account.",
]
# Cue phrases of the customer's turns (all in models/cues-en.json), by alert kind.
CUES = {
    "ridiculous": "anger",
    "nobody helps": "despair",
    "my lawyer": "escalation",
    "report you": "escalation",
    "regulator": "escalation",
    "supervisor": "escalation",
    "cancel my account": "escalation",
}


def words(text):
    out = []
    for w in text.lower().split():
        if w.startswith("<") or w.startswith("[") or w.startswith("++"):
            continue
        w = re.sub(r"\(\d+\)$", "", w)
        w = re.sub(r"[^a-z0-9']", "", w).strip("'")
        w = SPELLING.get(w, w)
        if w:
            out.append(w)
    return out


def edits(ref, hyp):
    prev = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        cur = [i] + [0] * len(hyp)
        for j in range(1, len(hyp) + 1):
            cur[j] = min(prev[j - 1] + (ref[i - 1] != hyp[j - 1]), prev[j] + 1, cur[j - 1] + 1)
        prev = cur
    return prev[-1]


def analyze(binary, config, wav, extra=()):
    """Runs analyze; returns (events, cpu seconds)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([binary, "analyze", "--config", config, *extra, wav], capture_output=True, text=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit("FAIL: callwatch analyze --config %s %s exited %d:\n%s" % (config, wav, p.returncode, p.stderr[-2000:]))
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()], cpu


def final_words(events, leg):
    fin = [e for e in events if e.get("type") == "transcript" and e.get("final") and e.get("leg") == leg]
    fin.sort(key=lambda e: e["t_start"])
    return words(" ".join(e["text"] for e in fin))


def make_calls(tmp, voices):
    calls = []
    for voice in voices:
        turns = []
        for i in range(len(AGENT_TURNS)):
            turns.append({"leg": "agent", "voice": "slt", "text": AGENT_TURNS[i]})
            turns.append({"leg": "customer", "voice": voice, "text": CUSTOMER_TURNS[i]})
        turns[0]["at"] = 0.5
        script = os.path.join(tmp, "call-%s.json" % voice)
        with open(script, "w") as f:
            json.dump({"turns": turns}, f)
        wav = os.path.join(tmp, "call-%s.wav" % voice)
        subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "make-call.py"), "--script", script,
                        "--out", wav, "--truth", os.path.join(tmp, "truth-%s.json" % voice), "--rate", "8000",
                        "--encoding", "ulaw"], check=True, capture_output=True)
        calls.append((voice, wav))
    return calls


def eval_calls(args, tmp, configs):
    ref = {"agent": words(" ".join(AGENT_TURNS)), "customer": words(" ".join(CUSTOMER_TURNS))}
    found = {}
    totals = {}
    kinds = {}
    for voice, wav in make_calls(tmp, args.voices):
        for name, cfg in configs.items():
            events, _ = analyze(args.binary, cfg, wav)
            cust = " ".join(final_words(events, "customer"))
            for leg in ("agent", "customer"):
                hyp = final_words(events, leg)
                e = edits(ref[leg], hyp)
                t = totals.setdefault((name, leg), [0, 0])
                t[0] += e
                t[1] += len(ref[leg])
                print("  %-6s %-9s %-8s WER %3.0f%%  %s" % (voice, name, leg, 100.0 * e / len(ref[leg]), " ".join(hyp)))
            found[(name, voice)] = {c for c in CUES if re.search(r"\b%s\b" % c, cust)}
            kinds[(name, voice)] = {e["kind"] for e in events if e.get("type") == "alert" and e.get("leg") == "customer"}
            print("  %-6s %-9s cues found: %s; customer alerts: %s" % (
                voice, name, ", ".join(sorted(found[(name, voice)])) or "-", ", ".join(sorted(kinds[(name, voice)])) or "-"))
    return totals, found, kinds


def librivox(args, tmp, configs):
    data = args.librivox
    refs = {}
    for line in open(os.path.join(data, "transcription"), encoding="utf-8"):
        m = re.match(r"^(.*)\(([^()]+)\)\s*$", line.strip())
        if m:
            refs[m.group(2).strip()] = words(m.group(1))
    ids = [os.path.basename(l.strip()) for l in open(os.path.join(data, "fileids")) if l.strip()]
    joined16 = os.path.join(tmp, "librivox16.wav")
    with wave.open(joined16, "wb") as o:
        o.setnchannels(1)
        o.setsampwidth(2)
        o.setframerate(16000)
        for fid in ids:
            with wave.open(os.path.join(data, fid + ".wav"), "rb") as w:
                o.writeframes(w.readframes(w.getnframes()))
            o.writeframes(bytes(2 * 16000))
    g711 = {}
    for fid in ids + ["joined"]:
        src = joined16 if fid == "joined" else os.path.join(data, fid + ".wav")
        g711[fid] = os.path.join(tmp, fid + ".g711.wav")
        subprocess.run(["sox", src, "-r", "8000", "-e", "u-law", g711[fid]], check=True)
    silence = os.path.join(tmp, "silence.g711.wav")
    subprocess.run(["sox", "-n", "-r", "8000", "-e", "u-law", silence, "trim", "0", "1"], check=True)
    with wave.open(joined16, "rb") as w:
        joined_s = w.getnframes() / 16000.0
    wer, cpu_per_s = {}, {}
    for name, cfg in configs.items():
        e = n = 0
        for fid in ids:
            events, _ = analyze(args.binary, cfg, g711[fid], ("--leg", "customer"))
            e += edits(refs[fid], final_words(events, "customer"))
            n += len(refs[fid])
        all_ref = [w for fid in ids for w in refs[fid]]
        events, cpu = analyze(args.binary, cfg, g711["joined"], ("--leg", "customer"))
        _, cpu0 = analyze(args.binary, cfg, silence, ("--leg", "customer"))
        hyp = final_words(events, "customer")
        wer[name] = (100.0 * e / n, 100.0 * edits(all_ref, hyp) / len(all_ref))
        cpu_per_s[name] = (cpu - cpu0) / joined_s
        print("  %-9s separate files WER %5.1f%%, joined stream WER %5.1f%% (%d words); CPU %.3f s per s of audio "
              "(%.1f s for %.1f s, %.1f s loading)" % (name, wer[name][0], wer[name][1], n, cpu_per_s[name], cpu,
                                                        joined_s, cpu0))
        print("            joined: %s" % " ".join(hyp))
    return wer, cpu_per_s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--model-8k", required=True, help="acoustic model directory for [asr] model_8k")
    ap.add_argument("--librivox", default="/usr/share/pocketsphinx/test/data/librivox")
    ap.add_argument("--voices", nargs="+", default=["awb", "kal16", "kal"])
    ap.add_argument("--min-gain", type=float, default=15.0, help="WER points model_8k must gain (default 15)")
    args = ap.parse_args()
    problems = []
    with tempfile.TemporaryDirectory(prefix="cw-eval-8k.") as tmp:
        configs = {}
        for name, text in (("upsampled", "[asr]\nworkers = 1\n"),
                           ("model_8k", "[asr]\nworkers = 1\nworkers_8k = 1\nmodel_8k = %s\n" % args.model_8k),
                           ("cue_8k", "[asr]\nmode = cue\nworkers = 1\nworkers_8k = 1\nmodel_8k = %s\n" % args.model_8k)):
            configs[name] = os.path.join(tmp, name + ".ini")
            with open(configs[name], "w") as f:
                f.write(text)
        full = {k: configs[k] for k in ("upsampled", "model_8k")}

        print("== synthetic calls, 8 kHz G.711 u-law (agent slt, customer %s)" % ", ".join(args.voices))
        totals, found, kinds = eval_calls(args, tmp, configs)
        for leg in ("agent", "customer"):
            up = 100.0 * totals[("upsampled", leg)][0] / totals[("upsampled", leg)][1]
            m8 = 100.0 * totals[("model_8k", leg)][0] / totals[("model_8k", leg)][1]
            print("calls %-8s WER: upsampled 16 kHz model %.1f%%, model_8k %.1f%%" % (leg, up, m8))
            if m8 > up - args.min_gain:
                problems.append("calls %s leg: model_8k WER %.1f%% is not %.0f points below %.1f%%"
                                % (leg, m8, args.min_gain, up))
        gained = sorted((v, c) for v in args.voices for c in found[("model_8k", v)] - found[("upsampled", v)])
        lost = sorted((v, c) for v in args.voices for c in found[("upsampled", v)] - found[("model_8k", v)])
        n_cues = len(CUES) * len(args.voices)
        for name in configs:
            print("calls %-9s cue phrases found: %d of %d; voices with a customer alert of kind anger %d, despair %d, "
                  "escalation %d" % (name, sum(len(found[(name, v)]) for v in args.voices), n_cues,
                                     *(sum(k in kinds[(name, v)] for v in args.voices)
                                       for k in ("anger", "despair", "escalation"))))
        print("found by model_8k only: %s" % (", ".join("%s:%s" % p for p in gained) or "-"))
        print("found by the upsampled path only: %s" % (", ".join("%s:%s" % p for p in lost) or "-"))
        if len(gained) < 2:
            problems.append("model_8k found %d cue phrases the upsampled path missed (want >= 2)" % len(gained))
        esc = sum("escalation" in kinds[("cue_8k", v)] for v in args.voices)
        if esc < len(args.voices) - 1:
            problems.append("cue mode with model_8k raised escalation on %d of %d calls" % (esc, len(args.voices)))

        if os.path.isfile(os.path.join(args.librivox, "fileids")):
            print("== LibriVox (pocketsphinx-testdata) through G.711 u-law 8 kHz")
            wer, cpu = librivox(args, tmp, full)
            for i, what in enumerate(("separate files", "joined stream")):
                if wer["model_8k"][i] > wer["upsampled"][i] - args.min_gain:
                    problems.append("LibriVox %s: model_8k WER %.1f%% is not %.0f points below %.1f%%"
                                    % (what, wer["model_8k"][i], args.min_gain, wer["upsampled"][i]))
            print("LibriVox G.711: WER upsampled %.1f%% / %.1f%%, model_8k %.1f%% / %.1f%% (separate / joined); "
                  "CPU per s of audio upsampled %.3f, model_8k %.3f"
                  % (*wer["upsampled"], *wer["model_8k"], cpu["upsampled"], cpu["model_8k"]))
        else:
            print("LibriVox: not run (no pocketsphinx-testdata at %s)" % args.librivox)
    for p in problems:
        print("FAIL: " + p)
    if problems:
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())

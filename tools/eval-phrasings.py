#!/usr/bin/env python3
"""eval-phrasings.py - how many phrasings of each word-cue family callwatch catches, end to end.

For every flite voice x line rate, one synthetic call is spoken (tools/make-call.py): an agent
greeting, a customer warm-up sentence without cues (the recogniser adapts on a stream's first
utterance), then every phrasing of tests/data/phrasings.json as its own customer turn, and the
calm sentences. The call goes through `callwatch analyze` with a configuration that keeps turns
apart (alert cooldown 0, word window 1 s), so each turn's words raise their own alert.

A phrasing variant (phrasing x voice x rate) is caught when an alert of the family's kind on the
customer leg has word evidence starting inside that turn. A calm sentence is a false alarm when
any word alert has evidence inside it. Dev and held-out phrasings are reported apart; held-out
misses are not listed unless --show-heldout (nobody tunes on them).

The 8 kHz call is the 16 kHz one through sox as G.711 u-law (-r 8000 -e u-law).

Usage: tools/eval-phrasings.py [--binary build/callwatch] [--cues models/cues-en.json]
         [--voices rms,slt,kal16] [--rates 16000,8000] [--min-dev F] [--min-heldout F] [--json OUT]
         [--audio-dir DIR]
Exit 0; 1 when a --min-* gate fails or a run fails; 77 when flite or sox is missing.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLACK_S = 0.3  # evidence may start a little before the synthetic word boundary
WORD_KINDS = ("anger", "despair", "escalation")


def build_script(data, voice):
    turns = [{"leg": "agent", "voice": "slt", "at": 0.5, "text": "Thank you for calling, how can I help you?"},
             {"leg": "customer", "voice": voice, "gap": 1.2,
              "text": "Hello, I have a question about the bill I received this month."}]
    items = []  # (set, family index, text) per customer turn after the warm-up
    for fi, fam in enumerate(data["families"]):
        for which in ("dev", "heldout"):
            for text in fam[which]:
                items.append((which, fi, text))
    for text in data["calm"]:
        items.append(("calm", -1, text))
    for _, _, text in items:
        turns.append({"leg": "customer", "voice": voice, "gap": 1.4, "text": text})
    return {"turns": turns}, items


def render(data, voice, rate, audio_dir):
    """The call of one voice at one rate, synthesised once into audio_dir (reused when there)."""
    script, items = build_script(data, voice)
    wide = os.path.join(audio_dir, f"call-{voice}-16000.wav")
    truth = os.path.join(audio_dir, f"call-{voice}.truth.json")
    sp = os.path.join(audio_dir, f"script-{voice}.json")
    text = json.dumps(script, sort_keys=True)
    fresh = os.path.exists(sp) and open(sp).read() == text and os.path.exists(wide) and os.path.exists(truth)
    if not fresh:
        with open(sp + ".tmp", "w") as f:
            f.write(text)
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make-call.py"), "--script", sp + ".tmp",
                        "--out", wide, "--truth", truth, "--rate", "16000"], check=True, stdout=subprocess.DEVNULL)
        os.replace(sp + ".tmp", sp)
    audio = wide
    if rate != 16000:  # the telephone line: G.711 u-law at 8 kHz
        audio = os.path.join(audio_dir, f"call-{voice}-{rate}.wav")
        if not fresh or not os.path.exists(audio):
            enc = ["-e", "u-law"] if rate == 8000 else []
            subprocess.run(["sox", "-D", "-R", wide, "-r", str(rate)] + enc + [audio], check=True)
    with open(truth) as f:
        tt = json.load(f)
    return audio, tt, items


def run_one(args, data, voice, rate, audio_dir, cfg):
    audio, tt, items = render(data, voice, rate, audio_dir)
    cust = [t for t in tt["turns"] if t["leg"] == "customer"][1:]
    out = subprocess.run([args.binary, "analyze", "--config", cfg, "--call-id", f"{voice}-{rate}", audio],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"callwatch analyze {audio} exited {out.returncode}: {out.stderr[-400:]}")
    events = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    alerts = [e for e in events if e["type"] == "alert" and e["leg"] == "customer" and e["kind"] in WORD_KINDS]
    finals = [e for e in events if e["type"] == "transcript" and e["leg"] == "customer" and e.get("final")]
    results = []
    for (which, fi, text), turn in zip(items, cust):
        lo, hi = turn["t_start"] - SLACK_S, turn["t_end"] + SLACK_S
        kinds = set()
        for a in alerts:
            for w in a.get("evidence", {}).get("words", []):
                if lo <= w.get("t_start", -1) <= hi:
                    kinds.add(a["kind"])
        heard = " ".join(e["text"] for e in finals if e["t_end"] >= lo and e["t_start"] <= hi)
        if which == "calm":
            ok = not kinds
        else:
            ok = data["families"][fi]["kind"] in kinds
        results.append({"set": which, "family": fi, "text": text, "voice": voice, "rate": rate, "ok": ok,
                        "kinds": sorted(kinds), "heard": heard})
    return results


def family_name(data, fi):
    fam = data["families"][fi]
    return fam["kind"] + ("/" + fam["category"] if fam["category"] else "")


def report(data, results, show_heldout):
    summary = {}
    for which in ("dev", "heldout", "calm"):
        rs = [r for r in results if r["set"] == which]
        ok = sum(r["ok"] for r in rs)
        summary[which] = {"ok": ok, "n": len(rs)}
        label = {"dev": "dev caught", "heldout": "held-out caught", "calm": "calm without word alert"}[which]
        print(f"{label}: {ok}/{len(rs)}" + (f" ({ok / len(rs):.2f})" if rs else ""))
    print("per family (dev / held-out):")
    for fi in range(len(data["families"])):
        parts = []
        for which in ("dev", "heldout"):
            rs = [r for r in results if r["set"] == which and r["family"] == fi]
            parts.append(f"{sum(r['ok'] for r in rs)}/{len(rs)}")
        print(f"  {family_name(data, fi):28s} {parts[0]:>7s}  {parts[1]:>7s}")
    for r in results:
        if r["ok"] or (r["set"] == "heldout" and not show_heldout):
            continue
        what = "false alarm" if r["set"] == "calm" else "missed"
        print(f"  {what} [{r['set']} {r['voice']} {r['rate']}] \"{r['text']}\" heard \"{r['heard']}\" "
              f"alerts {r['kinds']}")
    return summary


def main():
    ap = argparse.ArgumentParser(description="End-to-end catch rate of cue phrasings over voices and rates.")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "callwatch"))
    ap.add_argument("--cues", default=os.path.join(ROOT, "models", "cues-en.json"))
    ap.add_argument("--phrasings", default=os.path.join(ROOT, "tests", "data", "phrasings.json"))
    ap.add_argument("--voices", default="rms,slt,kal16")
    ap.add_argument("--rates", default="16000,8000")
    ap.add_argument("--min-dev", type=float, default=0.0, help="fail when the dev catch rate is below")
    ap.add_argument("--min-heldout", type=float, default=0.0, help="fail when the held-out catch rate is below")
    ap.add_argument("--min-calm", type=float, default=0.0, help="fail when the calm pass rate is below")
    ap.add_argument("--show-heldout", action="store_true", help="list held-out misses too")
    ap.add_argument("--json", help="write every variant's result here")
    ap.add_argument("--audio-dir", help="keep the synthesised calls here and reuse them (default: a temporary "
                                        "directory)")
    args = ap.parse_args()
    for prog in ("flite", "sox"):
        if not shutil.which(prog):
            print(f"SKIP: {prog} is not installed")
            return 77
    if not os.access(args.binary, os.X_OK):
        print(f"FAIL: callwatch binary not found or not executable: {args.binary}", file=sys.stderr)
        return 1
    with open(args.phrasings) as f:
        data = json.load(f)
    results = []
    with tempfile.TemporaryDirectory(prefix="cw-phrasings.") as tmp:
        cfg = os.path.join(tmp, "eval.ini")
        with open(cfg, "w") as f:
            f.write(f"[models]\ncues = {os.path.abspath(args.cues)}\n[alerts]\ncooldown_s = 0\n"
                    "[detect]\nword_window_s = 1\n")
        if args.audio_dir:
            os.makedirs(args.audio_dir, exist_ok=True)
        for voice in args.voices.split(","):
            for rate in (int(r) for r in args.rates.split(",")):
                try:
                    results += run_one(args, data, voice, rate, args.audio_dir or tmp, cfg)
                except (RuntimeError, subprocess.CalledProcessError) as e:
                    print(f"FAIL: {e}", file=sys.stderr)
                    return 1
    summary = report(data, results, args.show_heldout)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "variants": results}, f, indent=1)
    rate = {k: (v["ok"] / v["n"] if v["n"] else 1.0) for k, v in summary.items()}
    if rate["dev"] < args.min_dev or rate["heldout"] < args.min_heldout or rate["calm"] < args.min_calm:
        print(f"FAIL: below the gate (dev >= {args.min_dev}, held-out >= {args.min_heldout}, "
              f"calm >= {args.min_calm})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

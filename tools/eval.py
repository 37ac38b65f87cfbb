#!/usr/bin/env python3
"""eval.py - score callwatch's alerts against the labelled synthetic corpus.

    tools/eval.py --binary build/callwatch --corpus OUT_DIR [--min-severity info|warning|critical]
                  [--json] [--gate-f1 X] [--gate-kinds k1,k2,...] [--jobs 2] [--save DIR]
                  [--analyze-arg ARG ...] [--from-dir DIR]

OUT_DIR comes from tools/make-eval-corpus.py (OUT_DIR/truth.json lists calls and labelled spans).
Each call is run through `callwatch analyze FILE.wav` (2 at a time); every stdout line that is a
JSON object with "type":"alert" is an alert. --from-dir DIR skips running the binary and reads
DIR/NAME.jsonl instead (the files --save DIR writes; also handy for testing this script).

Matching (per call):
  - alerts below --min-severity (default info = all) are ignored;
  - an alert can match a truth span of the same kind and the same leg (a span with leg "both",
    i.e. dead_air, accepts either leg) when the alert's [t_start, t_end] overlaps the span
    widened by 1.0 s on each side (--slack);
  - each span is matched at most once, each alert at most once; the assignment is a maximum
    bipartite matching (so an early broad alert cannot steal a span another alert needed);
  - an unmatched alert that `escalates` a matched one (directly or through a chain) is the same
    episode growing worse, which the contract allows (one alert per episode, or a short escalating
    series): it is neither TP nor FP (column esc counts them);
  - other unmatched alerts are false positives (column dup counts those FPs that overlap an already
    matched span of their kind: repeated alerts for one cue); unmatched spans are false negatives;
  - calm calls have no spans: they only contribute false positives.
Per kind: TP, FP, FN, precision, recall, F1 (P = TP/(TP+FP), R = TP/(TP+FN); an empty ratio
counts as 1.0 when its numerator side has nothing to count, e.g. P with no alerts at all).
Macro F1 is the mean F1 over the kinds that have truth spans (for the selected set).
Latency of a matched alert = its `t` (audio seconds processed when emitted) minus the end of
the truth span; median and p95 per kind and overall (overall without dead_air, whose alert is
due inside its span, once the silence is long enough).

Kind selectors (rows and --gate-kinds) may name a cue subset: "anger:words" scores only the
anger spans whose cue contains "words"; anger spans of other cues (prosody-only) are then
"don't care": alerts matching them are neither TP nor FP and they are not FNs.

Exit status: 0; with --gate-f1 X: 1 if the macro F1 over the gated kinds (--gate-kinds, default
all kinds with truth) is below X, or if callwatch failed on any call. 2 on usage errors.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

KINDS = ["anger", "despair", "escalation", "flat_affect", "talk_over", "dead_air"]
SEVERITY = {"info": 0, "warning": 1, "critical": 2}


def load_truth(corpus):
    path = os.path.join(corpus, "truth.json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print("eval: cannot read %s: %s" % (path, e), file=sys.stderr)
        sys.exit(2)


def run_call(binary, corpus, call, extra, timeout, save):
    audio = os.path.join(corpus, call["audio"])
    cmd = [binary, "analyze"] + extra + [audio]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", e.stdout or b"", (e.stderr or b"") + b"\n(timed out)"
    except OSError as e:
        rc, out, err = "exec", b"", str(e).encode()
    wall = time.monotonic() - t0
    if save:
        with open(os.path.join(save, call["name"] + ".jsonl"), "wb") as f:
            f.write(out)
        with open(os.path.join(save, call["name"] + ".stderr"), "wb") as f:
            f.write(err)
    return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), wall


def parse_alerts(text, name, problems):
    alerts = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            problems.append("%s: stdout line %d is not JSON: %r" % (name, n, line[:120]))
            continue
        if not isinstance(ev, dict) or ev.get("type") != "alert":
            continue
        bad = [k for k in ("kind", "leg", "t_start", "t_end", "t") if k not in ev]
        if bad or not all(isinstance(ev.get(k), (int, float)) for k in ("t_start", "t_end", "t")):
            problems.append("%s: alert without valid %s: %s" % (name, ",".join(bad) or "times", line[:200]))
            continue
        alerts.append(ev)
    return alerts


def overlaps(alert, span, slack):
    return alert["t_start"] <= span["t_end"] + slack and alert["t_end"] >= span["t_start"] - slack


def compatible(alert, span, slack):
    if alert.get("kind") != span["kind"]:
        return False
    if span["leg"] != "both" and alert.get("leg") != span["leg"]:
        return False
    return overlaps(alert, span, slack)


def max_matching(alerts, spans, slack):
    """Maximum bipartite matching alerts <-> spans (Kuhn's algorithm); returns {alert_idx: span_idx}.
    Alerts are tried in emission order, spans in time order, so ties go to the earliest."""
    adj = [[j for j, s in enumerate(spans) if compatible(a, s, slack)] for a in alerts]
    span_of = {}     # span idx -> alert idx

    def try_alert(i, seen):
        for j in adj[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in span_of or try_alert(span_of[j], seen):
                span_of[j] = i
                return True
        return False

    for i in range(len(alerts)):
        try_alert(i, set())
    return {i: j for j, i in span_of.items()}


def parse_selector(sel):
    kind, _, cue = sel.partition(":")
    if kind not in KINDS:
        raise ValueError("unknown kind %r (kinds: %s)" % (kind, ", ".join(KINDS)))
    return kind, cue or None


def escalates_matched(alert, by_id, matched_ids):
    """Whether alert escalates (directly or through earlier escalations) an alert that matched."""
    seen = set()
    prev = alert.get("escalates")
    while prev and prev not in seen:
        if prev in matched_ids:
            return True
        seen.add(prev)
        prev = by_id.get(prev, {}).get("escalates")
    return False


def score(calls, results, selectors, slack, min_sev):
    """results: name -> list of alerts. Returns per-selector stats dict."""
    stats = {}
    for sel in selectors:
        kind, cue = parse_selector(sel)
        st = {"tp": 0, "fp": 0, "fn": 0, "dup": 0, "esc": 0, "spans": 0, "latency": [], "fp_detail": [],
              "fn_detail": []}
        for call in calls:
            alerts = [a for a in results.get(call["name"], [])
                      if a.get("kind") == kind and SEVERITY.get(a.get("severity"), 0) >= min_sev]
            alerts.sort(key=lambda a: (a["t"], a["t_start"]))
            all_spans = [s for s in call["spans"] if s["kind"] == kind]
            spans = [s for s in all_spans if cue is None or cue in s.get("cue", "").split("+")]
            ignored = [s for s in all_spans if s not in spans]
            m = max_matching(alerts, spans, slack)
            st["spans"] += len(spans)
            st["tp"] += len(m)
            st["fn"] += len(spans) - len(m)
            matched_spans = set(m.values())
            for j, s in enumerate(spans):
                if j not in matched_spans:
                    st["fn_detail"].append("%s %s %.2f-%.2f %s" % (call["name"], s["leg"], s["t_start"], s["t_end"],
                                                                   s.get("phrase", "")))
            by_id = {a.get("id"): a for a in alerts if a.get("id")}
            matched_ids = {alerts[i].get("id") for i in m}
            for i, a in enumerate(alerts):
                if i in m:
                    st["latency"].append(a["t"] - spans[m[i]]["t_end"])
                    continue
                if any(compatible(a, s, slack) for s in ignored):
                    continue   # a cue outside the selected subset: don't care
                if escalates_matched(a, by_id, matched_ids):
                    st["esc"] += 1   # the same episode growing worse: neither TP nor FP
                    continue
                st["fp"] += 1
                if any(compatible(a, spans[j], slack) for j in matched_spans):
                    st["dup"] += 1
                st["fp_detail"].append("%s %s %.2f-%.2f t=%.2f %s: %s" % (
                    call["name"], a.get("leg"), a["t_start"], a["t_end"], a["t"], a.get("severity"),
                    str(a.get("text", ""))[:100]))
        tp, fp, fn = st["tp"], st["fp"], st["fn"]
        st["precision"] = tp / (tp + fp) if tp + fp else (1.0 if st["spans"] == 0 or fn == 0 else 0.0)
        st["recall"] = tp / (tp + fn) if tp + fn else 1.0
        p, r = st["precision"], st["recall"]
        st["f1"] = 2 * p * r / (p + r) if p + r else 0.0
        if tp + fp == 0 and st["spans"] > 0:
            st["precision"] = None   # no alerts at all: undefined, shown as "-"
            st["f1"] = 0.0
        st["has_truth"] = st["spans"] > 0
        lat = sorted(st["latency"])
        st["lat_median"] = pct(lat, 50)
        st["lat_p95"] = pct(lat, 95)
        stats[sel] = st
    return stats


def pct(xs, q):
    if not xs:
        return None
    k = (len(xs) - 1) * q / 100.0
    lo, hi = int(math.floor(k)), int(math.ceil(k))
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def macro(stats, sels):
    f = [stats[s]["f1"] for s in sels if stats[s]["has_truth"]]
    return sum(f) / len(f) if f else None


def fmt(x, spec="%.2f"):
    return "-" if x is None else spec % x


def main():
    ap = argparse.ArgumentParser(description="Score callwatch alerts on the synthetic corpus (see module doc).")
    ap.add_argument("--binary", default="build/callwatch")
    ap.add_argument("--corpus", required=True, help="directory written by tools/make-eval-corpus.py")
    ap.add_argument("--min-severity", default="info", choices=list(SEVERITY))
    ap.add_argument("--json", action="store_true", help="print one JSON report instead of the table")
    ap.add_argument("--gate-f1", type=float, help="exit 1 if macro F1 over the gated kinds is below this")
    ap.add_argument("--gate-kinds", help="comma-separated kinds (optionally kind:cue, e.g. anger:words) to gate")
    ap.add_argument("--kinds", help="comma-separated rows to report (default: all kinds, plus the gated ones)")
    ap.add_argument("--slack", type=float, default=1.0, help="span widening for matching (s, default 1.0)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300.0, help="per-call timeout of callwatch (s)")
    ap.add_argument("--save", help="keep each call's stdout/stderr in this directory (NAME.jsonl / NAME.stderr)")
    ap.add_argument("--from-dir", help="read NAME.jsonl from this directory instead of running the binary")
    ap.add_argument("--analyze-arg", action="append", default=[],
                    help="extra argument for `callwatch analyze` (repeatable, e.g. --analyze-arg=--config=FILE)")
    ap.add_argument("--details", action="store_true", help="list every FP and FN")
    args = ap.parse_args()

    truth = load_truth(args.corpus)
    calls = truth["calls"]
    try:
        gated = [s.strip() for s in args.gate_kinds.split(",") if s.strip()] if args.gate_kinds else None
        rows = [s.strip() for s in args.kinds.split(",") if s.strip()] if args.kinds else list(KINDS)
        for s in (gated or []):
            if s not in rows:
                rows.append(s)
        for s in rows:
            parse_selector(s)
    except ValueError as e:
        print("eval: %s" % e, file=sys.stderr)
        return 2
    if gated is None:
        gated = [k for k in KINDS if k in rows and any(s["kind"] == k for c in calls for s in c["spans"])]

    problems, failures = [], []
    results, walls = {}, {}
    if args.from_dir:
        for c in calls:
            p = os.path.join(args.from_dir, c["name"] + ".jsonl")
            try:
                with open(p, encoding="utf-8", errors="replace") as f:
                    results[c["name"]] = parse_alerts(f.read(), c["name"], problems)
            except OSError as e:
                failures.append("%s: %s" % (c["name"], e))
                results[c["name"]] = []
    else:
        if not (os.path.isfile(args.binary) and os.access(args.binary, os.X_OK)):
            print("eval: binary not found or not executable: %s" % args.binary, file=sys.stderr)
            return 2
        if args.save:
            os.makedirs(args.save, exist_ok=True)
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
            futs = {c["name"]: ex.submit(run_call, args.binary, args.corpus, c, args.analyze_arg,
                                         args.timeout, args.save) for c in calls}
            for c in calls:
                rc, out, err, wall = futs[c["name"]].result()
                walls[c["name"]] = wall
                if rc != 0:
                    tail = "\n    ".join(err.strip().splitlines()[-5:])
                    failures.append("%s: callwatch analyze exit %s\n    %s" % (c["name"], rc, tail))
                results[c["name"]] = parse_alerts(out, c["name"], problems)

    stats = score(calls, results, rows, args.slack, SEVERITY[args.min_severity])
    m_all = macro(stats, [k for k in KINDS if k in stats])
    m_gate = macro(stats, gated)
    # Overall latency excludes dead_air: its alert fires once the silence passes a threshold, inside
    # the span, so "t minus span end" is negative by design (its own row still shows it).
    all_lat = sorted(x for s in rows if ":" not in s and s != "dead_air" for x in stats[s]["latency"])
    n_alerts = sum(len(v) for v in results.values())
    calm_fp = sum(1 for c in calls if c["calm"] for a in results.get(c["name"], [])
                  if SEVERITY.get(a.get("severity"), 0) >= SEVERITY[args.min_severity])
    audio_s = sum(c["duration_s"] for c in calls)

    gate_ok = True
    if args.gate_f1 is not None:
        gate_ok = m_gate is not None and m_gate >= args.gate_f1 and not failures

    if args.json:
        rep = {"corpus": os.path.abspath(args.corpus), "binary": None if args.from_dir else args.binary,
               "rate_hz": truth.get("rate_hz"), "calls": len(calls), "audio_s": round(audio_s, 3),
               "alerts": n_alerts, "calm_call_alerts": calm_fp, "min_severity": args.min_severity,
               "slack_s": args.slack,
               "kinds": {s: {k: v for k, v in st.items() if k not in ("latency",)} for s, st in stats.items()},
               "macro_f1": m_all, "gated_kinds": gated, "gated_macro_f1": m_gate,
               "latency_median_s": pct(all_lat, 50), "latency_p95_s": pct(all_lat, 95),
               "failures": failures, "problems": problems,
               "wall_s": {k: round(v, 2) for k, v in walls.items()},
               "gate_f1": args.gate_f1, "gate_ok": gate_ok}
        print(json.dumps(rep, indent=1))
    else:
        print("callwatch eval: %d calls, %.0f s of audio, %d alerts (%d on calm calls), min severity %s, slack %.1f s"
              % (len(calls), audio_s, n_alerts, calm_fp, args.min_severity, args.slack))
        hdr = "%-16s %5s %4s %4s %4s %4s %4s %6s %6s %6s %8s %8s" % (
            "kind", "spans", "TP", "FP", "dup", "esc", "FN", "prec", "recall", "F1", "lat_med", "lat_p95")
        print(hdr)
        print("-" * len(hdr))
        for s in rows:
            st = stats[s]
            mark = "*" if s in gated else " "
            print("%-15s%s %5d %4d %4d %4d %4d %4d %6s %6s %6s %8s %8s" % (
                s, mark, st["spans"], st["tp"], st["fp"], st["dup"], st["esc"], st["fn"], fmt(st["precision"]),
                fmt(st["recall"]), fmt(st["f1"]) if st["has_truth"] else "-",
                fmt(st["lat_median"], "%+.2f"), fmt(st["lat_p95"], "%+.2f")))
        print("-" * len(hdr))
        print("macro F1 (all kinds with truth): %s   gated (* %s): %s   latency (excl. dead_air) median %s s, p95 %s s"
              % (fmt(m_all, "%.3f"), ",".join(gated), fmt(m_gate, "%.3f"),
                 fmt(pct(all_lat, 50), "%+.2f"), fmt(pct(all_lat, 95), "%+.2f")))
        if walls:
            print("analyze wall time: total %.1f s, max %.1f s per call" % (sum(walls.values()), max(walls.values())))
        if args.details:
            for s in rows:
                for d in stats[s]["fn_detail"]:
                    print("FN %-12s %s" % (s, d))
                for d in stats[s]["fp_detail"]:
                    print("FP %-12s %s" % (s, d))
        for p in problems[:20]:
            print("warning: " + p)
        for f in failures:
            print("ERROR: " + f)
        if args.gate_f1 is not None:
            print("gate: macro F1 %s over %s %s %.2f -> %s%s" % (
                fmt(m_gate, "%.3f"), ",".join(gated), ">=" if gate_ok else "<", args.gate_f1,
                "PASS" if gate_ok else "FAIL", " (callwatch failed on %d calls)" % len(failures) if failures else ""))
    return 0 if gate_ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# bench_smoke: tools/bench --quick runs every part of the benchmark (voice, kws, full and mixed live modes, the
# naive pocketsphinx_continuous baseline, batch analysis) at N <= 2 and writes a JSON report with
# every field; then one voice-mode run with the calls streamed over WebSocket (--ingest websocket).
# Not a timing gate: performance numbers never fail this test, only missing or
# impossible values do.
set -u
. "$(dirname "$0")/lib.sh"
for prog in flite sox soxi pocketsphinx_continuous; do
    command -v "$prog" >/dev/null || { echo "bench_smoke: $prog not installed"; exit 77; }
done
cw_tmpdir work cw-bench-smoke
if ! python3 "$CALLWATCH_SRC/tools/bench" --binary "$CALLWATCH" --quick --max-n 2 \
        --json-out "$work/bench.json" >"$work/report.txt" 2>"$work/log.txt"; then
    echo "bench_smoke: tools/bench failed"; tail -20 "$work/log.txt"; exit 1
fi
cat "$work/report.txt"
python3 - "$work/bench.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
bad = []
def need(cond, what):
    if not cond:
        bad.append(what)
num = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool)
need(r["machine"]["cores"] >= 1 and len(r["machine"]["loadavg_start"]) == 3, "machine")
for mode in ("voice", "kws", "full", "mixed"):
    m = r["modes"][mode]
    need(isinstance(m["max_sustained_n"], int) and 0 <= m["max_sustained_n"] <= 2, mode + " max_sustained_n")
    need(set(m["rss_mb"]) == {"1", "10", "max_n"}, mode + " rss_mb keys")
    for key in ("memory_per_extra_call_mb", "cpu_per_call_pct_at_max", "latency_ms_at_max", "description",
                "idle_machine_estimate_n", "word_cue_latency_ms_at_max", "voice_cue_latency_ms_at_max"):
        need(key in m, mode + " " + key)
    for t in m["trials"]:
        w = "%s N=%d " % (mode, t["n"])
        # A starved machine may end calls late (then "shutdown"): that is a number, not a failure.
        need(0 <= t["calls_ended"] <= t["n"], w + "calls ended")
        need(set(t["end_reasons"]) <= {"eof", "shutdown"}, w + "end reasons")
        need(num(t["cpu_per_call_pct"]) and 0 < t["cpu_per_call_pct"] < 200, w + "cpu_per_call_pct")
        need(num(t["rss_peak_mb"]) and 5 < t["rss_peak_mb"] < 4000, w + "rss_peak_mb")
        need(t["frames_dropped"] >= 0 and t["bus_dropped"] >= 0, w + "drops")
        lat = t["latency_ms"]
        need(set(lat) == {"n", "p50", "p95", "p99", "max"}, w + "latency keys")
        need(lat["n"] == t["cues_detected"] <= t["cues_labelled"], w + "latency count")
        wl, vl = t["word_cue_latency_ms"], t["voice_cue_latency_ms"]
        need(wl["n"] + vl["n"] == lat["n"], w + "word and voice cue latencies split the cues")
        if mode == "voice":
            need(wl["n"] == 0, w + "no word cue without recognition")
        if lat["n"]:
            need(lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"] and -5000 < lat["p50"] < 60000,
                 w + "latency order")
        need(isinstance(t["sustained"], bool) and t["why"], w + "verdict")
        need(t["sanitizer_errors"] == 0, w + "no sanitizer error in the daemon")
        need(t["daemon_exit"] in (0, 1), w + "daemon exit status (1: decoders still draining at shutdown)")
        need(isinstance(t["legs_degraded_max"], int) and 0 <= t["legs_degraded_max"] <= 2 * t["n"],
             w + "legs degraded by the governor")
        if mode in ("voice", "kws", "full"):
            need(t["legs_degraded_max"] == 0, w + "no governor: no leg degraded")
    need(m["trials"] and m["trials"][-1]["n"] == 2, mode + " ran N=2")
cue = r["modes"]["voice"]
need([t["n"] for t in cue["trials"]] == [1, 2], "voice trials 1 and 2")
need(cue["trials"][1]["cues_labelled"] >= 1, "voice mode has a labelled non-word cue (talk-over) at N=2")
if cue["trials"][1]["end_reasons"] == {"eof": 2}:
    need(cue["trials"][1]["cues_detected"] >= 1, "voice mode found its labelled cue (talk-over) at N=2")
need(cue["rss_mb"]["1"] and cue["rss_mb"]["1"] < 500, "voice rss at 1")
kws = r["modes"]["kws"]["trials"][-1]
if kws["end_reasons"] == {"eof": 2}:
    need(kws["word_cue_latency_ms"]["n"] >= 1, "kws: a word cue (the anger words) spotted at N=2")
full = r["modes"]["full"]["trials"][-1]
need(full["cues_labelled"] >= 2, "full: labelled cues")
if full["end_reasons"] == {"eof": 2}:
    need(full["final_transcripts"] > 0, "full: transcripts before call_end")
need(full["rss_peak_mb"] > 80, "full: decoders loaded")
nv = r["naive"]
need(nv["trials"] and nv["trials"][-1]["processes"] == 4, "naive: 2 processes per call")
if "exit codes" not in nv["trials"][-1]["why"]:
    need(nv["trials"][-1]["hypotheses"] > 0, "naive: pocketsphinx_continuous printed hypotheses")
need(num(nv["rss_per_call_mb"]) and nv["rss_per_call_mb"] > 50, "naive rss per call")
need(num(nv["trials"][-1]["cpu_per_call_pct"]) and nv["trials"][-1]["cpu_per_call_pct"] > 0, "naive cpu per call")
need(num(r["modes"]["voice"]["memory_per_extra_call_mb"]), "voice memory per extra call")
for mode in ("voice", "full"):
    b = r["batch"][mode]
    need(b["exit_codes_ok"] and num(b["x_realtime_per_core"]) and b["x_realtime_per_core"] > 0, "batch " + mode)
    need(b["audio_s"] > 5, "batch %s audio" % mode)
need(r["batch"]["full"]["alerts"] >= 1, "batch full raised its alert")
need("ratio" in r and r["ratio"]["naive_n"] is not None, "ratio")
if bad:
    print("bench_smoke: FAILED: " + "; ".join(bad))
    sys.exit(1)
print("bench_smoke: the JSON report has every field with sane values")
PY

# The same live measurement with the calls streamed in over WebSocket (--ingest websocket): one
# N=2 voice-mode trial, the calls end with "hangup" and carry their labelled cue.
if ! /usr/bin/python3 -c 'import websocket' 2>/dev/null; then
    echo "bench_smoke: python3-websocket missing: --ingest websocket not tried"; exit 0
fi
if ! python3 "$CALLWATCH_SRC/tools/bench" --binary "$CALLWATCH" --quick --max-n 2 --modes voice --ingest websocket \
        --json-out "$work/bench-ws.json" >"$work/report-ws.txt" 2>"$work/log-ws.txt"; then
    echo "bench_smoke: tools/bench --ingest websocket failed"; tail -20 "$work/log-ws.txt"; exit 1
fi
sed -n '/^\[voice\]/,/=>/p' "$work/report-ws.txt"
python3 - "$work/bench-ws.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["modes"]["voice"]["trials"][-1]
bad = []
if r["settings"]["ingest"] != "websocket": bad.append("settings.ingest")
if t["n"] != 2 or t["cues_labelled"] < 1: bad.append("N=2 with a labelled cue")
if not set(t["end_reasons"]) <= {"hangup", "shutdown"}: bad.append("end reasons %s" % t["end_reasons"])
if t["end_reasons"] == {"hangup": 2} and t["cues_detected"] < 1: bad.append("the labelled cue was not found")
if t["sanitizer_errors"] or t["daemon_exit"] not in (0, 1): bad.append("daemon exit/sanitizer")
if bad:
    print("bench_smoke: --ingest websocket: FAILED: " + "; ".join(bad))
    sys.exit(1)
print("bench_smoke: --ingest websocket: N=2 calls streamed over WebSocket, %s, %d/%d cues"
      % (t["end_reasons"], t["cues_detected"], t["cues_labelled"]))
PY

#!/usr/bin/env bash
# Behaviour test: word error rate of `callwatch analyze` on real recorded speech, compared with
# pocketsphinx_continuous using the same default en-us model.
#
# Data: pocketsphinx-testdata's LibriVox excerpts (16 kHz mono WAV, read speech, Sense and
# Sensibility) in /usr/share/pocketsphinx/test/data/librivox with `fileids` and `transcription`
# (lines "<s> text </s> (fileid)"). Each file is analysed as one customer leg
# (`callwatch analyze --leg customer FILE`); the hypothesis is the text of the final transcripts
# in time order. WER = word-level Levenshtein distance / reference words, after lowercasing and
# removing punctuation and pocketsphinx alternate-pronunciation marks ("the(2)"), summed over all
# files. The test passes when callwatch's WER <= pocketsphinx_continuous's WER + 2 points, both
# over the separate files and over one stream of all files joined with 1 s of silence (which
# exercises endpointing and cepstral-mean adaptation across utterances, as on a call).
#
# Environment: CALLWATCH (binary; default <repo>/build/callwatch), CALLWATCH_SRC (repo root),
# CALLWATCH_LIBRIVOX (data dir override). Exit 77 (skip) only when the test data is absent.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
data="${CALLWATCH_LIBRIVOX:-/usr/share/pocketsphinx/test/data/librivox}"
model="${CALLWATCH_PS_MODEL:-/usr/share/pocketsphinx/model/en-us}"
margin=2.0   # allowed WER excess of callwatch over pocketsphinx_continuous, in points

if [[ ! -f "$data/fileids" || ! -f "$data/transcription" ]]; then
  echo "SKIP: pocketsphinx-testdata not installed ($data/fileids, $data/transcription missing)"
  exit 77
fi
if ! compgen -G "$data/*.wav" >/dev/null; then
  echo "SKIP: no LibriVox WAV files in $data"
  exit 77
fi
for prog in pocketsphinx_continuous python3; do
  if ! command -v "$prog" >/dev/null 2>&1; then
    echo "FAIL: $prog is required (pocketsphinx and python3 are project dependencies)"
    exit 1
  fi
done
if [[ ! -x "$cw" ]]; then
  echo "FAIL: callwatch binary not found or not executable: $cw (set CALLWATCH)"
  exit 1
fi
for f in "$model/en-us" "$model/en-us.lm.bin" "$model/cmudict-en-us.dict"; do
  if [[ ! -e "$f" ]]; then
    echo "FAIL: PocketSphinx en-us model file missing: $f"
    exit 1
  fi
done

cw_tmpdir tmp cw-wer

n=0
while read -r id; do
  [[ -z "$id" ]] && continue
  wav="$data/$id.wav"
  if [[ ! -f "$wav" ]]; then
    echo "FAIL: $wav listed in fileids but missing"
    exit 1
  fi
  n=$((n + 1))
  pocketsphinx_continuous -infile "$wav" -logfn /dev/null \
    -hmm "$model/en-us" -lm "$model/en-us.lm.bin" -dict "$model/cmudict-en-us.dict" \
    >"$tmp/$id.ps.txt" 2>"$tmp/$id.ps.err" || {
      echo "FAIL: pocketsphinx_continuous failed on $wav (status $?):"
      tail -n 10 "$tmp/$id.ps.err"
      exit 1
    }
  rc=0
  "$cw" analyze --leg customer --call-id "wer-$id" "$wav" >"$tmp/$id.cw.jsonl" 2>"$tmp/$id.cw.err" || rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "FAIL: callwatch analyze --leg customer $wav exited with status $rc (expected 0); stderr:"
    tail -n 20 "$tmp/$id.cw.err"
    exit 1
  fi
done <"$data/fileids"

if [[ $n -eq 0 ]]; then
  echo "SKIP: $data/fileids lists no files"
  exit 77
fi

# The same files as one stream (1 s of silence between them): exercises endpointing and the
# cepstral-mean adaptation across utterances, as on a call.
python3 - "$data" "$tmp/all.wav" <<'EOF2'
import os, sys, wave
data, out = sys.argv[1], sys.argv[2]
ids = [l.strip() for l in open(os.path.join(data, "fileids")) if l.strip()]
with wave.open(out, "wb") as o:
    o.setnchannels(1); o.setsampwidth(2); o.setframerate(16000)
    for fid in ids:
        with wave.open(os.path.join(data, fid + ".wav"), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, 16000):
                sys.exit("unexpected format of %s (want 16 kHz mono 16-bit)" % fid)
            o.writeframes(w.readframes(w.getnframes()))
        o.writeframes(bytes(2 * 16000))
EOF2
pocketsphinx_continuous -infile "$tmp/all.wav" -logfn /dev/null \
  -hmm "$model/en-us" -lm "$model/en-us.lm.bin" -dict "$model/cmudict-en-us.dict" \
  >"$tmp/all.ps.txt" 2>"$tmp/all.ps.err" || {
    echo "FAIL: pocketsphinx_continuous failed on the concatenated stream:"
    tail -n 10 "$tmp/all.ps.err"
    exit 1
  }
rc=0
"$cw" analyze --leg customer --call-id wer-all "$tmp/all.wav" >"$tmp/all.cw.jsonl" 2>"$tmp/all.cw.err" || rc=$?
if [[ $rc -ne 0 ]]; then
  echo "FAIL: callwatch analyze --leg customer on the concatenated stream exited with status $rc; stderr:"
  tail -n 20 "$tmp/all.cw.err"
  exit 1
fi

python3 - "$data" "$tmp" "$margin" <<'EOF'
import json, os, re, sys

data, tmp, margin = sys.argv[1], sys.argv[2], float(sys.argv[3])

SPELLING = {"mr": "mister", "mrs": "missus"}   # the recogniser's dictionary spelling vs the reference's

def words(text):
    out = []
    for w in text.lower().split():
        if w.startswith("<") or w.startswith("[") or w.startswith("++"):
            continue  # <s>, </s>, <sil>, [noise], ++garbage++
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

refs = {}
for line in open(os.path.join(data, "transcription"), encoding="utf-8"):
    m = re.match(r"^(.*)\(([^()]+)\)\s*$", line.strip())
    if m:
        refs[m.group(2).strip()] = words(m.group(1))
ids = [l.strip() for l in open(os.path.join(data, "fileids")) if l.strip()]

problems = []

def hyps(key):
    ps_hyp = words(open(os.path.join(tmp, key + ".ps.txt"), encoding="utf-8", errors="replace").read())
    finals = []
    for n, line in enumerate(open(os.path.join(tmp, key + ".cw.jsonl"), encoding="utf-8", errors="replace"), 1):
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            problems.append("%s: callwatch stdout line %d is not JSON: %r" % (key, n, line[:120]))
            continue
        if isinstance(ev, dict) and ev.get("type") == "transcript" and ev.get("final") is True:
            if ev.get("leg") != "customer":
                problems.append("%s: transcript on leg %r, expected 'customer' (--leg customer)" % (key, ev.get("leg")))
            finals.append(ev)
    finals.sort(key=lambda e: (e.get("t_start", 0), e.get("t_end", 0)))
    return ps_hyp, words(" ".join(str(e.get("text", "")) for e in finals))

tot = {"ps": 0, "cw": 0}
nref = 0
print("%-45s %5s %8s %8s" % ("file", "words", "ps WER", "cw WER"))
for fid in ids:
    key = os.path.basename(fid)
    if key not in refs:
        problems.append("no reference transcription for %s" % key)
        continue
    ref = refs[key]
    ps_hyp, cw_hyp = hyps(key)
    e_ps, e_cw = edits(ref, ps_hyp), edits(ref, cw_hyp)
    tot["ps"] += e_ps
    tot["cw"] += e_cw
    nref += len(ref)
    print("%-45s %5d %7.1f%% %7.1f%%" % (key, len(ref), 100.0 * e_ps / len(ref), 100.0 * e_cw / len(ref)))
    print("    ref: %s\n    ps : %s\n    cw : %s" % (" ".join(ref), " ".join(ps_hyp), " ".join(cw_hyp)))

if nref == 0:
    print("FAIL: no reference words")
    sys.exit(1)
wer_ps = 100.0 * tot["ps"] / nref
wer_cw = 100.0 * tot["cw"] / nref
print("overall over %d reference words: pocketsphinx_continuous WER %.1f%%, callwatch WER %.1f%%"
      % (nref, wer_ps, wer_cw))
# Concatenated stream.
all_ref = [w for fid in ids if os.path.basename(fid) in refs for w in refs[os.path.basename(fid)]]
ps_all, cw_all = hyps("all")
wer_ps_all = 100.0 * edits(all_ref, ps_all) / len(all_ref)
wer_cw_all = 100.0 * edits(all_ref, cw_all) / len(all_ref)
print("concatenated stream (%d files, 1 s gaps): pocketsphinx_continuous WER %.1f%%, callwatch WER %.1f%%"
      % (len(ids), wer_ps_all, wer_cw_all))
print("    ps : %s\n    cw : %s" % (" ".join(ps_all), " ".join(cw_all)))
if wer_cw_all > wer_ps_all + margin + 1e-9:
    problems.append("concatenated stream: callwatch WER %.1f%% exceeds pocketsphinx_continuous WER %.1f%% + %.1f points"
                    % (wer_cw_all, wer_ps_all, margin))
for p in problems:
    print("FAIL: " + p)
if wer_cw > wer_ps + margin + 1e-9:
    print("FAIL: callwatch WER %.1f%% exceeds pocketsphinx_continuous WER %.1f%% + %.1f points"
          % (wer_cw, wer_ps, margin))
    sys.exit(1)
if problems:
    sys.exit(1)
print("PASS: callwatch WER %.1f%% <= %.1f%% + %.1f" % (wer_cw, wer_ps, margin))
EOF

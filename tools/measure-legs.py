#!/usr/bin/env python3
"""Measures what each concurrent leg costs: CPU real-time factor and memory.

Runs `callwatch analyze --leg customer` on N copies of real recorded speech
(pocketsphinx-testdata's librivox files, 16 kHz mono) for each N given, all
N legs concurrently on the shared decoder pool, and prints per run:

  legs  audio_s  wall_s  cpu_s  rtf_per_leg  max_rss_mb

rtf_per_leg = CPU seconds / audio seconds: the share of one core that one leg
of continuous speech costs. max_rss_mb is the peak resident memory of the
process (the decoder pool is fixed; what grows with N is the per-leg cost).

usage: tools/measure-legs.py [--binary build/callwatch] [--workers W] [--mode full|cue] [N ...]
(default N: 1 10)
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import wave

LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox"


def speech_files():
    if not os.path.isdir(LIBRIVOX):
        sys.exit("measure-legs: %s is missing (apt-get install pocketsphinx-testdata)" % LIBRIVOX)
    return sorted(os.path.join(LIBRIVOX, f) for f in os.listdir(LIBRIVOX) if f.endswith(".wav"))


def duration_s(path):
    with wave.open(path) as w:
        return w.getnframes() / w.getframerate()


def run(binary, files, config):
    cmd = [binary, "analyze", "--leg", "customer"]
    if config:
        cmd += ["--config", config]
    start = time.monotonic()
    with tempfile.TemporaryFile() as errf:
        proc = subprocess.Popen(cmd + files, stdout=subprocess.PIPE, stderr=errf)
        out = proc.stdout.read()
        # wait4 gives this one process's own peak memory and CPU time.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            errf.seek(0)
            sys.exit("measure-legs: callwatch failed (%d): %s" % (proc.returncode, errf.read().decode()[-2000:]))
    finals = sum(1 for line in out.splitlines() if b'"final":true' in line)
    return wall, usage, finals


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "..", "build", "callwatch"))
    ap.add_argument("--workers", type=int, default=0, help="[asr] workers (0 = one per core)")
    ap.add_argument("--mode", choices=["full", "cue"], default="full",
                    help="[asr] mode: full transcripts or keyphrase spotting (cue)")
    ap.add_argument("legs", nargs="*", type=int, default=[1, 10])
    args = ap.parse_args()

    sources = speech_files()
    config = None
    tmp = tempfile.mkdtemp(prefix="measure-legs-")
    if args.workers or args.mode != "full":
        config = os.path.join(tmp, "asr.ini")
        with open(config, "w") as f:
            f.write("[asr]\nworkers = %d\nmode = %s\n" % (args.workers, args.mode))
    print("%5s %8s %7s %7s %12s %11s %7s" % ("legs", "audio_s", "wall_s", "cpu_s", "rtf_per_leg", "max_rss_mb", "finals"))
    for n in args.legs:
        # One leg = all librivox files joined into one continuous recording.
        files = []
        for i in range(n):
            link = os.path.join(tmp, "leg%03d.wav" % i)
            if not os.path.exists(link):
                subprocess.run(["sox"] + sources + [link], check=True)
            files.append(link)
        audio = sum(duration_s(f) for f in files)
        wall, usage, finals = run(args.binary, files, config)
        cpu = usage.ru_utime + usage.ru_stime
        print("%5d %8.1f %7.2f %7.2f %12.3f %11.1f %7d" %
              (n, audio, wall, cpu, cpu / audio, usage.ru_maxrss / 1024.0, finals))


if __name__ == "__main__":
    main()

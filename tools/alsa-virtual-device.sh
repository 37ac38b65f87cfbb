#!/usr/bin/env bash
# alsa-virtual-device.sh - a fake ALSA capture device that plays a known file,
# for testing live capture without sound hardware.
#
# Usage: alsa-virtual-device.sh <input-audio-file> <out-dir> [rate] [channels]
#
# What it does:
#   1. Converts <input-audio-file> with sox to raw 32-bit float little-endian
#      audio at [rate] Hz (default 16000) with [channels] channels (default 2)
#      and appends PAD_S seconds of silence: <out-dir>/callwatch_virtual.raw
#   2. Creates the FIFO <out-dir>/callwatch_virtual.fifo and writes
#      <out-dir>/asound.conf, which includes the system alsa.conf and defines
#          pcm.callwatch_virtual { type file  slave.pcm "null"
#                                  file "/dev/null"  infile "<fifo>" }
#      ALSA's `file` plugin overwrites what the `null` slave captures with
#      bytes read from infile, so PortAudio's ALSA host API sees the file
#      sample for sample. The bytes are taken as whatever sample format the
#      stream was opened with; `null` accepts any, and PortAudio opens it in
#      the format the application asks for: float32 for callwatch. So open it
#      as FLOAT_LE with exactly [channels] channels at [rate] Hz. (A `plug`
#      wrapper to convert would be nicer, but it reads ahead from the clock-
#      less null slave and skips blocks of data.)
#   3. Starts a background feeder that writes the raw audio into the FIFO in
#      one go, then keeps the FIFO open without writing for HOLD seconds. ALSA reads ahead by up
#      to a buffer (~0.8 s here) that is only handed to the application once
#      more data arrives, so the PAD_S of silence push the data through.
#
# Why a FIFO and not a plain file: ALSA's `null` PCM has no clock. With a
# regular infile, capture runs as fast as the CPU allows and, after the end of
# the file, the plugin keeps handing out stale buffer contents forever. From
# a FIFO, the device delivers the data and then blocks in read(): it goes
# silent, which is exactly how a capture device that stopped delivering looks
# to callwatch (device loss).
#
# Limits (measured on Debian 12, alsa-lib 1.2.8, PortAudio 19.6):
#   - No real-time pacing: the whole file arrives in a burst as soon as the
#     stream starts, so the consumer's ring must hold all of it.
#   - Each ALSA transfer reads one period; when the FIFO holds less,
#     the plugin still commits the whole transfer and the unfilled part keeps
#     stale buffer contents. The feeder therefore writes everything before the
#     stream starts (the pipe is enlarged to hold it; files longer than about
#     PIPE_MAX_BYTES of raw audio are refused), so only the very end of the data
#     can be short; the PAD_S of silence make that stale tail silence too.
#     Expect up to a few thousand extra silent frames after the data.
#   - The feeder opens the FIFO read-write, so ALSA's open of the infile never
#     blocks and device probing (Pa_Initialize) does not consume data.
#
# Environment:
#   CALLWATCH_VIRTUAL_DELAY_S  seconds before the data is written (default 0)
#   CALLWATCH_VIRTUAL_HOLD_S   seconds the FIFO stays open after the data
#                              (default 30); when the feeder exits, reads
#                              return end-of-file and ALSA floods stale data,
#                              so stop the capture (or kill it) before that
#
# Output (stdout), one per line, for `eval` or parsing:
#   ALSA_CONFIG_PATH=<out-dir>/asound.conf
#   CALLWATCH_VIRTUAL_DEVICE=callwatch_virtual
#   CALLWATCH_VIRTUAL_FRAMES=<frames of the input, before padding>
#   CALLWATCH_VIRTUAL_FEEDER_PID=<pid>   (kill it when done)
#
# Verify by hand:
#   eval "$(tools/alsa-virtual-device.sh call.wav /tmp/v 16000 2)"
#   ALSA_CONFIG_PATH=$ALSA_CONFIG_PATH arecord -D callwatch_virtual \
#       -f FLOAT_LE -r 16000 -c 2 -d 2 -t raw /tmp/v/captured.raw
set -euo pipefail

readonly DEVICE_NAME=callwatch_virtual
readonly PAD_S=2                   # silence after the data: pushes the data through ALSA's read-ahead
readonly PIPE_MAX_BYTES=1048576    # default /proc/sys/fs/pipe-max-size
readonly BYTES_PER_SAMPLE=4        # FLOAT_LE

usage() {
    echo "usage: $0 <input-audio-file> <out-dir> [rate] [channels]" >&2
    exit 2
}

[ $# -ge 2 ] && [ $# -le 4 ] || usage
input=$1
out_dir=$2
rate=${3:-16000}
channels=${4:-2}
delay_s=${CALLWATCH_VIRTUAL_DELAY_S:-0}
hold_s=${CALLWATCH_VIRTUAL_HOLD_S:-30}

[[ $rate =~ ^[0-9]+$ ]] && [ "$rate" -gt 0 ] || { echo "$0: rate '$rate' is not a positive integer" >&2; exit 2; }
[[ $channels =~ ^[0-9]+$ ]] && [ "$channels" -gt 0 ] || { echo "$0: channels '$channels' is not a positive integer" >&2; exit 2; }
[ -r "$input" ] || { echo "$0: cannot read '$input'" >&2; exit 1; }
command -v sox >/dev/null || { echo "$0: sox is not installed" >&2; exit 1; }

mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
raw=$out_dir/$DEVICE_NAME.raw
fifo=$out_dir/$DEVICE_NAME.fifo
conf=$out_dir/asound.conf

# Frames of the input proper, then the same with silence appended.
sox "$input" -t raw -e floating-point -b 32 -L -r "$rate" -c "$channels" "$raw"
frame_bytes=$((BYTES_PER_SAMPLE * channels))
frames=$(( $(stat -c %s "$raw") / frame_bytes ))
sox "$input" -t raw -e floating-point -b 32 -L -r "$rate" -c "$channels" "$raw" pad 0 "$PAD_S"
pipe_bytes=$(stat -c %s "$raw")
if [ "$pipe_bytes" -gt "$PIPE_MAX_BYTES" ]; then
    echo "$0: $input is too long for the virtual device ($pipe_bytes bytes of raw audio, at most $PIPE_MAX_BYTES)" >&2
    exit 1
fi

rm -f "$fifo"
mkfifo "$fifo"

cat >"$conf" <<EOF
# Written by $(basename "$0"): a virtual capture device reading $input
# (raw FLOAT_LE, $rate Hz, $channels ch) from the FIFO fed by the feeder.
</usr/share/alsa/alsa.conf>

pcm.$DEVICE_NAME {
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "$fifo"
    format "raw"
}
EOF

# The feeder: opens the FIFO read-write (so ALSA's open of the infile never
# blocks and no reader close can make our writes fail), enlarges the pipe so
# the whole file fits, writes it in one go, then holds the FIFO open and idle
# for HOLD seconds. Perl because bash cannot resize a pipe (F_SETPIPE_SZ) and
# perl-base is on every Debian system. Its output goes to /dev/null so that a
# caller reading our stdout through a pipe sees end-of-file at once.
(
    cd /
    exec perl -e '
        use strict;
        my ($fifo, $raw, $delay_s, $hold_s, $pipe_bytes) = @ARGV;
        my $F_SETPIPE_SZ = 1031;
        open(my $out, "+<", $fifo) or die "open $fifo: $!";
        binmode $out;
        fcntl($out, $F_SETPIPE_SZ, $pipe_bytes);
        open(my $in, "<", $raw) or die "open $raw: $!";
        binmode $in;
        local $/;
        my $data = <$in>;
        select(undef, undef, undef, $delay_s);
        syswrite($out, $data) == length($data) or die "write: $!";
        select(undef, undef, undef, $hold_s);
    ' "$fifo" "$raw" "$delay_s" "$hold_s" "$pipe_bytes"
) >/dev/null 2>&1 </dev/null &
feeder_pid=$!

echo "ALSA_CONFIG_PATH=$conf"
echo "CALLWATCH_VIRTUAL_DEVICE=$DEVICE_NAME"
echo "CALLWATCH_VIRTUAL_FRAMES=$frames"
echo "CALLWATCH_VIRTUAL_FEEDER_PID=$feeder_pid"

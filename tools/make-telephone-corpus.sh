#!/usr/bin/env bash
# Telephone-band copy of a folder of WAV files (e.g. the Emo-DB corpus), as a contact centre hears
# it: each file through an 8 kHz mu-law channel and back to 16 kHz 16-bit, band-limited to
# 300-3400 Hz (the telephone band: the fundamental of most voices is gone).
#
#   tools/make-telephone-corpus.sh [SRC_DIR] [OUT_DIR]
#
# SRC_DIR defaults to ../shared/corpora/emodb-dev next to the repository (or $EMODB_DIR), OUT_DIR
# to ${XDG_CACHE_HOME:-$HOME/.cache}/callwatch/<name of SRC_DIR>-tel. Files already converted (newer
# than their source) are kept, so a second run is instant. Prints OUT_DIR on stdout; the copy is a
# cache, never committed. Deterministic (sox without dither). Exit 77 when SRC_DIR is absent, 1 on
# a conversion error naming the file.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="${1:-${EMODB_DIR:-$root/../shared/corpora/emodb-dev}}"
if [[ ! -d "$src" ]]; then
  echo "make-telephone-corpus: no folder $src" >&2
  exit 77
fi
src="$(cd "$src" && pwd)"
out="${2:-${XDG_CACHE_HOME:-$HOME/.cache}/callwatch/$(basename "$src")-tel}"
command -v sox >/dev/null || { echo "make-telephone-corpus: sox is not installed (tools/deps.sh)" >&2; exit 1; }
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
shopt -s nullglob
for wav in "$src"/*.wav; do
  name="$(basename "$wav")"
  dest="$out/$name"
  [[ -f "$dest" && "$dest" -nt "$wav" ]] && continue
  # The codec channel first (8 kHz mu-law), then the band edges of a telephone line; -D: no
  # dither, so the copy is the same on every run.
  if ! sox -D "$wav" -r 8000 -e mu-law "$tmp/ulaw.wav" 2>"$tmp/err" ||
     ! sox -D "$tmp/ulaw.wav" -r 16000 -e signed -b 16 "$tmp/$name" sinc 300-3400 2>>"$tmp/err"; then
    echo "make-telephone-corpus: $wav: $(head -n1 "$tmp/err")" >&2
    exit 1
  fi
  mv "$tmp/$name" "$dest"
done
echo "$out"

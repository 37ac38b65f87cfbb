#!/usr/bin/env bash
# Installs the Debian 12 packages callwatch needs to build, run and test.
# Idempotent: does nothing (and needs no network) when everything is present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git python3
  libpocketsphinx-dev libsphinxbase-dev pocketsphinx pocketsphinx-en-us pocketsphinx-testdata
  portaudio19-dev libasound2-dev alsa-utils
  libzmq3-dev libczmq-dev
  libsndfile1-dev libsamplerate0-dev
  libjansson-dev libinih-dev libaubio-dev
  libmicrohttpd-dev
  libsqlite3-dev sqlite3
  libpq-dev postgresql
  flite espeak-ng sox libsox-fmt-all curl
  clang libclang-rt-14-dev
  valgrind
  libncurses-dev tmux
  libsystemd-dev man-db
  libsodium-dev
  libwebsockets-dev python3-websocket
  chromium chromium-driver python3-selenium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "callwatch: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

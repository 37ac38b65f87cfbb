#!/usr/bin/env bash
# Configures and builds callwatch into ./build (or $CALLWATCH_BUILD_DIR).
# Extra arguments go to cmake's configure step (e.g. -DCALLWATCH_SANITIZE=ON).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${CALLWATCH_BUILD_DIR:-$root/build}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"

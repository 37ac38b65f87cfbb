#!/usr/bin/env bash
# Command 1 of the README: install, build, and watch callwatch follow the
# bundled sample call live. No sound card needed: the call is a file paced at
# real time, exactly as a live line would deliver it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/tools/deps.sh"
"$root/tools/build.sh" >&2
echo "callwatch: following models/sample-call.flac live (events as JSON Lines; Ctrl-C stops)" >&2
exec "$root/build/callwatch" analyze --realtime "$root/models/sample-call.flac"

#!/usr/bin/env bash
# Command 2 of the README (and what CI runs): install, build with warnings as
# errors, and run the whole test suite under ctest.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/tools/deps.sh"
CALLWATCH_BUILD_DIR="${CALLWATCH_BUILD_DIR:-$root/build}" "$root/tools/build.sh" -DCALLWATCH_WERROR=ON
cd "${CALLWATCH_BUILD_DIR:-$root/build}"
ctest --output-on-failure --timeout 900 "$@"

#!/usr/bin/env bash
# Command 2 of the README (and what CI runs): install, build with warnings as
# errors, and run the whole test suite under ctest. Then build again with
# AddressSanitizer + UBSan in build-asan and run the suite there too, except
# the tests labelled "slow" (speech synthesis, WER, evaluation, soak, valgrind):
# any sanitizer report or leak at exit fails the test that caused it.
# CALLWATCH_SKIP_ASAN=1 skips the sanitizer pass.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/tools/deps.sh"
CALLWATCH_BUILD_DIR="${CALLWATCH_BUILD_DIR:-$root/build}" "$root/tools/build.sh" -DCALLWATCH_WERROR=ON
cd "${CALLWATCH_BUILD_DIR:-$root/build}"
# Most behaviour tests wait on real time (calls replayed live), so they share
# the cores; the few that assert live timing are RUN_SERIAL (tests/CMakeLists.txt).
ctest --output-on-failure --timeout 900 -j "$(nproc)" "$@"

if [[ "${CALLWATCH_SKIP_ASAN:-0}" != 1 ]]; then
  asan="${CALLWATCH_ASAN_BUILD_DIR:-$root/build-asan}"
  CALLWATCH_BUILD_DIR="$asan" "$root/tools/build.sh" -DCALLWATCH_WERROR=ON -DCALLWATCH_SANITIZE=ON
  cd "$asan"
  # halt_on_error: a report fails the test even where a caller ignores the exit status.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  ctest --output-on-failure --timeout 900 -j "$(nproc)" -LE slow "$@"
fi

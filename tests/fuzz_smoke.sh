#!/usr/bin/env bash
# Smoke test of the fuzzing set-up: builds every libFuzzer target with clang
# and fuzzes each for 5 s from its seed corpus; fails on any crash, leak,
# UB report, timeout or build failure. Skipped (77) when clang or its fuzzer
# runtime (libclang-rt-14-dev) is not installed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cc="$(command -v clang || command -v clang-14 || true)"
if [[ -z "$cc" ]]; then
  echo "SKIP: clang is not installed"
  exit 77
fi
cw_tmpdir probe cw-fuzzprobe
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>/dev/null; then
  echo "SKIP: $cc cannot link -fsanitize=fuzzer (install libclang-rt-14-dev)"
  exit 77
fi
# The build tree persists next to the test's build so reruns only relink.
export FUZZ_BUILD_DIR="${FUZZ_BUILD_DIR:-$PWD/fuzz-build}"
exec bash "$src/tools/fuzz.sh" 3

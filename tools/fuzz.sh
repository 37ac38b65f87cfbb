#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined)
# and runs each for SECONDS (default 10) on a working copy of its committed
# seed corpus (fuzz/corpus/<target>/; new finds stay in the build tree).
#
#   tools/fuzz.sh [SECONDS]            all targets: config audio bus redact audiosocket acks web websocket
#   FUZZ_TARGETS="bus" tools/fuzz.sh 60
#   FUZZ_BUILD_DIR=/tmp/x tools/fuzz.sh (default: <repo>/build-fuzz)
#
# Prints executions per target. A crash leaves its input in
# $FUZZ_BUILD_DIR/crashes/<target>/ and makes the script exit 1: fix the bug,
# then commit the input to tests/data/fuzz-regress/<target>/ (replayed by the
# fuzz_regress_<target> ctest).
set -euo pipefail

secs="${1:-10}"
[[ "$secs" =~ ^[0-9]+$ && "$secs" -ge 1 ]] || { echo "usage: tools/fuzz.sh [SECONDS]" >&2; exit 2; }
src="$(cd "$(dirname "$0")/.." && pwd)"
build="${FUZZ_BUILD_DIR:-$src/build-fuzz}"
targets=(${FUZZ_TARGETS:-config audio bus redact audiosocket acks web websocket})
cc="${FUZZ_CC:-$(command -v clang || command -v clang-14 || true)}"
[[ -n "$cc" ]] || { echo "fuzz.sh: clang is not installed (tools/deps.sh installs it)" >&2; exit 3; }

mkdir -p "$build"
cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCALLWATCH_FUZZ=ON -DCALLWATCH_WERROR=OFF -DBUILD_TESTING=OFF >"$build/cmake.log" 2>&1 ||
  { cat "$build/cmake.log" >&2; exit 1; }
for t in "${targets[@]}"; do
  cmake --build "$build" -j2 --target "fuzz_$t" >"$build/build.log" 2>&1 || { cat "$build/build.log" >&2; exit 1; }
done

status=0
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
for t in "${targets[@]}"; do
  work="$build/corpus/$t"
  crashes="$build/crashes/$t"
  mkdir -p "$work" "$crashes"
  cp -n "$src/fuzz/corpus/$t/"* "$work/" 2>/dev/null || true
  log="$build/fuzz_$t.log"
  set +e
  # -rss_limit_mb and -timeout make memory blow-ups and hangs findings too.
  "$build/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$crashes/" -print_final_stats=1 "$work" >"$log" 2>&1
  rc=$?
  set -e
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")"
  found="$(find "$crashes" -type f | wc -l)"
  echo "fuzz_$t: $runs executions in ${secs} s, coverage $cov edges, corpus $(ls "$work" | wc -l) inputs, crashes $found"
  if (( rc != 0 || found > 0 )); then
    status=1
    grep -E "ERROR|SUMMARY|runtime error" "$log" | head -5 >&2 || true
    echo "  log: $log; inputs: $crashes" >&2
  fi
done
exit $status

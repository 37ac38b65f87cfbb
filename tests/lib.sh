# tests/lib.sh - the preamble the shell tests share. Source it after `set -euo pipefail`:
#
#   . "$(dirname "$0")/lib.sh"
#
# It sets
#   src, CALLWATCH_SRC  the source tree (default: the parent of tests/)
#   cw, CALLWATCH       the callwatch binary (default: $src/build/callwatch); both exported
#   pids                an empty array: append every background process the test starts;
#                       on exit each gets SIGTERM and is waited for
# and defines the helpers below. On exit it runs the test's own `on_exit` function
# first if the test defines one (for what only that test starts: a tmux server, a
# stopped process to continue, a SIGKILL), then stops $pids and removes the
# temporary directory made by cw_tmpdir (kept, and named, when CW_KEEP_TMP is set).

CALLWATCH_SRC="${CALLWATCH_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
CALLWATCH="${CALLWATCH:-$CALLWATCH_SRC/build/callwatch}"
export CALLWATCH CALLWATCH_SRC
src="$CALLWATCH_SRC"
cw="$CALLWATCH"
pids=()
CW_TMPDIR=""

# cw_tmpdir VAR NAME: makes a fresh directory ${TMPDIR:-/tmp}/NAME.XXXXXX, removed on
# exit, and stores its path in the variable VAR.
cw_tmpdir() {
  CW_TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/$2.XXXXXX")"
  printf -v "$1" '%s' "$CW_TMPDIR"
}

cw_cleanup() {
  if declare -F on_exit >/dev/null; then on_exit || true; fi
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -n "$CW_TMPDIR" ]]; then
    if [[ -n "${CW_KEEP_TMP:-}" ]]; then echo "kept $CW_TMPDIR"; else rm -rf "$CW_TMPDIR"; fi
  fi
}
trap cw_cleanup EXIT

# fail MESSAGE: prints "FAIL: MESSAGE" and ends the test with status 1.
fail() { echo "FAIL: $*"; exit 1; }

# free_port: prints a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_for SECONDS COMMAND [ARG...]: runs COMMAND every 0.1 s until it succeeds
# (status 0) or SECONDS have passed (status 1). When the variable wait_pid names a
# process, gives up (status 1) as soon as that process has exited.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    if [[ -n "${wait_pid:-}" ]] && ! kill -0 "$wait_pid" 2>/dev/null; then return 1; fi
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# log_has FILE REGEX: true when a line of FILE matches the extended REGEX (a file
# that does not exist yet matches nothing).
log_has() { grep -Eq -- "$2" "$1" 2>/dev/null; }

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
  if [[ -n "${pg_up:-}" ]]; then pg_ctl_stop immediate >/dev/null 2>&1 || true; fi
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

# bad MESSAGE: prints "FAIL: MESSAGE" and counts it in $failures; the test goes on.
bad() { echo "FAIL: $*"; failures=$((${failures:-0} + 1)); }

# expect STATUS REGEX NAME CMD...: runs CMD (stdin /dev/null, stdout and stderr in
# $work/NAME.out and $work/NAME.err); bad unless it exits STATUS with stderr matching
# the extended REGEX. Tests with another expect of their own define it after this file.
expect() {
  local want=$1 regex=$2 name=$3
  shift 3
  local got=0
  "$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null || got=$?
  if [ "$got" -ne "$want" ] || ! grep -Eq -- "$regex" "$work/$name.err"; then
    bad "$name: exit $got (want $want), stderr: $(cat "$work/$name.err")"
  else
    echo "ok  $name: exit $got: $(head -n 1 "$work/$name.err")"
  fi
}

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

# need_tools [--for WHAT] PROGRAM...: ends the test as skipped (status 77) when a
# PROGRAM is not on PATH: "SKIP: PROGRAM is not installed (needed to WHAT)".
need_tools() {
  local why=""
  if [[ "${1:-}" == "--for" ]]; then why=" (needed to $2)"; shift 2; fi
  local prog
  for prog in "$@"; do
    command -v "$prog" >/dev/null 2>&1 || { echo "SKIP: $prog is not installed$why"; exit 77; }
  done
}

# need_callwatch: fails the test when $cw is not an executable file.
need_callwatch() {
  [[ -x "$cw" ]] || fail "callwatch binary not found or not executable: $cw (set CALLWATCH)"
}

# start_broker LOG: starts `callwatch broker` on two free loopback ports, logging to LOG,
# waits until it is up, appends it to pids and sets broker_pid, frontend (nodes publish
# there) and backend (subscribers connect there); fails the test when it does not start.
start_broker() {
  "$cw" broker --frontend 'tcp://127.0.0.1:*' --backend 'tcp://127.0.0.1:*' 2>"$1" &
  broker_pid=$!
  pids+=("$broker_pid")
  wait_for 10 log_has "$1" 'subscribers connect to' || fail "broker did not start: $(cat "$1")"
  frontend=$(sed -n 's/.*nodes publish to \(tcp:[^,]*\),.*/\1/p' "$1")
  backend=$(sed -n 's/.*subscribers connect to \(tcp:.*\)$/\1/p' "$1")
}

# archiving_nodes DIR ARCHIVE N: DIR/node1.ini ... nodeN.ini, nodes named node1 ... that
# publish into $frontend (start_broker), alert often (info_score 0.2, no cooldown), archive
# into ARCHIVE ([archive] url) and wait up to 30 s for each commit; starts a tap on $backend
# into DIR/tap.out (tap_pid). start_node N [WAV] then runs node N on WAV (default
# DIR/call.wav), logging to DIR/nodeN.log, and sets node_pid.
archiving_nodes() {
  local n
  for n in $(seq 1 "$3"); do
    printf '[asr]\nworkers = 1\n[alerts]\ninfo_score = 0.2\ncooldown_s = 0\n[bus]\nmode = connect\nendpoint = %s\nnode = node%s\n[archive]\nurl = %s\ncommit_timeout_ms = 30000\n' \
      "$frontend" "$n" "$2" >"$1/node$n.ini"
  done
  nodes_dir=$1
  "$cw" tap --endpoint "$backend" --topics --timeout 100 >"$1/tap.out" 2>"$1/tap.err" &
  tap_pid=$!
  pids+=("$tap_pid")
  sleep 0.5 # the tap's subscription reaches the broker before the nodes publish
}
start_node() {
  "$cw" run --ack-endpoint 'tcp://127.0.0.1:*' --config "$nodes_dir/node$1.ini" --file "${2:-$nodes_dir/call.wav}" \
    2>>"$nodes_dir/node$1.log" &
  node_pid=$!
}

# pg_server DIR: a PostgreSQL server of its own for the test: initdb into DIR/pg (superuser
# cw, trust authentication), started on a free port (pg_port) of 127.0.0.1 with its unix
# socket in DIR; as root it runs as nobody (DIR is given to nobody). Skips the test (77) when
# the server binaries are not installed. Stopped on exit. pg_ctl_start, pg_ctl_stop [MODE],
# pg_createdb NAME and pg_psql ARGS... work on it.
pg_server() {
  PGBIN="${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
  if [[ -z "$PGBIN" || ! -x "$PGBIN/initdb" || ! -x "$PGBIN/pg_ctl" || ! -x "$PGBIN/createdb" ]]; then
    echo "SKIP: the PostgreSQL server binaries (initdb, pg_ctl) are not installed (apt-get install postgresql)"
    exit 77
  fi
  pg_dir=$1
  pg_as=()
  if [[ "$(id -u)" -eq 0 ]]; then
    chown nobody "$pg_dir" # PostgreSQL refuses to run as root
    pg_as=(runuser -u nobody --)
  fi
  pg_port="$(free_port)"
  "${pg_as[@]}" "$PGBIN/initdb" -D "$pg_dir/pg" -U cw --auth=trust -E UTF8 --no-sync >"$pg_dir/initdb.log" 2>&1 ||
    fail "initdb: $(tail -3 "$pg_dir/initdb.log")"
  pg_ctl_start || fail "PostgreSQL did not start: $(tail -5 "$pg_dir/pg.log")"
}
pg_ctl_start() {
  "${pg_as[@]}" "$PGBIN/pg_ctl" -D "$pg_dir/pg" -l "$pg_dir/pg.log" -w -t 30 \
    -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1" start >/dev/null && pg_up=1
}
pg_ctl_stop() {
  "${pg_as[@]}" "$PGBIN/pg_ctl" -D "$pg_dir/pg" -m "${1:-fast}" -w stop >/dev/null && pg_up=""
}
pg_createdb() { "${pg_as[@]}" "$PGBIN/createdb" -h "$pg_dir" -p "$pg_port" -U cw "$1" || fail "createdb $1"; }
pg_psql() { "${pg_as[@]}" "$PGBIN/psql" -X -q -t -A -h "$pg_dir" -p "$pg_port" -U cw "$@"; }

# eval_tmpdir VAR NAME: like cw_tmpdir, but when EVAL_KEEP names a directory, that
# one (made if missing, kept after the test) for the corpus and the outputs.
eval_tmpdir() {
  if [[ -n "${EVAL_KEEP:-}" ]]; then
    mkdir -p "$EVAL_KEEP"
    printf -v "$1" '%s' "$EVAL_KEEP"
  else
    cw_tmpdir "$1" "$2"
  fi
}

# curve_broker_setup DIR: the CURVE deployment of docs/deployment.md under DIR. Keys
# from `callwatch keygen` in DIR/keys: broker, sub (listed in DIR/clients, a
# subscriber), node-a (listed in DIR/nodes) and node-x (listed nowhere); sets front
# and back to two free endpoints on 127.0.0.1 and writes DIR/broker.ini, a broker
# with curve = on between them.
curve_broker_setup() {
  local dir=$1 name
  mkdir -p "$dir/keys" "$dir/clients" "$dir/nodes"
  for name in broker sub node-a node-x; do "$cw" keygen --dir "$dir/keys" "$name" >/dev/null; done
  cp "$dir/keys/sub.key" "$dir/clients/"
  cp "$dir/keys/node-a.key" "$dir/nodes/"
  front="tcp://127.0.0.1:$(free_port)"
  back="tcp://127.0.0.1:$(free_port)"
  cat >"$dir/broker.ini" <<INI
[bus]
curve = on
curve_server_cert = $dir/keys/broker.key_secret
curve_clients_dir = $dir/clients
[broker]
frontend = $front
backend = $back
curve_nodes_dir = $dir/nodes
INI
}

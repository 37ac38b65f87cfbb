#!/usr/bin/env bash
# tools/check-deb-systemd.sh - the Debian package on a fresh, booted Debian 12.
#
#   sudo tools/check-deb-systemd.sh [callwatch_VERSION_ARCH.deb]
#
# Without an argument the .deb is built with cpack from $CALLWATCH_BUILD_DIR
# (default ./build). The script makes a fresh Debian 12 root with debootstrap
# (plus systemd, dbus, curl, man-db, as on a server install), boots it with
# systemd-nspawn (systemd as the container's PID 1, the host's network) and
# checks, as an operations engineer would:
#   1. `apt install ./callwatch_*.deb` pulls its dependencies from the mirror,
#      creates the user, enables and starts the service; `systemd-analyze
#      verify` finds nothing to say about the unit;
#   2. `systemctl start callwatch` runs the shipped config: active (Type=notify:
#      started once the lines are up), the journal says that no [line] is
#      configured, `curl http://127.0.0.1:9464/health` answers 200;
#   3. `systemctl reload` (SIGHUP) and `systemctl stop` (exit 0) work, and
#      after a reboot of the container the service is running again;
#   4. `man callwatch` and `man callwatch.ini` open;
#   5. `apt purge` leaves the archive only (/var/lib/callwatch/archive.db), and
#      with CALLWATCH_PURGE_ARCHIVE=yes nothing (man-db's own cache of
#      formatted pages, /var/cache/man, is not the package's and is ignored).
#
# Not part of ctest: it needs root, the network (a Debian mirror) and 3 to 5
# minutes. Exit status: 0 all passed, 1 a check failed, 77 skipped (not root,
# a tool missing, no mirror, or systemd cannot boot in a container here: the
# reason is printed).
#
# Environment:
#   CALLWATCH_BUILD_DIR   the build whose CPackConfig.cmake makes the .deb
#   CW_DEBIAN_MIRROR      default http://deb.debian.org/debian
#   CW_ROOT_CACHE         a directory: the debootstrapped root is kept there
#                         (made on first use) and copied for each run
#   CW_KEEP_ROOT=1        keep the container root (its path is printed)
#   CW_BOOT_TIMEOUT       seconds to wait for the container to boot (default 120)
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${CALLWATCH_BUILD_DIR:-$src/build}
mirror=${CW_DEBIAN_MIRROR:-http://deb.debian.org/debian}
boot_timeout=${CW_BOOT_TIMEOUT:-120}
packages=systemd,dbus,curl,man-db,ca-certificates

skip() { echo "check-deb-systemd: SKIP: $*"; exit 77; }
say() { echo "== $*"; }
fail=0
bad() { echo "FAIL: $*"; fail=1; }

[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, systemd-nspawn)"
for tool in debootstrap systemd-nspawn nsenter; do
    command -v "$tool" >/dev/null ||
        skip "$tool missing (apt-get install debootstrap systemd-container util-linux)"
done

work=$(mktemp -d /var/tmp/cw-deb-systemd-XXXXXX)
root="$work/root"
nspawn_pid=""
ct_pid=""
# shellcheck disable=SC2317  # called by the EXIT trap
on_exit() {
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then halt_ct; fi
    if [ -n "${CW_KEEP_ROOT:-}" ]; then echo "container root kept: $root"; else rm -rf "$work"; fi
}
trap on_exit EXIT

# The package.
if [ $# -ge 1 ]; then
    deb=$(realpath "$1")
else
    [ -f "$build/CPackConfig.cmake" ] || skip "no $build/CPackConfig.cmake: build first or pass a .deb"
    say "cpack -G DEB ($build)"
    cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/out" >"$work/cpack.log" 2>&1 ||
        { cat "$work/cpack.log"; echo "FAIL: cpack"; exit 1; }
    deb=$(ls "$work"/out/callwatch_*.deb)
fi
echo "package: $deb ($(stat -c %s "$deb") bytes)"

# A fresh Debian 12 root.
bootstrap() {
    say "debootstrap bookworm $1 ($mirror)"
    debootstrap --include="$packages" bookworm "$1" "$mirror" >"$work/debootstrap.log" 2>&1 || {
        tail -5 "$work/debootstrap.log"
        skip "debootstrap bookworm failed (no Debian mirror reachable at $mirror?)"
    }
}
if [ -n "${CW_ROOT_CACHE:-}" ]; then
    [ -x "$CW_ROOT_CACHE/bookworm/usr/lib/systemd/systemd" ] || { rm -rf "$CW_ROOT_CACHE/bookworm"; bootstrap "$CW_ROOT_CACHE/bookworm"; }
    cp -a "$CW_ROOT_CACHE/bookworm" "$root"
else
    bootstrap "$root"
fi
echo cwcheck >"$root/etc/hostname"
cp "$deb" "$root/root/"
debname=$(basename "$deb")

# Boot it. Without systemd as the host's PID 1 there is no bus to register the
# machine or allocate a scope: --register=no --keep-unit. CAP_IPC_LOCK as on a
# real machine: without it nspawn's seccomp filter refuses mlock(), and
# libgcrypt (loaded through libaubio -> libavformat -> libssh) logs "Warning:
# using insecure memory!".
in_ct() { nsenter -t "$ct_pid" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb "$@"; }
# boot_ct: starts the container and waits until its systemd has booted; sets
# nspawn_pid, ct_pid (the container's PID 1 as the host sees it) and state.
boot_ct() {
    say "systemd-nspawn --boot"
    systemd-nspawn -D "$root" --boot --register=no --keep-unit --console=passive -M cwcheck \
        --capability=CAP_IPC_LOCK >"$work/nspawn.log" 2>&1 &
    nspawn_pid=$!
    ct_pid=""
    state=""
    for _ in $(seq "$boot_timeout"); do
        kill -0 "$nspawn_pid" 2>/dev/null || break
        [ -n "$ct_pid" ] || ct_pid=$(pgrep -P "$nspawn_pid" -x systemd | head -1 || true)
        if [ -n "$ct_pid" ]; then
            state=$(in_ct systemctl is-system-running 2>/dev/null || true)
            case "$state" in running|degraded) break ;; esac
        fi
        sleep 1
    done
    case "$state" in
        running|degraded) echo "container booted: systemctl is-system-running = $state" ;;
        *)
            cat "$work/nspawn.log"
            kill -0 "$nspawn_pid" 2>/dev/null ||
                { wait "$nspawn_pid" || echo "systemd-nspawn exited with status $?"; nspawn_pid=""; }
            skip "systemd did not boot in the container within ${boot_timeout}s (state '${state:-none}'; systemd-nspawn's output above)"
            ;;
    esac
    if [ "$state" = degraded ]; then in_ct systemctl --failed --no-pager; fi
}
# halt_ct: powers the container off (systemd-nspawn turns SIGTERM into a
# clean shutdown of the container's systemd).
halt_ct() {
    kill "$nspawn_pid" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$nspawn_pid" 2>/dev/null || true
    wait "$nspawn_pid" 2>/dev/null || true
    nspawn_pid=""
}
boot_ct

# 1. Install.
say "apt-get install ./$debname"
in_ct sh -c "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/$debname" \
    >"$work/install.log" 2>&1 || { tail -20 "$work/install.log"; bad "apt-get install"; exit 1; }
grep -E "^(Setting up callwatch|Creat|Created symlink)" "$work/install.log" || true
echo "$(grep -c '^Setting up' "$work/install.log") packages set up"
[ "$(in_ct systemctl is-enabled callwatch)" = enabled ] || bad "the install did not enable callwatch.service"
in_ct systemctl is-active callwatch >/dev/null || bad "the install did not start callwatch.service"
verify=$(in_ct systemd-analyze verify /lib/systemd/system/callwatch.service 2>&1)
[ -z "$verify" ] || bad "systemd-analyze verify: $verify"
in_ct systemctl stop callwatch

# 2. Start, journal, /health.
say "systemctl start callwatch"
in_ct systemctl start callwatch || bad "systemctl start callwatch"
in_ct systemctl is-active callwatch >/dev/null || bad "callwatch is not active"
in_ct systemctl status callwatch --no-pager -n 0 | sed -n '1,7p'
journal() { in_ct journalctl -u callwatch -b --no-pager -o cat; }
log=$(journal)
grep -m1 -F "no [line] configured in /etc/callwatch/callwatch.ini" <<<"$log" ||
    bad "the journal does not say that no [line] is configured"
if grep -q "insecure memory" <<<"$log"; then bad "the journal has libgcrypt's 'using insecure memory' warning"; fi
say "curl http://127.0.0.1:9464/health"
health=""
for _ in $(seq 20); do
    health=$(in_ct curl -sS -f http://127.0.0.1:9464/health 2>/dev/null) && break
    sleep 0.5
done
echo "$health"
grep -q '"status":"\(ok\|degraded\)"' <<<"$health" || bad "/health does not answer 200 ok/degraded"

# 3. Reload and stop.
say "systemctl reload / stop / start"
in_ct systemctl reload callwatch || bad "systemctl reload callwatch"
in_ct systemctl stop callwatch || bad "systemctl stop callwatch"
result=$(in_ct systemctl show -p Result --value callwatch)
status=$(in_ct systemctl show -p ExecMainStatus --value callwatch)
echo "after stop: Result=$result ExecMainStatus=$status"
if [ "$result" != success ] || [ "$status" != 0 ]; then bad "stop: Result=$result status=$status"; fi
in_ct systemctl start callwatch || bad "second start"
journal | tail -n 4

# The service comes up at boot by itself (enabled, Type=notify).
say "reboot the container: callwatch starts at boot"
halt_ct
boot_ct
for _ in $(seq 30); do in_ct systemctl is-active callwatch >/dev/null && break; sleep 1; done
in_ct systemctl is-active callwatch >/dev/null || bad "callwatch did not start at boot"
health=$(in_ct curl -sS -f http://127.0.0.1:9464/health 2>&1) || bad "/health after the reboot: $health"
echo "after the reboot: $(in_ct systemctl is-active callwatch), /health $(cut -c1-40 <<<"$health")..."

# 4. Man pages.
say "man callwatch, man callwatch.ini"
in_ct man -P cat callwatch 2>/dev/null | sed -n '1,8p' | grep -v '^$' || true
in_ct man -P cat callwatch 2>/dev/null | grep -q '^SYNOPSIS' || bad "man callwatch does not open"
in_ct man -P cat callwatch.ini 2>/dev/null | grep -q 'retry_s' || bad "man callwatch.ini does not open"

# 5. Purge: the archive only; with CALLWATCH_PURGE_ARCHIVE=yes nothing.
leftovers() {
    in_ct sh -c 'find / -xdev \( -name "*callwatch*" -o -path "/var/lib/callwatch/*" \) -print 2>/dev/null' |
        { grep -v -e "^/root/$debname\$" -e '^/var/cache/man/' || true; } | sort | tr '\n' ' '
}
say "apt-get purge callwatch"
in_ct sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q callwatch' >"$work/purge.log" 2>&1 ||
    { tail "$work/purge.log"; bad "apt-get purge"; }
left=$(leftovers)
echo "left: $left"
[ "$left" = "/var/lib/callwatch /var/lib/callwatch/archive.db " ] || bad "after purge, left: $left (want the archive only)"
in_ct pgrep -x callwatch && bad "callwatch still runs after purge"
say "apt-get install, then CALLWATCH_PURGE_ARCHIVE=yes apt-get purge callwatch"
in_ct sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/$debname" >"$work/install2.log" 2>&1 ||
    bad "second install"
in_ct systemctl is-active callwatch >/dev/null || bad "callwatch is not active after the second install"
in_ct sh -c 'CALLWATCH_PURGE_ARCHIVE=yes DEBIAN_FRONTEND=noninteractive apt-get purge -y -q callwatch' \
    >"$work/purge2.log" 2>&1 || bad "apt-get purge with CALLWATCH_PURGE_ARCHIVE=yes"
left=$(leftovers)
echo "left: ${left:-nothing}"
[ -z "$left" ] || bad "after CALLWATCH_PURGE_ARCHIVE=yes purge, left: $left"

if [ "$fail" -eq 0 ]; then echo "check-deb-systemd: OK ($debname on Debian $(cat "$root/etc/debian_version"))"; fi
exit "$fail"

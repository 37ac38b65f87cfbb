#!/usr/bin/env bash
# The Debian package (cpack -G DEB from this build):
#  1. control: dependencies computed from the binary plus the speech model,
#     the config as a conffile, postinst/prerm/postrm;
#  2. contents: binary, models, docs, gzipped man pages, the systemd unit
#     (own user, StateDirectory, hardening), sysusers/tmpfiles snippets and a
#     service config that turns /health on, on loopback;
#  3. installed into a throwaway root (dpkg --root, maintainer scripts run
#     chrootless with DPKG_ROOT): the postinst creates the user and the state
#     directory, the binary finds the root's models, both man pages open;
#  4. purge removes everything but the archive; with
#     CALLWATCH_PURGE_ARCHIVE=yes the archive too.
set -euo pipefail

: "${CALLWATCH:?set CALLWATCH to the callwatch binary}"
build=$(dirname "$CALLWATCH")
for tool in cpack dpkg dpkg-deb man; do
    command -v "$tool" >/dev/null || { echo "$tool missing: skipping"; exit 77; }
done
[ "$(id -u)" -eq 0 ] || { echo "dpkg --root needs root here: skipping"; exit 77; }

work=$(mktemp -d /tmp/cw-deb-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/out" >"$work/cpack.log" 2>&1 ||
    { cat "$work/cpack.log"; echo "FAIL: cpack"; exit 1; }
deb=$(ls "$work"/out/callwatch_*.deb)

# 1. Control.
dpkg-deb -I "$deb" >"$work/info"
depends=$(dpkg-deb -f "$deb" Depends)
for dep in libportaudio2 libzmq5 libpocketsphinx3 libsndfile1 libsqlite3-0 pocketsphinx-en-us adduser; do
    grep -q "$dep" <<<"$depends" || bad "Depends lacks $dep: $depends"
done
for script in postinst prerm postrm conffiles; do
    grep -qE "^ +[0-9]+ bytes, +[0-9]+ lines +\*? +$script" "$work/info" || bad "control archive lacks $script"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/callwatch/callwatch.ini ||
    bad "/etc/callwatch/callwatch.ini is not a conffile"

# 2. Contents.
dpkg-deb --contents "$deb" | awk '{print $6}' >"$work/contents"
for f in ./usr/bin/callwatch ./usr/share/callwatch/callwatch.ini ./usr/share/callwatch/cues-en.json \
         ./usr/share/callwatch/sample-call.flac ./usr/share/doc/callwatch/README.md \
         ./usr/share/man/man1/callwatch.1.gz ./usr/share/man/man5/callwatch.ini.5.gz \
         ./usr/lib/systemd/system/callwatch.service ./usr/lib/sysusers.d/callwatch.conf \
         ./usr/lib/tmpfiles.d/callwatch.conf ./etc/callwatch/callwatch.ini; do
    grep -qx "$f" "$work/contents" || bad "package lacks $f"
done
grep -q '^\./usr/local' "$work/contents" && bad "package installs under /usr/local"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/system/callwatch.service >"$work/unit"
for line in "ExecStart=/usr/bin/callwatch run --config /etc/callwatch/callwatch.ini" "User=callwatch" \
            "StateDirectory=callwatch" "ProtectSystem=strict" "NoNewPrivileges=yes" "PrivateTmp=yes" \
            "SupplementaryGroups=audio" "WantedBy=multi-user.target"; do
    grep -qxF "$line" "$work/unit" || bad "unit lacks '$line'"
done
grep -qxE "Type=(notify|simple)" "$work/unit" || bad "unit has no Type=notify/simple"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./etc/callwatch/callwatch.ini >"$work/service.ini"
grep -qE '^listen = 127\.0\.0\.1:[0-9]+' "$work/service.ini" || bad "service config does not turn on /health on loopback"

# 3. Install into a throwaway root.
r="$work/root"
mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/etc"
touch "$r/var/lib/dpkg/status" "$r/var/lib/dpkg/available"
install_pkg() {
    dpkg --root="$r" --force-script-chrootless --force-depends -i "$deb" >"$work/dpkg.log" 2>&1 ||
        { cat "$work/dpkg.log"; bad "dpkg -i into $r"; }
}
install_pkg
grep -q '^callwatch:' "$r/etc/passwd" || bad "postinst created no callwatch user"
grep -qE '^audio:[^:]*:[0-9]+:.*callwatch' "$r/etc/group" || bad "callwatch is not in the audio group"
uid=$(awk -F: '$1 == "callwatch" { print $3 }' "$r/etc/passwd")
[ -d "$r/var/lib/callwatch" ] && [ "$(stat -c %u "$r/var/lib/callwatch")" = "$uid" ] ||
    bad "state directory missing or not owned by callwatch"
[ "$(stat -c %a "$r/etc/callwatch/callwatch.ini")" = 640 ] || bad "service config is not 0640"
"$r/usr/bin/callwatch" config >"$work/config.out"
head -1 "$work/config.out" | grep -qF "read from $r/usr/share/callwatch/callwatch.ini" ||
    bad "installed binary reads $(head -1 "$work/config.out")"
"$r/usr/bin/callwatch" config --config "$r/etc/callwatch/callwatch.ini" >"$work/service.out"
grep -qx "path = /var/lib/callwatch/archive.db" "$work/service.out" || bad "service config has no archive"
man -l -P cat "$r/usr/share/man/man1/callwatch.1.gz" 2>/dev/null | grep -q "^SYNOPSIS" || bad "callwatch(1) does not open"
man -l -P cat "$r/usr/share/man/man5/callwatch.ini.5.gz" 2>/dev/null | grep -q "retry_s" ||
    bad "callwatch.ini(5) does not open or lacks [capture] retry_s"

# 4. Purge: the archive stays, the rest goes.
touch "$r/var/lib/callwatch/archive.db" "$r/var/lib/callwatch/archive.db-wal" "$r/var/lib/callwatch/scratch"
echo key >"$r/etc/callwatch/node.key_secret"
dpkg --root="$r" --force-script-chrootless --purge callwatch >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; bad "purge"; }
left=$(cd "$r" && find . -path ./var/lib/dpkg -prune -o \( -type f -o -type l \) -print | grep -v '^\./etc/\(passwd\|group\|shadow\|gshadow\|\.pwd\.lock\)' | sort | tr '\n' ' ')
[ "$left" = "./var/lib/callwatch/archive.db ./var/lib/callwatch/archive.db-wal " ] ||
    bad "after purge, files left: $left (want the archive only)"
install_pkg
touch "$r/var/lib/callwatch/archive.db"
CALLWATCH_PURGE_ARCHIVE=yes dpkg --root="$r" --force-script-chrootless --purge callwatch >"$work/purge.log" 2>&1 ||
    bad "purge with CALLWATCH_PURGE_ARCHIVE=yes"
[ -e "$r/var/lib/callwatch" ] && bad "CALLWATCH_PURGE_ARCHIVE=yes left $(ls "$r/var/lib/callwatch")"

[ "$fail" -eq 0 ] && echo "package_deb: OK ($(basename "$deb"), $(stat -c %s "$deb") bytes)"
exit "$fail"

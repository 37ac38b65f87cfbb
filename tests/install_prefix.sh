#!/usr/bin/env bash
# `cmake --install` to a prefix, as an operator would:
#  1. the prefix holds the binary, the models (with the sample call), the
#     docs, both man pages (gzipped), the unit, sysusers and tmpfiles snippets
#     and the service's config; the unit starts <prefix>/bin/callwatch;
#  2. moved elsewhere, with the source tree and build folder hidden (a tmpfs
#     over them in a private mount namespace), the binary reads its own
#     models and `callwatch analyze` of the installed sample call gives
#     transcripts and alerts;
#  3. CALLWATCH_MODELS points it at another models directory;
#  4. `man callwatch` and `man callwatch.ini` open from the prefix; the
#     config page lists every option `callwatch config` prints and the
#     command page every command of `callwatch --help`.
set -euo pipefail

: "${CALLWATCH:?set CALLWATCH to the callwatch binary}"
: "${CALLWATCH_SRC:?set CALLWATCH_SRC to the source tree}"
build=$(dirname "$CALLWATCH")
[ -f "$build/cmake_install.cmake" ] || { echo "FAIL: $build is not a build folder"; exit 1; }
command -v man >/dev/null || { echo "man missing: skipping"; exit 77; }

work=$(mktemp -d /tmp/cw-install-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

cmake --install "$build" --prefix "$work/stage" >"$work/install.log"
for f in bin/callwatch share/callwatch/callwatch.ini share/callwatch/cues-en.json share/callwatch/playbook-en.json \
         share/callwatch/prosody.json share/callwatch/sample-call.flac share/doc/callwatch/README.md \
         share/man/man1/callwatch.1.gz share/man/man5/callwatch.ini.5.gz lib/systemd/system/callwatch.service \
         lib/sysusers.d/callwatch.conf lib/tmpfiles.d/callwatch.conf etc/callwatch/callwatch.ini; do
    [ -f "$work/stage/$f" ] || bad "installed prefix lacks $f"
done
grep -qx "ExecStart=$work/stage/bin/callwatch run --config $work/stage/etc/callwatch/callwatch.ini" \
    "$work/stage/lib/systemd/system/callwatch.service" || bad "unit's ExecStart does not name the prefix's binary"

# 2. Move the prefix; from now on nothing may come from the source or build tree.
mv "$work/stage" "$work/moved"
p="$work/moved"
hide_tree() {
    # Private mount namespace: the source tree (and its build/) is an empty tmpfs.
    unshare -m sh -c 'mount -t tmpfs none "$1" && shift && exec "$@"' sh "$CALLWATCH_SRC" "$@"
}
if hide_tree true 2>/dev/null; then
    run=hide_tree
else
    echo "note: cannot hide the source tree (no mount namespace); running with it visible"
    run=""
fi
$run "$p/bin/callwatch" config >"$work/config.ini" 2>"$work/config.err" || bad "config failed: $(cat "$work/config.err")"
head -1 "$work/config.ini" | grep -qF "read from $p/share/callwatch/callwatch.ini" ||
    bad "moved binary reads $(head -1 "$work/config.ini"), not its prefix's config"
$run "$p/bin/callwatch" analyze "$p/share/callwatch/sample-call.flac" >"$work/events.jsonl" 2>"$work/analyze.err" ||
    bad "analyze of the installed sample call failed: $(tail -3 "$work/analyze.err")"
python3 - "$work/events.jsonl" <<'PY' || fail=1
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
kinds = {e["type"] for e in ev}
finals = [e for e in ev if e["type"] == "transcript" and e["final"]]
alerts = [e for e in ev if e["type"] == "alert"]
print("installed analyze: %d final transcripts, %d alerts" % (len(finals), len(alerts)))
ok = ev and ev[0]["type"] == "call_start" and ev[-1].get("reason") == "eof" and len(finals) >= 5 and alerts
if not ok:
    print("FAIL: installed sample call gave", sorted(kinds), len(finals), "finals,", len(alerts), "alerts")
    sys.exit(1)
PY

# 3. CALLWATCH_MODELS overrides the directory.
mkdir "$work/alt"
cp -r "$p/share/callwatch/"* "$work/alt/"
CALLWATCH_MODELS="$work/alt" "$p/bin/callwatch" config >"$work/alt.ini"
head -1 "$work/alt.ini" | grep -qF "read from $work/alt/callwatch.ini" ||
    bad "CALLWATCH_MODELS=$work/alt is not where config reads from"
rm "$work/alt/cues-en.json"
if CALLWATCH_MODELS="$work/alt" "$p/bin/callwatch" run --check-config >/dev/null 2>"$work/alt.err"; then
    bad "check-config passed with cues-en.json missing from CALLWATCH_MODELS"
else
    grep -q "$work/alt/cues-en.json" "$work/alt.err" || bad "missing cue lexicon not named: $(cat "$work/alt.err")"
fi

# 4. Man pages, found the way `man` finds them.
MANPATH="$p/share/man" man -P cat callwatch >"$work/callwatch.1.txt" 2>"$work/man.err" || bad "man callwatch: $(cat "$work/man.err")"
MANPATH="$p/share/man" man -P cat 5 callwatch.ini >"$work/callwatch.ini.5.txt" 2>"$work/man.err" ||
    bad "man 5 callwatch.ini: $(cat "$work/man.err")"
grep -q "real-time speech-side sentiment monitor" "$work/callwatch.1.txt" || bad "callwatch(1) has no NAME line"
MANWIDTH=1000 man -l -P cat "$p/share/man/man5/callwatch.ini.5.gz" >"$work/ini.txt" 2>/dev/null
MANWIDTH=1000 man -l -P cat "$p/share/man/man1/callwatch.1.gz" >"$work/cmd.txt" 2>/dev/null
missing=0
while read -r key; do
    grep -qE "^ +$key( |$)" "$work/ini.txt" || { missing=$((missing + 1)); echo "callwatch.ini(5) lacks option '$key'"; }
done < <(grep -E '^[a-z_0-9]+ =' "$work/config.ini" | sed 's/ =.*//' | sort -u)
[ "$missing" -eq 0 ] || bad "$missing option(s) of \`callwatch config\` missing from callwatch.ini(5)"
"$p/bin/callwatch" --help >"$work/help.txt"
checked=0
while read -r cmd; do
    checked=$((checked + 1))
    grep -qE "^ +$cmd( |$)" "$work/cmd.txt" || bad "callwatch(1) lacks the command '$cmd'"
done < <(sed -n '/^commands:/,/^$/p' "$work/help.txt" | awk 'NF && !/commands:/ {print $1}')
[ "$checked" -ge 8 ] || bad "only $checked commands found in callwatch --help"
options=$(grep -cE '^[a-z_0-9]+ =' "$work/config.ini")
[ "$options" -ge 50 ] || bad "only $options options found in callwatch config"
echo "man pages: $checked commands and $options options checked"

[ "$fail" -eq 0 ] && echo "install_prefix: OK"
exit "$fail"

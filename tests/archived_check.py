#!/usr/bin/env python3
"""archived_check.py TAP ARCHIVED NODES MIN_CALLS: what the bus carried is in the archive.

TAP is a `callwatch tap --topics` capture of the bus, ARCHIVED a `callwatch qa export
--format jsonl --type all` of the archive. Checks that the bus carried at least MIN_CALLS
calls of exactly NODES nodes, and that every alert and final transcript on the bus, and
every call, is archived, none twice. Prints what it counted; exit 1 with FAIL lines otherwise.
"""
import collections
import json
import sys


def main():
    tap, archived_path, want_nodes, min_calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    bus = []
    for line in open(tap):
        _, _, body = line.rstrip("\n").partition("\t")
        ev = json.loads(body)
        ev.pop("seq", None)  # the bus's own numbering, not part of the event
        bus.append(ev)
    archived = [json.loads(line) for line in open(archived_path) if line.strip()]
    calls = {e["call_id"] for e in bus if e["type"] == "call_start"}
    nodes = {c.split("-")[0] for c in calls}
    alerts = {e["id"] for e in bus if e["type"] == "alert"}
    finals = [e for e in bus if e["type"] == "transcript" and e.get("final") is not False]
    got_alerts = [e["id"] for e in archived if e["type"] == "alert"]
    got_finals = [json.dumps(e, sort_keys=True) for e in archived if e["type"] == "transcript"]
    got_calls = {e["call_id"] for e in archived}
    missing_alerts = alerts - set(got_alerts)
    missing_finals = [e for e in finals if json.dumps(e, sort_keys=True) not in set(got_finals)]
    dups = [k for k, n in collections.Counter(got_alerts + got_finals).items() if n > 1]
    print(f"bus: {len(calls)} calls of {len(nodes)} nodes, {len(alerts)} alerts, {len(finals)} final transcripts;"
          f" archive: {len(set(got_alerts))} alerts, {len(got_finals)} transcripts")
    fail = []
    if len(nodes) != want_nodes or len(calls) < min_calls:
        fail.append(f"expected {min_calls} calls of {want_nodes} nodes on the bus, got {sorted(calls)}")
    if missing_alerts:
        fail.append(f"{len(missing_alerts)} alert(s) on the bus not archived: {sorted(missing_alerts)[:5]}")
    if missing_finals:
        fail.append(f"{len(missing_finals)} transcript(s) on the bus not archived: {missing_finals[:2]}")
    if dups:
        fail.append(f"{len(dups)} event(s) archived twice: {dups[:3]}")
    if calls - got_calls:
        fail.append(f"calls without archived rows: {sorted(calls - got_calls)}")
    for f in fail:
        print("FAIL:", f)
    return 1 if fail else 0


if __name__ == "__main__":
    sys.exit(main())

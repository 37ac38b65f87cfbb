#!/usr/bin/env python3
"""websocket-client.py - play the PBX or the cloud contact centre: stream a call to callwatch over a
WebSocket media-stream protocol, the way each of these sends it (written from their public
descriptions):

  freeswitch  FreeSWITCH mod_audio_fork (`uuid_audio_fork <uuid> start ws://HOST:PORT/freeswitch
              stereo 16k <metadata>`): subprotocol "audio.drachtio.org"; one text frame with the
              metadata JSON, then binary frames of 16-bit little-endian PCM (stereo interleaved,
              channel 0 agent, 1 customer), 20 ms each; then a close frame.
  twilio      Twilio Media Streams (<Stream url="wss://HOST/twilio" track="both_tracks">): JSON text
              messages "connected", "start" (callSid, tracks, mediaFormat audio/x-mulaw 8000 Hz,
              customParameters agent_id/team), "media" every 20 ms per track (inbound = customer,
              outbound = agent; base64 G.711 u-law payload), then "stop" and a close.
  audiohook   Genesys Cloud AudioHook: "open" (id, seq, parameters conversationId, participant,
              media offers: PCMU 8000 Hz channels ["external", "internal"]), waits for "opened",
              binary frames of interleaved PCMU (external = customer first, internal = agent), a
              "ping" answered by "pong", then "close" answered by "closed".

    websocket-client.py --server HOST:PORT [--tls] call PROTOCOL CALL.wav [--call-id ID] [--agent A]
                        [--team T] [--speed 1]
        CALL.wav: 16-bit stereo WAV, channel 0 agent, channel 1 customer; 8000 Hz for twilio and
        audiohook, 8000 or 16000 Hz for freeswitch. Prints the call id on stdout. A freeswitch or
        twilio stream the server closes while it streams (e.g. 1013, the node at capacity) prints
        "refused: close STATUS REASON" on stderr and exits 3.

    websocket-client.py --server HOST:PORT [--tls] bad CASE [--wait SEC]
        Breaks a protocol on purpose and exits 0 when the server refused or closed the stream
        within --wait seconds (1 when it stayed open). Prints "CASE from PEER" (the client's
        address as the server logs it). CASE: unknown-path, fs-binary-first, fs-bad-json,
        fs-bad-rate, twilio-media-first, twilio-bad-format, twilio-oversize, audiohook-no-offer,
        audiohook-bad-json (malformed JSON after open: a "disconnect" must come before the close),
        vanish (a Twilio stream whose socket just closes mid-call), stall (an AudioHook stream
        that goes quiet after open), silent (connects and sends nothing).

Needs python3-websocket (Debian; tools/deps.sh installs it) and audioop (Python <= 3.12).
"""

import argparse
import base64
import json
import select
import ssl
import struct
import sys
import time
import uuid as uuidlib
import warnings
import wave

warnings.filterwarnings("ignore", category=DeprecationWarning)
import audioop  # noqa: E402  (deprecated in 3.11, still shipped by Debian 12's Python)
import websocket  # noqa: E402  (python3-websocket)

FRAME_MS = 20

# Debian 12's websocket-client checks close statuses against RFC 6455's first list and rejects the
# ones IANA registered later (1012 service restart, 1013 try again later), which callwatch sends when
# the node is at capacity: accept them.
websocket._abnf.VALID_CLOSE_STATUS = tuple(websocket._abnf.VALID_CLOSE_STATUS) + (1012, 1013)


TLS = False  # --tls: wss:// without checking the certificate (a test's self-signed one)


def url(server, path):
    return "%s://%s%s" % ("wss" if TLS else "ws", server, path)


def connect(server, path, subprotocols=None, timeout=10):
    sslopt = {"cert_reqs": ssl.CERT_NONE, "check_hostname": False} if TLS else None
    return websocket.create_connection(url(server, path), timeout=timeout, subprotocols=subprotocols, sslopt=sslopt)


def peer_of(ws):
    host, port = ws.sock.getsockname()[:2]
    return "%s:%d" % (host, port)


def read_call(path, rates):
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 2 or w.getframerate() not in rates:
            sys.exit("%s: need 16-bit stereo WAV at %s Hz, got %d-bit %d ch %d Hz" % (
                path, " or ".join(map(str, rates)), 8 * w.getsampwidth(), w.getnchannels(), w.getframerate()))
        return w.getframerate(), w.readframes(w.getnframes())


def leg(raw, ch):
    return audioop.tomono(raw, 2, 1.0 - ch, float(ch))


class Refused(Exception):
    """The server closed the stream while we were sending it."""


def check_closed(ws):
    """Raises Refused with the close status and reason when the server has sent a close frame."""
    if not select.select([ws.sock], [], [], 0)[0]:
        return
    opcode, data = ws.recv_data(control_frame=True)
    if opcode == websocket.ABNF.OPCODE_CLOSE:
        status = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
        raise Refused("close %d %s" % (status, data[2:].decode("utf-8", "replace")))


class Pacer:
    """Sleeps so that frame i goes out at i * FRAME_MS / speed after the start."""

    def __init__(self, speed):
        self.speed, self.start = speed, time.monotonic()

    def wait(self, i):
        if self.speed > 0:
            due = self.start + i * FRAME_MS / 1000.0 / self.speed
            time.sleep(max(0.0, due - time.monotonic()))


def stream_freeswitch(a):
    rate, raw = read_call(a.file, (8000, 16000))
    ws = connect(a.server, "/freeswitch", subprotocols=["audio.drachtio.org"])
    ws.send(json.dumps({"call_id": a.call_id, "agent_id": a.agent, "team": a.team, "sample_rate": rate,
                        "channels": 2}))
    step = rate * FRAME_MS // 1000 * 4
    pacer = Pacer(a.speed)
    for i, off in enumerate(range(0, len(raw), step)):
        pacer.wait(i)
        check_closed(ws)
        ws.send_binary(raw[off:off + step])
    ws.close()


def twilio_msg(ws, event, seq, **body):
    ws.send(json.dumps(dict({"event": event, "sequenceNumber": str(seq), "streamSid": "MZ" + "0" * 32}, **body)))


def stream_twilio(a):
    _, raw = read_call(a.file, (8000,))
    ulaw = {"outbound": audioop.lin2ulaw(leg(raw, 0), 2), "inbound": audioop.lin2ulaw(leg(raw, 1), 2)}
    ws = connect(a.server, "/twilio")
    ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    twilio_msg(ws, "start", 1, start={
        "accountSid": "AC" + "0" * 32, "streamSid": "MZ" + "0" * 32, "callSid": a.call_id,
        "tracks": ["inbound", "outbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"agent_id": a.agent, "team": a.team}})
    step, seq = 8 * FRAME_MS, 2
    pacer = Pacer(a.speed)
    for i, off in enumerate(range(0, len(ulaw["inbound"]), step)):
        pacer.wait(i)
        check_closed(ws)
        for track in ("inbound", "outbound"):
            payload = base64.b64encode(ulaw[track][off:off + step]).decode()
            twilio_msg(ws, "media", seq, media={"track": track, "chunk": str(i + 1),
                                                "timestamp": str(i * FRAME_MS), "payload": payload})
            seq += 1
    twilio_msg(ws, "stop", seq, stop={"accountSid": "AC" + "0" * 32, "callSid": a.call_id})
    ws.close()


def audiohook_open(ws, conversation, agent, team, fmt="PCMU"):
    ws.send(json.dumps({
        "version": "2", "type": "open", "seq": 1, "serverseq": 0, "id": str(uuidlib.uuid4()), "position": "PT0S",
        "parameters": {"organizationId": str(uuidlib.uuid4()), "conversationId": conversation,
                       "participant": {"id": str(uuidlib.uuid4()), "ani": "+15551230000", "aniName": "Caller",
                                       "dnis": "+15559870000"},
                       "media": [{"type": "audio", "format": fmt, "channels": ["external", "internal"],
                                  "rate": 8000}],
                       "language": "en-US", "customConfig": {"agent_id": agent, "team": team}}}))


def expect(ws, want):
    reply = json.loads(ws.recv())
    if reply.get("type") != want:
        sys.exit("audiohook: expected %r, got %r" % (want, reply))
    return reply


def stream_audiohook(a):
    _, raw = read_call(a.file, (8000,))
    # external (customer) first, internal (agent) second
    swapped = audioop.add(audioop.tostereo(leg(raw, 1), 2, 1, 0), audioop.tostereo(leg(raw, 0), 2, 0, 1), 2)
    pcmu = audioop.lin2ulaw(swapped, 2)
    ws = connect(a.server, "/audiohook")
    audiohook_open(ws, a.call_id, a.agent, a.team)
    opened = expect(ws, "opened")
    if opened["parameters"]["media"][0]["format"] != "PCMU":
        sys.exit("audiohook: opened with %r" % opened)
    step, seq = 2 * 8 * 100, 2  # 100 ms frames of 2 channels
    pacer = Pacer(a.speed)
    for i, off in enumerate(range(0, len(pcmu), step)):
        pacer.wait(i * 5)
        ws.send_binary(pcmu[off:off + step])
        if i == 20:
            ws.send(json.dumps({"version": "2", "type": "ping", "seq": seq, "serverseq": opened["seq"],
                                "id": opened["id"], "parameters": {}}))
            seq += 1
            expect(ws, "pong")
    ws.send(json.dumps({"version": "2", "type": "close", "seq": seq, "serverseq": opened["seq"] + 1,
                        "id": opened["id"], "parameters": {"reason": "end"}}))
    expect(ws, "closed")
    ws.close()


def wait_closed(ws, wait):
    """True when the server closes the connection within wait seconds."""
    ws.settimeout(wait)
    try:
        while True:
            if ws.recv_data(control_frame=True)[0] == websocket.ABNF.OPCODE_CLOSE:
                return True
    except websocket.WebSocketTimeoutException:
        return False
    except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
        return True


def bad(a):
    case = a.case
    path = {"fs": "/freeswitch", "tw": "/twilio", "au": "/audiohook", "st": "/audiohook",
            "un": "/nowhere"}.get(case[:2], "/twilio")
    try:
        ws = connect(a.server, path)
    except (websocket.WebSocketException, ConnectionError) as e:
        print("%s refused at the handshake (%s)" % (case, e))
        return 0
    if case == "unknown-path":
        print("%s from %s: the handshake was accepted" % (case, peer_of(ws)))
        return 1
    print("%s from %s" % (case, peer_of(ws)), flush=True)
    meta = {"call_id": "bad-" + case, "sample_rate": 8000, "channels": 2}
    if case == "fs-binary-first":
        ws.send_binary(b"\0" * 320)
    elif case == "fs-bad-json":
        ws.send('{"call_id": "x", "sample_rate": 8000,')
    elif case == "fs-bad-rate":
        ws.send(json.dumps(dict(meta, sample_rate=44100)))
    elif case == "twilio-media-first":
        twilio_msg(ws, "media", 1, media={"track": "inbound", "payload": "////"})
    elif case == "twilio-bad-format":
        twilio_msg(ws, "start", 1, start={"callSid": "CAbad", "tracks": ["inbound"],
                                          "mediaFormat": {"encoding": "audio/x-alaw", "sampleRate": 8000}})
    elif case == "twilio-oversize":
        ws.send(json.dumps({"event": "media", "pad": "x" * 70000}))
    elif case == "audiohook-no-offer":
        audiohook_open(ws, "bad-audiohook", "a", "t", fmt="L16")
    elif case == "audiohook-bad-json":
        audiohook_open(ws, "badjson-audiohook", "a", "t")
        expect(ws, "opened")
        ws.send('{"version": "2", "type": ')
        bye = expect(ws, "disconnect")  # AudioHook: the server says why before it closes
        print("disconnect: %s" % json.dumps(bye["parameters"]))
    elif case in ("vanish", "stall"):
        if case == "vanish":
            twilio_msg(ws, "start", 1, start={"callSid": "CAvanish", "tracks": ["inbound", "outbound"],
                                              "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                                              "channels": 1}})
            for track in ("inbound", "outbound"):
                twilio_msg(ws, "media", 2, media={"track": track, "payload": base64.b64encode(b"\xff" * 160).decode()})
            time.sleep(0.5)
            ws.sock.close()  # no stop, no close frame: the peer is gone
            return 0
        audiohook_open(ws, "stall-audiohook", "a", "t")
        expect(ws, "opened")
    elif case != "silent":
        sys.exit("unknown case %r" % case)
    return 0 if wait_closed(ws, a.wait) else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True, help="HOST:PORT of callwatch run --websocket")
    p.add_argument("--tls", action="store_true", help="wss:// ([websocket] tls_cert); the certificate is not checked")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("call")
    c.add_argument("protocol", choices=["freeswitch", "twilio", "audiohook"])
    c.add_argument("file")
    c.add_argument("--call-id", default=None)
    c.add_argument("--agent", default="agent-7")
    c.add_argument("--team", default="billing")
    c.add_argument("--speed", type=float, default=1.0, help="x real time; 0 = unpaced")
    b = sub.add_parser("bad")
    b.add_argument("case")
    b.add_argument("--wait", type=float, default=5.0)
    a = p.parse_args()
    global TLS
    TLS = a.tls
    if a.cmd == "bad":
        return bad(a)
    a.call_id = a.call_id or "%s-%s" % (a.protocol, uuidlib.uuid4())
    try:
        {"freeswitch": stream_freeswitch, "twilio": stream_twilio, "audiohook": stream_audiohook}[a.protocol](a)
    except Refused as e:
        print("refused: %s" % e, file=sys.stderr)
        return 3
    print(a.call_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""audiosocket-client.py - play the PBX: stream calls to callwatch over Asterisk's AudioSocket protocol.

Protocol (docs.asterisk.org, Configuration/Channel-Drivers/AudioSocket): each message is a 3-byte
header - kind (1 byte), payload length (uint16 big-endian) - then the payload. Kinds: 0x00 hangup,
0x01 UUID (16 bytes binary), 0x03 DTMF digit, 0x10 audio (signed 16-bit little-endian, 8 kHz mono),
0xff error. Asterisk's AudioSocket() sends the UUID first, then 20 ms audio messages (320 bytes),
and closes the socket when the channel hangs up.

callwatch's leg convention: the two legs of a call connect separately with UUIDs that differ only
in the last hex digit, even = agent, odd = customer.

    audiosocket-client.py --server HOST:PORT call CALL.wav [--uuid UUID] [--speed 1] [--end hangup|close|reset]
        CALL.wav: 8000 Hz 16-bit WAV, stereo (channel 0 agent, channel 1 customer) or mono
        (--leg agent|customer). Convert other audio first: sox in.wav -r 8000 -b 16 call8k.wav
        Streams both legs on two connections, paced at --speed x real time (0 = unpaced), then ends
        each leg with a hangup message (--end hangup), by closing the socket like Asterisk does
        (--end close), or with a TCP reset (--end reset). A leg the server refuses while it
        streams (an error message, e.g. the node at capacity) prints "refused: REASON" on stderr
        and exits 3.

    audiosocket-client.py --server HOST:PORT bad CASE [--wait SEC]
        Opens one connection and breaks the protocol; exits 0 when the server closed the connection
        within --wait seconds, 1 when it stayed open. CASE:
          garbage-kind  a UUID, then a message of unknown kind 0x42
          oversize      a UUID, then an audio header declaring 65535 bytes
          truncated     a UUID, then half an audio message, then the client stops sending (FIN)
          no-uuid       audio before any UUID
          second-uuid   a UUID, audio, then another UUID
          odd-audio     a UUID, then audio with an odd number of bytes
          silent        connects and sends nothing (the server's first-frame timeout closes it)
          reset         a UUID, audio, then a TCP reset (nothing to wait for; exits 0)

Standard library only (socket, struct, wave).
"""

import argparse
import select
import socket
import struct
import sys
import time
import uuid as uuidlib
import wave

KIND_HANGUP, KIND_UUID, KIND_DTMF, KIND_AUDIO, KIND_ERROR = 0x00, 0x01, 0x03, 0x10, 0xFF
RATE = 8000
FRAME_MS = 20


def msg(kind, payload=b""):
    return struct.pack(">BH", kind, len(payload)) + payload


def leg_uuid(base, leg):
    """The UUID of one leg: base with its last hex digit made even (agent) or odd (customer)."""
    b = bytearray(base.bytes)
    b[15] = (b[15] & 0xFE) | (1 if leg == "customer" else 0)
    return uuidlib.UUID(bytes=bytes(b))


def parse_server(text):
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        sys.exit("--server: expected HOST:PORT, got %r" % text)
    return host.strip("[]"), int(port)


def connect(server):
    s = socket.create_connection(parse_server(server), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_legs(path, mono_leg):
    with wave.open(path, "rb") as w:
        if w.getframerate() != RATE or w.getsampwidth() != 2 or w.getnchannels() not in (1, 2):
            sys.exit("%s: need 8000 Hz 16-bit mono or stereo WAV, got %d Hz %d-bit %d ch "
                     "(convert: sox %s -r 8000 -b 16 out.wav)"
                     % (path, w.getframerate(), 8 * w.getsampwidth(), w.getnchannels(), path))
        ch = w.getnchannels()
        raw = w.readframes(w.getnframes())
    if ch == 1:
        if mono_leg not in ("agent", "customer"):
            sys.exit("%s is mono: say which leg it is with --leg agent|customer" % path)
        return {mono_leg: raw}
    # WAV data is little-endian, as AudioSocket wants: split the interleaved channels bytewise.
    frames = len(raw) // 4
    agent = bytearray(frames * 2)
    customer = bytearray(frames * 2)
    for i in range(frames):
        agent[2 * i:2 * i + 2] = raw[4 * i:4 * i + 2]
        customer[2 * i:2 * i + 2] = raw[4 * i + 2:4 * i + 4]
    return {"agent": bytes(agent), "customer": bytes(customer)}


def end_leg(s, how):
    if how == "hangup":
        s.sendall(msg(KIND_HANGUP))
        s.close()
    elif how == "close":
        s.close()
    else:  # reset: SO_LINGER 0 makes close() send RST
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def server_error(s):
    """The text of an error message (0xff) the server sent on s, or None (nothing, or only audio)."""
    if not select.select([s], [], [], 0)[0]:
        return None
    try:
        data = s.recv(4096)
    except OSError as e:
        return "connection %s" % e
    if len(data) >= 3 and data[0] == KIND_ERROR:
        return data[3:3 + struct.unpack(">H", data[1:3])[0]].decode("utf-8", "replace")
    return "connection closed" if not data else None


def cmd_call(a):
    legs = read_legs(a.wav, a.leg)
    base = uuidlib.UUID(a.uuid) if a.uuid else uuidlib.uuid4()
    conns = {}
    for leg in ("agent", "customer"):
        if leg in legs:
            s = connect(a.server)
            u = leg_uuid(base, leg)
            s.sendall(msg(KIND_UUID, u.bytes))
            conns[leg] = s
            print("%s leg: connected with UUID %s" % (leg, u), file=sys.stderr)
    call_id = leg_uuid(base, "agent")
    print(call_id)
    sys.stdout.flush()
    step = RATE * FRAME_MS // 1000 * 2
    total = max(len(b) for b in legs.values())
    t0 = time.monotonic()
    sent = 0
    for off in range(0, total, step):
        for leg, s in conns.items():
            why = server_error(s)
            if why:
                print("refused: %s leg: %s" % (leg, why), file=sys.stderr)
                return 3
            chunk = legs[leg][off:off + step]
            if chunk:
                try:
                    s.sendall(msg(KIND_AUDIO, chunk))
                except OSError as e:
                    print("%s leg: the server closed the connection after %.1f s of audio (%s)"
                          % (leg, off / 2 / RATE, e), file=sys.stderr)
                    return 1
        sent += 1
        if a.speed > 0:
            due = t0 + sent * FRAME_MS / 1000.0 / a.speed
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    for s in conns.values():
        end_leg(s, a.end)
    print("streamed %.1f s of audio in %.1f s, ended with %s"
          % (total / 2 / RATE, time.monotonic() - t0, a.end), file=sys.stderr)
    return 0


def wait_closed(s, seconds):
    """True when the server closes the connection (EOF or reset) within seconds."""
    s.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if not s.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def cmd_bad(a):
    u = leg_uuid(uuidlib.UUID(a.uuid) if a.uuid else uuidlib.uuid4(), a.bad_leg)
    audio = msg(KIND_AUDIO, b"\x00\x01" * 160)
    s = connect(a.server)
    case = a.case
    local = "%s:%d" % s.getsockname()[:2]
    try:
        if case == "garbage-kind":
            s.sendall(msg(KIND_UUID, u.bytes) + audio + msg(0x42, b"xyz"))
        elif case == "oversize":
            s.sendall(msg(KIND_UUID, u.bytes) + struct.pack(">BH", KIND_AUDIO, 65535) + b"\x00" * 100)
        elif case == "truncated":
            s.sendall(msg(KIND_UUID, u.bytes) + audio[:150])
            s.shutdown(socket.SHUT_WR)
        elif case == "no-uuid":
            s.sendall(audio)
        elif case == "second-uuid":
            s.sendall(msg(KIND_UUID, u.bytes) + audio + msg(KIND_UUID, u.bytes))
        elif case == "odd-audio":
            s.sendall(msg(KIND_UUID, u.bytes) + msg(KIND_AUDIO, b"\x00" * 321))
        elif case == "silent":
            pass
        elif case == "reset":
            s.sendall(msg(KIND_UUID, u.bytes) + audio)
            time.sleep(0.2)
            end_leg(s, "reset")
            print("%s: sent a reset from %s" % (case, local))
            return 0
        else:
            sys.exit("unknown case %r" % case)
    except (ConnectionResetError, BrokenPipeError):
        print("%s: closed by the server while sending, from %s" % (case, local))
        return 0
    if wait_closed(s, a.wait):
        print("%s: closed by the server, from %s" % (case, local))
        return 0
    print("%s: still open after %.1f s, from %s" % (case, a.wait, local))
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True, help="HOST:PORT of callwatch's [audiosocket] listen")
    ap.add_argument("--uuid", help="call UUID (default: random); legs get its last digit even/odd")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("call", help="stream a call file")
    c.add_argument("wav")
    c.add_argument("--speed", type=float, default=1.0, help="x real time; 0 = as fast as possible")
    c.add_argument("--end", choices=("hangup", "close", "reset"), default="hangup")
    c.add_argument("--leg", choices=("agent", "customer"), help="the leg of a mono file")
    b = sub.add_parser("bad", help="break the protocol on one connection")
    b.add_argument("case")
    b.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the server to close")
    b.add_argument("--bad-leg", choices=("agent", "customer"), default="agent")
    a = ap.parse_args()
    return cmd_call(a) if a.cmd == "call" else cmd_bad(a)


if __name__ == "__main__":
    sys.exit(main())

"""A stranger: a process that connects to a vecbridge listener without knowing the run's token.

    python stranger.py MODE PORT [COUNT] [HOLD_S]

Modes (each the finding of the hardening issue, or one of its kind):
  deep      a hello whose JSON is 100,000 nested '['
  dims70    a hello declaring an array of 70 dimensions
  hugeshape a hello declaring an array of shape [0, 10**20]
  silent    COUNT connections that send nothing
  bigframe  a first frame announcing 16 MiB - 1 bytes that never completes
  garbage   bytes that are no framing at all
  comm      a comm-framed hello with a wrong token
  websocket a WebSocket upgrade, then a hello with a wrong token
  token     a well-formed hello with a wrong token, naming instance 0
Every connection then waits (up to HOLD_S seconds) for vecbridge to close it. Prints one
JSON line: {"connected": n, "closed_by_vecbridge": n, "seconds": s}. Standard library only.
"""

import base64
import json
import socket
import struct
import sys
import time


def binary(header: str | bytes, data: bytes = b"") -> bytes:
    head = header.encode() if isinstance(header, str) else header
    payload = struct.pack("<I", len(head)) + head + data
    return struct.pack("<I", len(payload)) + payload


def hello(**extra) -> str:
    h = {"type": "hello", "version": 1, "instance": 0, "token": "not-the-token",
         "observation_space": "float[4]", "action_space": "int 0 1"}
    h.update(extra)
    return json.dumps(h)


def ws_masked(payload: bytes) -> bytes:
    mask = b"\x01\x02\x03\x04"
    n = len(payload)
    head = b"\x82" + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def first_bytes(mode: str) -> bytes:
    if mode == "deep":
        return binary('{"type":"hello","token":' + "[" * 100_000 + "]" * 100_000 + "}")
    if mode == "dims70":
        return binary(hello(arrays=[{"dtype": "uint8", "shape": [1] * 70}]))
    if mode == "hugeshape":
        return binary(hello(arrays=[{"dtype": "uint8", "shape": [0, 10**20]}]))
    if mode == "silent":
        return b""
    if mode == "bigframe":
        return struct.pack("<I", 16 * 1024 * 1024 - 1) + b"\0" * 60_000
    if mode == "garbage":
        return b"\xde\xad\xbe\xef" * 64
    if mode == "comm":
        text = base64.b64encode(binary(hello())[4:])
        return b"%d " % len(text) + text
    if mode == "websocket":
        upgrade = (b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        return upgrade + ws_masked(binary(hello())[4:])
    if mode == "token":
        return binary(hello())
    raise SystemExit(f"unknown mode {mode!r}")


def main() -> None:
    mode, port = sys.argv[1], int(sys.argv[2])
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    hold = float(sys.argv[4]) if len(sys.argv) > 4 else 20.0
    t0 = time.monotonic()
    socks = []
    for _ in range(count):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            continue
        socks.append(s)
        data = first_bytes(mode)
        try:
            s.sendall(data)
        except OSError:
            pass
    closed = 0
    deadline = time.monotonic() + hold
    for s in socks:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            while s.recv(65536):  # a websocket upgrade gets its answer first
                pass
            closed += 1
        except socket.timeout:
            pass
        except OSError:  # reset by vecbridge
            closed += 1
        s.close()
    print(json.dumps({"connected": len(socks), "closed_by_vecbridge": closed,
                      "seconds": round(time.monotonic() - t0, 2)}), flush=True)


if __name__ == "__main__":
    main()

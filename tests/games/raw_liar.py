"""A game written against the protocol page alone (no vecbridge client), that can lie.

It declares float32[4] observations; with LIE=dtype it sends float64 instead, with
LIE=shape a float32[5], with LIE=token a wrong token; with LIE=half it sends half of its third
step's reply and exits with status 9 (as a game killed while it writes). Episodes never end, unless
EPISODE=N: then every N-th step terminates. Standard library only.
"""

import json
import os
import socket
import struct

LIE = os.environ.get("LIE", "")
EPISODE = int(os.environ.get("EPISODE", "0"))


def frame(header: dict, data: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    payload = struct.pack("<I", len(head)) + head + data
    return struct.pack("<I", len(payload)) + payload


def read_frame(sock: socket.socket) -> dict | None:
    def exactly(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    try:
        (n,) = struct.unpack("<I", exactly(4))
        payload = exactly(n)
    except EOFError:
        return None
    (h,) = struct.unpack_from("<I", payload)
    return json.loads(payload[4 : 4 + h])


def observation(t: float) -> tuple[dict, bytes]:
    if LIE == "dtype":
        return {"dtype": "float64", "shape": [4]}, struct.pack("<4d", t, 0, 0, 0)
    if LIE == "shape":
        return {"dtype": "float32", "shape": [5]}, struct.pack("<5f", t, 0, 0, 0, 0)
    return {"dtype": "float32", "shape": [4]}, struct.pack("<4f", t, 0, 0, 0)


def main() -> None:
    sock = socket.create_connection((os.environ["VECBRIDGE_HOST"], int(os.environ["VECBRIDGE_PORT"])))
    token = "not-the-token" if LIE == "token" else os.environ["VECBRIDGE_TOKEN"]
    sock.sendall(frame({"type": "hello", "version": 1, "instance": int(os.environ["VECBRIDGE_INSTANCE"]),
                        "token": token, "observation_space": "float[4]", "action_space": "int 0 1"}))
    t = 0
    while (msg := read_frame(sock)) is not None:
        if msg["type"] == "welcome":
            continue
        if msg["type"] == "close":
            break
        if msg["type"] == "reset":
            t = 0
            desc, data = observation(t)
            sock.sendall(frame({"type": "reset_result", "observation": {"$array": 0}, "info": {}, "arrays": [desc]}, data))
        elif msg["type"] == "step":
            t += 1
            desc, data = observation(t)
            ended = EPISODE > 0 and t % EPISODE == 0
            reply = frame({"type": "step_result", "observation": {"$array": 0}, "reward": 0.0,
                           "terminated": ended, "truncated": False, "info": {}, "arrays": [desc]}, data)
            if LIE == "half" and t == 3:
                sock.sendall(reply[: len(reply) // 2])
                os._exit(9)
            sock.sendall(reply)
        else:
            sock.sendall(frame({"type": "error", "message": f"raw_liar does not support {msg['type']!r}"}))


if __name__ == "__main__":
    main()

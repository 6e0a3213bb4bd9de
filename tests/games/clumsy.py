"""A game of the run (it has the token) that breaks the protocol in one way (hardening issue).

Observation float32[4] (obs[0] counts the steps of the episode), action Discrete(2), like
raw_liar.py. Set CLUMSY to one of these, and CLUMSY_INSTANCE to the instance that misbehaves:
  reward401     its 3rd step replies with a reward written as a 401-digit integer
  nan           its 3rd step replies with the reward NaN
  deepinfo      its 3rd step replies with an info nested 5,000 deep
  hello1e400    its hello declares Discrete n=1e400
  badrelaunch   its 3rd step crashes (exit 7); its first relaunch says a hello with an invalid
                space, the next relaunch is well behaved
  instancestr   its hello gives its instance number as a JSON string ("instance": "1")
  hangup        it connects, closes the connection before any hello, and exits 5 half a second later
CLUMSY_UNIX=1 connects to VECBRIDGE_SOCKET (a Unix-domain socket) instead of TCP.
Standard library only.
"""

import json
import os
import socket
import struct
import sys
import time

MODE = os.environ.get("CLUMSY", "")
ME = int(os.environ["VECBRIDGE_INSTANCE"]) == int(os.environ.get("CLUMSY_INSTANCE", "0"))
WORKDIR = os.environ["VECBRIDGE_WORKDIR"]


def frame(header: str, data: bytes = b"") -> bytes:
    head = header.encode()
    payload = struct.pack("<I", len(head)) + head + data
    return struct.pack("<I", len(payload)) + payload


def read_frame(sock: socket.socket):
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
    except (EOFError, OSError):
        return None
    (h,) = struct.unpack_from("<I", payload)
    return json.loads(payload[4 : 4 + h])


def launches() -> int:
    """How many times this instance was launched before (a mark per launch in its folder)."""
    n = 0
    while os.path.exists(os.path.join(WORKDIR, f"launched-{n}")):
        n += 1
    open(os.path.join(WORKDIR, f"launched-{n}"), "w").close()
    return n


def main() -> None:
    before = launches()
    if os.environ.get("CLUMSY_UNIX"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(os.environ["VECBRIDGE_SOCKET"])
    else:
        sock = socket.create_connection((os.environ["VECBRIDGE_HOST"], int(os.environ["VECBRIDGE_PORT"])))
    if ME and MODE == "hangup":
        sock.close()
        time.sleep(0.5)
        sys.exit(5)
    obs_space = '"float[4]"'
    if ME and (MODE == "hello1e400" or (MODE == "badrelaunch" and before == 1)):
        obs_space = '{"type":"Discrete","n":1e400}'
    instance = os.environ["VECBRIDGE_INSTANCE"]
    if ME and MODE == "instancestr":
        instance = json.dumps(instance)
    sock.sendall(frame('{"type":"hello","version":1,"instance":%s,"token":%s,"observation_space":%s,'
                       '"action_space":"int 0 1"}' % (instance, json.dumps(os.environ["VECBRIDGE_TOKEN"]), obs_space)))
    t = 0
    arrays = '"arrays":[{"dtype":"float32","shape":[4]}]'
    while (msg := read_frame(sock)) is not None:
        kind = msg["type"]
        if kind == "welcome":
            continue
        if kind == "close":
            break
        if kind == "reset":
            t = 0
            sock.sendall(frame('{"type":"reset_result","observation":{"$array":0},"info":{},%s}' % arrays,
                               struct.pack("<4f", t, 0, 0, 0)))
            continue
        if kind != "step":
            sock.sendall(frame('{"type":"error","message":"clumsy does not support %s"}' % kind))
            continue
        t += 1
        reward, info = "0.0", "{}"
        if ME and t == 3:
            if MODE == "reward401":
                reward = "9" * 401
            elif MODE == "nan":
                reward = "NaN"
            elif MODE == "deepinfo":
                info = '{"a":' + "[" * 5000 + "]" * 5000 + "}"
            elif MODE == "badrelaunch" and before == 0:
                sys.exit(7)
        sock.sendall(frame('{"type":"step_result","observation":{"$array":0},"reward":%s,"terminated":false,'
                           '"truncated":false,"info":%s,%s}' % (reward, info, arrays), struct.pack("<4f", t, 0, 0, 0)))


if __name__ == "__main__":
    main()

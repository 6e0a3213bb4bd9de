"""Recorded exchanges between a game and the host: the raw material of the fuzzer.

An :class:`Exchange` is one whole conversation (hello, welcome, reset, steps, render,
calls, an error reply, close), byte for byte, in one framing, each frame tagged with the
side that sent it. Two sources:

- :func:`generated_exchanges`: made here by vecbridge's own two ends (GameConnection and
  HostConnection) for every kind of space, in the binary, comm and websocket framings;
- ``tests/fuzz_corpus/*.json``: captured from real game processes (the Python, Lua and
  JavaScript clients) by ``scripts/fuzz.py --capture`` (:func:`load_corpus`).

:func:`deframe` and :func:`reframe` take a frame apart and put it back together, so that a
mutated payload can travel in a valid frame and reach the layers behind the framing.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from vecbridge.protocol import GameConnection, HostConnection
from vecbridge.protocol.framing import mask_frame
from vecbridge.protocol.messages import GAME_MESSAGES, HOST_MESSAGES, decode_message

TOKEN = "f00dfeedf00dfeedf00dfeedf00dfeed"
CORPUS = Path(__file__).resolve().parents[1] / "fuzz_corpus"
WS_UPGRADE = (
    b"GET /game HTTP/1.1\r\nHost: 127.0.0.1:1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
MASK = b"\x5a\xa5\x0f\xf0"


@dataclass
class Frame:
    side: str  # "game" (the game sent it) or "host"
    raw: bytes  # exactly as on the wire (the first websocket frames carry the HTTP upgrade before them)
    prefix: bytes = b""  # bytes before the frame itself (the HTTP upgrade request or answer)
    payload: bytes = b""
    message: tuple[str, dict[str, Any]] | None = None  # the decoded original, to drive a state machine


@dataclass
class Exchange:
    name: str
    framing: str
    frames: list[Frame] = field(default_factory=list)

    def add(self, side: str, raw: bytes) -> None:
        prefix, payload = deframe(self.framing, raw, side)
        msg = decode_message(payload, GAME_MESSAGES if side == "game" else HOST_MESSAGES)
        self.frames.append(Frame(side, raw, prefix, payload, (msg.type, msg.fields)))

    def to_json(self) -> dict:
        return {"name": self.name, "framing": self.framing,
                "frames": [[f.side, base64.b64encode(f.raw).decode()] for f in self.frames]}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict) -> "Exchange":
        ex = cls(data["name"], data["framing"])
        for side, raw in data["frames"]:
            ex.add(side, base64.b64decode(raw))
        return ex


# ---------------------------------------------------------------- frames apart and together


def _ws_split(raw: bytes) -> tuple[bytes, bytes]:
    if raw.startswith((b"GET ", b"HTTP/")):
        end = raw.index(b"\r\n\r\n") + 4
        return raw[:end], raw[end:]
    return b"", raw


def deframe(framing: str, raw: bytes, side: str) -> tuple[bytes, bytes]:
    """(prefix, payload) of one well-formed frame."""
    if framing == "binary":
        return b"", raw[4:]
    if framing == "comm":
        _, _, text = raw.partition(b" ")
        return b"", base64.b64decode(text)
    prefix, frame = _ws_split(raw)
    n, pos = frame[1] & 0x7F, 2
    if n == 126:
        n, pos = struct.unpack_from(">H", frame, 2)[0], 4
    elif n == 127:
        n, pos = struct.unpack_from(">Q", frame, 2)[0], 10
    if frame[1] & 0x80:  # masked (client to server)
        mask, data = frame[pos : pos + 4], frame[pos + 4 : pos + 4 + n]
        return prefix, bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return prefix, frame[pos : pos + n]


def reframe(framing: str, payload: bytes, side: str, prefix: bytes = b"") -> bytes:
    """A well-formed frame carrying ``payload`` (mutated or not)."""
    if framing == "binary":
        return struct.pack("<I", len(payload)) + payload
    if framing == "comm":
        text = base64.b64encode(payload)
        return b"%d " % len(text) + text
    if side == "game":
        return prefix + mask_frame(2, payload, MASK)
    n = len(payload)
    head = bytes([0x82]) + (bytes([n]) if n < 126 else b"\x7e" + struct.pack(">H", n) if n < 65536 else
                            b"\x7f" + struct.pack(">Q", n))  # fmt: skip
    return prefix + head + payload


# ---------------------------------------------------------------- exchanges made by vecbridge's own ends

SPACES: dict[str, tuple[Any, Any]] = {
    "box-discrete": (spaces.Box(-1, 1, (4,), np.float32), spaces.Discrete(3)),
    "image-box": (spaces.Box(0, 255, (6, 5, 3), np.uint8), spaces.Box(-1, 1, (2,), np.float64)),
    "discrete-multidiscrete": (spaces.Discrete(5, start=-2), spaces.MultiDiscrete([3, 4])),
    "dict-multibinary": (
        spaces.Dict({"pos": spaces.Box(0, 10, (2,), np.int16), "mode": spaces.Discrete(2)}),
        spaces.MultiBinary(3),
    ),
    "tuple-tuple": (
        spaces.Tuple([spaces.Box(-5, 5, (), np.float32), spaces.Discrete(4)]),
        spaces.Tuple([spaces.Discrete(2), spaces.Box(0, 1, (2,), np.float32)]),
    ),
    "type-strings": ("float 0 1 [3]", ["int 0 3", "bool"]),
}


def _wrap(framing: str, binary_frame: bytes, first: bool) -> bytes:
    """A game's binary frame in ``framing`` (vecbridge has no game side for websocket: wrap it)."""
    if framing == "websocket":
        return reframe(framing, binary_frame[4:], "game", WS_UPGRADE if first else b"")
    return binary_frame


def generated_exchange(name: str, framing: str, seed: int = 0) -> Exchange:
    obs_space, act_space = SPACES[name]
    rng = np.random.default_rng(seed)
    game = GameConnection("comm" if framing == "comm" else "binary")
    host = HostConnection(TOKEN, None, "auto")
    ex = Exchange(f"generated-{name}-{framing}", framing)
    obs_space_g = obs_space if isinstance(obs_space, spaces.Space) else None
    hello = game.send_hello(0, TOKEN, obs_space, act_space, name="fuzz", metadata={"render_fps": 30})

    def game_says(data: bytes, first: bool = False) -> None:
        raw = _wrap(framing, data, first)
        ex.add("game", raw)
        host.receive_data(raw)
        assert host.next_event() is not None

    def host_says(data: bytes) -> None:
        ex.add("host", data)
        _, payload = deframe(framing, data, "host")
        game.receive_data(data if framing != "websocket" else struct.pack("<I", len(payload)) + payload)
        assert game.next_event() is not None

    game_says(hello, first=True)
    obs_space = host.hello.observation_space
    obs_space_g = obs_space_g or obs_space
    host_says(host.send_welcome({"level": 1, "names": ["a", "b"]}))
    host_says(host.send_reset(seed=7, options={"start": 1}))
    game_says(game.send_reset_result(_sample(obs_space, rng), {"lives": 3}))
    for t in range(3):
        host_says(host.send_step(_sample(host.hello.action_space, rng)))
        info = {} if t == 0 else {"t": t, "x": np.arange(2, dtype=np.int32), "deep": {"a": [1.5, None, True]}}
        game_says(game.send_step_result(_sample(obs_space, rng), 0.5 * t, t == 2, False, info))
    host_says(host.send_render())
    game_says(game.send_render_result(np.zeros((2, 3, 3), np.uint8)))
    host_says(host.send_call("__getattr__", ["metadata"], {}))
    game_says(game.send_call_result({"render_fps": 30, "arr": np.ones(2, np.float32)}))
    host_says(host.send_call("nope", [1, "x"], {"k": None}))
    game_says(game.send_error("no method 'nope'", "Traceback: ..."))
    host_says(host.send_close())
    return ex


def _sample(space: spaces.Space, rng: np.random.Generator) -> Any:
    from vecbridge.protocol.values import encode_value

    space.seed(int(rng.integers(1 << 30)))
    return encode_value(space, space.sample())


def generated_exchanges() -> list[Exchange]:
    return [generated_exchange(name, framing) for name in SPACES for framing in ("binary", "comm", "websocket")]


def load_corpus(folder: str | os.PathLike = CORPUS) -> list[Exchange]:
    """The exchanges captured from real games (``scripts/fuzz.py --capture``)."""
    found = []
    for path in sorted(Path(folder).glob("*.json")):
        found.append(Exchange.from_json(json.loads(path.read_text())))
    return found

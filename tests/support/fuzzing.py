"""A mutation fuzzer of the sans-I/O protocol layer (used by scripts/fuzz.py and tests/unit/test_fuzz.py).

Each case takes one recorded exchange (tests/support/exchanges.py), mutates one or a few of
its frames, and replays it against one target:

- ``host``: a HostConnection fed the game's frames (mutated), driven through the recorded
  requests (welcome, reset, step, render, call, close) between them;
- ``game``: a GameConnection (the Python client's end) fed the host's frames (mutated),
  answering each request with the recorded reply (binary and comm: vecbridge has no game
  side for websocket, which is the JavaScript client's);
- ``decode``: decode_message on one mutated payload.

Mutations work at three depths, so that they reach past each layer: the raw bytes of a frame
(bit flips, interesting bytes, cut, insert, duplicate; the framing sees them), the payload
inside a valid frame (the message layout sees them), and the JSON header, one node at a time
(huge and negative numbers, 1e400, NaN, wrong types, deep nesting, 70-dimension shapes,
bad array references; fields, spaces and values see them). Fed bytes are split at random
points. The outcome of a case is "ok" or the name of the exception it raised; every
exception must be a VecBridgeError, and no case may run past ``hang_s`` seconds of CPU time.
"""

from __future__ import annotations

import json
import random
import signal
import struct
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from support.exchanges import TOKEN, Exchange, Frame, reframe
from vecbridge.errors import VecBridgeError
from vecbridge.protocol import GameConnection, HostConnection
from vecbridge.protocol.messages import GAME_MESSAGES, HOST_MESSAGES, decode_message
from vecbridge.protocol.values import check_action

TARGETS = ("host", "game", "decode")
INTERESTING_BYTES = b"\x00\x01\x7f\x80\xff[]{}\",: 0123456789eE-+.\r\n"
KEYS = ("type", "arrays", "observation", "reward", "terminated", "truncated", "info", "token", "instance",
        "version", "observation_space", "action_space", "shape", "dtype", "n", "nvec", "start", "spaces", "low",
        "high", "seed", "options", "name", "args", "kwargs", "config", "frame", "value", "message", "traceback",
        "metadata", "action", "$array")  # fmt: skip
TYPES = ("hello", "reset_result", "step_result", "render_result", "call_result", "error", "welcome", "reset",
         "step", "render", "call", "close", "Box", "Discrete", "MultiDiscrete", "MultiBinary", "Dict", "Tuple")  # fmt: skip
RAW = "\u0000raw:"  # a string marker whose JSON text is replaced by raw text (numbers JSON cannot hold)


class Hang(BaseException):
    """A case ran past its time limit."""


def _interesting_value(rng: random.Random) -> Any:
    pick = rng.randrange(30)
    if pick < 14:
        return rng.choice([0, -1, 1, 2, 3, 255, 256, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64,
                           -(2**63) - 1, 10**20, 0.5, -0.0, 1e308, -1e-320, True, False, None])  # fmt: skip
    if pick < 18:
        return rng.choice(["", "x", "0", "inf", "-inf", "nan", "float32", "uint8", "bool", "int 0 3", "float[4]",
                           "int 0 99999999999999999999", "bool [1000000000000]", "\ud800", "é" * 3, TOKEN])  # fmt: skip
    if pick < 20:
        return rng.choice([RAW + "1e400", RAW + "-1e400", RAW + "NaN", RAW + "Infinity", RAW + "9" * 401,
                           RAW + "9" * 5000, RAW + "1" + "0" * 30, RAW + "-0"])  # fmt: skip
    if pick < 22:
        depth = rng.choice([63, 64, 65, 500, 5000, 100_000])
        return RAW + "[" * depth + "]" * depth
    if pick < 24:
        return rng.choice([[], {}, [1] * 70, [0, 10**20], [2**31, 2**31], [-1], [4.0], ["4"], [True], list(range(20))])
    if pick < 26:
        return {"$array": rng.choice([0, 1, -1, 99, True, "0", 0.0, None])}
    if pick < 28:
        return {"type": rng.choice(TYPES), rng.choice(KEYS): _interesting_value(rng) if rng.random() < 0.5 else 1}
    return rng.choice(["x" * 10_000, list(range(5000)), {str(i): i for i in range(300)}])


def _nodes(value: Any, path: tuple = ()) -> list[tuple]:
    found = [path]
    if type(value) is dict:
        for k, v in value.items():
            found += _nodes(v, path + (k,))
    elif type(value) is list:
        for i, v in enumerate(value[:50]):
            found += _nodes(v, path + (i,))
    return found


def _mutate_json(header: Any, rng: random.Random) -> Any:
    paths = _nodes(header)
    path = rng.choice(paths)
    parent, key = None, None
    node = header
    for step in path:
        parent, key, node = node, step, node[step]
    op = rng.randrange(6)
    if op == 0 and type(node) is dict and node:  # drop a key
        node.pop(rng.choice(list(node)))
    elif op == 1 and type(node) is dict:  # add a key
        node[rng.choice(KEYS)] = _interesting_value(rng)
    elif op == 2 and type(node) is str and rng.random() < 0.5:  # another type name
        value = rng.choice(TYPES)
        if parent is None:
            return value
        parent[key] = value
    elif op == 3 and type(node) is list and node:  # grow or shrink a list
        if rng.random() < 0.5:
            node.pop(rng.randrange(len(node)))
        else:
            node.append(_interesting_value(rng))
    else:  # replace the node
        value = _interesting_value(rng)
        if parent is None:
            return value
        parent[key] = value
    return header


def _dump_raw(value: Any) -> bytes:
    """JSON text of ``value`` where each RAW-marked string becomes its raw text."""
    marker = json.dumps(RAW)[1:-1]  # as the marker reads inside a JSON string
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    out, pos = [], 0
    while (start := text.find('"' + marker, pos)) >= 0:
        end = text.index('"', start + 1 + len(marker))
        out += [text[pos:start], text[start + 1 + len(marker) : end]]
        pos = end + 1
    out.append(text[pos:])
    return "".join(out).encode()


def mutate_payload(payload: bytes, rng: random.Random) -> bytes:
    """A payload whose JSON header (and perhaps its data) is mutated, its header length fixed up."""
    if len(payload) < 4:
        return payload
    (head_len,) = struct.unpack_from("<I", payload)
    try:
        header = json.loads(payload[4 : 4 + head_len])
    except ValueError:
        return mutate_bytes(payload, rng)
    for _ in range(1 + (rng.random() < 0.3)):
        header = _mutate_json(header, rng)
    head = _dump_raw(header)
    data = payload[4 + head_len :]
    if rng.random() < 0.15:
        data = mutate_bytes(data, rng) if data else bytes(rng.randrange(1, 64))
    return struct.pack("<I", len(head)) + head + data


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """Byte-level damage: flips, interesting bytes, cuts, insertions, duplications."""
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        op = rng.randrange(7)
        n = len(buf)
        if op == 0 and n:
            buf[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            buf[rng.randrange(n)] = rng.choice(INTERESTING_BYTES)
        elif op == 2 and n:
            i = rng.randrange(n)
            del buf[i : i + rng.randrange(1, 32)]
        elif op == 3:
            i = rng.randrange(n + 1)
            buf[i:i] = bytes(rng.choice(INTERESTING_BYTES) for _ in range(rng.randrange(1, 16)))
        elif op == 4 and n:
            i = rng.randrange(n)
            buf[i:i] = buf[i : i + rng.randrange(1, 64)]
        elif op == 5 and n:
            del buf[rng.randrange(n) :]
        elif op == 6 and n >= 4:  # a length field: the first 4 bytes
            buf[0:4] = struct.pack("<I", rng.choice([0, 1, 3, n, n + 1, 2**16, 2**24 - 1, 2**31, 2**32 - 1]))
    return bytes(buf)


def mutate_frame(ex: Exchange, frame: Frame, rng: random.Random) -> bytes:
    depth = rng.random()
    if depth < 0.55:
        return reframe(ex.framing, mutate_payload(frame.payload, rng), frame.side, frame.prefix)
    if depth < 0.8:
        return reframe(ex.framing, mutate_bytes(frame.payload, rng), frame.side, frame.prefix)
    return mutate_bytes(frame.raw, rng)


# ---------------------------------------------------------------- targets


def _feed(conn: Any, data: bytes, rng: random.Random) -> list[Any]:
    events = []
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.choice((0, 0, 1, 2, 5)))) if data else []
    pos = 0
    for cut in [*cuts, len(data)]:
        if cut > pos or cut == len(data):
            conn.receive_data(data[pos:cut])
            while (ev := conn.next_event()) is not None:
                events.append(ev)
            pos = cut
    return events


def _host_request(host: HostConnection, msg: tuple[str, dict]) -> bytes:
    type_, f = msg
    if type_ == "welcome":
        return host.send_welcome(f.get("config"))
    if type_ == "reset":
        return host.send_reset(f.get("seed"), f.get("options"))
    if type_ == "step":  # checked as the vector env checks a user's action (a mutated hello may change the space)
        return host.send_step(check_action(host.hello.action_space, f["action"], 0))
    if type_ == "render":
        return host.send_render()
    if type_ == "call":
        return host.send_call(f["name"], f.get("args") or [], f.get("kwargs") or {})
    return host.send_close()


def _until(ex: Exchange, mutated: dict[int, bytes]) -> int:
    """Replay up to three frames past the last mutated one: far enough to see the state it left."""
    return min(len(ex.frames), max(mutated) + 4)


def run_host(ex: Exchange, mutated: dict[int, bytes], rng: random.Random) -> None:
    host = HostConnection(TOKEN, {0, 1}, "auto")
    for k, frame in enumerate(ex.frames[: _until(ex, mutated)]):
        if frame.side == "game":
            _feed(host, mutated.get(k, frame.raw), rng)
            host.data_to_send()
        else:
            _host_request(host, frame.message)
    if rng.random() < 0.3:
        host.receive_eof()


def _game_reply(game: GameConnection, msg: tuple[str, dict]) -> bytes:
    type_, f = msg
    if type_ == "reset_result":
        return game.send_reset_result(f["observation"], f.get("info"))
    if type_ == "step_result":
        return game.send_step_result(f["observation"], f["reward"], f["terminated"], f["truncated"], f.get("info"))
    if type_ == "render_result":
        return game.send_render_result(f["frame"])
    if type_ == "call_result":
        return game.send_call_result(f["value"])
    return game.send_error(f["message"], f.get("traceback") or "")


def run_game(ex: Exchange, mutated: dict[int, bytes], rng: random.Random) -> None:
    hello = ex.frames[0].message[1]
    game = GameConnection(ex.framing)
    game.send_hello(0, TOKEN, hello["observation_space"], hello["action_space"], "fuzz", {})
    for k, frame in enumerate(ex.frames[1 : _until(ex, mutated)], 1):
        if frame.side == "host":
            _feed(game, mutated.get(k, frame.raw), rng)
        else:
            _game_reply(game, frame.message)
    if rng.random() < 0.3:
        game.receive_eof()


def run_decode(ex: Exchange, mutated: dict[int, bytes], rng: random.Random) -> None:
    k, payload = next(iter(mutated.items()))
    decode_message(payload, GAME_MESSAGES if ex.frames[k].side == "game" else HOST_MESSAGES)


# ---------------------------------------------------------------- the campaign


@dataclass
class Report:
    cases: int = 0
    seconds: float = 0.0
    outcomes: Counter = field(default_factory=Counter)  # (target, outcome) -> count
    bad: list[dict] = field(default_factory=list)  # the first non-VecBridgeError cases, with a traceback

    @property
    def bad_count(self) -> int:
        return sum(n for (_, outcome), n in self.outcomes.items() if outcome.startswith("BAD "))

    def summary(self) -> str:
        lines = [f"{self.cases} cases in {self.seconds:.0f} s ({self.cases / max(self.seconds, 1e-9):.0f}/s); "
                 f"{self.bad_count} raised something other than a VecBridgeError or hung"]  # fmt: skip
        by_outcome: Counter = Counter()
        for (target, outcome), n in self.outcomes.items():
            by_outcome[outcome] += n
        for outcome, n in by_outcome.most_common():
            per = ", ".join(f"{t} {self.outcomes[(t, outcome)]}" for t in TARGETS if self.outcomes[(t, outcome)])
            lines.append(f"  {n:9d}  {outcome}  ({per})")
        return "\n".join(lines)


class Fuzzer:
    def __init__(self, exchanges: list[Exchange], seed: int = 0, hang_s: float = 2.0, keep_bad: int = 20) -> None:
        self.exchanges = exchanges
        self.game_side = [ex for ex in exchanges if ex.framing != "websocket"]
        self.seed, self.hang_s, self.keep_bad = seed, hang_s, keep_bad

    def case(self, index: int) -> tuple[str, Exchange, dict[int, bytes], random.Random]:
        """Case ``index`` of this seed: (target, exchange, {frame index: mutated bytes}, rng for the replay)."""
        rng = random.Random(self.seed * 1_000_003 + index)
        target = TARGETS[index % len(TARGETS)]
        ex = rng.choice(self.game_side if target == "game" else self.exchanges)
        side = "host" if target == "game" else "game"
        choices = [k for k, f in enumerate(ex.frames) if f.side == side or target == "decode"]
        if rng.random() < 0.2:  # most cases break the hello; weigh the rest of the exchange up
            choices = [k for k in choices if k > 0] or choices
        picked = {rng.choice(choices) for _ in range(1 if rng.random() < 0.85 else 3)}
        if target == "decode":
            k = min(picked)
            frame = ex.frames[k]
            payload = mutate_payload(frame.payload, rng) if rng.random() < 0.7 else mutate_bytes(frame.payload, rng)
            return target, ex, {k: payload}, rng
        return target, ex, {k: mutate_frame(ex, ex.frames[k], rng) for k in picked}, rng

    def run(self, cases: int, start: int = 0, report: Report | None = None, progress=None) -> Report:
        report = report or Report()
        runners = {"host": run_host, "game": run_game, "decode": run_decode}
        # A hang is hang_s of CPU time (a loaded machine must not turn slow cases into "hangs"),
        # or 30 times that of wall time (a case that waits on nothing at all).
        previous = signal.signal(signal.SIGVTALRM, _on_alarm), signal.signal(signal.SIGALRM, _on_alarm)
        t0 = time.perf_counter()
        try:
            for index in range(start, start + cases):
                target, ex, mutated, rng = self.case(index)
                outcome = "ok"
                try:
                    _ARMED[0] = True
                    signal.setitimer(signal.ITIMER_VIRTUAL, self.hang_s)
                    signal.setitimer(signal.ITIMER_REAL, 30 * self.hang_s)
                    try:
                        runners[target](ex, mutated, rng)
                    finally:
                        _ARMED[0] = False  # a signal already on its way must not land in the bookkeeping
                        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
                        signal.setitimer(signal.ITIMER_REAL, 0)
                except VecBridgeError as exc:
                    outcome = type(exc).__name__
                except (Exception, Hang) as exc:  # noqa: BLE001 -- what the fuzzer is looking for
                    outcome = f"BAD {type(exc).__name__}"
                    if len(report.bad) < self.keep_bad:
                        report.bad.append({"index": index, "seed": self.seed, "target": target, "exchange": ex.name,
                                           "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                                           "traceback": traceback.format_exc(limit=-6)})  # fmt: skip
                report.outcomes[(target, outcome)] += 1
                report.cases += 1
                if progress is not None and report.cases % 10_000 == 0:
                    progress(report)
        finally:
            signal.signal(signal.SIGVTALRM, previous[0])
            signal.signal(signal.SIGALRM, previous[1])
            report.seconds += time.perf_counter() - t0
        return report


_ARMED = [False]


def _on_alarm(signum: int, frame: Any) -> None:
    if _ARMED[0]:
        raise Hang("the case ran past its time limit")

"""Properties of the sans-I/O layer, checked with Hypothesis over generated spaces, values, bytes and JSON.

- every space vecbridge can describe survives space_to_json -> space_from_json, and every
  value of it survives a trip through both ends of a connection, in every framing;
- framings reassemble any payloads from any split of their bytes;
- arbitrary bytes, arbitrary JSON headers and arbitrary space descriptions raise nothing
  but VecBridgeError subclasses (ProtocolError, SpaceError, StateError);
- the JSON nesting limit is exact.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vecbridge.errors import MalformedMessage, SpaceError, VecBridgeError
from vecbridge.protocol import GameConnection, HostConnection, decode_message, space_from_json, space_to_json
from vecbridge.protocol.connection import Hello, ResetRequest, ResetResult
from vecbridge.protocol.framing import make_framing, mask_frame
from vecbridge.protocol.limits import MAX_JSON_DEPTH
from vecbridge.protocol.messages import GAME_MESSAGES, HOST_MESSAGES
from vecbridge.protocol.safe_json import loads_header
from vecbridge.protocol.values import decode_value, encode_value

TOKEN = "5ec7e7"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DTYPES = ("bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float16", "float32", "float64")
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)


@st.composite
def boxes(draw) -> spaces.Box:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(shapes)
    if dtype.kind == "b":
        return spaces.Box(0, 1, shape, dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo = draw(st.integers(int(info.min), int(info.max)))
        hi = draw(st.integers(lo, int(info.max)))
        return spaces.Box(lo, hi, shape, dtype)
    lo = draw(st.floats(-1e4, 1e4, width=16) | st.just(-np.inf))
    hi = draw(st.floats(max(lo, -1e4), 1e4, width=16) | st.just(np.inf))
    return spaces.Box(lo, hi, shape, dtype)


leaf_spaces = st.one_of(
    boxes(),
    st.builds(spaces.Discrete, st.integers(1, 2**40), start=st.integers(-(2**40), 2**40)),
    st.lists(st.integers(1, 50), min_size=1, max_size=4).map(spaces.MultiDiscrete),
    st.integers(1, 6).map(spaces.MultiBinary),
)
any_spaces = st.recursive(
    leaf_spaces,
    lambda sub: st.one_of(
        st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), sub, min_size=1, max_size=3).map(spaces.Dict),
        st.lists(sub, min_size=1, max_size=3).map(spaces.Tuple),
    ),
    max_leaves=6,
)


def equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    return a == b and type(a) is type(b)


@SETTINGS
@given(space=any_spaces)
def test_every_space_survives_its_json_description(space):
    again = space_from_json(json.loads(json.dumps(space_to_json(space))))
    assert space_to_json(again) == space_to_json(space)


def sample(space: spaces.Space):
    """A value of ``space``. Gymnasium 1.2.2 (the version RLlib pins) cannot sample an integer Box
    whose range passes 2**63 (``high - low < 0`` in numpy): such a leaf takes its lower bound,
    a value of the space all the same, so the extreme bounds stay in the round trip."""
    if isinstance(space, spaces.Dict):
        return {k: sample(s) for k, s in space.spaces.items()}
    if isinstance(space, spaces.Tuple):
        return tuple(sample(s) for s in space.spaces)
    try:
        return space.sample()
    except (ValueError, OverflowError):
        if not isinstance(space, spaces.Box):
            raise
        return np.asarray(space.low, dtype=space.dtype).copy()


@SETTINGS
@given(obs_space=any_spaces, act_space=any_spaces, framing=st.sampled_from(["binary", "comm"]), seed=st.integers(0, 2**31))
def test_every_value_survives_a_trip_through_both_ends(obs_space, act_space, framing, seed):
    obs_space.seed(seed)
    act_space.seed(seed)
    host, game = HostConnection(TOKEN, {0}), GameConnection(framing)
    host.receive_data(game.send_hello(0, TOKEN, obs_space, act_space))
    assert isinstance(host.next_event(), Hello)
    game.receive_data(host.send_welcome())
    game.next_event()
    action = encode_value(act_space, sample(act_space))
    game.receive_data(host.send_step(action))
    assert equal(game.next_event().action, decode_value(act_space, action))
    obs = encode_value(obs_space, sample(obs_space))
    host.receive_data(game.send_step_result(obs, 0.25, False, True, {"o": obs}))
    result = host.next_event()
    assert equal(result.observation, decode_value(obs_space, obs)) and result.reward == 0.25 and result.truncated


@SETTINGS
@given(
    framing=st.sampled_from(["binary", "comm", "websocket"]),
    payloads=st.lists(st.binary(max_size=300), min_size=1, max_size=5),
    cuts=st.lists(st.integers(0, 2000), max_size=6),
    mask=st.binary(min_size=4, max_size=4),
)
def test_framings_reassemble_payloads_from_any_split(framing, payloads, cuts, mask):
    f = make_framing(framing)
    writer = make_framing(framing)
    if framing == "websocket":
        wire = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: a2V5\r\nSec-WebSocket-Version: 13\r\n\r\n"
        wire += b"".join(mask_frame(2, p, mask) for p in payloads)
    else:
        wire = b"".join(writer.encode(p) for p in payloads)
    got, pos = [], 0
    for cut in sorted({min(c, len(wire)) for c in cuts} | {len(wire)}):
        f.receive_data(wire[pos:cut])
        pos = cut
        while (p := f.next_payload()) is not None:
            got.append(p)
    assert got == payloads
    f.receive_eof()


def only_vecbridge_errors(action) -> None:
    try:
        action()
    except VecBridgeError:
        pass


@SETTINGS
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=4))
def test_any_bytes_to_the_host_raise_only_vecbridge_errors(data, cuts):
    host = HostConnection(TOKEN, {0})

    def feed():
        pos = 0
        for cut in sorted({min(c, len(data)) for c in cuts} | {len(data)}):
            host.receive_data(data[pos:cut])
            pos = cut
            while host.next_event() is not None:
                pass
        host.receive_eof()

    only_vecbridge_errors(feed)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda sub: st.lists(sub, max_size=4) | st.dictionaries(st.text(max_size=6), sub, max_size=4),
    max_leaves=12,
)
header_fields = st.dictionaries(
    st.sampled_from(["type", "arrays", "observation", "reward", "terminated", "truncated", "info", "instance",
                     "token", "version", "observation_space", "action_space", "seed", "options", "name", "args",
                     "kwargs", "config", "action", "value", "message", "frame"]),  # fmt: skip
    json_values | st.sampled_from(["step_result", "reset", "call", "hello", {"$array": 0}, [{"dtype": "uint8", "shape": [2]}]]),
    max_size=8,
)


@SETTINGS
@given(header=header_fields, data=st.binary(max_size=16), side=st.sampled_from(["game", "host"]))
def test_any_json_header_raises_only_vecbridge_errors(header, data, side):
    head = json.dumps(header).encode()
    only_vecbridge_errors(lambda: decode_message(struct.pack("<I", len(head)) + head + data,
                                                 GAME_MESSAGES if side == "game" else HOST_MESSAGES))  # fmt: skip


@SETTINGS
@given(header=header_fields, data=st.binary(max_size=16))
def test_any_request_to_the_game_raises_only_vecbridge_errors(header, data):
    game = GameConnection("binary")
    game.send_hello(0, TOKEN, "float [2]", {"type": "Dict", "spaces": {"a": "int 0 3", "b": {"type": "Box", "shape": [2]}}})
    head = json.dumps(header).encode()
    payload = struct.pack("<I", len(head)) + head + data
    welcome = json.dumps({"type": "welcome", "version": 1, "instance": 0, "config": {}}).encode()

    def run():
        game.receive_data(struct.pack("<I", len(welcome) + 4) + struct.pack("<I", len(welcome)) + welcome)
        game.next_event()
        game.receive_data(struct.pack("<I", len(payload)) + payload)
        game.next_event()

    only_vecbridge_errors(run)


space_descriptions = st.recursive(
    json_values
    | st.sampled_from(["bool", "int 0 3", "float -1 1 [4]", "int", "float[2]"])
    | st.fixed_dictionaries({"type": st.sampled_from(["Box", "Discrete", "MultiDiscrete", "MultiBinary"])},
                            optional={"n": json_values, "shape": json_values, "dtype": st.sampled_from(DTYPES) | json_values,
                                      "low": json_values, "high": json_values, "nvec": json_values,
                                      "start": json_values}),  # fmt: skip
    lambda sub: st.fixed_dictionaries({"type": st.just("Dict"), "spaces": st.dictionaries(st.text(max_size=3), sub, max_size=3)})
    | st.fixed_dictionaries({"type": st.just("Tuple"), "spaces": st.lists(sub, max_size=3)}),
    max_leaves=6,
)


@SETTINGS
@given(desc=space_descriptions)
def test_any_space_description_is_a_space_or_a_space_error(desc):
    try:
        space = space_from_json(desc)
    except SpaceError:
        return
    assert isinstance(space, spaces.Space)
    space_from_json(space_to_json(space))


@SETTINGS
@given(value=json_values)
def test_shallow_json_reads_back_unchanged(value):
    text = json.dumps(value)
    assert json.dumps(loads_header(text.encode())) == text


@pytest.mark.parametrize("kind", ["[", "{"])
@settings(max_examples=40, deadline=None)
@given(depth=st.integers(1, 3 * MAX_JSON_DEPTH))
def test_the_nesting_limit_holds_at_every_depth(kind, depth):
    text = ("[" * depth + "]" * depth) if kind == "[" else ('{"a":' * depth + "1" + "}" * depth)
    if depth <= MAX_JSON_DEPTH:
        loads_header(text.encode())
    else:
        with pytest.raises(MalformedMessage, match="deeper than"):
            loads_header(text.encode())


def test_a_reset_request_with_a_huge_seed_reaches_the_game_as_sent():
    # seeds are the user's: the host sends them as given; the game side reads any JSON integer
    game = GameConnection("binary")
    game.send_hello(0, TOKEN, "float", "bool")
    host = HostConnection(TOKEN, {0})
    host.receive_data(game.send_hello(0, TOKEN, "float", "bool"))
    host.next_event()
    game.receive_data(host.send_welcome())
    game.next_event()
    game.receive_data(host.send_reset(seed=2**53 - 1))
    assert game.next_event() == ResetRequest(2**53 - 1, None)
    host.receive_data(game.send_reset_result(np.zeros((), np.float32)))
    assert isinstance(host.next_event(), ResetResult)

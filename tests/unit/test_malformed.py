"""Every malformed input is a documented error (ProtocolError or SpaceError), never a bare
RecursionError, ValueError, TypeError, OverflowError, MemoryError, KeyError or struct.error.

The inputs are the ones found by trying vecbridge as an outsider would (hardening issue),
fed byte for byte to both ends of a connection, to message decoding and to spaces.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from vecbridge.errors import (
    ArrayMismatch,
    BadToken,
    FrameTooLarge,
    MalformedMessage,
    ProtocolError,
    SpaceError,
    UnexpectedMessage,
    VersionMismatch,
)
from vecbridge.protocol import GameConnection, HostConnection, decode_message, space_from_json
from vecbridge.protocol.connection import CallRequest, ResetRequest, StepResult
from vecbridge.protocol.limits import HELLO_MAX_FRAME, MAX_ARRAY_DIMS, MAX_JSON_DEPTH
from vecbridge.protocol.messages import GAME_MESSAGES, HOST_MESSAGES
from vecbridge.protocol.safe_json import loads_header

TOKEN = "0123abcd"
OBS = {"type": "Box", "low": -1, "high": 1, "shape": [4], "dtype": "float32"}


def payload(header: str | dict, data: bytes = b"") -> bytes:
    head = (header if isinstance(header, str) else json.dumps(header)).encode()
    return struct.pack("<I", len(head)) + head + data


def frame(header: str | dict, data: bytes = b"") -> bytes:
    p = payload(header, data)
    return struct.pack("<I", len(p)) + p


def hello(**over) -> dict:
    h = {"type": "hello", "version": 1, "instance": 0, "token": TOKEN, "observation_space": OBS,
         "action_space": "int 0 1"}  # fmt: skip
    h.update(over)
    return h


def host_event(data: bytes, instances=(0, 1)):
    host = HostConnection(TOKEN, set(instances))
    host.receive_data(data)
    return host, host.next_event()


def host_waiting_for(request: str) -> HostConnection:
    host, _ = host_event(frame(hello()))
    host.send_welcome()
    {"step": lambda: host.send_step(0), "reset": host.send_reset, "call": lambda: host.send_call("f")}[request]()
    return host


def step_result(reward: str = "0", info: str = "{}") -> bytes:
    head = (
        '{"type":"step_result","observation":{"$array":0},"reward":%s,"terminated":false,'
        '"truncated":false,"info":%s,"arrays":[{"dtype":"float32","shape":[4]}]}' % (reward, info)
    )
    return frame(head, bytes(16))


# ---------------------------------------------------------------- what a stranger sends


def test_a_hello_nested_100000_deep_is_refused_before_anything_else():
    host = HostConnection(TOKEN, {0})
    with pytest.raises(MalformedMessage, match=f"deeper than {MAX_JSON_DEPTH} levels"):
        host.receive_data(frame('{"type":"hello","x":' + "[" * 100_000 + "]" * 100_000 + "}"))
        host.next_event()
    assert not host.authenticated


def test_a_stranger_s_arrays_and_spaces_are_never_decoded():
    # 70 dimensions, a shape of 10**20 and a Discrete n=1e400: with a wrong token, the
    # token is all that is checked
    for bad in ({"arrays": [{"dtype": "uint8", "shape": [1] * 70}]}, {"observation_space": "bool [1000000000000]"}):
        host = HostConnection(TOKEN, {0})
        host.receive_data(frame(hello(token="guess", **bad)))
        with pytest.raises(BadToken, match="does not match"):
            host.next_event()
        assert not host.authenticated


@pytest.mark.parametrize("token", ["0123abce", "", "0123abcd0", "\ud800", "é" * 8])
def test_a_wrong_token_of_any_form_is_bad_token(token):
    with pytest.raises(BadToken):
        host_event(frame(hello(token=token)))


@pytest.mark.parametrize("token", [None, 123, ["0123abcd"], {"t": 1}, True])
def test_a_token_that_is_not_a_string_is_bad_token(token):
    with pytest.raises(BadToken, match="as a string 'token'"):
        host_event(frame(hello(token=token)))


def test_a_first_frame_above_the_hello_limit_is_refused_at_its_length_prefix():
    host = HostConnection(TOKEN, {0})
    host.receive_data(struct.pack("<I", 16 * 1024 * 1024 - 1) + b"x" * 100)  # 16 MiB that never completes
    with pytest.raises(FrameTooLarge, match=str(HELLO_MAX_FRAME)):
        host.next_event()


def test_after_the_hello_the_configured_frame_limit_applies():
    host, ev = host_event(frame(hello()))
    assert host.framing.max_size == host.max_frame_size > HELLO_MAX_FRAME


# ---------------------------------------------------------------- a game of ours with a broken hello


@pytest.mark.parametrize(
    "over, error, words",
    [
        ({"arrays": [{"dtype": "uint8", "shape": [1] * 70}]}, ArrayMismatch, f"at most {MAX_ARRAY_DIMS}"),
        ({"arrays": [{"dtype": "uint8", "shape": [0, 2**63]}]}, ArrayMismatch, "too large"),
        ({"observation_space": {"type": "Box", "shape": [10**12]}}, SpaceError, "dimension above"),
        ({"observation_space": "bool [1000000000000]"}, SpaceError, "at most"),
        ({"observation_space": {"type": "Discrete", "n": 0}}, SpaceError, "'n' must be an integer in"),
        ({"action_space": {"type": "Discrete", "n": "3"}}, SpaceError, "'n' must be an integer, got '3'"),
        ({"instance": "0"}, MalformedMessage, "must be a JSON integer"),
        ({"version": "1"}, VersionMismatch, "string '1'"),
        ({"name": ["x"]}, MalformedMessage, "'name' must be a string"),
        ({"metadata": 3}, MalformedMessage, "'metadata' must be an object"),
    ],
)
def test_an_authenticated_hello_with_bad_fields_names_the_field(over, error, words):
    host = HostConnection(TOKEN, {0, 1})
    host.receive_data(frame(hello(**over)))
    with pytest.raises(error, match=words) as err:
        host.next_event()
    assert host.authenticated and err.value.instance == (0 if over.get("instance") != "0" else None)


@pytest.mark.parametrize("number", ["1e400", "-1e400", "9" * 401, "NaN", "2.5"])
def test_a_hello_with_an_out_of_range_number_is_a_space_error_of_that_instance(number):
    head = json.dumps(hello(observation_space={"type": "Discrete", "n": 7})).replace("7", number)
    host = HostConnection(TOKEN, {0, 1})
    host.receive_data(frame(head))
    with pytest.raises(SpaceError, match="'n' must be an integer") as err:
        host.next_event()
    assert host.authenticated and err.value.instance == 0


def test_a_number_of_more_than_4300_digits_is_not_json_to_python():
    with pytest.raises(MalformedMessage, match="not valid JSON"):
        loads_header(b'{"x":' + b"9" * 5000 + b"}")


# ---------------------------------------------------------------- a game that breaks the protocol later


@pytest.mark.parametrize(
    "reward, words",
    [("9" * 401, "integer 9999"), ("1e400", "finite number.*got number inf"), ("NaN", "finite number.*got number nan"),
     ("-Infinity", "finite number.*got number -inf"), ('"1"', "finite number"), ("true", "finite number"),
     ("null", "finite number")],
)  # fmt: skip
def test_a_reward_out_of_range_or_of_the_wrong_type(reward, words):
    host = host_waiting_for("step")
    host.receive_data(step_result(reward=reward))
    with pytest.raises(MalformedMessage, match=words):
        host.next_event()


@pytest.mark.parametrize("depth", [65, 500, 5000])
def test_an_info_nested_too_deep(depth):
    host = host_waiting_for("step")
    host.receive_data(step_result(info='{"a":' + "[" * depth + "]" * depth + "}"))
    with pytest.raises(MalformedMessage, match="deeper than 64"):
        host.next_event()


def test_an_info_nested_within_the_limit_passes():
    host = host_waiting_for("step")
    depth = MAX_JSON_DEPTH - 5  # the header object, info, "a" and the arrays list take the rest
    host.receive_data(step_result(info='{"a":' + "[" * depth + "]" * depth + "}"))
    assert isinstance(host.next_event(), StepResult)


@pytest.mark.parametrize("info", ["[]", "3", '"x"'])
def test_an_info_that_is_not_an_object(info):
    host = host_waiting_for("step")
    host.receive_data(step_result(info=info))
    with pytest.raises(MalformedMessage, match="'info' must be a JSON object"):
        host.next_event()


@pytest.mark.parametrize("fields", [{"message": 3}, {"message": "x", "traceback": ["t"]}])
def test_an_error_reply_with_fields_of_the_wrong_type(fields):
    host = host_waiting_for("reset")
    host.receive_data(frame({"type": "error", **fields}))
    with pytest.raises(MalformedMessage, match="string 'message'"):
        host.next_event()


# ---------------------------------------------------------------- message decoding


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "only 0 byte"),
        (b"\x01\x02", "only 2 byte"),
        (b'{"type":"reset"}', "the 4-byte header length is missing"),
        (struct.pack("<I", 3) + b"[1]", "must be a JSON object, got a JSON list"),
        (struct.pack("<I", 2) + b"\xff\xfe", "not UTF-8"),
        (payload({"type": 5}), "string 'type'"),
        (payload('{"type":"reset","arrays":5}'), "'arrays' must be a list"),
        (payload('{"type":"reset","arrays":[5]}'), "expected a descriptor"),
        (payload('{"type":"reset","arrays":[{"dtype":["u8"],"shape":[1]}]}'), "unsupported dtype"),
        (payload('{"type":"reset","arrays":[{"dtype":"uint8","shape":"1"}]}'), "list of integers"),
        (payload('{"type":"reset","arrays":[{"dtype":"uint8","shape":[-1]}]}'), "negative"),
        (payload('{"type":"reset","arrays":[{"dtype":"uint8","shape":[4]}]}', b"ab"), "needs 4 bytes"),
        (payload('{"type":"reset","seed":{"$array":true},"arrays":[]}'), "integer index"),
        (payload('{"type":"reset"}', b"tail"), "declares no arrays"),
    ],
)
def test_decode_message_names_the_layout_and_the_fault(data, words):
    with pytest.raises(ProtocolError, match=words):
        decode_message(data, HOST_MESSAGES)


def test_the_header_length_error_states_the_payload_layout():
    with pytest.raises(MalformedMessage) as err:
        decode_message(b"\x7b\x22\x74\x79" + b"x" * 283, GAME_MESSAGES)
    assert "u32 little-endian header length H, H bytes of UTF-8 JSON header" in str(err.value)
    assert "only 283 byte(s) follow" in str(err.value)


@pytest.mark.parametrize("depth", [64, 65, 100_000])
def test_the_nesting_limit_is_exact(depth):
    text = ('{"x":' + "[" * (depth - 1) + "]" * (depth - 1) + "}").encode()
    if depth <= MAX_JSON_DEPTH:
        assert "x" in loads_header(text)
    else:
        with pytest.raises(MalformedMessage, match="deeper than"):
            loads_header(text)


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = '{"x":"' + "[" * 1000 + '","y":[[1]]}'
    assert loads_header(text.encode())["y"] == [[1]]


# ---------------------------------------------------------------- the game side


def game_after_welcome(act="int 0 3") -> GameConnection:
    game = GameConnection("binary")
    game.send_hello(0, TOKEN, OBS, act)
    game.receive_data(frame({"type": "welcome", "version": 1, "instance": 0, "config": {}}))
    game.next_event()
    return game


@pytest.mark.parametrize(
    "welcome, error, words",
    [
        ({"instance": "0"}, MalformedMessage, "'instance' must be an integer"),
        ({"config": [1]}, MalformedMessage, "'config' must be an object"),
        ({"version": 2}, VersionMismatch, "version integer 2"),
        ({"version": "1"}, VersionMismatch, "string '1'"),
    ],
)
def test_the_game_side_checks_the_welcome(welcome, error, words):
    game = GameConnection("binary")
    game.send_hello(0, TOKEN, OBS, "int 0 3")
    game.receive_data(frame({"type": "welcome", "version": 1, "instance": 0, "config": {}, **welcome}))
    with pytest.raises(error, match=words):
        game.next_event()


@pytest.mark.parametrize(
    "request_, words",
    [
        ({"type": "reset", "seed": "1"}, "'seed' must be an integer"),
        ({"type": "reset", "seed": 1.5}, "'seed' must be an integer"),
        ({"type": "reset", "options": []}, "'options' must be an object"),
        ({"type": "call", "name": 1}, "'name' must be a string"),
        ({"type": "call", "name": "f", "args": {}}, "'args' must be a list"),
        ({"type": "call", "name": "f", "kwargs": [1]}, "'kwargs' must be an object"),
        ({"type": "step", "action": 9}, r"expected an integer in \[0, 3\]"),
        ({"type": "step", "action": "1"}, "expected an integer"),
        ({"type": "welcome", "version": 1, "instance": 0}, "second 'welcome'"),
    ],
)
def test_the_game_side_checks_every_request_field(request_, words):
    game = game_after_welcome()
    game.receive_data(frame(request_))
    with pytest.raises(ProtocolError, match=words):
        game.next_event()


def test_the_game_side_accepts_null_optional_fields():
    game = game_after_welcome()
    game.receive_data(frame({"type": "reset", "seed": None, "options": None}))
    assert game.next_event() == ResetRequest(None, None)
    game.send_reset_result(np.zeros(4, np.float32))
    game.receive_data(frame({"type": "call", "name": "f", "args": None, "kwargs": None}))
    assert game.next_event() == CallRequest("f", [], {})


# ---------------------------------------------------------------- spaces


@pytest.mark.parametrize(
    "desc, words",
    [
        ({"type": "Discrete", "n": 1e400}, "'n' must be an integer"),
        ({"type": "Discrete", "n": 2**64}, "must be an integer in"),
        ({"type": "Discrete", "n": 3, "start": 2**63 - 2}, "passes the int64 range"),
        ({"type": "Discrete", "n": True}, "'n' must be an integer"),
        ({"type": "Discrete"}, "needs 'n'"),
        ({"type": "Box", "shape": [2] * 70}, "at most 32"),
        ({"type": "Box", "shape": [0, 10**20]}, "dimension above"),
        ({"type": "Box", "shape": [4096, 4096, 8]}, "larger than"),
        ({"type": "Box", "shape": [2], "low": [0, 0, 0]}, r"shape \[2\]"),
        ({"type": "Box", "shape": [2], "low": [[0], [0]]}, "deeper than the shape"),
        ({"type": "Box", "shape": [2], "low": "zero"}, "must be a number"),
        ({"type": "Box", "dtype": "complex64"}, "'dtype' must be one of"),
        ({"type": "MultiDiscrete", "nvec": [[2, 3], [4]]}, "shape"),
        ({"type": "MultiDiscrete", "nvec": [0]}, "must be an integer in"),
        ({"type": "MultiDiscrete", "nvec": [3], "start": [2**63 - 1]}, "passes the int64 range"),
        ({"type": "MultiDiscrete", "nvec": 3, "start": 2**63 - 1}, "passes the int64 range"),  # 0-d: hypothesis found it
        ({"type": "MultiBinary", "n": -1}, "non-negative"),
        ({"type": "Dict", "spaces": [1]}, "must be an object"),
        ({"type": "Dict", "spaces": {str(i): "bool" for i in range(5000)}}, "sub-spaces"),
        ({"type": "Tuple", "spaces": {"a": "bool"}}, "must be a list"),
        ({"type": "Tuple", "spaces": ["bool", 3]}, "must be an object with a string 'type'"),
        ({"type": ["Box"]}, "must be an object with a string 'type'"),
        ({"type": "Sequence"}, "unknown space type"),
        ("int 0 99999999999999999999999", "int64 range"),
        ("int 0 1 [99999999999999999999]", "at most"),
        ("float 0 1 [" + "9" * 5000 + "]", "characters long"),
        ("int " + " " * 200 + "x", "invalid type string"),
        (["int 0 1 [600000]", "int 0 1 [600000]"], "items"),
        (["int 0 1 [3000]", "float", "int 0 1 [3000]"], "sub-spaces"),
        ([], "must be an object"),
        (None, "must be an object"),
    ],
)
def test_invalid_space_descriptions_are_space_errors(desc, words):
    with pytest.raises(SpaceError, match=words):
        space_from_json(desc)


def test_a_space_nested_deeper_than_the_limit():
    desc = "bool"
    for _ in range(MAX_JSON_DEPTH + 2):
        desc = {"type": "Tuple", "spaces": [desc]}
    with pytest.raises(SpaceError, match="deeper than"):
        space_from_json(desc)


def test_integral_floats_still_declare_integers():  # Lua 5.1 numbers are doubles
    assert space_from_json({"type": "Discrete", "n": 4.0, "start": -1.0}).n == 4


def test_unexpected_messages_after_close_are_still_protocol_errors():
    host = host_waiting_for("step")
    host.send_close()
    host.receive_data(step_result())
    with pytest.raises(UnexpectedMessage):
        host.next_event()

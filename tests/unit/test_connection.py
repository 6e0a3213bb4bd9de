"""HostConnection and GameConnection talking to each other through bytes only (sans-I/O)."""

from __future__ import annotations

import base64
import json
import pickle
import struct

import numpy as np
import pytest
from gymnasium import spaces

from vecbridge.errors import (
    ArrayMismatch,
    BadToken,
    MalformedFrame,
    MalformedMessage,
    SpaceError,
    StateError,
    TruncatedFrame,
    UnexpectedMessage,
    UnknownMessageType,
    VersionMismatch,
)
from vecbridge.protocol import (
    GameConnection,
    HostConnection,
    decode_message,
    decode_value,
    encode_message,
    encode_value,
)
from vecbridge.protocol.connection import (
    CallRequest,
    CallResult,
    CloseRequest,
    GameErrorReply,
    Hello,
    RenderRequest,
    RenderResult,
    ResetRequest,
    ResetResult,
    State,
    StepRequest,
    StepResult,
    Welcome,
)
from vecbridge.protocol.framing import mask_frame
from vecbridge.protocol.messages import HOST_MESSAGES

TOKEN = "0123abcd"
OBS_JSON = {"type": "Box", "low": -1, "high": 1, "shape": [4], "dtype": "float32"}
ACT = "int 0 3"
RFC_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
HANDSHAKE = (
    b"GET /game HTTP/1.1\r\n"
    b"Host: 127.0.0.1:40000\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + RFC_KEY + b"\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
HANDSHAKE_ANSWER = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)
MASK = b"\x11\x22\x33\x44"


def deliver(conn, data: bytes, bytewise: bool = False):
    """Hand ``data`` to ``conn`` (optionally one byte at a time); return the one event it yields."""
    events = []
    chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for chunk in chunks:
        conn.receive_data(chunk)
        while (ev := conn.next_event()) is not None:
            events.append(ev)
    assert len(events) == 1, events
    return events[0]


def binary_frame(type_: str, fields: dict | None = None) -> bytes:
    p = encode_message(type_, fields)
    return struct.pack("<I", len(p)) + p


def hello_fields(**over):
    f = {
        "version": 1,
        "instance": 0,
        "token": TOKEN,
        "observation_space": OBS_JSON,
        "action_space": ACT,
    }
    f.update(over)
    return f


def host_after_hello(obs=OBS_JSON, act=ACT, **kw) -> HostConnection:
    host = HostConnection(TOKEN, **kw)
    ev = deliver(host, binary_frame("hello", hello_fields(observation_space=obs, action_space=act)))
    assert isinstance(ev, Hello)
    return host


def connected(framing: str = "binary", obs=OBS_JSON, act=ACT):
    host = HostConnection(TOKEN)
    game = GameConnection(framing)
    deliver(host, game.send_hello(0, TOKEN, obs, act))
    deliver(game, host.send_welcome({}))
    return host, game


def host_pending(request: str, obs=OBS_JSON, act=ACT) -> HostConnection:
    host = host_after_hello(obs, act)
    host.send_welcome()
    if request == "reset":
        host.send_reset()
    elif request == "step":
        host.send_step(0)
    elif request == "render":
        host.send_render()
    else:
        host.send_call("f")
    return host


def parse_server_frame(data: bytes) -> tuple[int, bytes, bytes]:
    """(opcode, payload, rest) of one unmasked server frame; checks FIN and no mask."""
    b0, b1 = data[0], data[1]
    assert b0 & 0x80 and not b0 & 0x70
    assert not b1 & 0x80, "server frames must not be masked"
    n, pos = b1 & 0x7F, 2
    if n == 126:
        (n,) = struct.unpack_from(">H", data, 2)
        pos = 4
    elif n == 127:
        (n,) = struct.unpack_from(">Q", data, 2)
        pos = 10
    return b0 & 0x0F, data[pos : pos + n], data[pos + n :]


# ---------------------------------------------------------------- full conversations


@pytest.mark.parametrize("framing", ["binary", "comm"])
@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_full_conversation(framing, bytewise):
    host = HostConnection(TOKEN, instances={0, 1})
    game = GameConnection(framing)
    assert host.state is State.AWAIT_HELLO and host.framing_name is None

    # hello
    data = game.send_hello(
        1, TOKEN, OBS_JSON, ACT, name="demo", metadata={"render_modes": ["rgb_array"], "render_fps": 30}
    )
    assert game.state is State.AWAIT_WELCOME
    hello = deliver(host, data, bytewise)
    assert isinstance(hello, Hello)
    assert host.framing_name == framing  # detected from the first bytes
    assert hello.instance == 1 and host.instance == 1 and hello.name == "demo"
    assert hello.observation_space == spaces.Box(-1, 1, (4,), np.float32)
    assert hello.action_space == spaces.Discrete(4)
    assert hello.metadata == {"render_modes": ["rgb_array"], "render_fps": 30}
    assert hello.raw["token"] == TOKEN
    assert host.state is State.GREETING  # the welcome must go out before any request

    # welcome with config
    welcome = deliver(game, host.send_welcome({"level": 2, "difficulty": "hard"}), bytewise)
    assert host.state is State.IDLE
    assert welcome == Welcome(1, {"level": 2, "difficulty": "hard"})
    assert game.state is State.AWAIT_REQUEST

    obs = np.array([0.5, -0.5, 1.0, -1.0], dtype=np.float32)

    # reset
    req = deliver(game, host.send_reset(seed=7, options={"mode": 1}), bytewise)
    assert req == ResetRequest(7, {"mode": 1})
    assert host.state is State.AWAIT_REPLY and host.pending == "reset"
    res = deliver(host, game.send_reset_result(obs, {"lives": 3}), bytewise)
    assert isinstance(res, ResetResult)
    np.testing.assert_array_equal(res.observation, obs)
    assert res.observation.dtype == np.float32 and res.info == {"lives": 3}
    assert host.state is State.IDLE and host.pending is None

    # reset with no seed / options
    assert deliver(game, host.send_reset(), bytewise) == ResetRequest(None, None)
    assert deliver(host, game.send_reset_result(obs), bytewise).info == {}

    # step
    req = deliver(game, host.send_step(2), bytewise)
    assert isinstance(req, StepRequest) and req.action == 2 and type(req.action) is int
    res = deliver(host, game.send_step_result(obs * 0, 1.5, False, True, {"x": np.arange(3, dtype=np.int16)}), bytewise)
    assert isinstance(res, StepResult)
    np.testing.assert_array_equal(res.observation, np.zeros(4, np.float32))
    assert res.reward == 1.5 and res.terminated is False and res.truncated is True
    np.testing.assert_array_equal(res.info["x"], [0, 1, 2])
    assert res.info["x"].dtype == np.int16

    # render
    frame = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert isinstance(deliver(game, host.send_render(), bytewise), RenderRequest)
    res = deliver(host, game.send_render_result(frame), bytewise)
    assert isinstance(res, RenderResult)
    np.testing.assert_array_equal(res.frame, frame)
    assert isinstance(deliver(game, host.send_render(), bytewise), RenderRequest)
    assert deliver(host, game.send_render_result(None), bytewise) == RenderResult(None)

    # call
    req = deliver(game, host.send_call("get_state", (1, "a"), {"full": True}), bytewise)
    assert req == CallRequest("get_state", [1, "a"], {"full": True})
    res = deliver(host, game.send_call_result({"ram": np.array([1, 2], np.uint8), "n": 1}), bytewise)
    assert isinstance(res, CallResult) and res.value["n"] == 1
    np.testing.assert_array_equal(res.value["ram"], [1, 2])

    # error reply
    req = deliver(game, host.send_call("nope"), bytewise)
    assert req == CallRequest("nope", [], {})
    res = deliver(host, game.send_error("no method 'nope'", "Traceback (most recent call last): ..."), bytewise)
    assert res == GameErrorReply("call", "no method 'nope'", "Traceback (most recent call last): ...")
    assert host.state is State.IDLE

    # an error reply to reset, without a traceback
    deliver(game, host.send_reset(), bytewise)
    assert deliver(host, game.send_error("boom"), bytewise) == GameErrorReply("reset", "boom", "")

    # close
    assert deliver(game, host.send_close(), bytewise) == CloseRequest()
    assert host.state is State.CLOSED and game.state is State.CLOSED
    assert host.send_close() == b""  # only once
    host.receive_eof()
    game.receive_eof()


def test_binary_hello_bytes_on_the_wire():
    game = GameConnection("binary")
    data = game.send_hello(0, TOKEN, "float [4]", "int 0 1")
    (frame_len,) = struct.unpack_from("<I", data)
    assert frame_len == len(data) - 4
    (head_len,) = struct.unpack_from("<I", data, 4)
    assert 8 + head_len == len(data)  # no arrays
    header = json.loads(data[8:])
    assert header == {
        "type": "hello",
        "version": 1,
        "instance": 0,
        "token": TOKEN,
        "name": "",
        "observation_space": "float [4]",
        "action_space": "int 0 1",
        "metadata": {},
    }


def test_comm_bytes_on_the_wire():
    binary, comm = GameConnection("binary"), GameConnection("comm")
    b = binary.send_hello(0, TOKEN, OBS_JSON, ACT)
    c = comm.send_hello(0, TOKEN, OBS_JSON, ACT)
    text = base64.b64encode(b[4:])
    assert c == str(len(text)).encode() + b" " + text


def test_game_spaces_given_as_gymnasium_objects():
    obs = spaces.Dict({"img": spaces.Box(0, 255, (2, 2, 3), np.uint8), "hp": spaces.Discrete(10)})
    act = spaces.MultiDiscrete([3, 2])
    host, game = connected("binary", obs, act)
    assert host.hello.observation_space == obs and host.hello.action_space == act
    req = deliver(game, host.send_step([2, 1]))
    assert isinstance(req.action, np.ndarray) and req.action.dtype == np.int64
    np.testing.assert_array_equal(req.action, [2, 1])
    value = {"img": np.zeros((2, 2, 3), np.uint8), "hp": 9}
    res = deliver(host, game.send_step_result(value, 0, True, False))
    assert res.observation["hp"] == 9 and res.observation["img"].shape == (2, 2, 3)
    assert res.terminated is True and res.reward == 0.0


@pytest.mark.parametrize(
    ("act", "action", "check"),
    [
        ("bool", 1, lambda a: a == 1),
        ("int -1 1", -1, lambda a: a == -1),
        (["int 0 3", "bool"], [3, 0], lambda a: a.dtype == np.int64 and a.tolist() == [3, 0]),
        ("float -1 1 [2]", [0.5, -0.25], lambda a: a.dtype == np.float32 and a.tolist() == [0.5, -0.25]),
        ("float", 0.5, lambda a: a.dtype == np.float32 and a.shape == () and float(a) == 0.5),
        ({"type": "MultiBinary", "n": 3}, [1, 0, 1], lambda a: a.dtype == np.int8 and a.tolist() == [1, 0, 1]),
        (["bool", "float 0 1"], (1, 0.5), lambda a: a[0] == 1 and float(a[1]) == 0.5),
    ],
    ids=["bool", "int-range", "multidiscrete", "box", "scalar-box", "multibinary", "tuple"],
)
def test_actions_travel_typed(act, action, check):
    host, game = connected("binary", act=act)
    req = deliver(game, host.send_step(action))
    assert check(req.action)


def test_actions_are_raw_bytes_not_json_numbers():
    host, _ = connected("binary", act="float -1 1 [2]")
    data = host.send_step([0.5, -0.25])
    assert data.endswith(struct.pack("<2f", 0.5, -0.25))
    msg = decode_message(data[4:], HOST_MESSAGES)
    assert isinstance(msg["action"], np.ndarray)


# ---------------------------------------------------------------- websocket (host side, client by hand)


def test_websocket_conversation_host_side():
    host = HostConnection(TOKEN)
    hello = encode_message("hello", hello_fields(metadata={"render_fps": 60}))
    data = HANDSHAKE + mask_frame(0x2, hello, MASK)
    ev = deliver(host, data, bytewise=True)
    assert isinstance(ev, Hello) and host.framing_name == "websocket"
    assert host.data_to_send() == HANDSHAKE_ANSWER
    assert host.data_to_send() == b""

    # welcome: one unmasked binary frame
    out = host.send_welcome({"seed": 1})
    opcode, payload, rest = parse_server_frame(out)
    assert opcode == 0x2 and rest == b""
    assert out[:2] == bytes([0x82, len(payload)])  # short payload: 7-bit length
    msg = decode_message(payload, HOST_MESSAGES)
    assert msg.type == "welcome" and msg.fields == {"version": 1, "instance": 0, "config": {"seed": 1}}

    # step; the reply arrives fragmented, with a ping in the middle
    opcode, payload, _ = parse_server_frame(host.send_step(3))
    assert decode_message(payload, HOST_MESSAGES).fields == {"action": 3}
    obs = np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)
    reply = encode_message(
        "step_result", {"observation": obs, "reward": 2, "terminated": True, "truncated": False, "info": {}}
    )
    stream = (
        mask_frame(0x2, reply[:10], MASK, fin=False)
        + mask_frame(0x9, b"are you there", b"\x00\x01\x02\x03")
        + mask_frame(0x0, reply[10:20], b"\xff\xee\xdd\xcc", fin=False)
        + mask_frame(0x0, reply[20:], MASK, fin=True)
    )
    ev = deliver(host, stream, bytewise=True)
    assert isinstance(ev, StepResult) and ev.reward == 2.0 and ev.terminated is True
    np.testing.assert_array_equal(ev.observation, obs)
    assert host.data_to_send() == b"\x8a\x0dare you there"

    # a render frame big enough for a 16-bit length, both ways
    opcode, payload, _ = parse_server_frame(host.send_render())
    assert decode_message(payload, HOST_MESSAGES).type == "render"
    frame = np.full((10, 10, 3), 7, np.uint8)
    reply = encode_message("render_result", {"frame": frame})
    assert 126 <= len(reply) < 65536
    ev = deliver(host, mask_frame(0x2, reply, MASK))
    np.testing.assert_array_equal(ev.frame, frame)
    out = host.send_call("big", [np.zeros(100, np.float64)])
    assert out[:2] == b"\x82\x7e"
    opcode, payload, rest = parse_server_frame(out)
    assert rest == b"" and struct.unpack(">H", out[2:4])[0] == len(payload)
    ev = deliver(host, mask_frame(0x2, encode_message("error", {"message": "x"}), MASK))
    assert ev == GameErrorReply("call", "x", "")

    # close: send ours, then the client's close is echoed and the stream ends cleanly
    opcode, payload, _ = parse_server_frame(host.send_close())
    assert decode_message(payload, HOST_MESSAGES).type == "close"
    host.receive_data(mask_frame(0x8, b"\x03\xe8", MASK))
    assert host.next_event() is None
    assert host.data_to_send() == b"\x88\x02\x03\xe8"
    host.receive_eof()


def test_websocket_pong_goes_out_before_the_next_message():
    host = HostConnection(TOKEN)
    host.receive_data(HANDSHAKE + mask_frame(0x2, encode_message("hello", hello_fields()), MASK))
    assert isinstance(host.next_event(), Hello)
    host.receive_data(mask_frame(0x9, b"p", MASK))
    assert host.next_event() is None
    out = host.send_welcome()  # the answer and the pong were never collected: they lead
    assert out.startswith(HANDSHAKE_ANSWER + b"\x8a\x01p\x82")


def test_websocket_text_hello_is_rejected():
    host = HostConnection(TOKEN)
    host.receive_data(HANDSHAKE + mask_frame(0x1, json.dumps({"type": "hello"}).encode(), MASK))
    with pytest.raises(MalformedFrame):
        host.next_event()


def test_websocket_unmasked_hello_is_rejected():
    host = HostConnection(TOKEN)
    p = encode_message("hello", hello_fields())
    host.receive_data(HANDSHAKE + b"\x82\x7e" + struct.pack(">H", len(p)) + p)
    with pytest.raises(MalformedFrame):
        host.next_event()


# ---------------------------------------------------------------- framing detection on the host


@pytest.mark.parametrize("framing", ["binary", "comm"])
def test_host_detects_framing_from_split_first_bytes(framing):
    host = HostConnection(TOKEN)
    data = GameConnection(framing).send_hello(0, TOKEN, OBS_JSON, ACT)
    for i in range(3):
        host.receive_data(data[i : i + 1])
        assert host.framing_name is None and host.next_event() is None
        assert host.data_to_send() == b""
    host.receive_data(data[3:4])
    assert host.framing_name == framing
    host.receive_data(data[4:])
    assert isinstance(host.next_event(), Hello)


def test_host_with_fixed_framing():
    host = HostConnection(TOKEN, framing="comm")
    assert host.framing_name == "comm"
    deliver(host, GameConnection("comm").send_hello(0, TOKEN, OBS_JSON, ACT))
    host = HostConnection(TOKEN, framing="comm")
    host.receive_data(binary_frame("hello", hello_fields()))
    with pytest.raises(MalformedFrame):
        host.next_event()


def test_host_garbage_first_bytes():
    host = HostConnection(TOKEN)
    with pytest.raises(MalformedFrame):
        host.receive_data(b"SSH-2.0-OpenSSH\r\n")


def test_host_cannot_send_before_framing_is_known():
    host = HostConnection(TOKEN)
    assert host.send_close() == b""
    assert host.state is State.CLOSED


def test_game_connection_needs_a_framing():
    with pytest.raises(ValueError):
        GameConnection("auto")
    with pytest.raises(ValueError):
        GameConnection("morse")
    assert GameConnection().framing_name == "binary"


def test_truncated_at_eof_through_the_host():
    host = HostConnection(TOKEN)
    data = binary_frame("hello", hello_fields())
    host.receive_data(data[:-1])
    assert host.next_event() is None
    with pytest.raises(TruncatedFrame):
        host.receive_eof()


def test_truncated_before_the_framing_is_known():
    # 2 bytes of a binary length prefix, then EOF: the connection ended inside a frame
    host = HostConnection(TOKEN)
    host.receive_data(b"\x05\x00")
    assert host.next_event() is None
    with pytest.raises(TruncatedFrame):
        host.receive_eof()


def test_clean_eof_before_any_byte():
    HostConnection(TOKEN).receive_eof()


def test_max_frame_size_is_passed_to_the_detected_framing():
    from vecbridge.errors import FrameTooLarge

    host = HostConnection(TOKEN, max_frame_size=64)
    host.receive_data(binary_frame("hello", hello_fields()))
    with pytest.raises(FrameTooLarge):
        host.next_event()


@pytest.mark.parametrize("framing", ["auto", "binary"])
def test_a_frame_too_large_says_what_to_do_before_and_after_the_hello(framing):
    from vecbridge.errors import FrameTooLarge

    host = HostConnection(TOKEN, framing=framing, max_frame_size=2**27)
    host.receive_data(struct.pack("<I", 300_000))  # a hello frame over 256 KiB
    # (it said "raise max_frame_size", which a hello's limit does not follow)
    with pytest.raises(FrameTooLarge, match=r"above the maximum of 262144 \(the first frame, the hello, is at most "
                                            r"262144 bytes whatever max_frame_size is"):  # fmt: skip
        host.next_event()
    host = HostConnection(TOKEN, framing=framing, max_frame_size=1000)
    host.receive_data(binary_frame("hello", hello_fields()))
    assert host.next_event() is not None
    host.receive_data(struct.pack("<I", 5000))
    with pytest.raises(FrameTooLarge, match=r"above the maximum of 1000 \(raise max_frame_size if the game really"):
        host.next_event()


# ---------------------------------------------------------------- the hello


def test_hello_version_mismatch():
    host = HostConnection(TOKEN)
    host.receive_data(binary_frame("hello", hello_fields(version=2, instance=5)))
    with pytest.raises(VersionMismatch) as info:
        host.next_event()
    assert info.value.version == 2 and info.value.instance == 5
    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is VersionMismatch and back.version == 2 and back.instance == 5


@pytest.mark.parametrize("version", [0, "1", None, 1.5])
def test_hello_other_versions(version):
    host = HostConnection(TOKEN)
    host.receive_data(binary_frame("hello", hello_fields(version=version)))
    with pytest.raises(VersionMismatch):
        host.next_event()


@pytest.mark.parametrize("token", ["wrong", "", TOKEN.upper(), None, 123])
def test_hello_bad_token(token):
    host = HostConnection(TOKEN)
    host.receive_data(binary_frame("hello", hello_fields(token=token, instance=4)))
    with pytest.raises(BadToken) as info:
        host.next_event()
    assert info.value.instance == 4
    assert host.state is State.AWAIT_HELLO


@pytest.mark.parametrize("instance", [2, -1])
def test_hello_instance_not_expected(instance):
    host = HostConnection(TOKEN, instances={0, 1})
    host.receive_data(binary_frame("hello", hello_fields(instance=instance)))
    with pytest.raises(UnexpectedMessage, match=f"names instance {instance}, which this listener is not waiting for"):
        host.next_event()


@pytest.mark.parametrize("instance", ["0", None, 1.0, True])
def test_hello_instance_must_be_an_integer(instance):
    host = HostConnection(TOKEN, instances={0, 1})
    host.receive_data(binary_frame("hello", hello_fields(instance=instance)))
    with pytest.raises(MalformedMessage, match="'instance' must be a JSON integer"):
        host.next_event()


def test_hello_invalid_space():
    host = HostConnection(TOKEN)
    host.receive_data(binary_frame("hello", hello_fields(action_space="int 5 1", instance=3)))
    with pytest.raises(SpaceError, match="instance 3") as info:
        host.next_event()
    assert info.value.instance == 3


def test_hello_metadata_not_an_object():
    host = HostConnection(TOKEN)
    host.receive_data(binary_frame("hello", hello_fields(metadata="fast")))
    with pytest.raises(MalformedMessage):
        host.next_event()


def test_hello_missing_token():
    fields = hello_fields()
    del fields["token"]
    host = HostConnection(TOKEN)
    host.receive_data(binary_frame("hello", fields))
    with pytest.raises(BadToken, match="needs the run's token as a string 'token', got null"):
        host.next_event()
    assert not host.authenticated


@pytest.mark.parametrize("type_", ["reset_result", "error", "call_result"])
def test_anything_before_hello_is_unexpected(type_):
    host = HostConnection(TOKEN)
    fields = {"reset_result": {"observation": 0}, "error": {"message": "m"}, "call_result": {"value": 1}}[type_]
    host.receive_data(binary_frame(type_, fields))
    with pytest.raises(UnexpectedMessage, match="hello"):
        host.next_event()


def test_host_message_types_from_the_game_are_unknown():
    host = host_after_hello()
    host.receive_data(binary_frame("welcome", {"version": 1, "instance": 0}))
    with pytest.raises(UnknownMessageType):
        host.next_event()


# ---------------------------------------------------------------- host state machine


def test_send_step_before_hello_is_a_state_error():
    host = HostConnection(TOKEN, framing="binary")
    with pytest.raises(StateError):
        host.send_step(1)


@pytest.mark.parametrize("send", ["welcome", "reset", "render", "call"])
def test_requests_before_hello_are_state_errors(send):
    host = HostConnection(TOKEN, framing="binary")
    with pytest.raises(StateError):
        {
            "welcome": lambda: host.send_welcome(),
            "reset": lambda: host.send_reset(),
            "render": lambda: host.send_render(),
            "call": lambda: host.send_call("f"),
        }[send]()


def test_request_before_welcome_is_a_state_error():
    # protocol.md 1.4: "vecbridge answers with a welcome, then sends requests"
    host = host_after_hello()
    with pytest.raises(StateError):
        host.send_reset()


def test_second_welcome_is_a_state_error():
    host = host_after_hello()
    host.send_welcome()
    with pytest.raises(StateError):
        host.send_welcome()


@pytest.mark.parametrize("first", ["reset", "step", "render", "call"])
def test_second_request_while_pending(first):
    host = host_pending(first)
    for second in (
        host.send_reset,
        lambda: host.send_step(0),
        host.send_render,
        lambda: host.send_call("g"),
        host.send_welcome,
    ):
        with pytest.raises(StateError):
            second()
        assert host.pending == first and host.state is State.AWAIT_REPLY


def test_requests_after_close_are_state_errors():
    host, _ = connected()
    host.send_close()
    for send in (host.send_reset, host.send_render, lambda: host.send_step(0), lambda: host.send_call("f")):
        with pytest.raises(StateError):
            send()


def test_close_while_a_request_is_pending_is_allowed():
    host = host_pending("step")
    assert host.send_close() != b""
    assert host.state is State.CLOSED


REPLIES = {
    "reset_result": {"observation": np.zeros(4, np.float32), "info": {}},
    "step_result": {
        "observation": np.zeros(4, np.float32), "reward": 0.0, "terminated": False, "truncated": False, "info": {},
    },
    "render_result": {"frame": None},
    "call_result": {"value": None},
}  # fmt: skip


@pytest.mark.parametrize("request_", ["reset", "step", "render", "call"])
def test_reply_of_the_wrong_type(request_):
    for reply in REPLIES:
        host = host_pending(request_)
        host.receive_data(binary_frame(reply, REPLIES[reply]))
        if reply == f"{request_}_result":
            assert host.next_event() is not None
            continue
        with pytest.raises(UnexpectedMessage, match=f"{request_}_result"):
            host.next_event()


def test_reply_without_request():
    host = host_after_hello()
    host.send_welcome()
    host.receive_data(binary_frame("call_result", {"value": 1}))
    with pytest.raises(UnexpectedMessage):
        host.next_event()


def test_second_hello_is_unexpected():
    host = host_after_hello()
    host.receive_data(binary_frame("hello", hello_fields()))
    with pytest.raises(UnexpectedMessage):
        host.next_event()


def test_extra_reply_is_unexpected():
    host = host_pending("reset")
    host.receive_data(binary_frame("reset_result", REPLIES["reset_result"]) * 2)
    assert isinstance(host.next_event(), ResetResult)
    with pytest.raises(UnexpectedMessage):
        host.next_event()


# ---------------------------------------------------------------- step_result validation


def step_reply(host, **over) -> object:
    fields = dict(REPLIES["step_result"])
    fields.update(over)
    host.receive_data(binary_frame("step_result", fields))
    return host.next_event()


def test_step_observation_wrong_dtype_names_expected_and_got():
    host = host_pending("step")
    with pytest.raises(ArrayMismatch) as info:
        step_reply(host, observation=np.zeros(4, np.float64))
    text = str(info.value)
    assert "float32" in text and "float64" in text and "[4]" in text


def test_step_observation_wrong_shape_names_expected_and_got():
    host = host_pending("step")
    with pytest.raises(ArrayMismatch) as info:
        step_reply(host, observation=np.zeros((2, 2), np.float32))
    text = str(info.value)
    assert "[4]" in text and "[2, 2]" in text


@pytest.mark.parametrize("obs", [[0.0, 0.0, 0.0, 0.0], 0.0, None, {"a": 1}, "obs"], ids=repr)
def test_step_observation_not_an_array(obs):
    host = host_pending("step")
    with pytest.raises(ArrayMismatch, match="raw bytes"):
        step_reply(host, observation=obs)


@pytest.mark.parametrize("obs", [4, -1, 100, True, 1.0, "1", None, np.array([1])], ids=repr)
def test_step_discrete_observation_out_of_range_or_not_int(obs):
    host = host_pending("step", obs="int 0 3")
    with pytest.raises(ArrayMismatch) as info:
        step_reply(host, observation=obs)
    assert "Discrete(4)" in str(info.value)


@pytest.mark.parametrize("obs", [0, 3, np.array(2, dtype=np.int64)], ids=repr)
def test_step_discrete_observation_in_range(obs):
    host = host_pending("step", obs="int 0 3")
    ev = step_reply(host, observation=obs)
    assert ev.observation == int(obs) and type(ev.observation) is int


def test_step_discrete_with_start():
    host = host_pending("step", obs="int -2 2")
    assert step_reply(host, observation=-2).observation == -2
    host = host_pending("step", obs="int -2 2")
    with pytest.raises(ArrayMismatch):
        step_reply(host, observation=3)


DICT_OBS = {"type": "Dict", "spaces": {"pos": {"type": "Box", "shape": [2]}, "hp": {"type": "Discrete", "n": 5}}}


def test_step_dict_observation():
    host = host_pending("step", obs=DICT_OBS)
    ev = step_reply(host, observation={"pos": np.ones(2, np.float32), "hp": 4})
    assert ev.observation["hp"] == 4
    np.testing.assert_array_equal(ev.observation["pos"], [1, 1])


@pytest.mark.parametrize(
    "obs",
    [{"pos": np.ones(2, np.float32)}, {"pos": np.ones(2, np.float32), "hp": 1, "mp": 2}, [np.ones(2, np.float32), 1]],
    ids=["missing", "extra", "list"],
)
def test_step_dict_keys_mismatch(obs):
    host = host_pending("step", obs=DICT_OBS)
    with pytest.raises(ArrayMismatch) as info:
        step_reply(host, observation=obs)
    assert "hp" in str(info.value) and "pos" in str(info.value)


def test_step_dict_inner_value_checked():
    host = host_pending("step", obs=DICT_OBS)
    with pytest.raises(ArrayMismatch, match="hp"):
        step_reply(host, observation={"pos": np.ones(2, np.float32), "hp": 5})


def test_step_tuple_observation():
    obs = ["bool", "float 0 1"]
    host = host_pending("step", obs=obs)
    ev = step_reply(host, observation=[1, np.array(0.5, np.float32)])
    assert ev.observation[0] == 1 and float(ev.observation[1]) == 0.5
    host = host_pending("step", obs=obs)
    with pytest.raises(ArrayMismatch):
        step_reply(host, observation=[1])


@pytest.mark.parametrize("reward", ["1", True, False, None, [1], {"r": 1}], ids=repr)
def test_step_reward_not_a_number(reward):
    host = host_pending("step")
    with pytest.raises(MalformedMessage, match="reward"):
        step_reply(host, reward=reward)


@pytest.mark.parametrize("reward", [0, -3, 2.5, 10**6])
def test_step_reward_numbers(reward):
    host = host_pending("step")
    ev = step_reply(host, reward=reward)
    assert ev.reward == float(reward) and type(ev.reward) is float


@pytest.mark.parametrize(
    ("field", "value"),
    [("terminated", 0), ("terminated", 1), ("terminated", "false"), ("terminated", None),
     ("truncated", 0), ("truncated", "true"), ("truncated", [])],
)  # fmt: skip
def test_step_flags_not_bool(field, value):
    host = host_pending("step")
    with pytest.raises(MalformedMessage, match=field):
        step_reply(host, **{field: value})


@pytest.mark.parametrize("info", [[], "x", 3])
def test_step_info_not_an_object(info):
    host = host_pending("step")
    with pytest.raises(MalformedMessage, match="info"):
        step_reply(host, info=info)


def test_step_info_missing_or_null_is_empty():
    host = host_pending("step")
    fields = dict(REPLIES["step_result"])
    del fields["info"]
    host.receive_data(binary_frame("step_result", fields))
    assert host.next_event().info == {}
    host = host_pending("step")
    assert step_reply(host, info=None).info == {}


def test_step_missing_reward():
    host = host_pending("step")
    fields = dict(REPLIES["step_result"])
    del fields["reward"]
    host.receive_data(binary_frame("step_result", fields))
    with pytest.raises(MalformedMessage, match="reward"):
        host.next_event()


def test_reset_observation_checked_too():
    host = host_pending("reset")
    host.receive_data(binary_frame("reset_result", {"observation": np.zeros(3, np.float32)}))
    with pytest.raises(ArrayMismatch, match="reset observation"):
        host.next_event()


# ---------------------------------------------------------------- render_result validation


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((2, 2, 3), np.float32),
        np.zeros((2, 2), np.uint8),
        np.zeros((2, 2, 3, 1), np.uint8),
        np.zeros((2, 2, 4), np.uint8),  # RGBA: the protocol says [H, W, 3]
        np.zeros((2, 2, 1), np.uint8),
        [[[0, 0, 0]]],
        "frame",
    ],
    ids=["float32", "2d", "4d", "rgba", "gray", "json-list", "str"],
)
def test_render_frame_must_be_uint8_hw3(frame):
    host = host_pending("render")
    host.receive_data(binary_frame("render_result", {"frame": frame}))
    with pytest.raises(ArrayMismatch):
        host.next_event()


# ---------------------------------------------------------------- game state machine


def game_awaiting_request(act=ACT) -> GameConnection:
    game = GameConnection("binary")
    game.send_hello(0, TOKEN, OBS_JSON, act)
    deliver(game, binary_frame("welcome", {"version": 1, "instance": 0, "config": {}}))
    return game


def test_game_welcome_version_mismatch():
    game = GameConnection("binary")
    game.send_hello(0, TOKEN, OBS_JSON, ACT)
    game.receive_data(binary_frame("welcome", {"version": 2, "instance": 0}))
    with pytest.raises(VersionMismatch):
        game.next_event()


def test_game_welcome_without_config():
    game = GameConnection("binary")
    game.send_hello(0, TOKEN, OBS_JSON, ACT)
    assert deliver(game, binary_frame("welcome", {"version": 1, "instance": 4})) == Welcome(4, {})


def test_game_request_before_welcome_is_unexpected():
    game = GameConnection("binary")
    game.send_hello(0, TOKEN, OBS_JSON, ACT)
    game.receive_data(binary_frame("reset", {"seed": None, "options": None}))
    with pytest.raises(UnexpectedMessage, match="welcome"):
        game.next_event()


def test_game_welcome_before_hello_is_unexpected():
    game = GameConnection("binary")
    game.receive_data(binary_frame("welcome", {"version": 1, "instance": 0}))
    with pytest.raises(UnexpectedMessage):
        game.next_event()


def test_game_second_welcome_is_unexpected():
    game = game_awaiting_request()
    game.receive_data(binary_frame("welcome", {"version": 1, "instance": 0}))
    with pytest.raises(UnexpectedMessage):
        game.next_event()


def test_game_second_request_while_replying_is_unexpected():
    game = game_awaiting_request()
    deliver(game, binary_frame("render"))
    game.receive_data(binary_frame("render"))
    with pytest.raises(UnexpectedMessage):
        game.next_event()


def test_game_game_side_types_are_unknown():
    game = game_awaiting_request()
    game.receive_data(binary_frame("step_result", {"observation": 0, "reward": 0, "terminated": 0, "truncated": 0}))
    with pytest.raises(UnknownMessageType):
        game.next_event()


def test_game_reply_state_errors():
    game = game_awaiting_request()
    with pytest.raises(StateError):
        game.send_reset_result(np.zeros(4, np.float32))  # nothing pending
    with pytest.raises(StateError):
        game.send_error("nothing pending")
    deliver(game, binary_frame("reset", {"seed": 1, "options": None}))
    with pytest.raises(StateError):
        game.send_step_result(np.zeros(4, np.float32), 0, False, False)  # reset is pending
    with pytest.raises(StateError):
        game.send_call_result(1)
    game.send_reset_result(np.zeros(4, np.float32))
    with pytest.raises(StateError):
        game.send_reset_result(np.zeros(4, np.float32))  # already answered


def test_game_checks_the_action():
    game = game_awaiting_request()
    game.receive_data(binary_frame("step", {"action": 4}))  # Discrete(4): 0..3
    with pytest.raises(ArrayMismatch):
        game.next_event()
    game = game_awaiting_request(act="float -1 1 [2]")
    game.receive_data(binary_frame("step", {"action": [0.5, 0.5]}))  # a JSON list, not raw bytes
    with pytest.raises(ArrayMismatch):
        game.next_event()


def test_game_close_ends_the_conversation():
    game = game_awaiting_request()
    assert deliver(game, binary_frame("close")) == CloseRequest()
    assert game.state is State.CLOSED
    game.receive_data(binary_frame("render"))
    with pytest.raises(UnexpectedMessage):
        game.next_event()


# ---------------------------------------------------------------- encode_value / decode_value


def test_encode_value_forms():
    assert encode_value(spaces.Discrete(3), np.int64(2)) == 2
    v = encode_value(spaces.Box(0, 1, (2,), np.float32), [0.5, 1])
    assert isinstance(v, np.ndarray) and v.dtype == np.float32
    v = encode_value(spaces.Dict({"a": spaces.Discrete(2), "b": spaces.MultiBinary(2)}), {"a": 1, "b": [0, 1]})
    assert v["a"] == 1 and v["b"].dtype == np.int8
    v = encode_value(spaces.Tuple([spaces.Discrete(2), spaces.MultiDiscrete([3])]), (1, [2]))
    assert v[0] == 1 and v[1].dtype == np.int64
    with pytest.raises(ArrayMismatch):
        encode_value(spaces.Box(0, 1, (2,), np.float32), [0.5, 1, 0])


def test_decode_value_rejects_wrong_array_dtype_for_multibinary():
    with pytest.raises(ArrayMismatch, match="int8"):
        decode_value(spaces.MultiBinary(3), np.zeros(3, np.uint8))
    np.testing.assert_array_equal(decode_value(spaces.MultiBinary(3), np.zeros(3, np.int8)), [0, 0, 0])

"""Messages, byte for byte (docs/protocol.md section 3), and the protocol exceptions."""

from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest

from vecbridge import errors
from vecbridge.errors import (
    ArrayMismatch,
    BadToken,
    FrameTooLarge,
    FramingError,
    MalformedFrame,
    MalformedMessage,
    ProtocolError,
    SpaceError,
    StateError,
    TruncatedFrame,
    UnexpectedMessage,
    UnknownMessageType,
    VecBridgeError,
    VersionMismatch,
)
from vecbridge.protocol.messages import (
    GAME_MESSAGES,
    HOST_MESSAGES,
    PROTOCOL_VERSION,
    Message,
    decode_message,
    encode_message,
)

ALL_MESSAGES = {**GAME_MESSAGES, **HOST_MESSAGES}

# wire dtype -> struct format character (little-endian with "<")
STRUCT_CODES = {
    "bool": "?",
    "int8": "b",
    "uint8": "B",
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "int64": "q",
    "uint64": "Q",
    "float16": "e",
    "float32": "f",
    "float64": "d",
}
SAMPLE_VALUES = {
    "bool": [True, False, True],
    "int8": [-128, 0, 127],
    "uint8": [0, 1, 255],
    "int16": [-32768, 1, 32767],
    "uint16": [0, 258, 65535],
    "int32": [-(2**31), 0x01020304, 2**31 - 1],
    "uint32": [0, 0x01020304, 2**32 - 1],
    "int64": [-(2**63), 0x0102030405060708, 2**63 - 1],
    "uint64": [0, 0x0102030405060708, 2**64 - 1],
    "float16": [-2.0, 0.5, 65504.0],
    "float32": [-1.5, 0.1, 3.4e38],
    "float64": [-1e300, 0.1, float("inf")],
}


def payload(header: dict, data: bytes = b"") -> bytes:
    """A payload built by hand: u32 LE header length, JSON header, data."""
    head = json.dumps(header).encode()
    return struct.pack("<I", len(head)) + head + data


def raw_payload(head: bytes, data: bytes = b"") -> bytes:
    return struct.pack("<I", len(head)) + head + data


# ---------------------------------------------------------------- encoding, exact bytes


def test_encode_no_fields_exact():
    assert encode_message("render") == b'\x11\x00\x00\x00{"type":"render"}'
    assert encode_message("close", {}) == b'\x10\x00\x00\x00{"type":"close"}'


def test_encode_json_only_exact():
    got = encode_message("reset", {"seed": 7, "options": None})
    head = b'{"type":"reset","seed":7,"options":null}'
    assert got == struct.pack("<I", len(head)) + head
    assert got[:4] == bytes([len(head), 0, 0, 0])


def test_encode_step_result_doc_example_exact():
    obs = np.array([1.0, -2.5, 0.25, 3.0], dtype=np.float32)
    got = encode_message(
        "step_result", {"observation": obs, "reward": 1.0, "terminated": False, "truncated": False, "info": {}}
    )
    head = (
        b'{"type":"step_result","observation":{"$array":0},"reward":1.0,'
        b'"terminated":false,"truncated":false,"info":{},'
        b'"arrays":[{"dtype":"float32","shape":[4]}]}'
    )
    # the same header, computed independently with json
    assert head == json.dumps(
        {
            "type": "step_result",
            "observation": {"$array": 0},
            "reward": 1.0,
            "terminated": False,
            "truncated": False,
            "info": {},
            "arrays": [{"dtype": "float32", "shape": [4]}],
        },
        separators=(",", ":"),
    ).encode()
    data = struct.pack("<4f", 1.0, -2.5, 0.25, 3.0)
    assert data == b"\x00\x00\x80\x3f\x00\x00\x20\xc0\x00\x00\x80\x3e\x00\x00\x40\x40"
    assert got == struct.pack("<I", len(head)) + head + data


def test_encode_two_arrays_order_and_layout():
    a = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint16)
    b = np.array(-1, dtype=np.int8)  # a scalar array: shape []
    got = encode_message("call_result", {"value": {"a": a, "b": [b, 5]}})
    head = (
        b'{"type":"call_result","value":{"a":{"$array":0},"b":[{"$array":1},5]},'
        b'"arrays":[{"dtype":"uint16","shape":[2,3]},{"dtype":"int8","shape":[]}]}'
    )
    data = struct.pack("<6H", 1, 2, 3, 4, 5, 6) + struct.pack("<b", -1)
    assert got == struct.pack("<I", len(head)) + head + data


@pytest.mark.parametrize("dtype", sorted(STRUCT_CODES))
def test_encode_every_wire_dtype_little_endian(dtype):
    values = SAMPLE_VALUES[dtype]
    arr = np.array(values, dtype=dtype)
    got = encode_message("call_result", {"value": arr})
    head = ('{"type":"call_result","value":{"$array":0},"arrays":[{"dtype":"%s","shape":[3]}]}' % dtype).encode()
    expected_data = struct.pack("<3" + STRUCT_CODES[dtype], *values)
    assert got == struct.pack("<I", len(head)) + head + expected_data


@pytest.mark.parametrize("dtype", ["int16", "uint32", "int64", "float32", "float64", "float16"])
def test_encode_big_endian_input_goes_out_little_endian(dtype):
    values = SAMPLE_VALUES[dtype]
    big = np.array(values, dtype=np.dtype(dtype).newbyteorder(">"))
    assert big.dtype.byteorder == ">"
    got = encode_message("call_result", {"value": big})
    expected_data = struct.pack("<3" + STRUCT_CODES[dtype], *values)
    assert got.endswith(expected_data)
    assert b'"dtype":"%s"' % dtype.encode() in got
    back = decode_message(got, GAME_MESSAGES)["value"]
    assert back.dtype == np.dtype(dtype).newbyteorder("<")
    np.testing.assert_array_equal(back, np.array(values, dtype=dtype))


def test_encode_non_contiguous_goes_out_c_order():
    base = np.arange(12, dtype=np.int32).reshape(3, 4)
    for arr in (base.T, base[:, ::2], np.asfortranarray(base)):
        got = encode_message("call_result", {"value": arr})
        expected = struct.pack("<%di" % arr.size, *arr.ravel(order="C").tolist())
        assert got.endswith(expected)
        assert b'"shape":[%d,%d]' % arr.shape in got


def test_encode_numpy_scalars_become_json_numbers():
    got = encode_message(
        "call_result", {"value": [np.float32(1.5), np.int64(3), np.bool_(True), np.uint8(255)]}
    )
    assert got == raw_payload(b'{"type":"call_result","value":[1.5,3,true,255]}')


def test_encode_tuples_become_lists_and_keys_strings():
    got = encode_message("call_result", {"value": {1: (1, 2), "x": ()}})
    assert got == raw_payload(b'{"type":"call_result","value":{"1":[1,2],"x":[]}}')


def test_encode_non_ascii_text():
    got = encode_message("error", {"message": "caf\u00e9 \u2603"})
    msg = decode_message(got, GAME_MESSAGES)
    assert msg["message"] == "caf\u00e9 \u2603"


@pytest.mark.parametrize("dtype", ["complex64", "object", "datetime64[s]", "<U3"])
def test_encode_rejects_non_wire_dtype(dtype):
    arr = np.zeros(2, dtype=dtype)
    with pytest.raises(SpaceError):
        encode_message("call_result", {"value": arr})


# ---------------------------------------------------------------- decoding and round trips


def test_decode_doc_example_by_hand():
    header = {
        "arrays": [{"dtype": "float32", "shape": [4]}],  # key order and spacing do not matter
        "info": {},
        "truncated": False,
        "terminated": False,
        "reward": 1.0,
        "observation": {"$array": 0},
        "type": "step_result",
    }
    msg = decode_message(payload(header, struct.pack("<4f", 1, 2, 3, 4)), GAME_MESSAGES)
    assert isinstance(msg, Message)
    assert msg.type == "step_result"
    assert set(msg.fields) == {"observation", "reward", "terminated", "truncated", "info"}  # no type, no arrays
    obs = msg["observation"]
    assert isinstance(obs, np.ndarray) and obs.dtype == np.float32 and obs.shape == (4,)
    np.testing.assert_array_equal(obs, [1, 2, 3, 4])
    assert msg["reward"] == 1.0 and msg["terminated"] is False and msg["info"] == {}
    assert msg.get("absent", 42) == 42


def test_decode_accepts_bytearray():
    p = encode_message("call_result", {"value": np.arange(3, dtype=np.int16)})
    np.testing.assert_array_equal(decode_message(bytearray(p), GAME_MESSAGES)["value"], [0, 1, 2])


@pytest.mark.parametrize("dtype", sorted(STRUCT_CODES))
def test_round_trip_every_dtype_and_shape(dtype):
    for shape in [(), (0,), (3,), (2, 3), (2, 1, 3), (0, 4)]:
        n = int(np.prod(shape))
        values = (SAMPLE_VALUES[dtype] * 3)[:n]
        arr = np.array(values, dtype=dtype).reshape(shape)
        msg = decode_message(encode_message("call_result", {"value": arr}), GAME_MESSAGES)
        back = msg["value"]
        assert isinstance(back, np.ndarray)
        assert back.dtype == np.dtype(dtype)
        assert back.shape == shape
        assert back.tobytes() == arr.tobytes()


def test_round_trip_nested_values_with_arrays():
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    pos = np.array([1.5, -2.0], dtype=np.float64)
    mask = np.array([True, False])
    value = {
        "level": 3,
        "name": "stage 1",
        "ok": True,
        "none": None,
        "frames": [img, {"pos": pos, "deep": [[mask]]}],
        "empty": {},
    }
    data = encode_message("call_result", {"value": value})
    header = json.loads(data[4 : 4 + struct.unpack_from("<I", data)[0]])
    assert header["arrays"] == [
        {"dtype": "uint8", "shape": [2, 3, 3]},
        {"dtype": "float64", "shape": [2]},
        {"dtype": "bool", "shape": [2]},
    ]
    assert header["value"]["frames"] == [{"$array": 0}, {"pos": {"$array": 1}, "deep": [[{"$array": 2}]]}]
    back = decode_message(data, GAME_MESSAGES)["value"]
    assert back["level"] == 3 and back["name"] == "stage 1" and back["ok"] is True and back["none"] is None
    assert back["empty"] == {}
    np.testing.assert_array_equal(back["frames"][0], img)
    np.testing.assert_array_equal(back["frames"][1]["pos"], pos)
    np.testing.assert_array_equal(back["frames"][1]["deep"][0][0], mask)
    assert back["frames"][1]["deep"][0][0].dtype == np.bool_


def test_round_trip_same_array_twice_is_sent_twice():
    a = np.arange(3, dtype=np.int32)
    data = encode_message("call_result", {"value": [a, a]})
    assert data.endswith(a.tobytes() * 2)
    back = decode_message(data, GAME_MESSAGES)["value"]
    np.testing.assert_array_equal(back[0], a)
    np.testing.assert_array_equal(back[1], a)


def test_decode_dict_with_array_key_and_other_keys_is_plain_object():
    header = {"type": "call_result", "value": {"$array": 0, "x": 1}, "arrays": [{"dtype": "uint8", "shape": [1]}]}
    p = payload(header, b"\x07")
    v = decode_message(p, GAME_MESSAGES)["value"]
    assert v == {"$array": 0, "x": 1}


def test_every_message_type_round_trips():
    for type_, fields in ALL_MESSAGES.items():
        body = {f: 1 for f in fields}
        msg = decode_message(encode_message(type_, body), ALL_MESSAGES)
        assert msg.type == type_ and msg.fields == body


def test_message_tables_match_protocol_doc():
    assert PROTOCOL_VERSION == 1
    assert set(GAME_MESSAGES) == {"hello", "reset_result", "step_result", "render_result", "call_result", "error"}
    assert set(HOST_MESSAGES) == {"welcome", "reset", "step", "render", "call", "close"}
    assert set(GAME_MESSAGES["hello"]) == {"version", "instance", "token", "observation_space", "action_space"}


# ---------------------------------------------------------------- malformed messages


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x05\x00\x00"])
def test_payload_shorter_than_header_length(data):
    with pytest.raises(MalformedMessage):
        decode_message(data, GAME_MESSAGES)


def test_header_length_beyond_payload():
    good = encode_message("render_result", {"frame": None})
    bad = struct.pack("<I", len(good) - 4 + 1) + good[4:]
    with pytest.raises(MalformedMessage, match="header length"):
        decode_message(bad, GAME_MESSAGES)
    with pytest.raises(MalformedMessage):
        decode_message(b"\xff\xff\xff\xff{}", GAME_MESSAGES)


@pytest.mark.parametrize(
    "head",
    [b"not json", b'{"type":"error",', b"\xff\xfe\x00", b"", b"{'type': 'error'}"],
    ids=["text", "cut", "not-utf8", "empty", "single-quotes"],
)
def test_header_not_json(head):
    with pytest.raises(MalformedMessage):
        decode_message(raw_payload(head), GAME_MESSAGES)


@pytest.mark.parametrize("head", [b"[]", b'["error"]', b'"error"', b"42", b"null", b"true"])
def test_header_not_an_object(head):
    with pytest.raises(MalformedMessage, match="object"):
        decode_message(raw_payload(head), GAME_MESSAGES)


@pytest.mark.parametrize("header", [{}, {"message": "x"}, {"type": 5}, {"type": None}, {"type": ["error"]}])
def test_header_without_string_type(header):
    with pytest.raises(MalformedMessage, match="type"):
        decode_message(payload(header), GAME_MESSAGES)


@pytest.mark.parametrize("type_", ["bogus", "Hello", "step", "welcome", ""])
def test_unknown_message_type(type_):
    with pytest.raises(UnknownMessageType) as info:
        decode_message(payload({"type": type_}), GAME_MESSAGES)
    assert info.value.message_type == type_


def test_host_side_types_unknown_to_the_host_and_back():
    with pytest.raises(UnknownMessageType):
        decode_message(encode_message("hello", {}), HOST_MESSAGES)
    with pytest.raises(UnknownMessageType):
        decode_message(encode_message("reset", {}), GAME_MESSAGES)


@pytest.mark.parametrize(
    ("type_", "fields", "missing"),
    [
        ("hello", {"version": 1, "instance": 0, "token": "t", "observation_space": "bool"}, "action_space"),
        ("step_result", {"observation": 0, "reward": 0, "terminated": False}, "truncated"),
        ("error", {"traceback": "tb"}, "message"),
        ("call_result", {}, "value"),
        ("render_result", {}, "frame"),
    ],
)
def test_missing_field(type_, fields, missing):
    with pytest.raises(MalformedMessage, match=missing):
        decode_message(payload({"type": type_, **fields}), GAME_MESSAGES)


@pytest.mark.parametrize(
    ("type_", "fields", "missing"),
    [("welcome", {"version": 1}, "instance"), ("step", {}, "action"), ("call", {"args": []}, "name")],
)
def test_missing_field_host_messages(type_, fields, missing):
    with pytest.raises(MalformedMessage, match=missing):
        decode_message(payload({"type": type_, **fields}), HOST_MESSAGES)


def test_optional_fields_may_be_absent():
    assert decode_message(payload({"type": "reset"}), HOST_MESSAGES).fields == {}
    assert decode_message(payload({"type": "error", "message": "m"}), GAME_MESSAGES).fields == {"message": "m"}


def _value_payload(desc, data: bytes) -> bytes:
    return payload({"type": "call_result", "value": {"$array": 0}, "arrays": [desc]}, data)


@pytest.mark.parametrize("dtype", ["float", "int", "complex64", ">f4", "<f4", "f4", "U3", "object", None, 5])
def test_array_wrong_dtype(dtype):
    with pytest.raises(ArrayMismatch):
        decode_message(_value_payload({"dtype": dtype, "shape": [1]}, b"\x00" * 4), GAME_MESSAGES)


@pytest.mark.parametrize(
    ("shape", "nbytes"),
    [([4], 12), ([4], 15), ([2, 2], 8), ([], 0), ([3], 0)],
)
def test_array_byte_size_too_small(shape, nbytes):
    with pytest.raises(ArrayMismatch, match="needs"):
        decode_message(_value_payload({"dtype": "float32", "shape": shape}, b"\x00" * nbytes), GAME_MESSAGES)


@pytest.mark.parametrize(("shape", "nbytes"), [([4], 17), ([4], 32), ([], 8), ([0], 1)])
def test_array_trailing_bytes(shape, nbytes):
    with pytest.raises(ArrayMismatch, match="after"):
        decode_message(_value_payload({"dtype": "float32", "shape": shape}, b"\x00" * nbytes), GAME_MESSAGES)


def test_data_without_any_array_is_trailing_bytes():
    with pytest.raises(ArrayMismatch):
        decode_message(payload({"type": "call_result", "value": 1}, b"\x00"), GAME_MESSAGES)


def test_second_array_short():
    p = payload(
        {
            "type": "call_result",
            "value": [{"$array": 0}, {"$array": 1}],
            "arrays": [{"dtype": "uint8", "shape": [2]}, {"dtype": "int32", "shape": [2]}],
        },
        b"\x01\x02" + b"\x00" * 7,
    )
    with pytest.raises(ArrayMismatch, match="array 1"):
        decode_message(p, GAME_MESSAGES)


@pytest.mark.parametrize(
    "desc",
    [
        {"shape": [1]},  # no dtype
        {"dtype": "uint8"},  # no shape
        {"dtype": "uint8", "shape": 1},  # shape not a list
        {"dtype": "uint8", "shape": None},
        {"dtype": "uint8", "shape": ["a"]},
        {"dtype": "uint8", "shape": [-1]},
        {"dtype": "uint8", "shape": [[1]]},
        "uint8",
        ["uint8", [1]],
        None,
        # not lists of integers, although they happen to match 2 bytes of data
        {"dtype": "uint8", "shape": "2"},
        {"dtype": "uint8", "shape": [2.5]},
    ],
    ids=[
        "no-dtype", "no-shape", "shape-int", "shape-null", "shape-str-item", "negative",
        "nested", "str", "list", "null", "shape-str", "shape-float",
    ],
)  # fmt: skip
def test_array_bad_descriptor(desc):
    with pytest.raises(ArrayMismatch):
        decode_message(_value_payload(desc, b"\x01\x02"), GAME_MESSAGES)


@pytest.mark.parametrize("arrays", [5, "x", {"dtype": "uint8", "shape": [1]}, True])
def test_arrays_not_a_list(arrays):
    with pytest.raises((MalformedMessage, ArrayMismatch)):
        decode_message(payload({"type": "call_result", "value": 1, "arrays": arrays}, b"\x00"), GAME_MESSAGES)


@pytest.mark.parametrize("ref", [1, -1, "0", 0.0, None])
def test_array_reference_out_of_range(ref):
    header = {"type": "call_result", "value": {"$array": ref}, "arrays": [{"dtype": "uint8", "shape": [1]}]}
    p = payload(header, b"\x00")
    with pytest.raises(MalformedMessage, match="array"):
        decode_message(p, GAME_MESSAGES)


def test_array_reference_without_any_array():
    # {"$array": 0} when the message declares no arrays at all points outside the 0 arrays sent
    p = payload({"type": "call_result", "value": {"$array": 0}})
    with pytest.raises(MalformedMessage, match="array"):
        decode_message(p, GAME_MESSAGES)


# ---------------------------------------------------------------- the exceptions


PROTOCOL_ERRORS = [
    TruncatedFrame,
    FrameTooLarge,
    MalformedFrame,
    MalformedMessage,
    UnknownMessageType,
    UnexpectedMessage,
    ArrayMismatch,
    VersionMismatch,
    BadToken,
]


def test_protocol_error_hierarchy_matches_docstring():
    for cls in PROTOCOL_ERRORS:
        assert issubclass(cls, ProtocolError), cls
        assert issubclass(cls, VecBridgeError), cls
    for cls in (TruncatedFrame, FrameTooLarge, MalformedFrame):
        assert issubclass(cls, FramingError)
    for cls in (MalformedMessage, UnknownMessageType, UnexpectedMessage, ArrayMismatch, VersionMismatch, BadToken):
        assert not issubclass(cls, FramingError)
    # outside ProtocolError, per the docstring tree
    for cls in (SpaceError, StateError, errors.InvalidAction, errors.GameError, errors.LaunchError):
        assert issubclass(cls, VecBridgeError) and not issubclass(cls, ProtocolError)
    assert issubclass(errors.InvalidAction, ValueError)
    assert issubclass(errors.ConnectionClosed, ConnectionError)
    assert issubclass(errors.InstanceTimeout, TimeoutError)


def _all_error_classes():
    return [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, VecBridgeError)]


def test_docstring_names_every_error_class():
    doc = errors.__doc__
    for cls in _all_error_classes():
        assert cls.__name__ in doc


@pytest.mark.parametrize("cls", _all_error_classes(), ids=lambda c: c.__name__)
def test_errors_pickle_with_attributes(cls):
    try:
        raise cls("something broke", instance=3, expected=[1, 2], got={"a": None})
    except cls as exc:
        caught = exc
    for proto in range(2, pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(caught, protocol=proto))
        assert type(back) is cls
        assert str(back) == "something broke"
        assert back.instance == 3 and back.expected == [1, 2] and back.got == {"a": None}


def test_raised_protocol_errors_pickle():
    with pytest.raises(UnknownMessageType) as info:
        decode_message(payload({"type": "nope"}), GAME_MESSAGES)
    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is UnknownMessageType and back.message_type == "nope" and str(back) == str(info.value)

    with pytest.raises(ArrayMismatch) as info:
        decode_message(_value_payload({"dtype": "float32", "shape": [4]}, b"\x00" * 3), GAME_MESSAGES)
    back = pickle.loads(pickle.dumps(info.value))
    assert type(back) is ArrayMismatch and str(back) == str(info.value)

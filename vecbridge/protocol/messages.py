"""Messages: a JSON header plus raw array bytes, inside one frame payload (sans-I/O).

Payload layout (docs/protocol.md, "Messages")::

    u32 LE  H           length of the header in bytes
    H bytes header      UTF-8 JSON object: {"type": ..., ..., "arrays": [{"dtype", "shape"}, ...]}
    rest    array data  the arrays of "arrays", in order, little-endian, C order, no padding

Inside the header an array value is written ``{"$array": k}``, k indexing "arrays". A value
written ``{"$raw": k}`` is the payload of the k-th of the ``"raw_frames"`` frames that follow
the message, as bytes (docs/protocol.md, "Raw frames"): :func:`resolve_raw` fills them in.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from vecbridge.errors import ArrayMismatch, MalformedMessage, SpaceError, UnknownMessageType
from vecbridge.protocol.limits import MAX_ARRAY_DIMS, MAX_ARRAY_ELEMENTS, MAX_ARRAYS
from vecbridge.protocol.safe_json import loads_header
from vecbridge.protocol.spaces import WIRE_DTYPES

PROTOCOL_VERSION = 1

#: message type -> fields it must carry
GAME_MESSAGES: dict[str, tuple[str, ...]] = {
    "hello": ("version", "instance", "token", "observation_space", "action_space"),
    "reset_result": ("observation",),
    "step_result": ("observation", "reward", "terminated", "truncated"),
    "render_result": ("frame",),
    "call_result": ("value",),
    "error": ("message",),
}
HOST_MESSAGES: dict[str, tuple[str, ...]] = {
    "welcome": ("version", "instance"),
    "reset": (),
    "step": ("action",),
    "render": (),
    "call": ("name",),
    "close": (),
}

_U32 = struct.Struct("<I")
_ARRAY_KEY = "$array"
_RAW_KEY = "$raw"
MAX_RAW_FRAMES = 16  # raw frames after one message
# Lookups by dtype object and by name, built once: dtype.name and np.dtype(name) are slow in a hot loop.
_NAME_OF: dict[np.dtype, str] = {np.dtype(n).newbyteorder("<"): n for n in WIRE_DTYPES}
_NAME_OF.update({np.dtype(n): n for n in WIRE_DTYPES})
_NAME_OF.update({np.dtype(n).newbyteorder(">"): n for n in WIRE_DTYPES})
_DTYPE_OF: dict[str, np.dtype] = {n: np.dtype(n).newbyteorder("<") for n in WIRE_DTYPES}
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


@dataclass
class Message:
    """One decoded message: its ``type`` and its fields, arrays already resolved."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict)
    raw_frames: int = 0  # frames that follow this message, for its {"$raw": k} values

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


# ---------------------------------------------------------------- encoding


class RawFrame(bytes):
    """Bytes that travel as a frame of their own after the message (``{"$raw": k}`` in its header)."""


def _extract(value: Any, arrays: list[np.ndarray], raw: list[bytes] | None = None) -> Any:
    """Replace numpy arrays by ``{"$array": k}`` refs, RawFrames by ``{"$raw": k}``, numpy scalars by numbers."""
    cls = type(value)
    if cls is np.ndarray:
        arrays.append(value)
        return {_ARRAY_KEY: len(arrays) - 1}
    if cls in _PLAIN:
        return value
    if cls is RawFrame:
        if raw is None:
            raise ValueError("a RawFrame needs encode_message(..., raw=[]) to collect it")
        raw.append(value)
        return {_RAW_KEY: len(raw) - 1}
    if cls is dict or isinstance(value, Mapping):
        return {str(k): _extract(v, arrays, raw) for k, v in value.items()}
    if cls is list or cls is tuple:
        return [_extract(v, arrays, raw) for v in value]
    if isinstance(value, np.ndarray):
        arrays.append(value)
        return {_ARRAY_KEY: len(arrays) - 1}
    if isinstance(value, np.generic):
        return value.item()
    return value


_PLAIN = frozenset({str, int, float, bool, type(None)})


def encode_message(type_: str, fields: Mapping[str, Any] | None = None, raw: list[bytes] | None = None) -> bytes:
    """The payload bytes of a message; numpy arrays in ``fields`` travel as raw bytes.

    :class:`RawFrame` values are appended to ``raw``: the caller sends them as frames of
    their own right after this message.
    """
    arrays: list[np.ndarray] = []
    header = {"type": type_}
    if fields:
        count = len(raw) if raw is not None else 0
        header.update(_extract(fields, arrays, raw))
        if raw is not None and len(raw) > count:
            header["raw_frames"] = len(raw) - count
    blobs: list[bytes] = []
    if arrays:
        descs = []
        for arr in arrays:
            name = _NAME_OF.get(arr.dtype)
            if name is None:
                raise SpaceError(f"cannot send an array of dtype {arr.dtype}; allowed: {', '.join(WIRE_DTYPES)}")
            if arr.dtype.byteorder == ">":
                arr = arr.astype(_DTYPE_OF[name])
            descs.append({"dtype": name, "shape": list(arr.shape)})
            blobs.append(arr.tobytes())  # C order, whatever the array's layout
        header["arrays"] = descs
    head = _dumps(header).encode()
    return b"".join([_U32.pack(len(head)), head, *blobs])


# ---------------------------------------------------------------- decoding


def _resolve(value: Any, arrays: list[np.ndarray]) -> Any:
    cls = type(value)
    if cls in _PLAIN:
        return value
    if cls is dict:
        if _ARRAY_KEY in value and len(value) == 1:
            k = value[_ARRAY_KEY]
            if type(k) is not int or not 0 <= k < len(arrays):
                raise MalformedMessage(
                    f"an array reference {{\"$array\": {_short(k)}}} must be an integer index into the "
                    f"{len(arrays)} array(s) the message's 'arrays' list declares"
                )
            return arrays[k]
        return {k: _resolve(v, arrays) for k, v in value.items()}
    if cls is list:
        return [_resolve(v, arrays) for v in value]
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


PAYLOAD_LAYOUT = "u32 little-endian header length H, H bytes of UTF-8 JSON header, then the arrays' raw bytes"


def read_header(payload: bytes, allowed: Mapping[str, tuple[str, ...]]) -> tuple[str, dict[str, Any], int]:
    """The ``type``, the other header fields (arrays unresolved) and the offset of the array data.

    Only the JSON header is parsed (within the limits of :mod:`vecbridge.protocol.safe_json`);
    nothing is allocated for the arrays it declares.
    """
    if len(payload) < 4:
        raise MalformedMessage(
            f"a message payload is: {PAYLOAD_LAYOUT}; this payload has only {len(payload)} byte(s)"
        )
    (head_len,) = _U32.unpack_from(payload, 0)
    if head_len > len(payload) - 4:
        hint = " (it starts with '{': the 4-byte header length is missing)" if payload[:1] == b"{" else ""
        raise MalformedMessage(
            f"a message payload is: {PAYLOAD_LAYOUT}; this payload's first 4 bytes say H = {head_len}, "
            f"but only {len(payload) - 4} byte(s) follow them{hint}"
        )
    header = loads_header(payload[4 : 4 + head_len])
    if type(header) is not dict:
        raise MalformedMessage(f"the header must be a JSON object, got a JSON {_json_kind(header)}")
    type_ = header.pop("type", None)
    if type(type_) is not str:
        raise MalformedMessage(f"the header needs a string 'type'; got {_short(type_)} (fields: {_short(list(header))})")
    if type_ not in allowed:
        raise UnknownMessageType(
            f"unknown message type {_short(type_)}; expected one of {', '.join(allowed)}", message_type=type_[:100]
        )
    missing = [f for f in allowed[type_] if f not in header]
    if missing:
        raise MalformedMessage(f"a {type_!r} message lacks the field(s) {', '.join(missing)}")
    return type_, header, 4 + head_len


def finish_message(payload: bytes, type_: str, header: dict[str, Any], offset: int) -> Message:
    """Slice the arrays ``header`` declares out of ``payload`` and resolve their references."""
    descs = header.pop("arrays", None)
    arrays = _slice_arrays(payload, offset, [] if descs is None else descs)
    raw_frames = header.pop("raw_frames", 0)
    if type(raw_frames) is not int or not 0 <= raw_frames <= MAX_RAW_FRAMES:
        raise MalformedMessage(f"'raw_frames' must be an integer from 0 to {MAX_RAW_FRAMES}, got {_short(raw_frames)}")
    return Message(type_, _resolve(header, arrays), raw_frames)


def resolve_raw(message: Message, frames: list[bytes]) -> Message:
    """Replace the message's ``{"$raw": k}`` values by uint8 arrays of the k-th following frame
    (the header's nesting is already bounded by the JSON screen, so the walk's recursion is too)."""

    def walk(value: Any) -> Any:
        cls = type(value)
        if cls is dict:
            if _RAW_KEY in value and len(value) == 1:
                k = value[_RAW_KEY]
                if type(k) is not int or not 0 <= k < len(frames):
                    raise MalformedMessage(
                        f"a raw frame reference {{\"$raw\": {_short(k)}}} points outside the {len(frames)} raw frame(s) sent"
                    )
                return np.frombuffer(frames[k], np.uint8)
            return {k: walk(v) for k, v in value.items()}
        if cls is list:
            return [walk(v) for v in value]
        return value

    message.fields = walk(message.fields)
    return message


def decode_message(payload: bytes, allowed: Mapping[str, tuple[str, ...]]) -> Message:
    """Parse one payload; ``allowed`` maps the message types this side may receive to their fields."""
    type_, header, offset = read_header(payload, allowed)
    return finish_message(payload, type_, header, offset)


def _json_kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), "null")


def _slice_arrays(payload: bytes, offset: int, descs: Any) -> list[np.ndarray]:
    if type(descs) is not list:
        raise MalformedMessage(f"'arrays' must be a list of {{dtype, shape}}, got {_short(descs)}")
    if len(descs) > MAX_ARRAYS:
        raise ArrayMismatch(f"the message declares {len(descs)} arrays; at most {MAX_ARRAYS} are allowed")
    arrays = []
    for k, desc in enumerate(descs):
        if type(desc) is not dict or "dtype" not in desc or "shape" not in desc:
            raise ArrayMismatch(f"array {k}: expected a descriptor {{\"dtype\": ..., \"shape\": [...]}}, got {_short(desc)}")
        name = desc["dtype"]
        dtype = _DTYPE_OF.get(name) if type(name) is str else None
        if dtype is None:
            raise ArrayMismatch(f"array {k}: unsupported dtype {_short(name)}; expected one of {', '.join(WIRE_DTYPES)}")
        shape = desc["shape"]
        # One pass for the common, valid shape; check_shape says what is wrong with any other.
        valid, size = type(shape) is list and len(shape) <= MAX_ARRAY_DIMS, 1
        if valid:
            for d in shape:
                if type(d) is not int or d < 0:
                    valid = False
                    break
                size *= d or 1
        if not valid or size > MAX_ARRAY_ELEMENTS:
            check_shape(shape, f"array {k}: 'shape'")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if offset + nbytes > len(payload):
            raise ArrayMismatch(
                f"array {k} ({name}{list(shape)}) needs {nbytes} bytes but only "
                f"{len(payload) - offset} remain in the message"
            )
        arrays.append(np.frombuffer(payload, dtype=dtype, count=count, offset=offset).reshape(shape))
        offset += nbytes
    if offset != len(payload):
        declared = "after its declared arrays (the 'arrays' list and the data disagree)" if descs else (
            f"after its header but declares no arrays (a message payload is: {PAYLOAD_LAYOUT})"
        )
        raise ArrayMismatch(f"the message carries {len(payload) - offset} byte(s) {declared}")
    return arrays


def check_shape(shape: Any, what: str, error: type = ArrayMismatch) -> tuple[int, ...]:
    """``shape`` as a tuple if it is a list of at most MAX_ARRAY_DIMS non-negative integers whose
    product (of the non-zero ones) is at most MAX_ARRAY_ELEMENTS; else ``error`` saying why."""
    if type(shape) is not list or not all(type(d) is int for d in shape):
        raise error(f"{what} must be a list of integers, got {_short(shape)}")
    if len(shape) > MAX_ARRAY_DIMS:
        raise error(f"{what} has {len(shape)} dimensions; at most {MAX_ARRAY_DIMS} are allowed")
    if any(d < 0 for d in shape):
        raise error(f"{what} has a negative dimension: {_short(shape)}")
    size = 1
    for d in shape:
        size *= d or 1
        if size > MAX_ARRAY_ELEMENTS:
            raise error(f"{what} {_short(shape)} is too large: at most {MAX_ARRAY_ELEMENTS} elements are allowed")
    return tuple(shape)

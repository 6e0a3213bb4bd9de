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
from vecbridge.protocol.spaces import WIRE_DTYPES, wire_dtype

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
_loads = json.JSONDecoder().decode


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
            if not isinstance(k, int) or not 0 <= k < len(arrays):
                raise MalformedMessage(f"an array reference {value!r} points outside the {len(arrays)} array(s) sent")
            return arrays[k]
        return {k: _resolve(v, arrays) for k, v in value.items()}
    if cls is list:
        return [_resolve(v, arrays) for v in value]
    return value


def decode_message(payload: bytes, allowed: Mapping[str, tuple[str, ...]]) -> Message:
    """Parse one payload; ``allowed`` maps the message types this side may receive to their fields."""
    if len(payload) < 4:
        raise MalformedMessage(f"a message needs a 4-byte header length; the payload has {len(payload)} byte(s)")
    (head_len,) = _U32.unpack_from(payload, 0)
    if head_len > len(payload) - 4:
        raise MalformedMessage(
            f"the header length says {head_len} bytes but only {len(payload) - 4} follow it (truncated message)"
        )
    try:
        header = _loads(payload[4 : 4 + head_len].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedMessage(f"the header is not UTF-8 JSON: {exc}") from None
    if not isinstance(header, dict):
        raise MalformedMessage(f"the header must be a JSON object, got {type(header).__name__}")
    type_ = header.pop("type", None)
    if not isinstance(type_, str):
        raise MalformedMessage(f"the header has no string 'type': {header!r}"[:300])
    if type_ not in allowed:
        raise UnknownMessageType(
            f"unknown message type {type_!r}; expected one of {', '.join(allowed)}", message_type=type_
        )
    missing = [f for f in allowed[type_] if f not in header]
    if missing:
        raise MalformedMessage(f"a {type_!r} message lacks the field(s) {', '.join(missing)}")
    descs = header.pop("arrays", None) or []
    arrays = _slice_arrays(payload, 4 + head_len, descs)
    raw_frames = header.pop("raw_frames", 0)
    if type(raw_frames) is not int or not 0 <= raw_frames <= MAX_RAW_FRAMES:
        raise MalformedMessage(f"'raw_frames' must be an integer from 0 to {MAX_RAW_FRAMES}, got {raw_frames!r}")
    return Message(type_, _resolve(header, arrays), raw_frames)


def resolve_raw(message: Message, frames: list[bytes]) -> Message:
    """Replace the message's ``{"$raw": k}`` values by uint8 arrays of the k-th following frame."""

    def walk(value: Any) -> Any:
        cls = type(value)
        if cls is dict:
            if _RAW_KEY in value and len(value) == 1:
                k = value[_RAW_KEY]
                if type(k) is not int or not 0 <= k < len(frames):
                    raise MalformedMessage(f"a raw frame reference {value!r} points outside the {len(frames)} raw frame(s) sent")
                return np.frombuffer(frames[k], np.uint8)
            return {k: walk(v) for k, v in value.items()}
        if cls is list:
            return [walk(v) for v in value]
        return value

    message.fields = walk(message.fields)
    return message


def _slice_arrays(payload: bytes, offset: int, descs: Any) -> list[np.ndarray]:
    if not isinstance(descs, list):
        raise MalformedMessage(f"'arrays' must be a list of {{dtype, shape}}, got {descs!r}"[:300])
    arrays = []
    for k, desc in enumerate(descs):
        try:
            dtype = _DTYPE_OF.get(desc["dtype"]) or wire_dtype(desc["dtype"])
            shape = desc["shape"]
        except (KeyError, TypeError, SpaceError) as exc:
            raise ArrayMismatch(f"array {k}: bad descriptor {desc!r}: {exc}") from None
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
            raise ArrayMismatch(f"array {k}: 'shape' must be a list of integers, got {shape!r}")
        shape = tuple(shape)
        if any(d < 0 for d in shape):
            raise ArrayMismatch(f"array {k}: negative dimension in shape {list(shape)}")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if offset + nbytes > len(payload):
            raise ArrayMismatch(
                f"array {k} ({dtype.name}{list(shape)}) needs {nbytes} bytes but only "
                f"{len(payload) - offset} remain in the message"
            )
        arrays.append(np.frombuffer(payload, dtype=dtype, count=count, offset=offset).reshape(shape))
        offset += nbytes
    if offset != len(payload):
        raise ArrayMismatch(
            f"the message carries {len(payload) - offset} byte(s) after its declared arrays "
            f"(the 'arrays' list and the data disagree)"
        )
    return arrays

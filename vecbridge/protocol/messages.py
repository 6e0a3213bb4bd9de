"""Messages: a JSON header plus raw array bytes, inside one frame payload (sans-I/O).

Payload layout (docs/protocol.md, "Messages")::

    u32 LE  H           length of the header in bytes
    H bytes header      UTF-8 JSON object: {"type": ..., ..., "arrays": [{"dtype", "shape"}, ...]}
    rest    array data  the arrays of "arrays", in order, little-endian, C order, no padding

Inside the header an array value is written ``{"$array": k}``, k indexing "arrays".
"""

from __future__ import annotations

import json
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
_WIRE_NAMES = frozenset(WIRE_DTYPES)


@dataclass
class Message:
    """One decoded message: its ``type`` and its fields, arrays already resolved."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)


# ---------------------------------------------------------------- encoding


def _extract(value: Any, arrays: list[np.ndarray]) -> Any:
    """Replace numpy arrays by ``{"$array": k}`` refs and numpy scalars by Python numbers."""
    if isinstance(value, np.ndarray):
        arrays.append(value)
        return {_ARRAY_KEY: len(arrays) - 1}
    if isinstance(value, Mapping):
        return {str(k): _extract(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_extract(v, arrays) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def encode_message(type_: str, fields: Mapping[str, Any] | None = None) -> bytes:
    """The payload bytes of a message; numpy arrays in ``fields`` travel as raw bytes."""
    arrays: list[np.ndarray] = []
    header = {"type": type_}
    if fields:
        header.update(_extract(fields, arrays))
    blobs: list[bytes] = []
    if arrays:
        descs = []
        for arr in arrays:
            dt = arr.dtype
            if dt.name not in _WIRE_NAMES:
                raise SpaceError(f"cannot send an array of dtype {dt}; allowed: {', '.join(sorted(_WIRE_NAMES))}")
            if dt.byteorder == ">":
                arr = arr.astype(dt.newbyteorder("<"))
            descs.append({"dtype": dt.name, "shape": list(arr.shape)})
            blobs.append(np.ascontiguousarray(arr).tobytes())
        header["arrays"] = descs
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    return b"".join([_U32.pack(len(head)), head, *blobs])


# ---------------------------------------------------------------- decoding


def _resolve(value: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(value, dict):
        if _ARRAY_KEY in value and len(value) == 1:
            k = value[_ARRAY_KEY]
            if not isinstance(k, int) or not 0 <= k < len(arrays):
                raise MalformedMessage(f"an array reference {value!r} points outside the {len(arrays)} array(s) sent")
            return arrays[k]
        return {k: _resolve(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
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
        header = json.loads(payload[4 : 4 + head_len])
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
    return Message(type_, _resolve(header, arrays))


def _slice_arrays(payload: bytes, offset: int, descs: Any) -> list[np.ndarray]:
    if not isinstance(descs, list):
        raise MalformedMessage(f"'arrays' must be a list of {{dtype, shape}}, got {descs!r}"[:300])
    arrays = []
    for k, desc in enumerate(descs):
        try:
            dtype = wire_dtype(desc["dtype"])
            shape = desc["shape"]
        except (KeyError, TypeError, SpaceError) as exc:
            raise ArrayMismatch(f"array {k}: bad descriptor {desc!r}: {exc}") from None
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
            raise ArrayMismatch(f"array {k}: 'shape' must be a list of integers, got {shape!r}")
        shape = tuple(shape)
        if any(d < 0 for d in shape):
            raise ArrayMismatch(f"array {k}: negative dimension in shape {list(shape)}")
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if offset + nbytes > len(payload):
            raise ArrayMismatch(
                f"array {k} ({dtype.name}{list(shape)}) needs {nbytes} bytes but only "
                f"{len(payload) - offset} remain in the message"
            )
        arrays.append(np.frombuffer(payload, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset).reshape(shape))
        offset += nbytes
    if offset != len(payload):
        raise ArrayMismatch(
            f"the message carries {len(payload) - offset} byte(s) after its declared arrays "
            f"(the 'arrays' list and the data disagree)"
        )
    return arrays

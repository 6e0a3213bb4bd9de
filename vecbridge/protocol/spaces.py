"""Space descriptions on the wire: JSON objects and gym-bizhawk type strings.

A game declares its spaces in its hello either as a JSON description
(``{"type": "Box", "low": 0, "high": 255, "shape": [84, 84, 3], "dtype": "uint8"}``)
or in gym-bizhawk's type strings (``"int 0 3"``, ``"float -1 1 [4]"``).
Both become ``gymnasium.spaces`` objects here; docs/protocol.md lists every form.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
from gymnasium import spaces

from vecbridge.errors import SpaceError

JsonSpace = dict[str, Any]

#: Array dtypes allowed on the wire (always little-endian, C order).
WIRE_DTYPES = (
    "bool", "int8", "uint8", "int16", "uint16", "int32", "uint32",
    "int64", "uint64", "float16", "float32", "float64",
)  # fmt: skip


def wire_dtype(name: Any) -> np.dtype:
    """The little-endian numpy dtype for a wire dtype name."""
    if str(name) not in WIRE_DTYPES:
        raise SpaceError(f"unsupported dtype {name!r}; expected one of {', '.join(WIRE_DTYPES)}")
    return np.dtype(str(name)).newbyteorder("<")


# ---------------------------------------------------------------- JSON form


def _bound(value: Any, shape: tuple[int, ...], dtype: np.dtype, default: float) -> np.ndarray:
    integer = np.issubdtype(dtype, np.integer)
    info = np.iinfo(dtype) if integer else None

    def num(v: Any) -> Any:
        if v is None:
            v = default
        elif isinstance(v, str) and v in ("inf", "+inf", "-inf"):
            v = float(v)
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SpaceError(f"a Box bound must be a number, 'inf', '-inf' or null, got {v!r}")
        if integer:  # stay in Python ints: int64/uint64 limits do not survive a float64
            if isinstance(v, float):
                v = info.max if v == math.inf else info.min if v == -math.inf else int(v)
            return min(max(v, int(info.min)), int(info.max))
        return v

    if isinstance(value, list):
        arr = np.array(_map_nested(value, num), dtype=dtype)
        if arr.shape != shape:
            raise SpaceError(f"a Box bound has shape {list(arr.shape)} but the Box has shape {list(shape)}")
        return arr
    return np.full(shape, num(value), dtype=dtype)


def _map_nested(value: Any, fn) -> Any:
    return [_map_nested(v, fn) for v in value] if isinstance(value, list) else fn(value)


def _shape(value: Any, what: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value):
        raise SpaceError(f"{what} must be a list of non-negative integers, got {value!r}")
    return tuple(value)


def space_from_json(desc: Any) -> spaces.Space:
    """A gymnasium space from its JSON description (or a type string / list of them)."""
    if isinstance(desc, str):
        return space_from_type_strings([desc])
    if isinstance(desc, list) and all(isinstance(d, str) for d in desc):
        return space_from_type_strings(desc)
    if not isinstance(desc, dict) or "type" not in desc:
        raise SpaceError(f"a space description must be an object with a 'type', got {desc!r}")
    kind = desc["type"]
    try:
        if kind == "Box":
            dtype = wire_dtype(desc.get("dtype", "float32"))
            shape = _shape(desc.get("shape", []), "Box 'shape'")
            low = _bound(desc.get("low"), shape, dtype, -math.inf)
            high = _bound(desc.get("high"), shape, dtype, math.inf)
            return spaces.Box(low=low, high=high, shape=shape, dtype=dtype.newbyteorder("="))
        if kind == "Discrete":
            return spaces.Discrete(int(desc["n"]), start=int(desc.get("start", 0)))
        if kind == "MultiDiscrete":
            nvec = np.array(desc["nvec"], dtype=np.int64)
            start = np.array(desc.get("start", np.zeros_like(nvec)), dtype=np.int64)
            return spaces.MultiDiscrete(nvec, start=start)
        if kind == "MultiBinary":
            n = desc["n"]
            return spaces.MultiBinary(list(n) if isinstance(n, list) else int(n))
        if kind == "Dict":
            sub = desc["spaces"]
            if not isinstance(sub, dict):
                raise SpaceError("Dict 'spaces' must be an object of name -> space")
            return spaces.Dict({str(k): space_from_json(v) for k, v in sub.items()})
        if kind == "Tuple":
            return spaces.Tuple([space_from_json(v) for v in desc["spaces"]])
    except SpaceError:
        raise
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise SpaceError(f"invalid {kind} description {desc!r}: {exc}") from None
    raise SpaceError(
        f"unknown space type {kind!r}; expected Box, Discrete, MultiDiscrete, MultiBinary, Dict or Tuple"
    )


def _json_bound(arr: np.ndarray) -> Any:
    if np.issubdtype(arr.dtype, np.integer) and arr.dtype.itemsize == 8:
        info = np.iinfo(arr.dtype)
        # int64 limits mean "unbounded": say so, rather than a number a double cannot hold
        to_json = lambda v: "inf" if v == info.max else "-inf" if v == info.min and info.min < 0 else int(v)  # noqa: E731
    elif np.issubdtype(arr.dtype, np.integer):
        to_json = int
    else:
        to_json = lambda v: _json_number(float(v))  # noqa: E731
    values = arr.tolist()
    flat = arr.reshape(-1).tolist()
    if flat and all(v == flat[0] for v in flat):
        return to_json(flat[0])
    return _map_nested(values, to_json) if isinstance(values, list) else to_json(values)


def _json_number(v: float) -> Any:
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return int(v) if float(v).is_integer() else float(v)


def space_to_json(space: spaces.Space) -> JsonSpace:
    """The JSON description of a gymnasium space (the inverse of :func:`space_from_json`)."""
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "low": _json_bound(space.low),
            "high": _json_bound(space.high),
            "shape": list(space.shape),
            "dtype": space.dtype.name,
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist(), "start": space.start.tolist()}
    if isinstance(space, spaces.MultiBinary):
        n = space.n
        return {"type": "MultiBinary", "n": list(n) if not isinstance(n, (int, np.integer)) else int(n)}
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_json(v) for k, v in space.spaces.items()}}
    if isinstance(space, spaces.Tuple):
        return {"type": "Tuple", "spaces": [space_to_json(v) for v in space.spaces]}
    raise SpaceError(f"vecbridge cannot put a {type(space).__name__} on the wire")


# ---------------------------------------------------------------- type strings

_ITEM = re.compile(
    r"^\s*(?P<kind>bool|int|float)"
    r"(?:\s+(?P<lo>[-+0-9.eE]+|-?inf)\s+(?P<hi>[-+0-9.eE]+|-?inf))?"
    r"\s*(?:\[\s*(?P<n>\d+)\s*\])?\s*$"
)


def parse_type_string(text: str) -> list[tuple[str, float | None, float | None]]:
    """``"int 0 3 [2]"`` -> ``[("int", 0, 3), ("int", 0, 3)]``."""
    m = _ITEM.match(text) if isinstance(text, str) else None
    if not m:
        raise SpaceError(
            f"invalid type string {text!r}; expected 'bool', 'int', 'int LO HI', 'float' or "
            f"'float LO HI', optionally followed by '[N]'"
        )
    kind, lo, hi, n = m["kind"], m["lo"], m["hi"], m["n"]
    if kind == "bool" and lo is not None:
        raise SpaceError(f"invalid type string {text!r}: 'bool' takes no bounds")
    try:
        lo_v = None if lo is None else (int(lo) if kind == "int" else float(lo))
        hi_v = None if hi is None else (int(hi) if kind == "int" else float(hi))
    except ValueError:
        raise SpaceError(f"invalid type string {text!r}: bounds of 'int' must be integers") from None
    if lo_v is not None and hi_v < lo_v:
        raise SpaceError(f"invalid type string {text!r}: HI ({hi}) is below LO ({lo})")
    return [(kind, lo_v, hi_v)] * (int(n) if n is not None else 1)


def _item_space(kind: str, lo, hi) -> spaces.Space:
    if kind == "bool":
        return spaces.Discrete(2)
    if kind == "int":
        if lo is None:
            return spaces.Box(np.iinfo(np.int64).min, np.iinfo(np.int64).max, shape=(), dtype=np.int64)
        return spaces.Discrete(hi - lo + 1, start=lo)
    return spaces.Box(-np.inf if lo is None else lo, np.inf if hi is None else hi, shape=(), dtype=np.float32)


def space_from_type_strings(items: list[str]) -> spaces.Space:
    """gym-bizhawk type strings -> a space.

    One item gives that item's space (``bool`` -> Discrete(2), ``int LO HI`` ->
    Discrete(HI-LO+1, start=LO), ``int`` -> int64 Box, ``float [LO HI]`` -> float32 Box).
    Several items (``[N]`` or a list) give, when all are discrete, a MultiDiscrete;
    when none is, a 1-D Box of the wider dtype with per-item bounds; otherwise a Tuple.
    """
    if isinstance(items, str):
        items = [items]
    parsed = [p for text in items for p in parse_type_string(text)]
    if not parsed:
        raise SpaceError("an empty list of type strings declares no space")
    if len(parsed) == 1 and items and "[" not in items[0]:
        return _item_space(*parsed[0])
    discrete = [k == "bool" or (k == "int" and lo is not None) for k, lo, _ in parsed]
    if all(discrete):
        lo = np.array([0 if k == "bool" else lo for k, lo, _ in parsed], dtype=np.int64)
        hi = np.array([1 if k == "bool" else hi for k, _, hi in parsed], dtype=np.int64)
        return spaces.MultiDiscrete(hi - lo + 1, start=lo)
    if not any(discrete):
        if any(k == "float" for k, _, _ in parsed):
            low = np.array([-np.inf if lo is None else lo for _, lo, _ in parsed], dtype=np.float32)
            high = np.array([np.inf if hi is None else hi for _, _, hi in parsed], dtype=np.float32)
            return spaces.Box(low, high, dtype=np.float32)
        info = np.iinfo(np.int64)
        low = np.array([info.min if lo is None else lo for _, lo, _ in parsed], dtype=np.int64)
        high = np.array([info.max if hi is None else hi for _, _, hi in parsed], dtype=np.int64)
        return spaces.Box(low, high, dtype=np.int64)
    return spaces.Tuple([_item_space(*p) for p in parsed])

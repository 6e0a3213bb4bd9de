"""Space descriptions on the wire: JSON objects and gym-bizhawk type strings.

A game declares its spaces in its hello either as a JSON description
(``{"type": "Box", "low": 0, "high": 255, "shape": [84, 84, 3], "dtype": "uint8"}``)
or in gym-bizhawk's type strings (``"int 0 3"``, ``"float -1 1 [4]"``).
Both become ``gymnasium.spaces`` objects here (the type strings through type_strings.py);
docs/protocol.md lists every form.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from vecbridge.errors import SpaceError
from vecbridge.protocol.limits import INT64_MAX, INT64_MIN, MAX_ARRAY_DIMS, MAX_JSON_DEPTH, MAX_SPACE_ELEMENTS
from vecbridge.protocol.space_budget import Budget, short
from vecbridge.protocol.type_strings import parse_type_string, space_from_type_strings, type_strings_space

__all__ = ["WIRE_DTYPES", "JsonSpace", "parse_type_string", "space_from_json", "space_from_type_strings",
           "space_to_json", "wire_dtype"]  # fmt: skip

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


def _integer(value: Any, what: str, low: int = INT64_MIN, high: int = INT64_MAX) -> int:
    """An integer in [low, high]: a JSON integer, or a float with no fraction (Lua 5.1 numbers)."""
    if type(value) is float and math.isfinite(value) and value.is_integer():
        value = int(value)
    if type(value) is not int and not isinstance(value, np.integer):
        raise SpaceError(f"{what} must be an integer, got {short(value)}")
    value = int(value)
    if not low <= value <= high:
        raise SpaceError(f"{what} must be an integer in [{low}, {high}], got {short(value)}")
    return value


def _shape(value: Any, what: str, budget: Budget) -> tuple[int, ...]:
    if type(value) is int:
        value = [value]
    if type(value) is not list or not all(type(d) is int and d >= 0 for d in value):
        raise SpaceError(f"{what} must be a list of non-negative integers, got {short(value)}")
    if len(value) > MAX_ARRAY_DIMS:
        raise SpaceError(f"{what} has {len(value)} dimensions; at most {MAX_ARRAY_DIMS} are allowed")
    size = 1
    for d in value:  # one at a time: [0, 10**20] must not slip through as 0 elements
        if d > MAX_SPACE_ELEMENTS:
            raise SpaceError(f"{what} {short(value)} has a dimension above {MAX_SPACE_ELEMENTS} (vecbridge's limit)")
        size *= d
    budget.charge(size, f"{what} {short(value)}")
    return tuple(value)


def _nested_shape(value: Any, what: str, budget: Budget) -> tuple[int, ...]:
    """The shape of a nested list of equal-length lists (the form of MultiDiscrete's nvec)."""
    shape: list[int] = []
    level = value
    while type(level) is list:
        if len(shape) >= MAX_ARRAY_DIMS:
            raise SpaceError(f"{what} nests deeper than {MAX_ARRAY_DIMS} dimensions")
        shape.append(len(level))
        if not level:
            break
        level = level[0]
    return _shape(shape, what, budget)


def _nested(value: Any, shape: tuple[int, ...], fn, what: str) -> list:
    """Map ``fn`` over a nested list that must have exactly ``shape``."""
    if not shape:
        if type(value) is list:
            raise SpaceError(f"{what}: a nested list is deeper than the shape {list(shape)} it must have")
        return fn(value)
    if type(value) is not list or len(value) != shape[0]:
        got = f"a list of {len(value)}" if type(value) is list else short(value)
        raise SpaceError(f"{what}: expected a nested list of shape {list(shape)}, got {got} at a level of length {shape[0]}")
    return [_nested(v, shape[1:], fn, what) for v in value]


def _bound(value: Any, shape: tuple[int, ...], dtype: np.dtype, default: float, what: str) -> np.ndarray:
    integer = np.issubdtype(dtype, np.integer)
    info = np.iinfo(dtype) if integer else None

    def num(v: Any) -> Any:
        if v is None:
            v = default
        elif type(v) is str and v in ("inf", "+inf", "-inf"):
            v = float(v)
        elif type(v) not in (int, float) or (type(v) is float and math.isnan(v)):
            raise SpaceError(f"Box {what} must be a number, 'inf', '-inf' or null, got {short(v)}")
        if integer:  # stay in Python ints: int64/uint64 limits do not survive a float64
            if type(v) is float:
                v = info.max if v == math.inf else info.min if v == -math.inf else int(v)
            return min(max(v, int(info.min)), int(info.max))
        return float(v)

    with np.errstate(over="ignore"):  # 1e39 as a float32 bound is +inf, as NumPy rounds it
        if type(value) is list:
            return np.array(_nested(value, shape, num, f"Box {what}"), dtype=dtype).reshape(shape)
        return np.full(shape, num(value), dtype=dtype)


def space_from_json(desc: Any) -> spaces.Space:
    """A gymnasium space from its JSON description (or a type string / list of them).

    Raises :class:`SpaceError` for anything else, naming what was expected and what came,
    within the limits of vecbridge.protocol.limits (elements, dimensions, integer ranges).
    """
    return _space(desc, Budget(), 0)


def _space(desc: Any, budget: Budget, depth: int) -> spaces.Space:
    if depth > MAX_JSON_DEPTH:
        raise SpaceError(f"a space description nests deeper than {MAX_JSON_DEPTH} levels")
    if type(desc) is str:
        return type_strings_space([desc], budget)
    if type(desc) is list and desc and all(type(d) is str for d in desc):
        return type_strings_space(desc, budget)
    if type(desc) is not dict or type(desc.get("type")) is not str:
        raise SpaceError(
            f"a space description must be an object with a string 'type', a type string or a list of "
            f"type strings; got {short(desc)}"
        )
    kind = desc["type"]
    maker = _MAKERS.get(kind)
    if maker is None:
        raise SpaceError(
            f"unknown space type {short(kind)}; expected Box, Discrete, MultiDiscrete, MultiBinary, Dict or Tuple"
        )
    try:
        return maker(desc, budget, depth)
    except SpaceError:
        raise
    except (KeyError, TypeError, ValueError, AssertionError, OverflowError, IndexError) as exc:
        raise SpaceError(f"invalid {kind} description {short(desc)}: {type(exc).__name__}: {exc}") from None
    except MemoryError:  # within the element limit, but more than this machine has free
        raise SpaceError(f"the {kind} space {short(desc)} needs more memory than is available") from None


def _field(desc: dict, name: str) -> Any:
    if name not in desc:
        raise SpaceError(f"a {desc['type']} description needs {name!r}; got {short(desc)}")
    return desc[name]


def _box(desc: dict, budget: Budget, depth: int) -> spaces.Space:
    name = desc.get("dtype", "float32")
    if type(name) is not str or name not in WIRE_DTYPES:
        raise SpaceError(f"Box 'dtype' must be one of {', '.join(WIRE_DTYPES)}; got {short(name)}")
    dtype = np.dtype(name)
    shape = _shape(desc.get("shape", []), "Box 'shape'", budget)
    low = _bound(desc.get("low"), shape, dtype, -math.inf, "'low'")
    high = _bound(desc.get("high"), shape, dtype, math.inf, "'high'")
    return spaces.Box(low=low, high=high, shape=shape, dtype=dtype)


def _discrete(desc: dict, budget: Budget, depth: int) -> spaces.Space:
    n = _integer(_field(desc, "n"), "Discrete 'n'", 1)
    start = _integer(desc.get("start", 0), "Discrete 'start'")
    if start + n - 1 > INT64_MAX:
        raise SpaceError(f"Discrete start {start} + n {n} - 1 passes the int64 range")
    budget.charge(1, "a Discrete")
    return spaces.Discrete(n, start=start)


def _multi_discrete(desc: dict, budget: Budget, depth: int) -> spaces.Space:
    nvec = _field(desc, "nvec")
    shape = _nested_shape(nvec, "MultiDiscrete 'nvec'", budget)
    nvec = np.array(_nested(nvec, shape, lambda v: _integer(v, "MultiDiscrete 'nvec'", 1), "MultiDiscrete 'nvec'"),
                    dtype=np.int64).reshape(shape)  # fmt: skip
    if "start" in desc:
        start = np.array(_nested(desc["start"], shape, lambda v: _integer(v, "MultiDiscrete 'start'"),
                                 "MultiDiscrete 'start'"), dtype=np.int64).reshape(shape)  # fmt: skip
        if np.any(start.astype(object) + nvec.astype(object) - 1 > INT64_MAX):  # (a 0-d nvec compares to a bool)
            raise SpaceError("MultiDiscrete start + nvec - 1 passes the int64 range")
    else:
        start = np.zeros(shape, dtype=np.int64)
    return spaces.MultiDiscrete(nvec, start=start)


def _multi_binary(desc: dict, budget: Budget, depth: int) -> spaces.Space:
    n = _field(desc, "n")
    shape = _shape(n, "MultiBinary 'n'", budget)
    if not all(shape):  # gymnasium asserts with no message
        raise SpaceError(f"MultiBinary 'n' must be positive (a count, or a shape of positive sizes), got {short(n)}")
    return spaces.MultiBinary(list(shape) if type(n) is list else shape[0])


def _dict(desc: dict, budget: Budget, depth: int) -> spaces.Space:
    sub = _field(desc, "spaces")
    if type(sub) is not dict:
        raise SpaceError(f"Dict 'spaces' must be an object of name -> space, got {short(sub)}")
    budget.charge_subspaces(len(sub), f"a Dict of {len(sub)} spaces")
    return spaces.Dict({k: _space(v, budget, depth + 1) for k, v in sub.items()})


def _tuple(desc: dict, budget: Budget, depth: int) -> spaces.Space:
    sub = _field(desc, "spaces")
    if type(sub) is not list:
        raise SpaceError(f"Tuple 'spaces' must be a list of spaces, got {short(sub)}")
    budget.charge_subspaces(len(sub), f"a Tuple of {len(sub)} spaces")
    return spaces.Tuple([_space(v, budget, depth + 1) for v in sub])


_MAKERS = {
    "Box": _box,
    "Discrete": _discrete,
    "MultiDiscrete": _multi_discrete,
    "MultiBinary": _multi_binary,
    "Dict": _dict,
    "Tuple": _tuple,
}


def _map_nested(value: Any, fn) -> Any:
    return [_map_nested(v, fn) for v in value] if isinstance(value, list) else fn(value)


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

"""Values of a space: their wire form, their validity, and how errors describe them.

One home for what a value of a Gymnasium space looks like on the wire (Discrete: a
JSON integer; Box, MultiDiscrete, MultiBinary: a raw little-endian array; Dict and
Tuple: objects and lists of those), which values fit a space, and the words errors use
for both. The connections (both ends), the single-instance env and the vector env all
use these functions: nothing else checks a value against a space.
"""

from __future__ import annotations

import reprlib
from typing import Any

import numpy as np
from gymnasium import spaces

from vecbridge.errors import ArrayMismatch, InvalidAction, VecBridgeError


def encode_value(space: spaces.Space, value: Any) -> Any:
    """A value of ``space`` in its wire form (Discrete: an int; arrays: numpy arrays)."""
    if isinstance(space, spaces.Discrete):
        return int(value)
    if isinstance(space, spaces.Dict):
        return {k: encode_value(sub, value[k]) for k, sub in space.spaces.items()}
    if isinstance(space, spaces.Tuple):
        return [encode_value(sub, v) for sub, v in zip(space.spaces, value)]
    arr = np.asarray(value, dtype=space.dtype)
    if arr.shape != space.shape:
        raise ArrayMismatch(f"expected shape {list(space.shape)}, got {list(arr.shape)}")
    return arr


# Bounded: a received value may be a list of a million items or an int of 4,000 digits.
_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxlist, _repr.maxdict, _repr.maxstring, _repr.maxother = 3, 6, 4, 60, 60
_repr.maxlong = 40
_JSON_KIND = {int: "integer", float: "number", str: "string"}


def with_article(word: str) -> str:
    """``word`` with its indefinite article: "an int32", "a uint8", "a float32"."""
    return f"{'an' if word[:1].lower() in 'aeio' else 'a'} {word}"


def describe_value(value: Any) -> str:
    """A short description of a received value, for error messages."""
    if isinstance(value, np.ndarray):
        return f"{with_article(value.dtype.name)} array of shape {list(value.shape)}"
    if isinstance(value, (list, dict)):
        return f"a JSON {'list' if isinstance(value, list) else 'object'} {_repr.repr(value)}"
    if value is None or type(value) is bool:
        return "null" if value is None else str(value).lower()
    kind = _JSON_KIND.get(type(value), type(value).__name__)
    return f"{kind} {_repr.repr(value)}"


def describe_space(space: spaces.Space) -> str:
    """What a value of ``space`` must be, in words, for error messages."""
    if isinstance(space, spaces.Discrete):
        return f"an integer in [{space.start}, {space.start + space.n - 1}] (Discrete({space.n}))"
    if isinstance(space, spaces.MultiBinary):
        return f"{with_article(space.dtype.name)} array of shape {list(space.shape)} of 0s and 1s (MultiBinary)"
    if isinstance(space, spaces.MultiDiscrete):
        start = np.asarray(space.start)
        offset = f", start={_repr.repr(start.tolist())}" if start.any() else ""
        return (f"{with_article(space.dtype.name)} array of shape {list(space.shape)} "
                f"(MultiDiscrete(nvec={_repr.repr(np.asarray(space.nvec).tolist())}{offset}))")  # fmt: skip
    if isinstance(space, spaces.Box):
        return f"{with_article(space.dtype.name)} array of shape {list(space.shape)} (Box)"
    return repr(space)


def in_discrete(space: spaces.Discrete, value: int) -> bool:
    return space.start <= value < space.start + space.n


def _integer_bounds(space: spaces.Space) -> tuple[Any, Any] | None:
    """The lowest and highest value of an integer space (Discrete, MultiDiscrete, MultiBinary), else None."""
    if isinstance(space, spaces.Discrete):
        return space.start, space.start + space.n - 1
    if isinstance(space, spaces.MultiDiscrete):
        return space.start, space.start + space.nvec - 1
    if isinstance(space, spaces.MultiBinary):
        return 0, 1
    return None


def first_invalid(space: spaces.Space, batch: np.ndarray) -> int | None:
    """The index of the first row of ``batch`` (one value of ``space`` per row) that
    ``space`` does not contain, or None. Integer spaces (Discrete, MultiDiscrete,
    MultiBinary) are checked here: their bounds, and whole numbers only (a float such as
    1.7 or NaN would be cast to some other value, and a MultiBinary 2 presses another
    button). A Box's dtype and shape are checked by the caller's array copy."""
    bounds = _integer_bounds(space)
    if bounds is None:
        return None
    low, high = bounds
    kind = batch.dtype.kind
    if kind in "iu" and batch.size and isinstance(space, spaces.Discrete):  # few values: Python's min/max beat numpy's
        values = batch.tolist()
        if low <= min(values) and max(values) <= high:
            return None
    if kind == "b":
        bad = (batch < low) | (batch > high)
    elif kind in "iuf":
        bad = ~((batch >= low) & (batch <= high))  # NaN compares false: out
        if kind == "f":
            bad |= batch != np.floor(batch)
    elif kind == "O":  # Python objects: each row on its own (ints may sit beside a None or a string)
        bad = ~_whole_in(batch, low, high).astype(np.bool_)
    else:  # strings, bytes, complex numbers: no row holds an integer value
        return 0 if len(batch) else None
    if bad.ndim > 1:
        bad = bad.any(axis=tuple(range(1, bad.ndim)))
    return int(np.flatnonzero(bad)[0]) if bad.any() else None


def _whole(x: Any, low: Any, high: Any) -> bool:
    """An object that is a whole number (an int, a bool, or a float without a fraction) in [low, high]."""
    if isinstance(x, (float, np.floating)):
        return float(x).is_integer() and low <= x <= high  # NaN and infinities are not
    return isinstance(x, (int, np.integer, np.bool_)) and low <= x <= high  # Python ints: compared exactly


_whole_in = np.frompyfunc(_whole, 3, 1)  # element-wise over an object batch, the bounds broadcast along


def _leaf_fits(space: spaces.Space, value: Any) -> bool:
    if isinstance(space, spaces.Dict):
        return all(_leaf_fits(sub, value[k]) for k, sub in space.spaces.items())
    if isinstance(space, spaces.Tuple):
        return all(_leaf_fits(sub, v) for sub, v in zip(space.spaces, value))
    return _integer_bounds(space) is None or first_invalid(space, np.asarray(value)[None]) is None


def check_action(space: spaces.Space, action: Any, instance: int) -> Any:
    """``action`` in its wire form, or :class:`InvalidAction` naming the instance and what was expected."""
    try:
        wire = encode_value(space, action)
        fits = _leaf_fits(space, action)
    except (TypeError, ValueError, KeyError, IndexError, VecBridgeError) as exc:
        raise InvalidAction(f"instance {instance}: expected an action of {describe_space(space)}; got {action!r} ({exc})") from None
    if not fits:
        raise InvalidAction(f"instance {instance}: expected an action of {describe_space(space)}; got {action!r}")
    return wire


def decode_value(space: spaces.Space, value: Any, what: str = "value") -> Any:
    """Check a received value against ``space``; returns it in its Python/numpy form."""
    if isinstance(space, spaces.Discrete):
        if isinstance(value, np.ndarray) and value.shape == () and np.issubdtype(value.dtype, np.integer):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ArrayMismatch(f"{what}: expected {describe_space(space)}, got {describe_value(value)}")
        if not in_discrete(space, value):
            raise ArrayMismatch(f"{what}: expected {describe_space(space)}, got {value}")
        return value
    if isinstance(space, spaces.Dict):
        if not isinstance(value, dict) or set(value) != set(space.spaces):
            got = sorted(value) if isinstance(value, dict) else describe_value(value)
            raise ArrayMismatch(f"{what}: expected an object with keys {sorted(space.spaces)}, got {got}")
        return {k: decode_value(sub, value[k], f"{what}[{k!r}]") for k, sub in space.spaces.items()}
    if isinstance(space, spaces.Tuple):
        if not isinstance(value, list) or len(value) != len(space.spaces):
            raise ArrayMismatch(f"{what}: expected a list of {len(space.spaces)} values, got {describe_value(value)}")
        return tuple(decode_value(sub, v, f"{what}[{i}]") for i, (sub, v) in enumerate(zip(space.spaces, value)))
    if not isinstance(value, np.ndarray):
        raise ArrayMismatch(
            f"{what}: expected {describe_space(space)} sent as raw bytes, got {describe_value(value)}"
        )
    if value.dtype != space.dtype or value.shape != space.shape:
        raise ArrayMismatch(f"{what}: expected {describe_space(space)}, got {describe_value(value)}")
    return value


def owned_copy(value: Any) -> Any:
    """Observations arrive as read-only views of a received frame: the user's own arrays."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: owned_copy(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(owned_copy(v) for v in value)
    return value


def writeable(value: Any) -> Any:
    """``value`` with each read-only array in it (a view of a received frame) replaced by a copy; the rest as it is."""
    if isinstance(value, np.ndarray):
        return value if value.flags.writeable else value.copy()
    if type(value) is dict:
        return {k: writeable(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(writeable(v) for v in value)
    return value

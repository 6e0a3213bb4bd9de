"""gym-bizhawk's type strings (``"bool"``, ``"int 0 3"``, ``"float -1 1 [4]"``) as gymnasium spaces.

The forms, and the space each list of them becomes, are in docs/protocol.md; a processor's
``ACTION`` and ``OBSERVATION`` are written in them.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from gymnasium import spaces

from vecbridge.errors import SpaceError
from vecbridge.protocol.limits import INT64_MAX, INT64_MIN, MAX_TYPE_STRING_ITEMS, MAX_TYPE_STRING_LENGTH
from vecbridge.protocol.space_budget import Budget, short

_ITEM = re.compile(
    r"^\s*(?P<kind>bool|int|float)"
    r"(?:\s+(?P<lo>[-+0-9.eE]+|-?inf)\s+(?P<hi>[-+0-9.eE]+|-?inf))?"
    r"\s*(?:\[\s*(?P<n>\d+)\s*\])?\s*$"
)
_TYPE_STRING_FORMS = "'bool', 'int', 'int LO HI', 'float' or 'float LO HI', optionally followed by '[N]'"


def _parse_item(text: Any) -> tuple[tuple[str, Any, Any], int]:
    """``"int 0 3 [2]"`` -> ``(("int", 0, 3), 2)``: the item and how many copies."""
    if type(text) is not str:
        raise SpaceError(f"a type string must be a string, got {short(text)}")
    if len(text) > MAX_TYPE_STRING_LENGTH:
        raise SpaceError(f"a type string is {len(text)} characters long; at most {MAX_TYPE_STRING_LENGTH} are allowed")
    m = _ITEM.match(text)
    if not m:
        raise SpaceError(f"invalid type string {text!r}; expected {_TYPE_STRING_FORMS}")
    kind, lo, hi, n = m["kind"], m["lo"], m["hi"], m["n"]
    if kind == "bool" and lo is not None:
        raise SpaceError(f"invalid type string {text!r}: 'bool' takes no bounds")
    if lo is None:
        lo_v = hi_v = None
    elif kind == "int":
        try:
            lo_v, hi_v = int(lo), int(hi)
        except ValueError:
            raise SpaceError(f"invalid type string {text!r}: bounds of 'int' must be integers") from None
        if not (INT64_MIN <= lo_v and hi_v <= INT64_MAX and hi_v - lo_v < INT64_MAX):
            raise SpaceError(f"invalid type string {text!r}: 'int' bounds must lie in the int64 range")
    else:
        try:
            lo_v, hi_v = float(lo), float(hi)
        except ValueError:
            raise SpaceError(f"invalid type string {text!r}: bounds of 'float' must be numbers") from None
    if lo_v is not None and hi_v < lo_v:
        raise SpaceError(f"invalid type string {text!r}: HI ({hi}) is below LO ({lo})")
    count = 1 if n is None else int(n) if len(n) <= 9 else MAX_TYPE_STRING_ITEMS + 1
    if count > MAX_TYPE_STRING_ITEMS:
        raise SpaceError(f"invalid type string {text!r}: at most {MAX_TYPE_STRING_ITEMS} items are allowed")
    return (kind, lo_v, hi_v), count


def parse_type_string(text: str) -> list[tuple[str, float | None, float | None]]:
    """``"int 0 3 [2]"`` -> ``[("int", 0, 3), ("int", 0, 3)]``."""
    item, count = _parse_item(text)
    return [item] * count


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
    return type_strings_space([items] if type(items) is str else items, Budget())


def type_strings_space(items: list[str], budget: Budget) -> spaces.Space:
    """:func:`space_from_type_strings`, charging ``budget`` (the enclosing JSON description's, when nested)."""
    if type(items) is not list:
        raise SpaceError(f"type strings must be a string or a list of strings, got {short(items)}")
    counted = [_parse_item(text) for text in items]
    total = sum(count for _, count in counted)
    if total > MAX_TYPE_STRING_ITEMS:
        raise SpaceError(f"the type strings declare {total} items; at most {MAX_TYPE_STRING_ITEMS} are allowed")
    budget.charge(total, "the type strings")
    parsed = [item for item, count in counted for _ in range(count)]
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
    budget.charge_subspaces(len(parsed), f"type strings mixing discrete and continuous items (a Tuple of {len(parsed)})")
    return spaces.Tuple([_item_space(*p) for p in parsed])

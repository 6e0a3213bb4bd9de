"""Typed checks of received message fields (sans-I/O): what each end accepts, and the words of its refusal.

A field of the wrong JSON type is a :class:`MalformedMessage` naming the field, what it must
be and what came (docs/protocol.md, section 4: optional fields may be absent or null).
"""

from __future__ import annotations

import math
from typing import Any

from vecbridge.errors import MalformedMessage
from vecbridge.protocol.values import describe_value


def info_object(value: Any, request: str) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise MalformedMessage(f"a {request}_result's 'info' must be a JSON object or null, got {describe_value(value)}")
    return value


def optional(value: Any, kind: type, what: str) -> Any:
    """``value`` if it is null or of JSON type ``kind``, else MalformedMessage naming both."""
    if value is None or type(value) is kind:
        return value
    expected = {dict: "an object", list: "a list", str: "a string", int: "an integer"}[kind]
    raise MalformedMessage(f"{what} must be {expected} or null, got {describe_value(value)}")


def finite_reward(value: Any) -> float:
    """A step_result's reward as a float64: a JSON number, finite (not NaN, inf or 1e400, not 401 digits)."""
    if type(value) is float:
        if math.isfinite(value):
            return value
    elif type(value) is int:
        try:
            return float(value)
        except OverflowError:  # e.g. 401 digits
            pass
    raise MalformedMessage(f"step_result 'reward' must be a finite number (a float64), got {describe_value(value)}")


def is_int(value: Any) -> bool:
    return type(value) is int

"""Command-line values shared by every command: ``KEY=VALUE`` pairs (``-o level=2``, ``--ppo learning_rate=1e-3``), counts."""

from __future__ import annotations

import argparse
import json
from typing import Any, Sequence

from vecbridge.errors import UsageError


def parse_pairs(pairs: Sequence[str] | None, flag: str = "--option") -> dict[str, Any]:
    """``["key=value", ...]`` to a dict; values are JSON where they parse (``3``, ``1e-3``, ``[64, 64]``), else strings."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} takes KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _whole(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (``--num-envs 0`` is refused by argparse, in one line)."""
    return _whole(text, 1)


def nonnegative_int(text: str) -> int:
    """An argparse type: a whole number of at least 0 (``--num-workers 0``: no worker process)."""
    return _whole(text, 0)


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0 (``--seconds``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value

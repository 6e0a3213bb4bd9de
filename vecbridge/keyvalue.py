"""``KEY=VALUE`` command-line pairs (``-o level=2``, ``--ppo learning_rate=1e-3``), shared by every command."""

from __future__ import annotations

import json
from typing import Any, Sequence


def parse_pairs(pairs: Sequence[str] | None, flag: str = "--option") -> dict[str, Any]:
    """``["key=value", ...]`` to a dict; values are JSON where they parse (``3``, ``1e-3``, ``[64, 64]``), else strings."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"{flag} takes KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out

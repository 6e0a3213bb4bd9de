"""Checking a built-in game's options in Python, before anything launches.

A game reads the options it knows from its config and ignores the rest, so a misspelt
option (``frame_skip=1``) ran silently with the default, and ``frameskip=2.5`` was floored
(found by a user's trial). A :class:`~vecbridge.launch.spec.LaunchSpec` may name the options
its game reads (``known_options``); then these checks turn anything else into one error when
the spec gets its options (``make()``, ``-o``), before anything launches.
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping

import numpy as np

from vecbridge.errors import GameOptionError


def check_options(game: str, config: Mapping[str, Any], known_options: Mapping[str, int | None]) -> None:
    """:class:`GameOptionError` for an option ``game`` does not read (with the nearest known name), or for
    one whose ``known_options`` entry is a number (the least value) that is not a whole number at least that."""
    known = sorted(known_options)
    unknown = sorted(set(config) - set(known))
    if unknown:
        near = [m for u in unknown for m in difflib.get_close_matches(u, known, n=1, cutoff=0.7)]
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise GameOptionError(f"{game} has no game option(s) {', '.join(unknown)}{hint}; its options: {', '.join(known)}")
    for name, least in known_options.items():
        if least is None or name not in config:
            continue
        value = config[name]
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < least:
            raise GameOptionError(f"{game}: the game option {name} must be a whole number, {least} or more; got {value!r}")

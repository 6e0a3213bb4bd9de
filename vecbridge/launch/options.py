"""Checking a built-in game's options in Python, before anything launches.

A game reads the options it knows from its config and ignores the rest, so a misspelt
option (``frame_skip=1``) ran silently with the default, and ``frameskip=2.5`` was floored
(found by a user's trial). A :class:`~vecbridge.launch.spec.LaunchSpec` may name the options
its game reads (``known_options``); then these checks turn anything else into one error when
the spec gets its options (``make()``, ``-o``), before anything launches. A Python game's
options are its constructor's keyword parameters (:func:`keyword_options`), read from its
signature, here and in the game process alike.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable, Mapping

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


def keyword_options(factory: Callable[..., Any]) -> list[str] | None:
    """The option names ``factory(**options)`` takes (its keyword parameters; for a class, its
    ``__init__``'s), or None when its signature does not say: it takes ``**kwargs``, or has none."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

"""Action masks: which actions a game allows now (docs/protocol.md, "Action masks"; sans-I/O).

A game that declares ``"action_mask": true`` in its hello's metadata sends, with every
``reset_result`` and ``step_result``, a 1-D ``bool`` array in sb3-contrib's ``MaskablePPO``
layout: ``n`` entries for ``Discrete(n)``, each dimension's values in turn for
``MultiDiscrete`` (``sum(nvec)`` entries), two per bit (off, on) for ``MultiBinary``, and each
item's in turn for a ``Tuple`` of those (gym-bizhawk's exact action form).
The host keeps the latest mask of each instance in the shared buffers
(``envs.action_masks()``), never in a pickled info.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from vecbridge.errors import ArrayMismatch, SpaceError
from vecbridge.protocol.values import describe_value

MASK_LAYOUT = "Discrete(n): n entries; MultiDiscrete: sum(nvec); MultiBinary(n): 2n; Tuple: each item's in turn"


def mask_size(action_space: spaces.Space) -> int:
    """The number of entries of an action mask for ``action_space`` (SpaceError if it takes none)."""
    if isinstance(action_space, spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, spaces.MultiDiscrete):
        return int(np.sum(action_space.nvec, dtype=np.int64))
    if isinstance(action_space, spaces.MultiBinary):
        return 2 * int(np.prod(action_space.shape, dtype=np.int64))
    if isinstance(action_space, spaces.Tuple) and action_space.spaces:  # gym-bizhawk's exact form: each item in turn
        return sum(mask_size(item) for item in action_space.spaces)
    raise SpaceError(
        f"an action mask needs a Discrete, MultiDiscrete or MultiBinary action space (or a Tuple of them), got {action_space}; "
        f"a game with another action space must not declare metadata.action_mask"
    )


def check_mask(value: Any, size: int, what: str) -> np.ndarray:
    """``value`` as a ``bool`` array of ``size`` entries, or ArrayMismatch naming what came."""
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.shape[0] == size:
        if value.dtype == np.bool_:
            return value
        if value.dtype.kind in "ui" and ((value == 0) | (value == 1)).all():
            return value.astype(np.bool_)
    elif isinstance(value, (list, tuple)) and len(value) == size and all(type(v) is bool for v in value):
        return np.array(value, np.bool_)
    raise ArrayMismatch(
        f"{what}: the game declared metadata.action_mask, so it must send 'action_mask' as a bool array of "
        f"{size} entries ({MASK_LAYOUT}), got {'none (no such field, or null)' if value is None else describe_value(value)}"
    )

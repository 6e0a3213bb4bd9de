"""The vector env's arguments, checked before anything is sent: actions, seeds, reset masks, env ids.

A bad argument raises here, in the caller's thread, with nothing in flight; found while the
requests go out, it would leave part of a batch sent.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from gymnasium import spaces

from vecbridge.errors import InvalidAction
from vecbridge.protocol.values import describe_space, first_invalid

MAX_SEED = 2**53  # docs/protocol.md, section 4: so that every JSON parser (JavaScript's too) reads a seed exactly


def check_seed(seed: Any, what: str = "seed") -> int | None:
    """``seed`` as an int (None stays None): an integer in [0, 2**53)."""
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{what} must be an integer or None, got {seed!r} ({type(seed).__name__})")
    if not 0 <= seed < MAX_SEED:
        raise ValueError(f"{what} must be in [0, 2**53) (so that every game reads it exactly), got {seed}")
    return int(seed)


def seeds_for(num_envs: int, seed: int | Sequence[int | None] | None) -> list[int | None]:
    """One seed per instance: ``seed + i`` for an integer, the list itself for a list of ``num_envs``."""
    if seed is None:
        return [None] * num_envs
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)):
        first = check_seed(seed)
        check_seed(first + num_envs - 1, f"seed + {num_envs - 1} (the seed of instance {num_envs - 1})")
        return [first + i for i in range(num_envs)]
    try:
        count = len(seed)
    except TypeError:  # no length: a number of another kind, or a 0-d array or tensor (whose len() raises)
        count = None
    if count is None or isinstance(seed, (str, bytes, float, np.floating, bool, np.bool_)):
        zero_d = " (a 0-d array: pass int(seed))" if getattr(seed, "ndim", None) == 0 else ""
        raise TypeError(f"seed must be an integer, a list of {num_envs} integers (or None), or None; "
                        f"got {seed!r} ({type(seed).__name__}){zero_d}")  # fmt: skip
    if count != num_envs:
        raise ValueError(f"expected {num_envs} seeds, got {len(seed)}")
    return [check_seed(s, f"seed[{i}]") for i, s in enumerate(seed)]


def reset_ids(num_envs: int, options: dict[str, Any] | None) -> tuple[list[int], dict[str, Any] | None]:
    """The instances a reset is for (``options["reset_mask"]``, default all) and the options left for the games."""
    if options is not None and not isinstance(options, Mapping):  # dict() would fail on it, or take a list of pairs
        raise TypeError(f"options must be a dict (or None), got {options!r} ({type(options).__name__})")
    options = dict(options or {})
    mask = options.pop("reset_mask", None)
    if mask is None:
        return list(range(num_envs)), options or None
    mask = np.asarray(mask)
    if mask.shape != (num_envs,) or mask.dtype != np.bool_:
        raise ValueError(f"options['reset_mask'] must be a bool array of shape ({num_envs},), got {mask!r}")
    return np.flatnonzero(mask).tolist(), options or None


def env_ids(num_envs: int, ids: Any) -> np.ndarray:
    """``ids`` as an int64 array: integers in range, none twice."""
    arr = np.asarray(ids).reshape(-1)
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"env_ids must be integers, got {ids!r}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= num_envs):
        raise ValueError(f"env_ids must be in [0, {num_envs}), got {arr.tolist()}")
    if np.unique(arr).size != arr.size:
        raise ValueError(f"env_ids must not name an instance twice, got {arr.tolist()}")
    return arr


def write_actions(
    leaves: list[tuple[tuple[Any, ...], spaces.Space]], arrays: list[np.ndarray], actions: Any, ids: np.ndarray | None,
    num_envs: int,
) -> None:
    """Check ``actions`` (one row per instance in ``ids``, default all) and write them into the
    shared action arrays (one per leaf of the action space); :class:`InvalidAction` names the
    first instance whose action does not fit, and then nothing is written."""
    rows = slice(None) if ids is None else ids
    count = num_envs if ids is None else len(ids)
    checked = []
    for (path, leaf), arr in zip(leaves, arrays):
        value = actions
        for key in path:
            value = value[key]
        value = np.asarray(value)
        expected = (count, *arr.shape[1:])
        if value.shape != expected:
            raise InvalidAction(
                f"expected actions of shape {list(expected)} (one {describe_space(leaf)} per instance), "
                f"got shape {list(value.shape)}"
            )
        bad = first_invalid(leaf, value)
        if bad is not None:
            who = bad if ids is None else int(ids[bad])
            raise InvalidAction(f"instance {who}: expected an action of {describe_space(leaf)}, got {value[bad]!r}")
        checked.append((arr, value))
    for arr, value in checked:
        arr[rows] = value

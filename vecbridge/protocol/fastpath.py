"""Caches for the per-step messages, which repeat byte for byte (sans-I/O).

A step request of a Discrete action, a step_result's header (everything but the
observation's raw bytes) and the header of an array action take few distinct
values over a run: the same reward, flags and array descriptor come back step
after step. Each cache maps those bytes to work already done, checked once by the
general code path. A miss, or anything unusual (an info, a nested observation, a
payload of the wrong length), takes the general path, which also raises the errors.

Every cache is bounded: a game whose rewards never repeat fills it once and then
simply misses.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

CACHE_LIMIT = 256
_U32 = struct.Struct("<I")
_STEP_RESULT_KEYS = frozenset({"type", "observation", "reward", "terminated", "truncated", "info", "arrays"})
_SCALARS = frozenset({int, float, str, bool, type(None)})

# (reward, terminated, truncated, observation plan, info); the plan is ("value", v) for a JSON
# observation, or ("array", dtype, shape, count, offset, payload length, convert) for one raw
# array (convert: None, or the pixel format's to_rgb for an image sent in a pixel format).
StepPlan = tuple[float, bool, bool, tuple]


class StepResultCache:
    """Host side: step_result header bytes -> the checked reward, flags and observation layout."""

    def __init__(self) -> None:
        self._plans: dict[bytes, StepPlan] = {}

    def lookup(self, payload: bytes) -> tuple[Any, float, bool, bool, dict] | None:
        """``(observation, reward, terminated, truncated, info)`` for a known header, else None.

        The info is a new dict each time (its values are JSON scalars: nothing else is learned).
        """
        if len(payload) < 4:
            return None
        (head_len,) = _U32.unpack_from(payload, 0)
        plan = self._plans.get(bytes(payload[4 : 4 + head_len]))  # a large payload is a bytearray
        if plan is None:
            return None
        reward, terminated, truncated, obs, info = plan
        if obs[0] == "value":
            return obs[1], reward, terminated, truncated, dict(info)
        _, dtype, shape, count, offset, length, convert = obs
        if len(payload) != length:
            return None  # the general path says what is wrong
        value = np.frombuffer(payload, dtype, count, offset).reshape(shape)
        return (value if convert is None else convert(value)), reward, terminated, truncated, dict(info)

    def learn(
        self, payload: bytes, reward: float, terminated: bool, truncated: bool, observation: Any, convert: Any = None
    ) -> None:
        """Remember a step_result the general path accepted, if it has the plain per-step form.

        ``convert``: how the observation was made from its wire array (a pixel format's to_rgb), if it was.
        """
        if len(self._plans) >= CACHE_LIMIT:
            return
        (head_len,) = _U32.unpack_from(payload, 0)
        head = bytes(payload[4 : 4 + head_len])
        header = json.loads(head)
        info = header.get("info") or {}
        # an info of plain values repeats too (a processor's level, lives, ...): its header is learned
        if not _STEP_RESULT_KEYS.issuperset(header) or not isinstance(info, dict) or not all(
            type(v) in _SCALARS for v in info.values()
        ):
            return
        arrays = header.get("arrays") or []
        if isinstance(observation, np.ndarray) and len(arrays) == 1 and header["observation"] == {"$array": 0}:
            offset = 4 + head_len
            if convert is None:
                dtype, shape = observation.dtype, observation.shape
            else:  # the wire array, as the general path checked it
                dtype, shape = np.dtype(arrays[0]["dtype"]).newbyteorder("<"), tuple(arrays[0]["shape"])
            count = int(np.prod(shape, dtype=np.int64))
            plan = ("array", dtype, shape, count, offset, offset + count * dtype.itemsize, convert)
        elif type(observation) is int and not arrays:
            plan = ("value", observation)
        else:
            return  # Dict/Tuple observations: the general path each time
        self._plans[head] = (reward, terminated, truncated, plan, info)


class StepResultEncoder:
    """Game side: the bytes before the observation's raw data, per (reward, flags, dtype, shape)."""

    def __init__(self) -> None:
        self._prefixes: dict[tuple, bytes] = {}

    @staticmethod
    def key(observation: Any, reward: float, terminated: bool, truncated: bool) -> tuple | None:
        if type(observation) is not np.ndarray or observation.dtype.byteorder == ">":
            return None
        return (float(reward), bool(terminated), bool(truncated), observation.dtype, observation.shape)

    def lookup(self, key: tuple, observation: np.ndarray) -> bytes | None:
        prefix = self._prefixes.get(key)
        return None if prefix is None else prefix + observation.tobytes()

    def learn(self, key: tuple, observation: np.ndarray, frame: bytes) -> None:
        """``frame``: the whole frame the general path built, which ends with the observation's bytes."""
        if len(self._prefixes) < CACHE_LIMIT:
            self._prefixes[key] = frame[: len(frame) - observation.nbytes]


class BoundedCache(dict):
    """A dict that stops growing at ``CACHE_LIMIT`` entries (for repeated request bytes)."""

    def remember(self, key: Any, value: Any) -> None:
        if len(self) < CACHE_LIMIT:
            self[key] = value

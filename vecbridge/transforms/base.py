"""The interface of one preprocessing step, and per-instance state that survives across batches.

A step works on the rows of one completion batch: ``frames`` uint8 ``[k, H, W, C]`` (the
observations of the ``k`` instances that completed together), ``ids`` (their instance
ids, distinct within a call) and ``new_episode`` (True where the frame is the first of
an episode: a reset or an autoreset). It writes its result into ``out`` ``[k, *shape]``.
Steps never touch a socket or a process: they are tested on arrays alone.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np
from gymnasium import spaces

Shape = tuple[int, ...]


class PreprocessError(ValueError):
    """A preprocessing step cannot take this observation space, or a spec does not parse."""


class Transform(abc.ABC):
    """One preprocessing step: a pure function of the frame, or one with per-instance state."""

    #: the step's name in a compact spec (``"gray"``, ``"resize"``, ...)
    name: ClassVar[str]
    #: True if the output depends on earlier frames of the same instance (max-pool, stack)
    stateful: ClassVar[bool] = False

    @abc.abstractmethod
    def output_shape(self, shape: Shape) -> Shape:
        """The shape of one output frame for input frames of ``shape`` (H, W, C); raises PreprocessError."""

    @abc.abstractmethod
    def apply(self, frames: np.ndarray, ids: np.ndarray, new_episode: np.ndarray, out: np.ndarray) -> None:
        """Write the result for ``frames`` [k, H, W, C] of instances ``ids`` into ``out`` [k, *output_shape]."""

    @abc.abstractmethod
    def spec(self) -> str:
        """This step in the compact spec syntax (``Pipeline.parse`` reads it back)."""

    def view(self, frames: np.ndarray) -> np.ndarray | None:
        """The result as a view of ``frames`` without copying, if this step is one (a crop); else None."""
        return None

    def observation_space(self, space: spaces.Space) -> spaces.Box:
        """The observation space of the result, for an instance's space ``space``."""
        return spaces.Box(0, 255, self.output_shape(image_shape(space)), np.uint8)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec()!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.spec() == self.spec()

    def __hash__(self) -> int:
        return hash((type(self), self.spec()))


def image_shape(space: spaces.Space) -> Shape:
    """(H, W, C) of an image observation space (Box uint8 with 3 dimensions); PreprocessError otherwise."""
    if not isinstance(space, spaces.Box) or space.dtype != np.uint8 or len(space.shape) != 3:
        raise PreprocessError(
            f"image preprocessing needs an image observation: Box uint8 of shape (height, width, channels); "
            f"got {space}"
        )
    return tuple(int(n) for n in space.shape)


class PerInstance:
    """One array row per instance id, kept across batches (a stateful step's memory).

    Rows are allocated on first use, up to the largest id seen (a worker owns a slice of
    the ids; the rows below its slice cost a few KB each and keep indexing a plain gather).
    """

    def __init__(self, shape: Shape, dtype: np.dtype = np.dtype(np.uint8)) -> None:
        self.shape = tuple(shape)
        self.data = np.zeros((0, *self.shape), dtype=dtype)

    def ensure(self, ids: np.ndarray) -> None:
        top = int(ids.max()) + 1 if len(ids) else 0
        if top > len(self.data):
            grown = np.zeros((max(top, 2 * len(self.data)), *self.shape), dtype=self.data.dtype)
            grown[: len(self.data)] = self.data
            self.data = grown

"""Steps that remember earlier frames of the same instance: max-pool of the last two, frame stack.

Their memory is per instance id and starts over where ``new_episode`` is True, so a
reset (or an autoreset, either mode) never mixes two episodes. An id seen for the first
time starts a new episode whatever ``new_episode`` says.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from vecbridge.transforms.base import PerInstance, PreprocessError, Shape, Transform


def _starts(memory: PerInstance, seen: PerInstance, ids: np.ndarray, new_episode: np.ndarray) -> np.ndarray:
    """Which rows begin an episode: asked to, or the instance's first frame ever."""
    memory.ensure(ids)
    seen.ensure(ids)
    return np.asarray(new_episode, dtype=bool) | ~seen.data[ids]


class MaxPool(Transform):
    """The pixel-wise maximum of this frame and the instance's previous one.

    Removes the flicker of sprites drawn every other frame (as DQN's preprocessing does).
    The first frame of an episode is pooled with itself (unchanged), as in Gymnasium's
    AtariPreprocessing, whose second buffer is zeroed at reset.
    """

    name: ClassVar[str] = "maxpool"
    stateful: ClassVar[bool] = True

    def __init__(self) -> None:
        self._last: PerInstance | None = None
        self._seen: PerInstance | None = None

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def apply(self, frames: np.ndarray, ids: np.ndarray, new_episode: np.ndarray, out: np.ndarray) -> None:
        if self._last is None or self._last.shape != frames.shape[1:]:
            self._last, self._seen = PerInstance(frames.shape[1:]), PerInstance((), np.dtype(bool))
        starts = _starts(self._last, self._seen, ids, new_episode)
        last = self._last.data
        if starts.any():
            last[ids[starts]] = frames[starts]
        np.maximum(frames, last[ids], out=out)
        last[ids] = frames
        self._seen.data[ids] = True

    def spec(self) -> str:
        return "maxpool"


class FrameStack(Transform):
    """The instance's last ``n`` frames side by side on the channel axis, oldest first: (H, W, C) -> (H, W, n*C).

    Channels last, so the result is still an image (SB3's ``VecTransposeImage`` turns it
    into (n*C, H, W) for a CNN). At the first frame of an episode the stack is cleared and
    padded, like Gymnasium's ``FrameStackObservation``: ``padding="reset"`` (its default)
    repeats the first frame n times; ``padding="zero"`` puts n-1 black frames before it
    (as SB3's ``VecFrameStack`` does).
    """

    name: ClassVar[str] = "stack"
    stateful: ClassVar[bool] = True
    PADDINGS: ClassVar[tuple[str, ...]] = ("reset", "zero")
    MAX_FRAMES: ClassVar[int] = 256

    def __init__(self, n: int, padding: str = "reset") -> None:
        if n < 1:
            raise PreprocessError(f"stack needs at least 1 frame; got {n}")
        if n > self.MAX_FRAMES:  # a typo's extra digits: one clear line, not a MemoryError later
            raise PreprocessError(f"stack: at most {self.MAX_FRAMES} frames; got {n}")
        if padding not in self.PADDINGS:
            raise PreprocessError(f"stack: unknown padding {padding!r}; expected one of {', '.join(self.PADDINGS)}")
        self.n, self.padding = int(n), padding
        self._stack: PerInstance | None = None
        self._seen: PerInstance | None = None

    def output_shape(self, shape: Shape) -> Shape:
        return (shape[0], shape[1], shape[2] * self.n)

    def apply(self, frames: np.ndarray, ids: np.ndarray, new_episode: np.ndarray, out: np.ndarray) -> None:
        c = frames.shape[-1]
        shape = self.output_shape(frames.shape[1:])
        if self._stack is None or self._stack.shape != shape:
            self._stack, self._seen = PerInstance(shape), PerInstance((), np.dtype(bool))
        starts = _starts(self._stack, self._seen, ids, new_episode)
        rows = self._stack.data[ids]  # a copy: [k, H, W, n*C]
        rows[..., :-c] = rows[..., c:].copy()  # drop the oldest frame
        if starts.any():
            if self.padding == "reset":
                rows[starts] = np.tile(frames[starts], (1, 1, 1, self.n))
            else:
                rows[starts] = 0
        rows[..., -c:] = frames
        self._stack.data[ids] = rows
        self._seen.data[ids] = True
        out[...] = rows

    def spec(self) -> str:
        return f"stack={self.n}" if self.padding == "reset" else f"stack={self.n}:{self.padding}"

"""A preprocessing pipeline: steps in order, its compact spec, and the call a batch of completions makes.

    pipeline = Pipeline.parse("gray,crop=256x224+0+8,resize=84x84,maxpool,stack=4")
    space = pipeline.observation_space(game_space)          # Box(0, 255, (84, 84, 4), uint8)
    pipeline.write(staging[ids], ids, new_episode, shared_obs)   # rows ids of the shared buffer

The spec, steps separated by commas (sizes are width x height, as in OpenCV and ffmpeg):

    gray                  RGB(A) -> one grey channel (H, W, 1)
    crop=WxH+X+Y          keep W x H pixels from column X, row Y (X11/ImageMagick geometry)
    resize=WxH[:interp]   to W x H; interp: area (default), linear, nearest, cubic; resize=84 is 84x84
    maxpool               pixel-wise max of this frame and the instance's previous one
    stack=N[:padding]     the last N frames on the channel axis; padding: reset (default) or zero

``"none"`` or ``""`` is the empty pipeline. From Python a list of steps works too, of
objects (``[Grayscale(), Resize(84, 84), FrameStack(4)]``) or spec strings (``["gray", "stack=4"]``).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Sequence, Union

import numpy as np
from gymnasium import spaces

from vecbridge.transforms.base import PreprocessError, Shape, Transform, image_shape
from vecbridge.transforms.image import Crop, Grayscale, Resize
from vecbridge.transforms.temporal import FrameStack, MaxPool

PreprocessSpec = Union[str, "Pipeline", Transform, Sequence[Union[str, Transform]], None]

_SYNTAX = "gray, crop=WxH+X+Y, resize=WxH[:area|linear|nearest|cubic], maxpool, stack=N[:reset|zero]"


def _size(text: str, what: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)(?:[xX](\d+))?", text)
    if not m:
        raise PreprocessError(f"{what}: expected a size WIDTHxHEIGHT such as 84x84 (or one number), got {text!r}")
    return int(m.group(1)), int(m.group(2) or m.group(1))


def _parse_crop(arg: str | None) -> Transform:
    m = re.fullmatch(r"(\d+)[xX](\d+)(?:\+(\d+)\+(\d+))?", arg or "")
    if not m:
        raise PreprocessError(f"crop: expected crop=WIDTHxHEIGHT+X+Y such as crop=256x224+0+8, got crop={arg or ''}")
    return Crop(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), int(m.group(4) or 0))


def _parse_resize(arg: str | None) -> Transform:
    size, _, interp = (arg or "").partition(":")
    return Resize(*_size(size, "resize"), interpolation=interp.lower() or "area")


def _parse_stack(arg: str | None) -> Transform:
    n, _, padding = (arg or "").partition(":")
    if not n.isdigit():
        raise PreprocessError(f"stack: expected stack=N[:reset|zero] such as stack=4, got stack={arg or ''}")
    return FrameStack(int(n), padding.lower() or "reset")


def _no_argument(cls: type[Transform]) -> Callable[[str | None], Transform]:
    def parse(arg: str | None) -> Transform:
        if arg:
            raise PreprocessError(f"{cls.name} takes no value, got {cls.name}={arg}")
        return cls()

    return parse


PARSERS: dict[str, Callable[[str | None], Transform]] = {
    "gray": _no_argument(Grayscale),
    "grayscale": _no_argument(Grayscale),
    "crop": _parse_crop,
    "resize": _parse_resize,
    "maxpool": _no_argument(MaxPool),
    "stack": _parse_stack,
}


def parse_step(text: str) -> Transform:
    name, eq, arg = text.strip().partition("=")
    parse = PARSERS.get(name.strip().lower())
    if parse is None:
        raise PreprocessError(f"unknown preprocessing step {text.strip()!r}; the steps are: {_SYNTAX}")
    return parse(arg.strip() if eq else None)


class Pipeline:
    """Preprocessing steps applied in order to the rows of one completion batch.

    Each process that runs instances (a worker, or the vector env's own process) holds its
    own Pipeline: the stateful steps keep one row of memory per instance id they see.
    """

    def __init__(self, steps: str | Iterable[Transform | str] = ()) -> None:
        if isinstance(steps, str):
            text = steps.strip()
            steps = [] if text.lower() in ("", "none") else text.split(",")
        self.steps: list[Transform] = [parse_step(s) if isinstance(s, str) else s for s in steps]
        for s in self.steps:
            if not isinstance(s, Transform):
                raise PreprocessError(f"a preprocessing step must be a Transform or a spec string, got {s!r}")
        self._in_shape: Shape | None = None

    @classmethod
    def parse(cls, spec: str) -> "Pipeline":
        """The pipeline a compact spec describes (``Pipeline(spec)`` does the same)."""
        if not isinstance(spec, str):
            raise PreprocessError(f"a preprocessing spec is a string such as 'gray,resize=84x84'; got {spec!r}")
        return cls(spec)

    @classmethod
    def of(cls, value: PreprocessSpec) -> "Pipeline":
        """A Pipeline from a spec string, a Pipeline (a fresh copy, with no memory), a step or a list of steps."""
        if value is None:
            return cls()
        if isinstance(value, Pipeline):
            return cls.parse(str(value)) if all(type(s) in _BUILTIN for s in value.steps) else value
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, Transform):
            return cls([value])
        return cls(value)

    def __bool__(self) -> bool:
        return bool(self.steps)

    def __str__(self) -> str:
        return ",".join(s.spec() for s in self.steps) or "none"

    def __repr__(self) -> str:
        return f"Pipeline({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pipeline) and other.steps == self.steps

    def __reduce__(self) -> tuple[Any, ...]:
        # Workers get the spec, not another process's memory (custom steps pickle as they are).
        if all(type(s) in _BUILTIN for s in self.steps):
            return (Pipeline.parse, (str(self),))
        return (Pipeline, (self.steps,))

    @property
    def stateful(self) -> bool:
        return any(s.stateful for s in self.steps)

    # ------------------------------------------------------------ spaces
    def shapes(self, shape: Shape) -> list[Shape]:
        """The frame shape before each step and after the last: ``[shape, ..., output]``."""
        out = [tuple(shape)]
        for step in self.steps:
            out.append(tuple(step.output_shape(out[-1])))
        return out

    def observation_space(self, space: spaces.Space) -> spaces.Space:
        """The observation space of the result (the space itself for the empty pipeline).

        Also fixes the input frame shape that ``__call__`` checks batches against.
        """
        if not self.steps:
            return space
        self._in_shape = image_shape(space)
        return spaces.Box(0, 255, self.shapes(self._in_shape)[-1], np.uint8)

    @property
    def stack_size(self) -> int:
        """How many frames the result holds side by side (the last stack step's n; 1 without one)."""
        stacks = [s.n for s in self.steps if isinstance(s, FrameStack)]
        return stacks[-1] if stacks else 1

    def frame_channels(self, space: spaces.Space) -> int:
        """Channels of one frame in the result (before a stack puts n of them side by side)."""
        shapes = self.shapes(image_shape(space))
        for k, step in enumerate(self.steps):
            if isinstance(step, FrameStack):
                return shapes[k][-1]
        return shapes[-1][-1]

    # ------------------------------------------------------------ batches
    def __call__(self, frames: np.ndarray, ids: Any, new_episode: Any, out: np.ndarray | None = None) -> np.ndarray:
        """Preprocess one batch: ``frames`` uint8 [k, H, W, C] of instances ``ids`` (distinct), where
        ``new_episode[j]`` says frame j starts an episode. Writes and returns ``out`` [k, *output shape]."""
        frames = np.asarray(frames)
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        new_episode = np.broadcast_to(np.asarray(new_episode, dtype=bool), ids.shape)
        if frames.ndim != 4 or frames.dtype != np.uint8 or len(frames) != len(ids):
            raise PreprocessError(f"expected uint8 frames of shape [k={len(ids)}, height, width, channels] for "
                                  f"instances {ids.tolist()}; got {frames.dtype} {list(frames.shape)}")  # fmt: skip
        if self._in_shape is not None and frames.shape[1:] != self._in_shape:
            raise PreprocessError(f"instances {ids.tolist()}: expected frames of shape {list(self._in_shape)} "
                                  f"(the declared observation space), got {list(frames.shape[1:])}")  # fmt: skip
        if len(np.unique(ids)) != len(ids):
            raise PreprocessError(f"each instance may appear once per batch; got ids {ids.tolist()}")
        shapes = self.shapes(frames.shape[1:])
        if out is None:
            out = np.empty((len(ids), *shapes[-1]), dtype=np.uint8)
        elif out.shape != (len(ids), *shapes[-1]):
            raise PreprocessError(f"out must have shape {[len(ids), *shapes[-1]]}, got {list(out.shape)}")
        if not self.steps:
            out[...] = frames
            return out
        current = frames
        last = len(self.steps) - 1
        for k, step in enumerate(self.steps):
            if k < last:
                viewed = step.view(current)
                if viewed is not None:
                    current = viewed
                    continue
            target = out if k == last else np.empty((len(ids), *shapes[k + 1]), dtype=np.uint8)
            step.apply(current, ids, new_episode, target)
            current = target
        return out

    def write(self, frames: np.ndarray, ids: Any, new_episode: Any, buffer: np.ndarray) -> None:
        """Preprocess one batch into the rows ``ids`` of ``buffer`` (the shared observation array, [N, ...]).

        The call an instance group makes after writing a batch of completions to its raw
        staging array (instance i's raw frame in ``staging[i]``)::

            ids = np.array(completed)                          # the instances of this batch
            new = np.isin(ids, started)                        # their frame is a reset's
            pipeline.write(staging[ids], ids, new, buffers.obs[0])

        With SAME_STEP autoreset, an instance whose episode ended appears twice: first its
        final frame with ``new_episode=False`` (``pipeline(final[None], [i], False)[0]`` is
        ``final_obs``), then its reset frame with ``new_episode=True``, in two calls.
        """
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) and np.array_equal(ids, np.arange(ids[0], ids[0] + len(ids))):
            self(frames, ids, new_episode, buffer[ids[0] : ids[0] + len(ids)])  # a contiguous slice: no scatter
            return
        buffer[ids] = self(frames, ids, new_episode)


_BUILTIN = (Grayscale, Crop, Resize, MaxPool, FrameStack)

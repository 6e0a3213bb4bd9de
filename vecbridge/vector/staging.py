"""Image preprocessing where the batch is made: raw frames staged per instance, one pipeline call per batch.

An instance group with a preprocessing pipeline (``vecbridge.make(..., preprocess=...)``)
does not write an instance's observation into the shared buffer as its reply comes: the
raw frame goes to a staging array of the group's own, and when the group hands over a
completed batch (``take_completion``, the batch boundary of every driver) the pipeline
turns the batch's frames into the shared buffer's rows in one call (vectorized over the
batch, in the worker process that owns the instances). Frame stacks and max-pooling keep
their state per instance across batches.

Episodes start where the scheduler says a reset's observation came: a user reset, the
NEXT_STEP step after an episode's end, or a SAME_STEP autoreset, whose final frame
(``info["final_obs"]``) is preprocessed first, still in the old episode, so that
``final_obs`` has the shape of every other observation.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
from gymnasium import spaces

from vecbridge.transforms.pipeline import Pipeline
from vecbridge.vector.actions import KEEP
from vecbridge.vector.driver import Completion


class Staging:
    """Raw frames of instances ``ids`` waiting for the pipeline; ``flush`` writes them into ``out``."""

    def __init__(self, pipeline: Pipeline, raw_space: spaces.Space, ids: Iterable[int], out: np.ndarray) -> None:
        pipeline.observation_space(raw_space)  # PreprocessError if the frames are no image the pipeline takes
        self.pipeline, self.out = pipeline, out
        ids = list(ids)
        self._slot = {i: k for k, i in enumerate(ids)}
        self._frames = np.zeros((len(ids), *raw_space.shape), np.uint8)
        self._new: dict[int, bool] = {}  # staged since the last flush -> its frame starts an episode

    def put(self, i: int, frame: Any, new_episode: bool) -> None:
        self._frames[self._slot[i]] = frame
        self._new[i] = new_episode

    def flush(self, completion: Completion) -> None:
        """Preprocess the frames staged for ``completion`` (and its SAME_STEP final frames)."""
        if not self._new:
            return
        staged, self._new = self._new, {}
        ids = list(staged)
        finals = [i for i in ids if staged[i] and (completion.infos.get(i) or {}).get("final_obs") is not None]
        kept = [i for i in finals if completion.infos[i]["final_obs"] is KEEP]
        if kept:  # a failed step's final_obs: the row the step before left, not its last frame stacked again
            finals = [i for i in finals if i not in kept]
            for i in kept:
                completion.infos[i]["final_obs"] = self.out[i].copy()
        if finals:
            frames = np.stack([np.asarray(completion.infos[i]["final_obs"]) for i in finals])
            for i, row in zip(finals, self.pipeline(frames, finals, False)):
                completion.infos[i]["final_obs"] = row
        slots = [self._slot[i] for i in ids]
        first = slots[0]
        if slots == list(range(first, first + len(slots))):
            # the usual lockstep batch, every instance in order: a view of the staged rows, where
            # indexing copies them (a 180 KiB screen each: ~16 µs of host CPU a step, FCEUX gray84 N = 1)
            frames = self._frames[first : first + len(slots)]
        else:
            frames = self._frames[slots]
        self.pipeline.write(frames, ids, [staged[i] for i in ids], self.out)

"""What every bench runner is: launch and reset, step one round, close (and the shared action pool).

See :mod:`vecbridge.bench.runners` for the runners themselves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ACTION_POOL = 32


class RunnerUnavailable(Exception):
    """The runner's library is not installed (or cannot run this game)."""


class ActionPool:
    """``ACTION_POOL`` batches of random actions for ``num_envs`` instances, cycled."""

    def __init__(self, single_space, num_envs: int, seed: int) -> None:
        from gymnasium.vector.utils import batch_space, iterate

        space = batch_space(single_space, num_envs)
        space.seed(seed)
        self.batches = [space.sample() for _ in range(ACTION_POOL)]
        self.rows = [list(iterate(space, b)) for b in self.batches]
        self.k = 0

    def next(self) -> Any:
        self.k = (self.k + 1) % ACTION_POOL
        return self.batches[self.k]

    def next_rows(self) -> list[Any]:
        self.k = (self.k + 1) % ACTION_POOL
        return self.rows[self.k]


def take(batch: Any, ids: np.ndarray) -> Any:
    """Rows ``ids`` of a batched action (arrays, or dicts/tuples of them)."""
    if isinstance(batch, dict):
        return {k: take(v, ids) for k, v in batch.items()}
    if isinstance(batch, tuple):
        return tuple(take(v, ids) for v in batch)
    return batch[ids]


class Runner:
    name = ""
    description = ""
    #: whether ``preprocess`` (``bench --preprocess``) means something to this runner; a runner
    #: that cannot apply it is reported unavailable rather than timed on raw frames unsaid
    takes_preprocess = False

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        options: dict[str, Any] | None = None,
        *,
        batch_size: int | None = None,
        num_workers: int | None = None,
        seed: int = 0,
    ) -> None:
        self.env_id = env_id
        self.num_envs = num_envs
        self.options = dict(options or {})
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

    @classmethod
    def check_available(cls) -> None:
        """Raise :class:`RunnerUnavailable` if the runner's library is missing."""

    def start(self) -> None:
        """Launch the instances and reset them."""
        raise NotImplementedError

    def step(self) -> int:
        """One round of steps; returns the number of env steps taken."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the vector env in ``self.envs``, if it was built (the floor overrides this)."""
        envs = getattr(self, "envs", None)
        if envs is not None:
            envs.close()

    def settings(self) -> dict[str, Any]:
        """Extra settings worth recording with the result."""
        return {}


class LockstepRunner(Runner):
    """A vector env in ``self.envs`` stepped whole, with actions from ``self.actions``."""

    def step(self) -> int:
        self.envs.step(self.actions.next())
        return self.num_envs

"""``num_workers=0``: the vector env's own process drives the instances, with no worker process.

On a machine with few cores a worker process only adds two cross-process wake-ups per
step (the parent just waits for it); here the caller's thread does the worker's job,
calling the instance group directly (no command messages).
"""

from __future__ import annotations

import time
from typing import Any, Iterable

from vecbridge.vector.buffers import Buffers
from vecbridge.vector.driver import (
    CallRequest,
    Completion,
    Driver,
    DriverSettings,
    GameSummary,
    writeable_results,
)
from vecbridge.vector.group import InstanceGroup


class InProcessDriver(Driver):
    """Every instance in one :class:`InstanceGroup` of this process."""

    def __init__(self, settings: DriverSettings, ids: Iterable[int] | None = None) -> None:
        """``ids``: the instances to drive (default: all of ``settings.num_envs``; the buffers'
        rows are indexed by instance all the same)."""
        self.num_envs = settings.num_envs
        ids = range(settings.num_envs) if ids is None else ids
        self.group = InstanceGroup(settings.spec, ids, settings.run, settings.budget, settings.same_step, settings.preprocess,
                                   settings.max_episode_steps)  # fmt: skip
        self._together = False  # report the requests in flight in one batch, once all are done

    def start(self) -> GameSummary:
        return self.group.start()

    def attach(self, buffers: Buffers) -> None:
        self.group.attach(buffers)

    def step(self, ids: list[int], together: bool) -> None:
        self._together = together
        self.group.step(ids)

    def reset(self, ids: list[int], seeds: list[int | None], options: dict[str, Any] | None) -> None:
        self._together = True
        self.group.reset(ids, seeds, options)

    def call(self, ids: list[int], request: CallRequest) -> None:
        self._together = True
        self.group.call(ids, request)

    def wait(self, timeout: float | None) -> Completion:
        group, scheduler = self.group, self.group.scheduler
        deadline = None if timeout is None else time.monotonic() + timeout
        while scheduler.busy and (self._together or not group.has_completed):
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            group.poll(remaining)
            if remaining == 0.0:
                self._together = self._together and scheduler.busy  # a batch cut short by the timeout
                break
        else:
            self._together = False
        return writeable_results(group.take_completion())

    def close(self) -> None:
        self.group.close()

    def __repr__(self) -> str:
        return "InProcessDriver()"

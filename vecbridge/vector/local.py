"""``num_workers=0``: the vector env's own process drives the instances, with no worker process.

On a machine with few cores a worker process only adds two cross-process wake-ups per
step (the parent just waits for it); here the caller's thread does the worker's job.
:class:`LocalWorker` answers the same commands as a worker process, through the same
:class:`~vecbridge.vector.worker.WorkerCore`, behind the pipe interface the vector env uses.
"""

from __future__ import annotations

import time
import traceback
from collections import deque
from typing import Any

from vecbridge.errors import InstanceTimeout, StateError
from vecbridge.launch.run import RunContext
from vecbridge.launch.spec import LaunchSpec
from vecbridge.vector.group import InstanceGroup
from vecbridge.vector.budget import RestartBudget
from vecbridge.vector.worker import WorkerCore


class LocalWorker:
    """A worker in this process: ``send`` carries a command out, ``recv`` returns the answers."""

    def __init__(
        self, spec: LaunchSpec, ids: list[int], run: RunContext, budget: RestartBudget, same_step: bool
    ) -> None:
        self.group = InstanceGroup(spec, ids, run, budget, same_step)
        self.core = WorkerCore(self.group)
        self.ids = list(ids)
        self.outbox: deque[tuple] = deque()
        self.closed = False
        self._deferred: BaseException | None = None  # a failure of begin_lockstep, raised by finish_lockstep
        self._guard(lambda: self.outbox.append(("hello", self.group.start())))

    def _guard(self, action) -> None:
        try:
            action()
        except Exception as exc:  # delivered as a worker's fatal error, so the vector env raises it
            self.outbox.append(("fatal", exc, traceback.format_exc()))

    def send(self, cmd: tuple) -> None:
        self._guard(lambda: self.outbox.extend(self.core.handle(cmd)))
        if cmd[0] == "close":
            self.closed = True

    def poll(self, timeout: float | None = 0.0) -> bool:
        """Drive the instances for up to ``timeout`` seconds; True once an answer is waiting."""
        group, outbox = self.group, self.outbox
        deadline = None if timeout is None else time.monotonic() + timeout
        while not outbox:
            try:
                if group.pending:
                    group.poll(None if deadline is None else max(0.0, deadline - time.monotonic()))
                answer = self.core.ready()
            except Exception as exc:  # delivered as a worker's fatal error, so the vector env raises it
                outbox.append(("fatal", exc, traceback.format_exc()))
                break
            if answer is not None:
                outbox.append(answer)
            elif not group.pending or (deadline is not None and time.monotonic() >= deadline):
                break
        return bool(outbox)

    # The hot paths call the group directly: no command tuples.
    def begin_lockstep(self) -> None:
        self.begin_steps(self.ids)

    def begin_steps(self, ids: list[int]) -> None:
        try:
            self.group.begin_step(ids)
        except Exception as exc:  # raised by the next wait, as a worker's error surfaces in step_wait/recv
            self._deferred = exc

    def collect(self, timeout: float | None) -> tuple[list[int], dict[int, Any]]:
        """Drive the instances once (up to ``timeout`` s); the ids whose step completed, and their infos."""
        self._raise_deferred()
        if self.group.pending:
            self.group.poll(timeout)
        status = self.group.take_status()
        return status.completed, status.infos

    def _raise_deferred(self) -> None:
        if self._deferred is not None:
            exc, self._deferred = self._deferred, None
            raise exc

    def finish_lockstep(self, timeout: float | None) -> dict[int, Any]:
        """Wait for every instance's step; their infos. Raises the instances' unrecoverable errors."""
        group = self.group
        self._raise_deferred()
        deadline = None if timeout is None else time.monotonic() + timeout
        while group.pending:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise InstanceTimeout(
                    f"step_wait: instances {sorted(group.pending)} did not answer within {timeout:g} s"
                )
            group.poll(remaining)
        return group.take_status().infos

    def recv(self) -> Any:
        while not self.poll(None):
            if not self.group.pending:
                raise StateError("nothing is in flight: there is no answer to wait for")
        return self.outbox.popleft()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.group.close()

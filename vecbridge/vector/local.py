"""``num_workers=0``: the vector env's own process drives the instances, with no worker process.

On a machine with few cores a worker process only adds two cross-process wake-ups per
step (the parent just waits for it); here the caller's thread does the worker's job.
:class:`LocalWorker` answers the same commands as a worker process, through the same
:class:`~vecbridge.vector.worker.WorkerCore`, behind the pipe interface the vector env uses.
"""

from __future__ import annotations

import traceback
from collections import deque
from typing import Any

from vecbridge.errors import StateError
from vecbridge.launch.run import RunContext
from vecbridge.launch.spec import LaunchSpec
from vecbridge.vector.group import InstanceGroup
from vecbridge.vector.restart import RestartBudget
from vecbridge.vector.worker import WorkerCore


class LocalWorker:
    """A worker in this process: ``send`` carries a command out, ``recv`` returns the answers."""

    def __init__(
        self, spec: LaunchSpec, ids: list[int], run: RunContext, budget: RestartBudget, same_step: bool
    ) -> None:
        self.group = InstanceGroup(spec, ids, run, budget, same_step)
        self.core = WorkerCore(self.group)
        self.outbox: deque[tuple] = deque()
        self.closed = False
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
        if not self.outbox and self.group.pending:
            self._guard(lambda: self.group.poll(timeout))
        if not self.outbox:
            self._guard(self._collect)
        return bool(self.outbox)

    def _collect(self) -> None:
        answer = self.core.ready()
        if answer is not None:
            self.outbox.append(answer)

    def recv(self) -> Any:
        while not self.poll(None):
            if not self.group.pending:
                raise StateError("nothing is in flight: there is no answer to wait for")
        return self.outbox.popleft()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.group.close()

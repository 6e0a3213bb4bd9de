"""One Ray actor of ``backend="ray"``: a vecbridge instance group for a slice of the ids, on its node.

The actor launches its instances on the node Ray placed it on (a private run folder
there, its own reaper: if the actor process is killed, its games end within seconds),
drives them with an :class:`~vecbridge.vector.group.InstanceGroup` from its own thread,
and relaunches an instance that crashes, hangs or breaks the protocol within the
restart budget, exactly as a worker process does. Its buffers are its own shared
memory on its node; the driver in the vector env's process copies actions out and
results in (:mod:`vecbridge.vector.ray_driver`).

Every method answers one request whole (a step of all the ids it was given) and
returns plain data. Errors that must reach the caller (a spent restart budget, a game
failing to reset) come back as a :class:`Fatal` value rather than a raised exception, so
that they arrive with their type and attributes, not wrapped in Ray's task error. This
module imports no Ray: :func:`vecbridge.vector.ray_driver` makes the class an actor.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

from vecbridge.errors import StateError
from vecbridge.launch.run import RunContext
from vecbridge.launch.spec import LaunchSpec
from vecbridge.protocol.spaces import space_from_json
from vecbridge.vector.buffers import Buffers
from vecbridge.vector.group import InstanceGroup
from vecbridge.vector.restart import RestartBudget
from vecbridge.vector.worker import WorkerCore


@dataclass
class Fatal:
    """An unrecoverable error of an actor's request, carried back as a value."""

    error: BaseException
    traceback: str


@dataclass
class Rows:
    """What a step or reset of some instances produced: their rows, in the order of ``ids``."""

    ids: list[int]
    obs: list[np.ndarray]  # one array per observation leaf, first axis = ids
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    infos: dict[int, dict[str, Any]]


class GroupActor:
    """Instances ``ids`` of a run of ``num_envs``, launched and driven inside this (actor) process.

    ``fresh``: these instances replace the ones of an actor that died, so each one's
    first step resets it (the NEXT_STEP autoreset of a relaunched instance).
    """

    def __init__(
        self,
        spec: LaunchSpec,
        ids: list[int],
        num_envs: int,
        budget: RestartBudget,
        same_step: bool,
        run_dir: str | None = None,
        fresh: bool = False,
    ) -> None:
        self.ids = list(ids)
        self.num_envs = num_envs
        self.fresh = fresh
        self.run = RunContext(run_dir, reaper=True)
        self.group: InstanceGroup | None = InstanceGroup(spec, self.ids, self.run, budget, same_step)
        self.core = WorkerCore(self.group)
        self.failed: Fatal | None = None

    def start(self) -> dict[str, Any] | Fatal:
        """Launch the instances; the hello summary, with where this actor runs."""
        try:
            group = self.group
            summary = group.start()
            # Rows for every id of the run, but the arrays are files in /dev/shm mapped here
            # only: the pages of other actors' rows are never touched, so they take no memory.
            group.buffers = Buffers.create(
                space_from_json(summary["observation_space"]), space_from_json(summary["action_space"]),
                self.num_envs, f"ray{self.ids[0]}",
            )  # fmt: skip
            group.buffers.unlink()  # nothing else maps them: no name needs to outlive this line
            if self.fresh:
                group.needs_reset.update(self.ids)
            return {**summary, "pid": os.getpid(), "node": _node_id()}
        except Exception as exc:
            return self._fatal(exc)

    def step(self, ids: list[int], actions: list[np.ndarray]) -> Rows | Fatal:
        """Step ``ids`` with ``actions`` (one array per action leaf, rows in the order of ids)."""
        try:
            group = self._group()
            for arr, rows in zip(group.buffers.actions, actions):
                arr[ids] = rows
            group.begin_step(ids)
            while group.pending:
                group.poll(None)
            status = group.take_status()
            return self._rows(status.completed, status.infos)
        except Exception as exc:
            return self._fatal(exc)

    def reset(self, ids: list[int], seeds: list[int | None], options: dict[str, Any] | None) -> Rows | Fatal:
        try:
            self._group()
            (answer,) = self.core.handle(("reset", ids, seeds, options))
            return self._rows(answer[1], answer[2])
        except Exception as exc:
            return self._fatal(exc)

    def call(self, ids: list[int], request: tuple) -> dict[int, Any] | Fatal:
        """``request``: ("call", name, args, kwargs) | ("setattr", name, {id: value}) | ("render",)."""
        try:
            self._group()
            (answer,) = self.core.handle((request[0], ids, *request[1:]))
            return answer[1]
        except Exception as exc:
            return self._fatal(exc)

    def processes(self) -> dict[str, Any]:
        """This actor's pid and its games' pids (for tests and diagnostics)."""
        group = self.group
        games = [inst.process.pid for inst in group.instances.values()] if group is not None else []
        return {"pid": os.getpid(), "node": _node_id(), "games": games}

    def close(self) -> bool:
        """End every game of this actor and remove its run folder; safe to call twice."""
        group, self.group = self.group, None
        try:
            if group is not None:
                group.close()
                if group.buffers is not None:
                    group.buffers.close()
        finally:
            self.run.close()
        return True

    # ------------------------------------------------------------ helpers
    def _group(self) -> InstanceGroup:
        if self.failed is not None:
            raise self.failed.error
        if self.group is None:
            raise StateError(f"the Ray actor of instances {self.ids} is closed")
        return self.group

    def _rows(self, ids: list[int], infos: dict[int, dict[str, Any]]) -> Rows:
        b = self.group.buffers
        return Rows(ids, [arr[ids] for arr in b.obs], b.rewards[ids], b.terminations[ids], b.truncations[ids], infos)

    def _fatal(self, exc: Exception) -> Fatal:
        """The group is in an unknown state after this: later requests answer the same error."""
        self.failed = Fatal(exc, traceback.format_exc())
        return self.failed


def _node_id() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:  # not inside Ray (a test driving the class directly)
        return ""

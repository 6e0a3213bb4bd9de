"""One Ray actor of ``backend="ray"``: an in-process driver for a slice of the ids, on its node.

The actor launches its instances on the node Ray placed it on (a private run folder
there, its own reaper: if the actor process is killed, its games end within seconds)
and drives them with an :class:`~vecbridge.vector.in_process.InProcessDriver` over its
own shared buffers, so an instance that crashes, hangs or breaks the protocol is
relaunched within the restart budget exactly as in a worker process. The
:class:`~vecbridge.vector.ray_driver.RayDriver` in the vector env's process copies the
slice's actions out and its rows back in.

Each method answers one request whole (all the ids it was given): Ray runs an actor's
calls one at a time, so a call always finds the driver idle. Errors that end the run
(a spent restart budget, a game refusing a reset, a start-up failure) come back as a
:class:`Fatal` value rather than a raised exception, so that they arrive with their
type and attributes, not wrapped in Ray's task error.

An actor whose raylet dies exits within :data:`PARENT_CHECK_S` (:func:`exit_with_parent`),
and its reaper then ends its games and removes its temporary run folder. Why: Ray's worker
does not notice a lost raylet on its own (measured: an actor and its games were still running
minutes after its raylet was SIGKILLed). This module imports no Ray
(``ray_driver`` makes the class an actor), so tests can drive it directly.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vecbridge.errors import StateError
from vecbridge.launch.run import RunContext
from vecbridge.launch.spec import LaunchSpec
from vecbridge.vector.budget import RestartBudget
from vecbridge.vector.buffers import Buffers
from vecbridge.vector.driver import CallRequest, Completion, DriverSettings, GameSummary
from vecbridge.transforms.pipeline import Pipeline
from vecbridge.vector.in_process import InProcessDriver


@dataclass
class Fatal:
    """An error that ends the run, carried back as a value with the actor's traceback."""

    error: BaseException
    traceback: str
    pid: int = 0  # the actor's process, and the node it ran on (where the error's log_path is)
    node: str = ""


@dataclass
class Started:
    """An actor's instances said hello: what they declared, and where the actor runs."""

    summary: GameSummary
    pid: int
    node: str


@dataclass
class Rows:
    """What a step or reset of some instances produced: their rows, in the order of ``ids``."""

    ids: list[int]
    obs: list[np.ndarray]  # one array per observation leaf, first axis = ids
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    infos: dict[int, dict[str, Any]]
    masks: np.ndarray | None = None  # the action masks sent with these observations, if the game sends any
    errors: dict[int, Exception] = field(default_factory=dict)  # a reset the game refused: its GameError


class GroupActor:
    """Instances ``ids`` of a run of ``settings.num_envs``, launched and driven inside this (actor) process.

    ``fresh``: these instances replace those of an actor that died, so unless a reset
    comes first (a SAME_STEP step's, sent by the driver at once) each one's first step is
    a reset (as the scheduler does for a relaunched instance).
    """

    def __init__(self, spec: LaunchSpec, ids: list[int], num_envs: int, budget: RestartBudget, same_step: bool,
                 run_dir: str | None = None, fresh: bool = False, pipeline: Pipeline | None = None,
                 max_episode_steps: int | None = None) -> None:  # fmt: skip
        self.ids = list(ids)
        if _in_actor():
            exit_with_parent(f"the Ray actor of instances {self.ids}")
        self.run = RunContext(run_dir, reaper=True)
        settings = DriverSettings(spec, num_envs, self.run, budget, same_step, pipeline, max_episode_steps)
        self.driver: InProcessDriver | None = InProcessDriver(settings, ids)
        self.pipeline = pipeline
        self.buffers: Buffers | None = None
        self.needs_reset = set(self.ids) if fresh else set()
        self.failed: Fatal | None = None

    def start(self) -> Started | Fatal:
        """Launch the instances; their hello summary, with where this actor runs."""
        try:
            driver = self._driver()
            summary = driver.start()
            # Rows for every id of the run, as the driver indexes them; the pages of other
            # actors' rows are never touched, so they take no memory.
            obs_space = self.pipeline.observation_space(summary.observation_space) if self.pipeline else summary.observation_space
            self.buffers = Buffers.create(obs_space, summary.action_space, driver.num_envs, f"ray{self.ids[0]}",
                                          summary.mask_size)  # fmt: skip
            self.buffers.unlink()  # only this process maps them: no name needs to outlive this line
            driver.attach(self.buffers)
            return Started(summary, os.getpid(), _node_id())
        except Exception as exc:
            return self._fatal(exc)

    def step(self, ids: list[int], actions: list[np.ndarray]) -> Rows | Fatal:
        """Step ``ids`` with ``actions`` (one array per action leaf, rows in the order of ``ids``)."""
        try:
            driver = self._driver()
            for arr, rows in zip(self.buffers.actions, actions):
                arr[ids] = rows
            fresh = [i for i in ids if i in self.needs_reset]
            if fresh:  # the replaced instances' autoreset: reward 0, not done
                self.needs_reset.difference_update(fresh)
                driver.reset(fresh, [None] * len(fresh), None)
                ids = [i for i in ids if i not in fresh]
            if ids:
                driver.step(ids, True)
            return self._rows(self._wait())
        except Exception as exc:
            return self._fatal(exc)

    def reset(self, ids: list[int], seeds: list[int | None], options: dict[str, Any] | None) -> Rows | Fatal:
        try:
            self._driver().reset(ids, seeds, options)
            self.needs_reset.difference_update(ids)
            return self._rows(self._wait())
        except Exception as exc:
            return self._fatal(exc)

    def call(self, ids: list[int], request: CallRequest) -> dict[int, Any] | Fatal:
        """Each instance's result (or the exception its call raised)."""
        try:
            self._driver().call(ids, request)
            return self._wait().results
        except Exception as exc:
            return self._fatal(exc)

    def processes(self) -> dict[str, Any]:
        """This actor's pid, node and games' pids (for tests and diagnostics)."""
        group = self.driver.group if self.driver is not None else None
        games = [inst.process.pid for inst in group.instances.values()] if group is not None else []
        return {"pid": os.getpid(), "node": _node_id(), "games": games, "run_dir": str(self.run.run_dir)}

    def close(self) -> bool:
        """End every game of this actor and remove its run folder; safe to call twice."""
        driver, self.driver = self.driver, None
        try:
            if driver is not None:
                driver.close()
            if self.buffers is not None:
                self.buffers.close()
        finally:
            self.run.close()
        return True

    # ------------------------------------------------------------ helpers
    def _driver(self) -> InProcessDriver:
        if self.failed is not None:
            raise self.failed.error
        if self.driver is None:
            raise StateError(f"the Ray actor of instances {self.ids} is closed")
        return self.driver

    def _wait(self) -> Completion:
        """Everything the request started, once it is all done."""
        driver, done = self.driver, Completion()
        while driver.group.busy or driver.group.has_completed:
            part = driver.wait(None)
            done.ids += part.ids
            done.infos.update(part.infos)
            done.results.update(part.results)
        return done

    def _rows(self, done: Completion) -> Rows:
        b, ids = self.buffers, done.ids
        masks = None if b.action_masks is None else b.action_masks[ids]
        return Rows(ids, [arr[ids] for arr in b.obs], b.rewards[ids], b.terminations[ids], b.truncations[ids], done.infos,
                    masks, done.results)  # fmt: skip

    def _fatal(self, exc: Exception) -> Fatal:
        """The instances are in an unknown state after this: later requests answer the same error."""
        self.failed = Fatal(exc, traceback.format_exc(), os.getpid(), _node_id())
        return self.failed


#: how often an actor looks whether the process that started it (its raylet) is still there
PARENT_CHECK_S = 1.0


def exit_with_parent(what: str, interval: float = PARENT_CHECK_S) -> threading.Thread:
    """End this process (status 1) once the process that started it is gone (this one has been
    re-parented); the reaper then cleans up its games. Returns the (daemon) watching thread."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        print(f"vecbridge: {what} exits: the process that started it (pid {parent}, its raylet) is gone",
              file=sys.stderr, flush=True)  # fmt: skip
        os._exit(1)

    thread = threading.Thread(target=watch, name="vecbridge-parent-watch", daemon=True)
    thread.start()
    return thread


def _in_actor() -> bool:
    ray = sys.modules.get("ray")  # inside an actor Ray is imported; elsewhere this need not import it
    try:
        return ray is not None and ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None
    except Exception:
        return False


def _node_id() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:  # not inside Ray (a test driving the class directly)
        return ""

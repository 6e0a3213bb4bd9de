"""The driver interface: how the vector env reaches its instances, wherever they run.

:class:`~vecbridge.vector.vector_env.BridgeVectorEnv` owns the Gymnasium API (its
states, the shared buffers, seeds, action checks, info merging, ``send``/``recv``
bookkeeping) and talks to the instances only through a :class:`Driver`. Two live here:
:class:`~vecbridge.vector.in_process.InProcessDriver` (an instance group in this process)
and :class:`~vecbridge.vector.workers.WorkerDriver` (worker processes over pipes, each
running a group); :class:`~vecbridge.vector.ray_driver.RayDriver` (Ray actors across a
cluster's nodes, ``backend="ray"``) implements the same six methods and is passed to the
vector env as ``driver=`` (a callable taking :class:`DriverSettings`), as any other can be.

A failed instance (crash, hang, protocol break) is not an exception from ``wait()``:
its request completes (a step truncated, with ``info["vecbridge_error"]``) and it is
relaunched within the restart budget. ``wait()`` raises only what ends the run: a spent
budget, an error reply to a reset, an instance failing before its first observation at
start-up (``LaunchError``), a dead worker.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Union

from gymnasium import spaces

from vecbridge.launch.process import GameProcess, launch_error
from vecbridge.launch.run import RunContext
from vecbridge.launch.spec import LaunchSpec
from vecbridge.protocol.spaces import space_to_json
from vecbridge.protocol.values import writeable
from vecbridge.transforms.pipeline import Pipeline
from vecbridge.vector.budget import RestartBudget
from vecbridge.vector.buffers import Buffers

Info = dict[str, Any]


@dataclass(frozen=True)
class GameSummary:
    """What the game declared in its hello (every instance must declare the same spaces)."""

    observation_space: spaces.Space
    action_space: spaces.Space
    name: str
    metadata: dict[str, Any]
    instance: int  # whose hello this is, for error messages
    mask_size: int | None = None  # entries of the action mask every result carries (None: the game sends none)


def check_same_spaces(summary: GameSummary, reference: GameSummary, process: GameProcess | None = None) -> None:
    """Raise ``LaunchError`` (stage "handshake") if ``summary`` declares other spaces than ``reference``."""
    for what in ("observation_space", "action_space"):
        mine, theirs = getattr(summary, what), getattr(reference, what)
        if space_to_json(mine) != space_to_json(theirs):
            raise launch_error(
                "handshake",
                f"declares {what} {mine} but instance {reference.instance} declared {theirs}; "
                f"every instance must declare the same spaces",
                instance=summary.instance,
                process=process,
            )


# ---------------------------------------------------------------- call requests
@dataclass(frozen=True)
class MethodCall:
    """Call the game-specific method ``name`` (``__getattr__`` reads an attribute)."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SetAttr:
    """Set the attribute ``name`` of each instance to its own value."""

    name: str
    values: dict[int, Any]


@dataclass(frozen=True)
class Render:
    """Each instance's frame."""


CallRequest = Union[MethodCall, SetAttr, Render]


@dataclass
class Completion:
    """Instances whose request completed: their rows are in the shared buffers already."""

    ids: list[int] = field(default_factory=list)
    infos: dict[int, Info] = field(default_factory=dict)  # only instances with a non-empty info
    results: dict[int, Any] = field(default_factory=dict)  # call results, or the exception each raised


def writeable_results(completion: Completion) -> Completion:
    """``completion`` with the arrays it hands the user besides the shared buffers (``final_obs``, render
    frames, call results) writeable: in-process they are still views of the received frames, and
    Ray's object store returns read-only arrays too (a worker's pipe copies them). Only read-only
    arrays are copied, and only those: never a step's observations (they are in the shared buffers)."""
    for info in completion.infos.values():
        if "final_obs" in info:
            info["final_obs"] = writeable(info["final_obs"])
    if completion.results:
        completion.results = {i: writeable(r) for i, r in completion.results.items()}
    return completion


@dataclass(frozen=True)
class DriverSettings:
    """What every driver is built from (the vector env makes them)."""

    spec: LaunchSpec
    num_envs: int
    run: RunContext
    budget: RestartBudget
    same_step: bool  # SAME_STEP autoreset (else NEXT_STEP)
    #: image preprocessing, run by whoever writes the observation rows, a batch at a time
    #: (vecbridge.vector.staging); the buffers' observations have its output shape
    preprocess: Pipeline | None = None
    max_episode_steps: int | None = None  # the episode step limit, applied by the schedulers


class Driver(abc.ABC):
    """Instances ``0 .. num_envs-1`` of one game, wherever they run."""

    num_envs: int

    @abc.abstractmethod
    def start(self) -> GameSummary:
        """Launch every instance and read their hellos; raises ``LaunchError``."""

    @abc.abstractmethod
    def attach(self, buffers: Buffers) -> None:
        """The vector env's shared arrays: the driver writes the rows of completed instances
        (observations, preprocessed by ``settings.preprocess`` if set; rewards, terminations,
        truncations) before reporting them, and reads the actions rows."""

    @abc.abstractmethod
    def step(self, ids: list[int], together: bool) -> None:
        """Start a step of ``ids`` (their actions are in the buffers). ``together``: the caller
        waits for all of them (lockstep), so they may be reported in one batch."""

    @abc.abstractmethod
    def reset(self, ids: list[int], seeds: list[int | None], options: dict[str, Any] | None) -> None:
        """Start a reset of ``ids`` (``seeds`` in the same order)."""

    @abc.abstractmethod
    def call(self, ids: list[int], request: CallRequest) -> None:
        """Start a call on ``ids``; its results come back in ``Completion.results``."""

    @abc.abstractmethod
    def wait(self, timeout: float | None) -> Completion:
        """Block until some started request completes, or ``timeout`` s pass (an empty
        Completion then, and at once when nothing is in flight)."""

    @abc.abstractmethod
    def close(self) -> None:
        """End every process this driver started; safe to call twice."""

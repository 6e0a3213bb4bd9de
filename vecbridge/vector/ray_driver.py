"""RayDriver: the instances of a vector env in Ray actors, spread over the cluster's nodes.

``vecbridge.make(game, num_envs=N, backend="ray")`` is a
:class:`~vecbridge.vector.vector_env.BridgeVectorEnv` over this driver (``driver=``
:func:`ray_driver`): the vector env's API, shared buffers, autoreset modes and errors are
the same as with the in-process and worker drivers. The instances live in a few Ray
actors (:class:`~vecbridge.vector.ray_actor.GroupActor`), each an in-process driver for
a contiguous slice of the ids with its own shared memory on its node, placed with Ray's
``SPREAD`` strategy (and any custom resources, e.g. ``{"fceux": 1}`` for nodes that have
the emulator). ``step`` copies each slice's actions out to its actor; ``wait`` takes the
first ready actors with ``ray.wait`` (all of them in lockstep) and copies their rows into
the vector env's buffers.

Failures: an instance that crashes, hangs or breaks the protocol is relaunched inside
its actor, as in a worker. An actor that dies (its process killed, its node lost)
ends its instances' current step truncated with ``info["vecbridge_error"]`` (SAME_STEP:
with the new instances' first observation and ``final_obs``, as for a relaunched
instance), and is replaced by a new actor with fresh instances, within the restart
budget (counted per actor slot: each death relaunches all of the slice's instances);
only a spent budget raises :class:`~vecbridge.errors.RestartBudgetExceeded`.

Why whole slices per call: one Ray actor call costs ~1-3 ms (measured on 2 cores,
benchmarks/README.md), so an actor steps all of its instances per call, and send/recv
gains by taking whichever actors answer first, not by splitting an actor's slice.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from vecbridge.errors import LaunchError, RestartBudgetExceeded, VecBridgeError, WorkerError
from vecbridge.vector.budget import RestartLedger
from vecbridge.vector.buffers import Buffers
from vecbridge.vector.driver import (
    CallRequest,
    Completion,
    Driver,
    DriverSettings,
    GameSummary,
    check_same_spaces,
    writeable_results,
)
from vecbridge.vector.ray_actor import Fatal, GroupActor, Rows, Started
from vecbridge.vector.ray_cluster import actor_needs, fits, join_cluster

#: Ray options every actor gets unless ``actor_options`` overrides them. Ray must not
#: restart actors itself (``max_restarts=0``): the driver does, with fresh instances.
DEFAULT_ACTOR_OPTIONS: dict[str, Any] = {"num_cpus": 1, "scheduling_strategy": "SPREAD", "max_restarts": 0}
#: One actor (one process multiplexing many game sockets) per this many CPUs of the cluster,
#: as vecbridge's default of one worker process per 4 cores: the games need the other cores.
CPUS_PER_ACTOR = 4


def require_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError(f"backend='ray' needs Ray ({exc}); pip install 'vecbridge[ray]'") from None
    return ray


def default_num_actors(num_envs: int, nodes: int, cpus: float) -> int:
    """At least one actor per node (the instances spread over every node), one per 4 CPUs beyond."""
    return max(1, min(num_envs, max(nodes, int(cpus) // CPUS_PER_ACTOR)))


def ray_driver(
    ray_address: str | None = None, num_actors: int | None = None, ray_actor_options: dict[str, Any] | None = None
) -> Callable[[DriverSettings], "RayDriver"]:
    """The ``driver=`` of a :class:`~vecbridge.vector.vector_env.BridgeVectorEnv` whose instances
    live in Ray actors (the arguments: :class:`RayDriver`'s)."""
    if num_actors is not None and num_actors < 1:
        raise ValueError(f"num_actors must be at least 1, got {num_actors}")
    return functools.partial(RayDriver, address=ray_address, num_actors=num_actors, actor_options=ray_actor_options)


@dataclass
class _Request:
    kind: str  # "step" | "reset" | "call" | "restart_reset" (a SAME_STEP step whose actor died)
    actor: int
    generation: int
    ids: list[int]
    seeds: list[int | None] = field(default_factory=list)
    options: dict[str, Any] | None = None
    notes: dict[int, dict[str, Any]] = field(default_factory=dict)  # restart_reset: the failed step's infos


class RayDriver(Driver):
    """The instances of ``settings`` in Ray actors.

    Args:
        address: the Ray cluster to join (``ray.init(address=...)``) if this process has
            not joined one yet; None: ``RAY_ADDRESS``, else a local Ray started here
            (and shut down on close).
        num_actors: how many actors hold the instances (default: one per node of the
            cluster, or one per 4 CPUs when that is more; at most one per instance).
        actor_options: Ray options for each actor (``num_cpus``, ``resources``,
            ``scheduling_strategy``, ``runtime_env``, ...), over :data:`DEFAULT_ACTOR_OPTIONS`.

    Each actor keeps its instance folders and logs in a temporary folder on its node, or
    in ``run_dir/actor-K`` there when the vector env was given a ``run_dir``.
    """

    def __init__(self, settings: DriverSettings, *, address: str | None = None, num_actors: int | None = None,
                 actor_options: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.ray = require_ray()
        self.settings = settings
        self.num_envs = settings.num_envs
        self.address = address
        self.num_actors = min(num_actors, self.num_envs) if num_actors is not None else None
        self.actor_options = {**DEFAULT_ACTOR_OPTIONS, **(actor_options or {})}
        self._owns_ray = False
        self._closed = False
        self._buffers: Buffers | None = None
        self._actors: list[Any] = []
        self._slices: list[list[int]] = []
        self._owner = np.zeros(self.num_envs, dtype=np.int64)
        self._generation: list[int] = []
        self._ledgers: list[RestartLedger] = []
        self._starts: list[Any] = []  # each actor's start() reference: its pid and node, for error messages
        self._inflight: dict[Any, _Request] = {}
        self._together = False

    # ------------------------------------------------------------ start-up
    def start(self) -> GameSummary:
        ray = self.ray
        if not ray.is_initialized():
            join_cluster(ray, self.address)
            self._owns_ray = True
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cpus = sum(n.get("Resources", {}).get("CPU", 0) for n in nodes)
        need = actor_needs(self.actor_options)
        if not any(fits(need, n.get("Resources", {})) for n in nodes):  # else Ray waits ~150 s, then fails
            have = "; ".join(", ".join(f"{k}={v:g}" for k, v in sorted(n.get("Resources", {}).items())
                                       if not k.startswith(("node:", "memory", "object_store"))) for n in nodes)  # fmt: skip
            raise LaunchError(
                f"no node of the Ray cluster can hold a vecbridge actor: each asks for "
                f"{', '.join(f'{k}={v:g}' for k, v in need.items())} (ray_actor_options), and the nodes have: {have}. "
                f"Ask for what a node has, or start nodes with it (ray start --resources='{{\"fceux\": 8}}')",
                instance=0, stage="spawned", log_path="", log_tail="",
            )  # fmt: skip
        count = self.num_actors = self.num_actors or default_num_actors(self.num_envs, len(nodes), cpus)
        self._slices = [chunk.tolist() for chunk in np.array_split(np.arange(self.num_envs), count)]
        for a, ids in enumerate(self._slices):
            self._owner[ids] = a
            self._generation.append(0)
            self._ledgers.append(RestartLedger(self.settings.budget))
            self._actors.append(self._spawn(a, fresh=False))
        starts = [actor.start.remote() for actor in self._actors]
        # the actors launch their slices in parallel; each slice as fast as a worker launches it
        timeout = self.settings.spec.startup_timeout * (1 + max(map(len, self._slices)) / 8) + 60
        ready, _ = ray.wait(starts, num_returns=len(starts), timeout=timeout)
        if len(ready) < len(starts):
            late = [a for a, ref in enumerate(starts) if ref not in ready]
            raise LaunchError(
                f"Ray actors {late} (instances {[self._slices[a] for a in late]}) did not start within {timeout:g} s: "
                f"is there a node with the resources they ask for ({self._resources_text()})?",
                instance=self._slices[late[0]][0], stage="spawned", log_path="", log_tail="",
            )  # fmt: skip
        started: list[Started] = [self._get(ref, a, "starting") for a, ref in enumerate(starts)]
        self._starts = starts
        for s in started[1:]:
            check_same_spaces(s.summary, started[0].summary)
        return started[0].summary

    def _spawn(self, a: int, fresh: bool) -> Any:
        s, run_dir = self.settings, None
        if s.run.keep:  # the user's run folder, on each actor's node
            g = self._generation[a]
            run_dir = str(s.run.run_dir / (f"actor-{a}" + (f".restart-{g}" if g else "")))
        remote = self.ray.remote(GroupActor).options(**self.actor_options)
        return remote.remote(s.spec, self._slices[a], self.num_envs, s.budget, s.same_step, run_dir, fresh, s.preprocess,
                             s.max_episode_steps)  # fmt: skip

    def _resources_text(self) -> str:
        o = self.actor_options
        return ", ".join(f"{k}={o[k]}" for k in ("num_cpus", "num_gpus", "resources") if k in o)

    def attach(self, buffers: Buffers) -> None:
        self._buffers = buffers

    # ------------------------------------------------------------ starting requests
    def _by_actor(self, ids: list[int]) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        owner = self._owner
        for i in ids:
            out.setdefault(int(owner[i]), []).append(int(i))
        return out

    def step(self, ids: list[int], together: bool) -> None:
        self._together = together
        actions = self._buffers.actions
        for a, aids in self._by_actor(ids).items():
            ref = self._actors[a].step.remote(aids, [arr[aids] for arr in actions])
            self._inflight[ref] = _Request("step", a, self._generation[a], aids)

    def reset(self, ids: list[int], seeds: list[int | None], options: dict[str, Any] | None) -> None:
        self._together = True
        seed_of = dict(zip(ids, seeds))
        for a, aids in self._by_actor(ids).items():
            aseeds = [seed_of[i] for i in aids]
            ref = self._actors[a].reset.remote(aids, aseeds, options)
            self._inflight[ref] = _Request("reset", a, self._generation[a], aids, seeds=aseeds, options=options)

    def call(self, ids: list[int], request: CallRequest) -> None:
        self._together = True
        for a, aids in self._by_actor(ids).items():
            ref = self._actors[a].call.remote(aids, request)
            self._inflight[ref] = _Request("call", a, self._generation[a], aids)

    # ------------------------------------------------------------ completions
    def wait(self, timeout: float | None) -> Completion:
        done = Completion()
        ray = self.ray
        deadline = None if timeout is None else time.monotonic() + timeout
        # A death's follow-up (the reset on the new actor) is in flight again: keep waiting
        # until something is reported, as the other drivers report a relaunch's result.
        while self._inflight and not done.ids:
            refs = list(self._inflight)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            # lockstep: the caller needs them all, so one wait for all; else the first ready actor
            ready, rest = ray.wait(refs, num_returns=len(refs) if self._together else 1, timeout=remaining)
            if ready and rest:  # whatever else is ready by now comes along
                more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                ready += more
            for ref in ready:
                self._settle(ref, self._inflight.pop(ref), done)
            if remaining == 0.0 or (not ready and remaining is not None):
                break
        if not self._inflight:
            self._together = False
        return writeable_results(done)  # ray.get gives read-only arrays

    def _settle(self, ref: Any, req: _Request, done: Completion) -> None:
        try:
            value = self._get(ref, req.actor, req.kind)
        except self.ray.exceptions.RayActorError as exc:
            self._actor_died(req, exc, done)
            return
        if req.kind == "call":
            done.ids.extend(req.ids)
            done.results.update(value)
            return
        self._write(value)
        done.ids.extend(value.ids)
        done.infos.update(value.infos)
        done.results.update(value.errors)  # resets the game refused
        if req.kind == "restart_reset":  # the SAME_STEP step that failed: truncated, and the new episode's first obs
            b = self._buffers
            b.rewards[req.ids], b.terminations[req.ids], b.truncations[req.ids] = 0.0, False, True
            for i in req.ids:
                done.infos[i] = {**value.infos.get(i, {}), **req.notes[i]}

    def _get(self, ref: Any, a: int, what: str) -> Any:
        ray = self.ray
        try:
            value = ray.get(ref)
        except ray.exceptions.RayActorError:
            raise
        except ray.exceptions.RayError as exc:
            raise WorkerError(f"the Ray actor of instances {self._slices[a]} failed while {what}: {exc}") from exc
        if isinstance(value, Fatal):
            error = value.error
            if isinstance(error, VecBridgeError):
                error.remote_traceback, error.node = value.traceback, value.node
                if value.node and error.args and isinstance(error.args[0], str) and "Ray actor pid" not in error.args[0]:
                    # its log_path and log tail are on that node, not necessarily this machine
                    error.args = (f"{error.args[0]}\n(in the Ray actor pid {value.pid} on node {value.node})",
                                  *error.args[1:])  # fmt: skip
                raise error
            raise WorkerError(f"the Ray actor of instances {self._slices[a]} failed while {what}: "
                              f"{type(error).__name__}: {error}\n--- actor traceback ---\n{value.traceback}")  # fmt: skip
        return value

    def _write(self, rows: Rows) -> None:
        b, ids = self._buffers, rows.ids
        for arr, values in zip(b.obs, rows.obs):
            arr[ids] = values
        b.rewards[ids], b.terminations[ids], b.truncations[ids] = rows.rewards, rows.terminations, rows.truncations
        if rows.masks is not None and b.action_masks is not None:
            b.action_masks[ids] = rows.masks

    # ------------------------------------------------------------ actor failures
    def _actor_died(self, req: _Request, exc: Exception, done: Completion) -> None:
        a = req.actor
        reason = f"its Ray actor ({self._whereabouts(a)}) died: " + _first_line(exc)
        if req.generation == self._generation[a]:  # the first news of this death: replace the actor
            ledger = self._ledgers[a]
            if not ledger.try_spend():
                raise RestartBudgetExceeded(
                    f"instances {self._slices[a]}: {reason}; and the restart budget is spent ({ledger.describe()})",
                    instance=self._slices[a][0], log_path="", last_error=reason,
                )  # fmt: skip
            self._generation[a] += 1
            self.ray.kill(self._actors[a], no_restart=True)  # a dead handle: harmless; a half-dead one: ended
            self._actors[a] = self._spawn(a, fresh=True)
            self._starts[a] = self._actors[a].start.remote()  # an actor runs its calls in order: later ones wait
        notes = {i: {"vecbridge_error": f"instance {i}: {reason}", "vecbridge_restarts": self._ledgers[a].total}
                 for i in req.ids}  # fmt: skip
        actor, generation = self._actors[a], self._generation[a]
        if req.kind == "call":
            done.ids.extend(req.ids)
            done.results.update({i: VecBridgeError(notes[i]["vecbridge_error"], instance=i) for i in req.ids})
        elif req.kind == "reset":  # the reset again, on the new instances
            ref = actor.reset.remote(req.ids, req.seeds, req.options)
            self._inflight[ref] = _Request("reset", a, generation, req.ids, seeds=req.seeds, options=req.options)
        elif req.kind == "step" and not self.settings.same_step:  # NEXT_STEP: truncated now; the next step resets
            b = self._buffers
            b.rewards[req.ids], b.terminations[req.ids], b.truncations[req.ids] = 0.0, False, True
            done.ids.extend(req.ids)
            done.infos.update(notes)
        else:  # SAME_STEP: the episode ends truncated and the new one starts in this step, as in a worker
            if req.kind == "step":
                for i in req.ids:
                    notes[i].update(final_obs=self._buffers.read_obs(i), final_info={})
            else:  # a restart_reset whose new actor died too: keep the first failure's final_obs
                notes = {i: {**req.notes[i], **notes[i]} for i in req.ids}
            ref = actor.reset.remote(req.ids, [None] * len(req.ids), None)
            self._inflight[ref] = _Request("restart_reset", a, generation, req.ids, notes=notes)

    def _whereabouts(self, a: int) -> str:
        try:  # the value of a call that completed stays readable after its actor died
            started = self.ray.get(self._starts[a], timeout=0)
            return f"pid {started.pid}, node {started.node[:12]}"
        except Exception:
            return "pid unknown"

    # ------------------------------------------------------------ inspection and close
    def processes(self) -> list[dict[str, Any]]:
        """Each live actor's pid, node and game pids (for tests and diagnostics)."""
        return self.ray.get([actor.processes.remote() for actor in self._actors], timeout=60)

    def close(self) -> None:
        """End every actor and, through them, every game; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        ray = self.ray
        if not ray.is_initialized():
            return
        try:
            closing = [actor.close.remote() for actor in self._actors]
            if closing:  # each actor says close to its games and waits one grace period
                ray.wait(closing, num_returns=len(closing), timeout=self.settings.spec.close_grace + 10)
        finally:
            for actor in self._actors:  # a stuck actor is killed; its reaper then ends its games
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:
                    pass
            self._actors = []
            self._inflight.clear()
            if self._owns_ray:
                ray.shutdown()

    def __repr__(self) -> str:
        return f"RayDriver(actors={len(self._actors)}, slices={[len(s) for s in self._slices]})"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

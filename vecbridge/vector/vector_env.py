"""BridgeVectorEnv: N external game instances as one Gymnasium vector env.

The vector env owns the Gymnasium API: its states (reset, step and call in flight),
the shared buffers (vecbridge.vector.buffers: observations, actions, rewards,
terminations and truncations), seeds, action checks, info merging and the ``send``/
``recv`` bookkeeping. It reaches the instances only through a driver
(vecbridge.vector.driver): an instance group in this process, worker processes, or Ray actors.
"""

from __future__ import annotations

import atexit
import os
import secrets  # the shared buffers' names: unique, and no part of the token (anyone can list /dev/shm)
import time
import weakref
from typing import Any, Callable, Sequence

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from vecbridge.errors import InstanceTimeout, StateError, VecBridgeError
from vecbridge.launch.run import RunContext
from vecbridge.launch.spec import LaunchSpec
from vecbridge.rom_hash import rom_hash
from vecbridge.transforms.pipeline import Pipeline, PreprocessSpec
from vecbridge.vector.arguments import env_ids, reset_ids, seeds_for, write_actions
from vecbridge.vector.budget import RestartBudget
from vecbridge.vector.buffers import Buffers, leaves
from vecbridge.vector.calls import GameCalls
from vecbridge.vector.driver import Completion, Driver, DriverSettings
from vecbridge.vector.in_process import InProcessDriver
from vecbridge.vector.infos import merge_infos
from vecbridge.vector.state import State
from vecbridge.vector.workers import WorkerDriver

Infos = dict[str, Any]


def default_num_workers(num_envs: int) -> int:
    """No worker process up to 4 cores (this process drives the instances: a worker would
    only add wake-ups while we wait for it), then one per 4 cores: a worker multiplexes
    dozens of instances, and the games need the cores."""
    cores = os.cpu_count() or 1
    return 0 if cores <= 4 else max(1, min(num_envs, cores // 4))


class BridgeVectorEnv(GameCalls, VectorEnv):
    """``num_envs`` instances of the game ``spec`` behind one ``gymnasium.vector.VectorEnv``.

    Args:
        spec: how to launch one instance.
        num_envs: number of instances.
        num_workers: worker processes multiplexing the instances; 0 drives them from this
            process (default: 0 up to 4 cores, then one per 4 cores).
        driver: where the instances run instead (a callable taking
            :class:`~vecbridge.vector.driver.DriverSettings` and returning a
            :class:`~vecbridge.vector.driver.Driver`; not with ``num_workers``).
        autoreset_mode: ``AutoresetMode.NEXT_STEP`` (default) or ``AutoresetMode.SAME_STEP``.
        restart_budget: how often a failing instance may be relaunched (:class:`RestartBudget`).
        timeout: default seconds for every ``*_wait`` / ``recv`` (None: rely on the per-instance
            ``spec.step_timeout``, which always applies).
        batch_size: how many instances ``recv()`` returns in the async API (default: all).
        copy: return copies of the shared observation buffer (default True).
        render_mode: ``"rgb_array"`` to make ``render()`` return the instances' frames.
        run_dir: keep instance folders and logs here (default: a temporary folder, removed on close).
        preprocess: image preprocessing (a spec such as ``"gray,resize=84x84,stack=4"`` or a
            :class:`~vecbridge.transforms.Pipeline`), run by the instance groups on each batch;
            ``single_observation_space`` is its result, ``raw_observation_space`` the game's.
        max_episode_steps: an episode step limit (as Gymnasium's ``TimeLimit``; ``gymnasium.make_vec``
            passes the registered one): the step that reaches it is truncated, then autoresets.
    """

    def __init__(
        self,
        spec: LaunchSpec,
        num_envs: int,
        *,
        num_workers: int | None = None,
        driver: Callable[[DriverSettings], Driver] | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        restart_budget: RestartBudget | None = None,
        timeout: float | None = None,
        batch_size: int | None = None,
        copy: bool = True,
        render_mode: str | None = None,
        run_dir: str | None = None,
        preprocess: PreprocessSpec = None,
        max_episode_steps: int | None = None,
    ) -> None:
        self._driver: Driver | None = None
        self._buffers: Buffers | None = None
        self._run: RunContext | None = None
        self._pipeline: Pipeline | None = None
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        limit = max_episode_steps
        if limit is not None and (not isinstance(limit, (int, np.integer)) or isinstance(limit, bool) or limit < 1):
            raise ValueError(f"max_episode_steps must be a whole number of steps, 1 or more (or None), got {limit!r}")
        self.spec_launch = spec
        self.num_envs = num_envs
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        if self.autoreset_mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"autoreset_mode must be NEXT_STEP or SAME_STEP, got {self.autoreset_mode}")
        self.timeout = timeout
        self.batch_size = num_envs if batch_size is None else batch_size
        if not isinstance(self.batch_size, (int, np.integer)) or not 1 <= self.batch_size <= num_envs:
            raise ValueError(f"batch_size must be in [1, num_envs={num_envs}], got {batch_size}")
        self.copy = copy
        self.render_mode = render_mode
        if driver is None:
            num_workers = min(num_envs, default_num_workers(num_envs) if num_workers is None else num_workers)
            if num_workers < 0:
                raise ValueError(f"num_workers must be 0 (no worker process) or more, got {num_workers}")
        elif num_workers is not None:
            raise ValueError("pass num_workers or driver, not both")
        self.num_workers = num_workers  # None: a driver of the caller's
        self.game_name = ""
        self._state = State.DEFAULT
        self._all = list(range(num_envs))
        self._in_flight: set[int] = set()  # instances with a request at the driver
        self._late_calls: set[int] = set()  # of those, instances answering a call that timed out
        self._ready: dict[int, None] = {}  # stepped through send(), not returned by recv() yet, in completion order
        self._ready_infos: dict[int, Infos] = {}
        self._failure: VecBridgeError | None = None  # an error that ended the run (a spent restart budget, ...)
        self._got: tuple[dict[int, Infos], dict[int, Any]] = ({}, {})  # the infos and results of the wait under way
        self._was_reset = False  # a step before the first reset is refused here, not by a game in the middle of a batch
        self._run = RunContext(run_dir, reaper=True)
        _LIVE.add(self)
        try:
            same_step = self.autoreset_mode == AutoresetMode.SAME_STEP
            self._pipeline = (Pipeline.of(preprocess) if preprocess is not None else None) or None  # "none": None
            settings = DriverSettings(spec, num_envs, self._run, restart_budget or RestartBudget(), same_step,
                                      self._pipeline, None if limit is None else int(limit))  # fmt: skip
            if driver is not None:
                self._driver = driver(settings)
            elif num_workers == 0:
                self._driver = InProcessDriver(settings)
            else:
                self._driver = WorkerDriver(settings, num_workers)
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        summary = self._driver.start()
        self.raw_observation_space = summary.observation_space  # as the game declares it
        pipeline = self._pipeline
        self.single_observation_space = pipeline.observation_space(summary.observation_space) if pipeline else summary.observation_space
        self.single_action_space = summary.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.game_name = summary.name
        self.metadata = {
            "autoreset_mode": self.autoreset_mode,
            "render_modes": list(summary.metadata.get("render_modes") or ["rgb_array"]),
            "render_fps": summary.metadata.get("render_fps", 30),
            **rom_hash(summary.metadata, summary.name),
        }
        if self.render_mode is not None and self.render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {self.render_mode!r} is not one of the game's {self.metadata['render_modes']}")
        self._buffers = Buffers.create(
            self.single_observation_space, self.single_action_space, self.num_envs, secrets.token_hex(6), summary.mask_size
        )
        try:
            self._driver.attach(self._buffers)
        finally:
            self._buffers.unlink()  # every process has it mapped: nothing needs the names any more
        self._act_leaves = leaves(self.single_action_space)

    # ------------------------------------------------------------ guards and helpers
    def _require(self, state: State, call: str) -> None:
        if self.closed:
            raise StateError("this vector env is closed")
        if self._failure is not None:
            first = str(self._failure).splitlines()[0] if str(self._failure) else ""
            raise StateError(f"this vector env stopped at an error it cannot go on from ({type(self._failure).__name__}: "
                             f"{first}); close() it and make a new one") from self._failure  # fmt: skip
        if self._state is not state:
            if state is State.DEFAULT:
                raise StateError(
                    f"cannot call {call} while a {self._state.value} is pending; call {self._state.value}_wait() first"
                )
            raise StateError(f"{call} needs a pending {state.value}: call {state.value}_async() first")
        if state is State.DEFAULT:  # a new request: the answers of calls that timed out come first
            self._collect_late_calls()

    def _require_idle(self, call: str) -> None:
        """No request may be in flight (after send() without recv(), or a wait that timed out)."""
        self._require(State.DEFAULT, call)
        if self._in_flight:
            raise StateError(f"cannot {call} while instances {sorted(self._in_flight)} are stepping; recv() them first")

    def _require_reset(self, call: str) -> None:
        if not self._was_reset:
            raise StateError(f"{call} before the first reset: call reset() first (a Gymnasium env steps only "
                             f"after a reset)")  # fmt: skip

    def _env_ids(self, ids: Any) -> np.ndarray:
        return env_ids(self.num_envs, ids)

    def _wait(self, timeout: float | None) -> Completion:
        """The driver's next completion; an error from it ends the run (the drivers raise only those)."""
        try:
            return self._driver.wait(timeout)
        except VecBridgeError as exc:
            self._failure = exc
            raise

    def _await_all(self, timeout: float | None, what: str) -> tuple[dict[int, Infos], dict[int, Any]]:
        """Wait until no request is in flight; the completions' infos and call results.

        What came before a KeyboardInterrupt is kept, so that the ``*_wait`` called again goes on."""
        infos, results = self._got
        in_flight = self._in_flight
        deadline = None if timeout is None else time.monotonic() + timeout
        while in_flight:
            # Always look once, without blocking when the time is up: timeout=0 polls (as in Gymnasium's
            # AsyncVectorEnv), so replies that are already there are taken, not reported as late.
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            done = self._wait(remaining)
            in_flight.difference_update(done.ids)
            infos.update(done.infos)
            results.update(done.results)
            if in_flight and remaining == 0.0:
                raise InstanceTimeout(f"{what}: instances {sorted(in_flight)} did not answer within {timeout:g} s")
        self._got = ({}, {})
        return infos, results

    def _waited(self, state: State, what: str, timeout: float | None) -> tuple[dict[int, Infos], dict[int, Any]]:
        """``_await_all`` for the ``*_wait`` of ``state``: an error ends the wait; Ctrl-C and the wait's
        own timeout leave it pending (as Ctrl-C does in Gymnasium's AsyncVectorEnv), so that calling
        ``what`` again goes on waiting and returns the batch."""
        self._require(state, what)
        try:
            got = self._await_all(self.timeout if timeout is None else timeout, what)  # 0: poll, not 'no timeout'
        except Exception as exc:
            if isinstance(exc, InstanceTimeout) and self._failure is None:  # this wait's deadline: still on
                exc.args = (f"{exc.args[0]}; the {state.value} is still pending: call {what}() again to wait on",)
            else:  # an error that ends the wait
                self._state = State.DEFAULT
            raise
        self._state = State.DEFAULT
        return got

    # ------------------------------------------------------------ reset
    def reset_async(self, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None) -> None:
        self._require_idle("reset_async")
        seeds = seeds_for(self.num_envs, seed)
        ids, options = reset_ids(self.num_envs, options)
        self._driver.reset(ids, [seeds[i] for i in ids], options)
        self._in_flight.update(ids)
        self._got = ({}, {})
        self._state = State.WAITING_RESET
        self._was_reset = True

    def reset_wait(self, timeout: float | None = None) -> tuple[Any, Infos]:
        infos, refused = self._waited(State.WAITING_RESET, "reset_wait", timeout)
        self._ready.clear()
        self._ready_infos.clear()
        if refused:  # every instance is done, so the env stays usable: reset() again
            raise refused[min(refused)]
        return self._buffers.batch_obs(self.copy), merge_infos(infos, self.num_envs)

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        self.reset_async(seed=seed, options=options)
        return self.reset_wait()

    # ------------------------------------------------------------ step (lockstep)
    def step_async(self, actions: Any) -> None:
        self._require_idle("step_async")
        self._require_reset("step_async")
        write_actions(self._act_leaves, self._buffers.actions, actions, None, self.num_envs)
        self._driver.step(self._all, True)
        self._in_flight.update(self._all)
        self._got = ({}, {})
        self._state = State.WAITING_STEP

    def step_wait(self, timeout: float | None = None):
        infos, _ = self._waited(State.WAITING_STEP, "step_wait", timeout)
        b = self._buffers
        return (b.batch_obs(self.copy), b.rewards.copy(), b.terminations.copy(), b.truncations.copy(),
                merge_infos(infos, self.num_envs) if infos else {})  # fmt: skip

    def step(self, actions: Any):
        self.step_async(actions)
        return self.step_wait()

    # ------------------------------------------------------------ async batch API (EnvPool / PufferLib style)
    def async_reset(self, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None) -> None:
        """Reset every instance and mark all of them ready for ``recv()``."""
        self.reset(seed=seed, options=options)
        self._ready = dict.fromkeys(range(self.num_envs))
        self._ready_infos = {}

    def send(self, actions: Any, env_ids: Sequence[int] | np.ndarray | None = None) -> None:
        """Start a step of the instances ``env_ids`` (default: all) with ``actions`` (one row each)."""
        self._require(State.DEFAULT, "send")
        ids = np.arange(self.num_envs) if env_ids is None else self._env_ids(env_ids)
        id_list = ids.tolist()
        busy = self._in_flight.intersection(id_list)
        if busy:
            raise StateError(f"instances {sorted(busy)} are already stepping; recv() them before sending again")
        self._require_reset("send")
        write_actions(self._act_leaves, self._buffers.actions, actions, ids, self.num_envs)
        for i in id_list:
            if self._ready.pop(i, 0) is None:
                self._ready_infos.pop(i, None)
        self._driver.step(id_list, False)
        self._in_flight.update(id_list)

    def recv(self, timeout: float | None = None):
        """The first ``batch_size`` instances whose step is done.

        Returns ``(obs, rewards, terminations, truncations, infos, env_ids)``: rows of the
        batch in the order of ``env_ids``; ``infos["env_id"]`` repeats the ids.
        """
        self._require(State.DEFAULT, "recv")
        timeout = timeout if timeout is not None else self.timeout
        need = min(self.batch_size, len(self._ready) + len(self._in_flight))
        if need == 0:
            raise StateError("recv() with nothing in flight: send() actions first (or async_reset())")
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(self._ready) < need:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            done = self._wait(remaining)
            self._in_flight.difference_update(done.ids)
            self._ready.update(dict.fromkeys(done.ids))
            self._ready_infos.update(done.infos)
            if len(self._ready) < need and remaining == 0.0:
                raise InstanceTimeout(
                    f"recv(): only {len(self._ready)} of {need} instances ready after {timeout:g} s; "
                    f"still stepping: {sorted(self._in_flight)}"
                )
        ready = iter(self._ready)
        ids = np.array([next(ready) for _ in range(need)], dtype=np.int64)
        id_list = ids.tolist()
        for i in id_list:
            del self._ready[i]
        infos = {i: self._ready_infos.pop(i) for i in id_list if i in self._ready_infos}
        b = self._buffers
        merged = merge_infos(infos, len(ids), {i: k for k, i in enumerate(id_list)}) if infos else {}
        merged["env_id"] = ids
        return (b.batch_obs(True, ids), b.rewards[ids], b.terminations[ids], b.truncations[ids], merged, ids)

    # ------------------------------------------------------------ close
    @property
    def driver(self) -> Driver | None:
        """What reaches the instances (in-process, worker processes, Ray actors, ...)."""
        return self._driver

    @property
    def rejected_connections(self) -> int:
        """Connections vecbridge closed before their hello (strangers, broken hellos, timeouts); see docs/security.md.

        ``self.connection_stats()`` gives them by reason.
        """
        return self._run.rejected_connections

    def connection_stats(self) -> dict[str, int]:
        return self._run.connection_stats()

    def close_extras(self, **kwargs: Any) -> None:
        """End every instance and worker (``close()`` is safe to call twice)."""
        _LIVE.discard(self)
        try:
            if self._driver is not None:
                self._driver.close()
        finally:
            if self._buffers is not None:
                self._buffers.close()
            if self._run is not None:
                self._run.close()

    def __enter__(self) -> "BridgeVectorEnv":  # ``with vecbridge.make(...) as envs:`` closes on the way out
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"BridgeVectorEnv({self.game_name or self.spec_launch.name!r}, num_envs={self.num_envs}, {self._driver!r})"


_LIVE: "weakref.WeakSet[BridgeVectorEnv]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for env in list(_LIVE):
        try:
            env.close()
        except Exception:
            pass

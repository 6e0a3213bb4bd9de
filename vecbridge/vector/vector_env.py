"""BridgeVectorEnv: N external game instances as one Gymnasium vector env.

A few worker processes each multiplex many instances' sockets (vecbridge.vector.group);
observations, actions, rewards, terminations and truncations live in shared memory
(vecbridge.vector.buffers); only infos and call results travel by pipe.
"""

from __future__ import annotations

import atexit
import enum
import os
import socket
import subprocess
import sys
import time
import weakref
from multiprocessing.connection import Connection, wait
from typing import Any, Sequence

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from vecbridge.errors import InstanceTimeout, InvalidAction, LaunchError, StateError, VecBridgeError, WorkerError
from vecbridge.launch.run import RunContext
from vecbridge.launch.spec import LaunchSpec
from vecbridge.protocol.spaces import space_from_json
from vecbridge.protocol.values import describe_space, first_invalid
from vecbridge.vector.buffers import Buffers, leaves
from vecbridge.vector.local import LocalWorker
from vecbridge.vector.budget import RestartBudget

Infos = dict[str, Any]


class State(enum.Enum):
    DEFAULT = "default"
    WAITING_RESET = "reset"
    WAITING_STEP = "step"
    WAITING_CALL = "call"


def default_num_workers(num_envs: int) -> int:
    """No worker process up to 4 cores (this process drives the instances: a worker would
    only add wake-ups while we wait for it), then one per 4 cores: a worker multiplexes
    dozens of instances, and the games need the cores."""
    cores = os.cpu_count() or 1
    return 0 if cores <= 4 else max(1, min(num_envs, cores // 4))


class BridgeVectorEnv(VectorEnv):
    """``num_envs`` instances of the game ``spec`` behind one ``gymnasium.vector.VectorEnv``.

    Args:
        spec: how to launch one instance.
        num_envs: number of instances.
        num_workers: worker processes multiplexing the instances; 0 drives them from this
            process (default: 0 up to 4 cores, then one per 4 cores).
        autoreset_mode: ``AutoresetMode.NEXT_STEP`` (default) or ``AutoresetMode.SAME_STEP``.
        restart_budget: how often a failing instance may be relaunched (:class:`RestartBudget`).
        timeout: default seconds for every ``*_wait`` / ``recv`` (None: rely on the per-instance
            ``spec.step_timeout``, which always applies).
        batch_size: how many instances ``recv()`` returns in the async API (default: all).
        copy: return copies of the shared observation buffer (default True).
        render_mode: ``"rgb_array"`` to make ``render()`` return the instances' frames.
        run_dir: keep instance folders and logs here (default: a temporary folder, removed on close).

    Workers are plain ``python -m vecbridge.vector.worker`` processes, not multiprocessing
    children: no fork of a threaded trainer, and no ``if __name__ == "__main__"`` guard needed.
    """

    def __init__(
        self,
        spec: LaunchSpec,
        num_envs: int,
        *,
        num_workers: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        restart_budget: RestartBudget | None = None,
        timeout: float | None = None,
        batch_size: int | None = None,
        copy: bool = True,
        render_mode: str | None = None,
        run_dir: str | None = None,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        self.spec_launch = spec
        self.num_envs = num_envs
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        if self.autoreset_mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"autoreset_mode must be NEXT_STEP or SAME_STEP, got {self.autoreset_mode}")
        self.timeout = timeout
        self.batch_size = batch_size or num_envs
        if not 1 <= self.batch_size <= num_envs:
            raise ValueError(f"batch_size must be in [1, num_envs={num_envs}], got {batch_size}")
        self.copy = copy
        self.render_mode = render_mode
        if num_workers is None:
            num_workers = default_num_workers(num_envs)
        if num_workers < 0:
            raise ValueError(f"num_workers must be 0 (no worker process) or more, got {num_workers}")
        self.num_workers = min(num_envs, num_workers)
        self.in_process = self.num_workers == 0
        self._state = State.DEFAULT
        self._closed = False
        self.game_name = ""
        self._workers: list[subprocess.Popen | None] = []  # None: the in-process worker
        self._pipes: list[Connection | LocalWorker] = []
        self._buffers: Buffers | None = None
        self._run = RunContext(run_dir, reaper=True)
        # instance i belongs to worker owner[i]; workers own contiguous slices
        chunks = np.array_split(np.arange(num_envs), max(1, self.num_workers))
        self._owned = [chunk.tolist() for chunk in chunks]
        self._owner = np.concatenate([np.full(len(c), w) for w, c in enumerate(chunks)])
        self._in_flight: set[int] = set()
        self._ready: dict[int, None] = {}  # instances whose step is done, in completion order
        self._ready_infos: dict[int, dict[str, Any]] = {}
        self._pending_workers: list[int] = []  # workers owing a reply to reset_async
        _LIVE.add(self)
        try:
            self._start(restart_budget or RestartBudget())
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ start-up
    def _start(self, budget: RestartBudget) -> None:
        same_step = self.autoreset_mode == AutoresetMode.SAME_STEP
        for w, ids in enumerate(self._owned):
            if self.in_process:
                self._workers.append(None)
                self._pipes.append(LocalWorker(self.spec_launch, ids, self._run, budget, same_step))
                continue
            parent_sock, child_sock = socket.socketpair()
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "vecbridge.vector.worker", str(child_sock.fileno())],
                    pass_fds=[child_sock.fileno()],
                    stdin=subprocess.DEVNULL,
                )
            finally:
                child_sock.close()
            pipe = Connection(parent_sock.detach())
            self._workers.append(proc)
            self._pipes.append(pipe)
            pipe.send((self.spec_launch, ids, str(self._run.run_dir), self._run.token, budget, same_step))
        startup = self.spec_launch.startup_timeout * (1 + max(len(ids) for ids in self._owned) / 8) + 30
        hellos = [self._expect(w, "hello", startup) for w in range(len(self._pipes))]
        first = hellos[0]
        for w, hello in enumerate(hellos[1:], start=1):
            for key in ("observation_space", "action_space"):
                if hello[key] != first[key]:
                    raise LaunchError(
                        f"instance {hello['instance']} declares {key} {space_from_json(hello[key])} but instance "
                        f"{first['instance']} declared {space_from_json(first[key])}; every instance must declare "
                        f"the same spaces (stage: handshake)",
                        instance=hello["instance"],
                        stage="handshake",
                        log_path="",
                        log_tail="",
                    )
        self.single_observation_space = space_from_json(first["observation_space"])
        self.single_action_space = space_from_json(first["action_space"])
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.game_name = first["name"]
        self.metadata = {
            "autoreset_mode": self.autoreset_mode,
            "render_modes": list(first["metadata"].get("render_modes") or ["rgb_array"]),
            "render_fps": first["metadata"].get("render_fps", 30),
        }
        if self.render_mode is not None and self.render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {self.render_mode!r} is not one of the game's {self.metadata['render_modes']}")
        self._buffers = Buffers.create(
            self.single_observation_space, self.single_action_space, self.num_envs, self._run.token[:12]
        )
        try:
            b = self._buffers
            for pipe in self._pipes:
                pipe.send(("attach", b.obs_paths, b.act_paths, b.layout))
            for w in range(len(self._pipes)):
                self._expect(w, "attached", 60)
        finally:
            self._buffers.unlink()  # every process has it mapped: nothing needs the names any more
        self._act_leaves = leaves(self.single_action_space)

    # ------------------------------------------------------------ pipe helpers
    def _expect(self, w: int, kind: str, timeout: float | None) -> Any:
        """Receive one message of ``kind`` from worker ``w``, raising its errors."""
        msg = self._receive(w, timeout, f"the worker's {kind!r}")
        if msg[0] != kind:
            raise WorkerError(f"worker {w} sent {msg[0]!r} where {kind!r} was expected")
        return msg[1] if len(msg) == 2 else msg[1:]

    def _receive(self, w: int, timeout: float | None, what: str) -> tuple:
        pipe, proc = self._pipes[w], self._workers[w]
        deadline = None if timeout is None else time.monotonic() + timeout
        while not pipe.poll(0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))):
            if proc is not None and proc.poll() is not None and not pipe.poll():
                raise WorkerError(
                    f"worker {w} (instances {self._owned[w]}) died with exit code {proc.returncode} "
                    f"while vecbridge waited for {what}"
                )
            if deadline is not None and time.monotonic() >= deadline:
                raise InstanceTimeout(
                    f"worker {w} (instances {self._owned[w]}) did not deliver {what} within {timeout:g} s"
                )
        try:
            msg = pipe.recv()
        except EOFError:
            raise WorkerError(f"worker {w} (instances {self._owned[w]}) closed its pipe while vecbridge waited for {what}") from None
        if msg[0] == "fatal":
            exc, tb = msg[1], msg[2]
            if isinstance(exc, VecBridgeError):
                exc.remote_traceback = tb
                raise exc
            raise WorkerError(f"worker {w} failed: {type(exc).__name__}: {exc}\n--- worker traceback ---\n{tb}")
        return msg

    def _check_open(self) -> None:
        if self._closed:
            raise StateError("this vector env is closed")

    def _require(self, state: State, call: str) -> None:
        self._check_open()
        if self._state is not state:
            if state is State.DEFAULT:
                raise StateError(
                    f"cannot call {call} while a {self._state.value} is pending; "
                    f"call {self._state.value}_wait() first"
                )
            raise StateError(f"{call} needs a pending {state.value}: call {state.value}_async() first")

    def _workers_of(self, ids: Sequence[int]) -> dict[int, list[int]]:
        by_worker: dict[int, list[int]] = {}
        for i in ids:
            by_worker.setdefault(int(self._owner[i]), []).append(int(i))
        return by_worker

    def _merge_infos(self, infos: dict[int, dict[str, Any]], count: int, index_of=None) -> Infos:
        merged: Infos = {}
        saved, self.num_envs = self.num_envs, count  # _add_info sizes arrays by num_envs
        try:
            for i, info in sorted(infos.items()):
                merged = self._add_info(merged, info, index_of[i] if index_of else i)
        finally:
            self.num_envs = saved
        return merged

    # ------------------------------------------------------------ reset
    def reset_async(self, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None) -> None:
        self._require(State.DEFAULT, "reset_async")
        if self._in_flight:
            raise StateError(f"cannot reset while instances {sorted(self._in_flight)} are stepping; recv() them first")
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"expected {self.num_envs} seeds, got {len(seeds)}")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        ids = list(range(self.num_envs))
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},), got {mask!r}")
            ids = np.flatnonzero(mask).tolist()
        for w, wids in self._workers_of(ids).items():
            self._pipes[w].send(("reset", wids, [seeds[i] for i in wids], options or None))
        self._pending_workers = sorted(self._workers_of(ids))
        self._state = State.WAITING_RESET

    def reset_wait(self, timeout: float | None = None) -> tuple[Any, Infos]:
        self._require(State.WAITING_RESET, "reset_wait")
        infos: dict[int, dict[str, Any]] = {}
        try:
            for w in self._pending_workers:
                _, worker_infos = self._expect(w, "reset_done", timeout or self.timeout)
                infos.update(worker_infos)
        finally:
            self._state = State.DEFAULT
        self._ready.clear()
        return self._buffers.batch_obs(self.copy), self._merge_infos(infos, self.num_envs)

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        self.reset_async(seed=seed, options=options)
        return self.reset_wait()

    # ------------------------------------------------------------ step (lockstep)
    def _write_actions(self, actions: Any, ids: np.ndarray | None) -> None:
        b = self._buffers
        rows = slice(None) if ids is None else ids
        count = self.num_envs if ids is None else len(ids)
        for (path, leaf), arr in zip(self._act_leaves, b.actions):
            value = actions
            for key in path:
                value = value[key]
            value = np.asarray(value)
            expected = (count, *arr.shape[1:])
            if value.shape != expected:
                raise InvalidAction(
                    f"expected actions of shape {list(expected)} (one {describe_space(leaf)} per instance), "
                    f"got shape {list(value.shape)}"
                )
            bad = first_invalid(leaf, value)
            if bad is not None:
                who = bad if ids is None else int(ids[bad])
                raise InvalidAction(f"instance {who}: expected an action of {describe_space(leaf)}, got {value[bad]!r}")
            arr[rows] = value

    def step_async(self, actions: Any) -> None:
        self._require(State.DEFAULT, "step_async")
        if self._in_flight:
            raise StateError(f"instances {sorted(self._in_flight)} are stepping through send(); recv() them first")
        self._write_actions(actions, None)
        if self.in_process:
            self._pipes[0].begin_lockstep()
        else:
            for w, ids in enumerate(self._owned):
                self._pipes[w].send(("step", ids, True))
        self._state = State.WAITING_STEP

    def step_wait(self, timeout: float | None = None):
        self._require(State.WAITING_STEP, "step_wait")
        infos: dict[int, dict[str, Any]] = {}
        try:
            if self.in_process:
                infos = self._pipes[0].finish_lockstep(timeout or self.timeout)
            for w in range(0 if self.in_process else len(self._pipes)):
                remaining = len(self._owned[w])
                while remaining:
                    ids, worker_infos = self._expect(w, "ready", timeout or self.timeout)
                    remaining -= len(ids)
                    infos.update(worker_infos)
        finally:
            self._state = State.DEFAULT
        b = self._buffers
        return (
            b.batch_obs(self.copy),
            b.rewards.copy(),
            b.terminations.copy(),
            b.truncations.copy(),
            self._merge_infos(infos, self.num_envs) if infos else {},
        )

    def step(self, actions: Any):
        self.step_async(actions)
        return self.step_wait()

    # ------------------------------------------------------------ async batch API (EnvPool / PufferLib style)
    def async_reset(self, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None) -> None:
        """Reset every instance and mark all of them ready for ``recv()``."""
        _, infos = self.reset(seed=seed, options=options)
        self._ready = dict.fromkeys(range(self.num_envs))
        self._ready_infos = {}

    def send(self, actions: Any, env_ids: Sequence[int] | np.ndarray | None = None) -> None:
        """Start a step of the instances ``env_ids`` (default: all) with ``actions`` (one row each)."""
        self._require(State.DEFAULT, "send")
        ids = np.arange(self.num_envs) if env_ids is None else np.asarray(env_ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_envs):
            raise ValueError(f"env_ids must be in [0, {self.num_envs}), got {ids.tolist()}")
        busy = self._in_flight.intersection(ids.tolist())
        if busy:
            raise StateError(f"instances {sorted(busy)} are already stepping; recv() them before sending again")
        self._write_actions(actions, ids)
        id_list = ids.tolist()
        for i in id_list:
            if self._ready.pop(i, 0) is None:
                self._ready_infos.pop(i, None)
        if self.in_process:
            self._pipes[0].begin_steps(id_list)
        else:
            for w, wids in self._workers_of(id_list).items():
                self._pipes[w].send(("step", wids, False))
        self._in_flight.update(id_list)

    def recv(self, timeout: float | None = None):
        """The first ``batch_size`` instances whose step is done.

        Returns ``(obs, rewards, terminations, truncations, infos, env_ids)``: rows of the
        batch in the order of ``env_ids``; ``infos["env_id"]`` repeats the ids.
        """
        self._require(State.DEFAULT, "recv")
        timeout = timeout if timeout is not None else self.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        need = min(self.batch_size, len(self._ready) + len(self._in_flight))
        if need == 0:
            raise StateError("recv() with nothing in flight: send() actions first (or async_reset())")
        while len(self._ready) < need:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            wait_s = 0.5 if remaining is None else min(0.5, remaining)
            if self.in_process:  # no worker to wait for: drive the instances right here
                ids, infos = self._pipes[0].collect(wait_s)
                self._in_flight.difference_update(ids)
                self._ready.update(dict.fromkeys(ids))
                self._ready_infos.update(infos)
                if not ids and deadline is not None and time.monotonic() >= deadline:
                    raise InstanceTimeout(
                        f"recv(): only {len(self._ready)} of {need} instances ready after {timeout:g} s; "
                        f"still stepping: {sorted(self._in_flight)}"
                    )
                continue
            busy = {int(self._owner[i]) for i in self._in_flight}
            readable = wait([self._pipes[w] for w in busy], timeout=wait_s)
            if not readable:
                for w in busy:
                    self._receive_nowait_check(w)
                if deadline is not None and time.monotonic() >= deadline:
                    raise InstanceTimeout(
                        f"recv(): only {len(self._ready)} of {need} instances ready after {timeout:g} s; "
                        f"still stepping: {sorted(self._in_flight)}"
                    )
                continue
            for pipe in readable:
                w = self._pipes.index(pipe)
                ids, infos = self._expect(w, "ready", 0)
                self._in_flight.difference_update(ids)
                self._ready.update(dict.fromkeys(ids))
                self._ready_infos.update(infos)
        ready = iter(self._ready)
        ids = np.array([next(ready) for _ in range(need)], dtype=np.int64)
        for i in ids.tolist():
            del self._ready[i]
        infos = {i: self._ready_infos.pop(i) for i in ids.tolist() if i in self._ready_infos}
        b = self._buffers
        merged = self._merge_infos(infos, len(ids), {int(i): k for k, i in enumerate(ids)}) if infos else {}
        merged["env_id"] = ids
        return (b.batch_obs(True, ids), b.rewards[ids], b.terminations[ids], b.truncations[ids], merged, ids)

    def _receive_nowait_check(self, w: int) -> None:
        if self._workers[w] is not None and self._workers[w].poll() is not None and not self._pipes[w].poll():
            raise WorkerError(f"worker {w} (instances {self._owned[w]}) died with exit code {self._workers[w].returncode}")

    # ------------------------------------------------------------ call / attributes / render
    def _broadcast(self, op: str, ids: list[int], *args: Any, timeout: float | None = None) -> list[Any]:
        """Send ``(op, its ids, *args)`` to each worker owning some of ``ids``; their results, in ``ids`` order."""
        self._require(State.DEFAULT, op)
        if self._in_flight:
            raise StateError(f"cannot {op} while instances {sorted(self._in_flight)} are stepping; recv() them first")
        by_worker = self._workers_of(ids)
        for w, wids in by_worker.items():
            self._pipes[w].send((op, wids, *args))
        results: dict[int, Any] = {}
        self._state = State.WAITING_CALL
        try:
            for w in by_worker:
                results.update(self._expect(w, "results", timeout or self.timeout))
        finally:
            self._state = State.DEFAULT
        for i in ids:
            if isinstance(results[i], BaseException):
                raise results[i]
        return [results[i] for i in ids]

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call the game-specific method ``name`` on every instance; a tuple of their results."""
        return tuple(self._broadcast("call", list(range(self.num_envs)), name, list(args), kwargs))

    def call_at(self, env_ids: Sequence[int], name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call ``name`` on the instances ``env_ids`` only; their results, in that order."""
        ids = [int(i) for i in env_ids]
        bad = [i for i in ids if not 0 <= i < self.num_envs]
        if bad:
            raise ValueError(f"env_ids must be in [0, {self.num_envs}), got {bad}")
        return tuple(self._broadcast("call", ids, name, list(args), kwargs))

    def get_attr(self, name: str) -> tuple[Any, ...]:
        return self.call("__getattr__", name)

    def set_attr(self, name: str, values: list[Any] | tuple[Any, ...] | Any) -> None:
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"set_attr needs one value per instance ({self.num_envs}), got {len(values)}")
        ids = list(range(self.num_envs))
        self._broadcast("setattr", ids, name, dict(zip(ids, values)))  # one round trip for all instances

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode is None:
            return None
        return tuple(self._broadcast("render", list(range(self.num_envs))))

    # ------------------------------------------------------------ close
    @property
    def rejected_connections(self) -> int:
        """Connections vecbridge closed before their hello (strangers, broken hellos, timeouts); see docs/security.md.

        ``self.connection_stats()`` gives them by reason.
        """
        return self._run.rejected_connections

    def connection_stats(self) -> dict[str, int]:
        return self._run.connection_stats()

    def close_extras(self, timeout: float | None = None, terminate: bool = False, **kwargs: Any) -> None:
        if self._closed:
            return
        self._closed = True
        _LIVE.discard(self)
        for w, pipe in enumerate(self._pipes):
            try:
                pipe.send(("close",))
            except (OSError, ValueError):
                pass
        grace = self.spec_launch.close_grace + 5.0
        deadline = time.monotonic() + grace
        for proc in self._workers:
            if proc is None:
                continue
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:  # a stuck worker: SIGTERM makes it close its games
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for pipe in self._pipes:
            pipe.close()
        if self._buffers is not None:
            self._buffers.close()
        self._run.close()

    def close(self, **kwargs: Any) -> None:
        """End every instance and worker; safe to call twice."""
        if getattr(self, "_closed", True):
            return
        self.close_extras(**kwargs)
        self.closed = True

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        workers = "in-process" if self.in_process else f"workers={self.num_workers}"
        return f"BridgeVectorEnv({self.game_name or self.spec_launch.name!r}, num_envs={self.num_envs}, {workers})"


_LIVE: "weakref.WeakSet[BridgeVectorEnv]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for env in list(_LIVE):
        try:
            env.close()
        except Exception:
            pass

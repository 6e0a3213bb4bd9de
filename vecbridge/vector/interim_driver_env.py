"""INTERIM, to be deleted: the Driver interface's types and a minimal vector env over a Driver.

The core issue is building ``vecbridge/vector/driver.py`` (the Driver interface of the
lead's design) and a ``BridgeVectorEnv`` that talks to instances only through a Driver.
Until that lands, this module holds the interface's types as the design writes them
(``GameSummary``, ``Completion``) and :class:`DriverVectorEnv`, the least of a vector
env that drives a Driver, so that ``backend="ray"`` works end to end today. Once the
real interface is merged, :mod:`vecbridge.vector.ray_driver` imports its types from
``vecbridge.vector.driver``, ``backend="ray"`` builds the real vector env over the
RayDriver, and this module goes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from vecbridge.errors import InstanceTimeout, StateError
from vecbridge.protocol.spaces import leaves
from vecbridge.vector.buffers import Buffers
from vecbridge.vector.env import BridgeVectorEnv


@dataclass
class GameSummary:
    observation_space: spaces.Space
    action_space: spaces.Space
    name: str
    metadata: dict[str, Any]


@dataclass
class Completion:
    ids: list[int] = field(default_factory=list)
    infos: dict[int, dict[str, Any]] = field(default_factory=dict)
    results: dict[int, Any] = field(default_factory=dict)


class DriverVectorEnv(VectorEnv):
    """``num_envs`` instances behind a Driver, as a ``gymnasium.vector.VectorEnv`` (interim)."""

    # the real vector env's action checks and info merging, borrowed rather than copied
    _write_actions = BridgeVectorEnv._write_actions
    _merge_infos = BridgeVectorEnv._merge_infos

    def __init__(
        self,
        driver: Any,
        *,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        timeout: float | None = None,
        batch_size: int | None = None,
        copy: bool = True,
        render_mode: str | None = None,
    ) -> None:
        self.driver = driver
        self.num_envs = driver.num_envs
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.timeout = timeout
        self.batch_size = batch_size or self.num_envs
        self.copy = copy
        self.render_mode = render_mode
        self._closed = False
        self._buffers: Buffers | None = None
        self._in_flight: set[int] = set()
        self._ready: dict[int, None] = {}
        self._ready_infos: dict[int, dict[str, Any]] = {}
        try:
            summary = driver.start()
            self.single_observation_space = summary.observation_space
            self.single_action_space = summary.action_space
            self.observation_space = batch_space(self.single_observation_space, self.num_envs)
            self.action_space = batch_space(self.single_action_space, self.num_envs)
            self.game_name = summary.name
            self.metadata = {
                "autoreset_mode": self.autoreset_mode,
                "render_modes": list(summary.metadata.get("render_modes") or ["rgb_array"]),
                "render_fps": summary.metadata.get("render_fps", 30),
            }
            import secrets

            self._buffers = Buffers.create(self.single_observation_space, self.single_action_space, self.num_envs,
                                           secrets.token_hex(6))  # fmt: skip
            self._buffers.unlink()  # only this process maps them
            self._act_leaves = leaves(self.single_action_space)
            driver.attach(self._buffers)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ helpers
    def _check_open(self) -> None:
        if self._closed:
            raise StateError("this vector env is closed")

    def _gather(self, ids: list[int], timeout: float | None) -> tuple[dict[int, dict], dict[int, Any]]:
        """Wait until every id in ``ids`` completed; their infos and results."""
        want, infos, results = set(ids), {}, {}
        deadline = None if timeout is None else time.monotonic() + timeout
        while want:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise InstanceTimeout(f"instances {sorted(want)} did not answer within {timeout:g} s")
            done = self.driver.wait(remaining)
            want.difference_update(done.ids)
            infos.update(done.infos)
            results.update(done.results)
        return infos, results

    # ------------------------------------------------------------ reset / step
    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        self._check_open()
        if self._in_flight:
            raise StateError(f"cannot reset while instances {sorted(self._in_flight)} are stepping; recv() them first")
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        ids = list(range(self.num_envs)) if mask is None else np.flatnonzero(np.asarray(mask)).tolist()
        self.driver.reset(ids, [seeds[i] for i in ids], options or None)
        infos, _ = self._gather(ids, self.timeout)
        self._ready.clear()
        return self._buffers.batch_obs(self.copy), self._merge_infos(infos, self.num_envs)

    def step_async(self, actions: Any) -> None:
        self._check_open()
        if self._in_flight:
            raise StateError(f"instances {sorted(self._in_flight)} are stepping through send(); recv() them first")
        self._write_actions(actions, None)
        self.driver.step(list(range(self.num_envs)), True)
        self._stepping = True

    def step_wait(self, timeout: float | None = None):
        if not getattr(self, "_stepping", False):
            raise StateError("step_wait needs a pending step: call step_async() first")
        self._stepping = False
        infos, _ = self._gather(list(range(self.num_envs)), timeout or self.timeout)
        b = self._buffers
        return (b.batch_obs(self.copy), b.rewards.copy(), b.terminations.copy(), b.truncations.copy(),
                self._merge_infos(infos, self.num_envs) if infos else {})  # fmt: skip

    def step(self, actions: Any):
        self.step_async(actions)
        return self.step_wait()

    # ------------------------------------------------------------ send / recv
    def async_reset(self, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None) -> None:
        self.reset(seed=seed, options=options)
        self._ready = dict.fromkeys(range(self.num_envs))
        self._ready_infos = {}

    def send(self, actions: Any, env_ids: Sequence[int] | np.ndarray | None = None) -> None:
        self._check_open()
        ids = np.arange(self.num_envs) if env_ids is None else np.asarray(env_ids, dtype=np.int64).reshape(-1)
        busy = self._in_flight.intersection(ids.tolist())
        if busy:
            raise StateError(f"instances {sorted(busy)} are already stepping; recv() them before sending again")
        self._write_actions(actions, ids)
        id_list = ids.tolist()
        for i in id_list:
            self._ready.pop(i, None)
            self._ready_infos.pop(i, None)
        self.driver.step(id_list, False)
        self._in_flight.update(id_list)

    def recv(self, timeout: float | None = None):
        self._check_open()
        timeout = timeout if timeout is not None else self.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        need = min(self.batch_size, len(self._ready) + len(self._in_flight))
        if need == 0:
            raise StateError("recv() with nothing in flight: send() actions first (or async_reset())")
        while len(self._ready) < need:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise InstanceTimeout(f"recv(): only {len(self._ready)} of {need} instances ready after {timeout:g} s")
            done = self.driver.wait(remaining)
            self._in_flight.difference_update(done.ids)
            self._ready.update(dict.fromkeys(done.ids))
            self._ready_infos.update(done.infos)
        ready = iter(self._ready)
        ids = np.array([next(ready) for _ in range(need)], dtype=np.int64)
        for i in ids.tolist():
            del self._ready[i]
        infos = {i: self._ready_infos.pop(i) for i in ids.tolist() if i in self._ready_infos}
        b = self._buffers
        merged = self._merge_infos(infos, len(ids), {int(i): k for k, i in enumerate(ids)}) if infos else {}
        merged["env_id"] = ids
        return (b.batch_obs(True, ids), b.rewards[ids], b.terminations[ids], b.truncations[ids], merged, ids)

    # ------------------------------------------------------------ call / attributes / render
    def _request(self, ids: list[int], request: tuple) -> list[Any]:
        self._check_open()
        if self._in_flight:
            raise StateError(f"cannot call while instances {sorted(self._in_flight)} are stepping; recv() them first")
        self.driver.call(ids, request)
        _, results = self._gather(ids, self.timeout)
        for i in ids:
            if isinstance(results[i], BaseException):
                raise results[i]
        return [results[i] for i in ids]

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        return tuple(self._request(list(range(self.num_envs)), ("call", name, list(args), kwargs)))

    def call_at(self, env_ids: Sequence[int], name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        return tuple(self._request([int(i) for i in env_ids], ("call", name, list(args), kwargs)))

    def get_attr(self, name: str) -> tuple[Any, ...]:
        return self.call("__getattr__", name)

    def set_attr(self, name: str, values: list[Any] | tuple[Any, ...] | Any) -> None:
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        ids = list(range(self.num_envs))
        self._request(ids, ("setattr", name, dict(zip(ids, values))))

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode is None:
            return None
        return tuple(self._request(list(range(self.num_envs)), ("render",)))

    # ------------------------------------------------------------ close
    def close_extras(self, **kwargs: Any) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.driver.close()
        finally:
            if self._buffers is not None:
                self._buffers.close()

    def close(self, **kwargs: Any) -> None:
        if getattr(self, "_closed", True):
            return
        self.close_extras()
        self.closed = True

    def __repr__(self) -> str:
        return f"DriverVectorEnv({self.game_name!r}, num_envs={self.num_envs}, {self.driver!r})"

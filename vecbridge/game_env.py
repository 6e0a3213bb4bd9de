"""A single game instance as a ``gymnasium.Env`` (no worker process, no restarts).

A game that crashes, hangs or breaks the protocol ends the env: the error says what
happened, and every later request says so again (instead of a state error about the
broken connection) until ``close()``. ``vecbridge.make(id, num_envs=1)`` relaunches instead.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from vecbridge.errors import ConnectionClosed, GameError, InstanceTimeout, StateError, VecBridgeError
from vecbridge.launch.instance import Instance
from vecbridge.launch.listener import Listener
from vecbridge.launch.run import RunContext
from vecbridge.launch.spec import LaunchSpec
from vecbridge.protocol.connection import GameErrorReply
from vecbridge.protocol.values import check_action, owned_copy
from vecbridge.rom_hash import rom_hash

ObsType = Any
ActType = Any


class GameEnv(gym.Env):
    """One external game instance, launched and connected, as a Gymnasium env.

    ``GameEnv(spec)`` takes a :class:`LaunchSpec` or a registered id
    (``"vecbridge/Echo-v0"``); extra keyword arguments become game options.
    """

    def __init__(
        self,
        spec: LaunchSpec | str,
        render_mode: str | None = None,
        instance: int = 0,
        run_dir: str | None = None,
        **config: Any,
    ) -> None:
        from vecbridge.registry import resolve_spec

        self.launch_spec = resolve_spec(spec, config)
        self.instance_index = instance
        self._run = RunContext(run_dir)
        self._inst: Instance | None = None
        listener = Listener()
        try:
            self._inst = listener.launch(self.launch_spec, [instance], self._run.token, self._run.run_dir, self._run.reaper)[instance]
        except BaseException:
            self._run.close()
            raise
        finally:
            listener.close()
        hello = self._inst.hello
        self.observation_space = hello.observation_space
        self.action_space = hello.action_space
        self.metadata = {
            "render_modes": list(hello.metadata.get("render_modes") or ["rgb_array"]),
            "render_fps": hello.metadata.get("render_fps", 30),
            **rom_hash(hello.metadata, hello.name),
        }
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            self.close()
            raise ValueError(f"render_mode {render_mode!r} is not one of the game's {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.game_name = hello.name
        self._failure: str | None = None  # why the game can no longer serve (the first line of its error)

    # ------------------------------------------------------------ requests
    def _request(self, build, what: str) -> Any:
        inst = self._inst
        if inst is None:
            raise StateError("this GameEnv is closed")
        if self._failure is not None:
            raise StateError(f"instance {inst.index} failed earlier ({self._failure}); a GameEnv does not relaunch its "
                             f"game: close() it and make a new one (vecbridge.make(id, num_envs=1) relaunches)")  # fmt: skip
        timeout = self.launch_spec.step_timeout
        try:
            event = inst.request(build(inst.conn), what, timeout)
        except (ConnectionClosed, InstanceTimeout) as exc:
            if isinstance(exc, ConnectionClosed):
                inst.process.wait_exit(1.0)  # a closed socket usually means the process is exiting
            limit = f" ({timeout:g} s, the spec's step_timeout)" if isinstance(exc, InstanceTimeout) else ""
            self._failure = f"{exc}{limit}; the game {inst.process.describe_exit()}"
            raise type(exc)(f"instance {inst.index}: {self._failure}.\n{inst.failure_context()}", instance=inst.index) from None
        except VecBridgeError as exc:  # the protocol broken: the connection cannot go on
            self._failure = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            raise type(exc)(f"instance {inst.index}: {exc}\n{inst.failure_context()}", instance=inst.index) from None
        if isinstance(event, GameErrorReply):
            raise GameError(
                f"instance {inst.index}: the game failed to {event.request}: {event.message}"
                + (f"\n--- game traceback ---\n{event.traceback}" if event.traceback else ""),
                instance=inst.index,
                request=event.request,
                remote_traceback=event.traceback,
            )
        return event

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[ObsType, dict[str, Any]]:
        super().reset(seed=seed)
        event = self._request(lambda c: c.send_reset(seed, options), "the reply to reset")
        return owned_copy(event.observation), dict(event.info)

    def step(self, action: ActType) -> tuple[ObsType, SupportsFloat, bool, bool, dict[str, Any]]:
        wire = check_action(self.action_space, action, self.instance_index)
        event = self._request(lambda c: c.send_step(wire), "the reply to step")
        return owned_copy(event.observation), event.reward, event.terminated, event.truncated, dict(event.info)

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array'")
            return None
        event = self._request(lambda c: c.send_render(), "the reply to render")
        return None if event.frame is None else event.frame.copy()

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call a game-specific method over the protocol (``call`` message)."""
        return self._request(lambda c: c.send_call(name, args, kwargs), f"the reply to call {name!r}").value

    def get_game_attr(self, name: str) -> Any:
        return self.call("__getattr__", name)

    def set_game_attr(self, name: str, value: Any) -> None:
        self.call("__setattr__", name, value)

    @property
    def failed(self) -> str | None:
        """Why the game can no longer serve (it crashed, hung or broke the protocol); None while it serves."""
        return self._failure

    @property
    def pid(self) -> int | None:
        return self._inst.process.pid if self._inst else None

    def close(self) -> None:
        inst, self._inst = self._inst, None
        try:
            if inst is not None:
                inst.close(self.launch_spec.close_grace)
        finally:
            if getattr(self, "_run", None) is not None:
                self._run.close()
                self._run = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

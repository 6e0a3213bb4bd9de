"""Echo games: near-zero game cost, so they measure vecbridge's own overhead.

``vecbridge/Echo-v0``: observation float32[4], action Discrete(2), reward 1 when the
action repeats the parity of the step counter, episodes of ``episode_length`` steps.
``vecbridge/EchoImage-v0``: the same with an 84x84x3 uint8 frame as observation.

Fault-injection options (game options, i.e. ``vecbridge.make(id, **options)``), used by
the tests and the straggler benchmark: ``delay_s`` (sleep per step), ``slow_instances``
and ``slow_factor`` (those instances sleep ``delay_s * slow_factor``, or 1 ms times the
factor when ``delay_s`` is 0), ``crash_instances`` + ``crash_at_step`` (exit abruptly),
``hang_instances`` + ``hang_at_step`` (stop answering), ``fail_instances`` +
``fail_at_step`` (raise inside step, reported as an error reply), ``crash_on_launch``
(exit before connecting), ``slow_relaunch_s`` (a relaunched instance sleeps this long
before connecting), ``launch_fault`` on the launches ``faulty_launches`` of an instance
(0: its first process, 1: its first relaunch, ...): ``"crash"`` (exit before
connecting), ``"hang"`` (never connect), ``"spaces"`` (declare another observation
space), ``"reset"`` (exit inside its first reset); ``hang_on_close`` (ignore SIGTERM
and never exit once closed); ``chatty_bytes`` (print that many bytes every step). Each
launch counts itself in its instance folder. A reset
whose options list the instance in ``refuse_instances`` raises (an error reply).
"""

from __future__ import annotations

import inspect
import os
import signal
import time
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class EchoEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        episode_length: int = 200,
        delay_s: float = 0.0,
        slow_instances: list[int] = (),
        slow_factor: float = 10.0,
        crash_instances: list[int] = (),
        crash_at_step: int = -1,
        hang_instances: list[int] = (),
        hang_at_step: int = -1,
        fail_instances: list[int] = (),
        fail_at_step: int = -1,
        crash_on_launch: bool = False,
        slow_relaunch_s: float = 0.0,
        launch_fault: str = "",
        faulty_launches: list[int] = (),
        hang_on_close: bool = False,
        chatty_bytes: int = 0,
        render_mode: str | None = "rgb_array",
    ) -> None:
        self.instance = int(os.environ.get("VECBRIDGE_INSTANCE", "0"))
        self.pid = os.getpid()
        if crash_on_launch:
            print(f"echo instance {self.instance}: crash_on_launch is set, exiting", flush=True)
            raise SystemExit(3)
        fault = ""
        if slow_relaunch_s or launch_fault:
            launch = _count_launch()
            if slow_relaunch_s and launch > 0:
                print(f"echo instance {self.instance}: relaunched (pid {self.pid}), sleeping {slow_relaunch_s} s", flush=True)
                time.sleep(slow_relaunch_s)
            fault = launch_fault if launch in faulty_launches else ""
            print(f"echo instance {self.instance}: launch {launch} (pid {self.pid}), fault: {fault or 'none'}", flush=True)
        if fault == "crash":
            raise SystemExit(5)
        if fault == "hang":
            time.sleep(3600)
        self.crash_in_reset = fault == "reset"
        self.hang_on_close = hang_on_close
        self.chatter = "x" * max(0, chatty_bytes - 1)  # printed every step (a chatty game's log)
        self.episode_length = episode_length
        self.delay_s = delay_s
        if self.instance in slow_instances:
            self.delay_s = delay_s * slow_factor if delay_s else 0.001 * slow_factor
        self.crash_at = crash_at_step if self.instance in crash_instances else -1
        self.hang_at = hang_at_step if self.instance in hang_instances else -1
        self.fail_at = fail_at_step if self.instance in fail_instances else -1
        self.render_mode = render_mode
        self.observation_space = spaces.Box(-1.0, 1e6, shape=(5 if fault == "spaces" else 4,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.t = 0
        self.total_steps = 0
        self.seed_value = 0.0
        self._obs = np.zeros(4, dtype=np.float32)

    def _observation(self, action: int) -> np.ndarray:
        obs = self._obs
        obs[0] = self.t
        obs[1] = action
        obs[2] = self.seed_value
        obs[3] = self.instance
        return obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if self.crash_in_reset:
            os._exit(7)
        if self.instance in (options or {}).get("refuse_instances", ()):
            raise RuntimeError(f"echo instance {self.instance}: this reset is refused on purpose (options)")
        self.t = 0
        self.seed_value = float(self.np_random.integers(0, 1000))
        return self._observation(-1), {}

    def _faults(self) -> None:
        self.total_steps += 1
        if self.total_steps == self.crash_at:
            os._exit(7)
        if self.total_steps == self.hang_at:
            time.sleep(3600)
        if self.total_steps == self.fail_at:
            raise RuntimeError(f"injected failure at step {self.total_steps}")
        if self.delay_s:
            time.sleep(self.delay_s)

    def step(self, action: int):
        self._faults()
        if self.chatter:
            print(self.chatter, flush=True)
        reward = 1.0 if int(action) == self.t % 2 else 0.0
        self.t += 1
        terminated = self.t >= self.episode_length
        return self._observation(int(action)), reward, terminated, False, {}

    def render(self) -> np.ndarray:
        frame = np.zeros((16, 16, 3), dtype=np.uint8)
        frame[:, :, 0] = self.t % 256
        return frame

    def echo(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """A game-specific method, reachable through ``call("echo", ...)``."""
        return {"args": list(args), "kwargs": kwargs, "instance": self.instance}

    def sleep(self, seconds: float) -> float:
        """A call that takes ``seconds`` (for tests of calls that time out)."""
        time.sleep(float(seconds))
        return float(seconds)

    def environment(self) -> dict[str, str]:
        """The folders this process was given (HOME, TMPDIR, XDG_*) and its working directory."""
        names = ("HOME", "TMPDIR", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME")
        return {**{name: os.environ.get(name, "") for name in names}, "cwd": os.getcwd()}

    def close(self) -> None:
        if self.hang_on_close:
            signal.signal(signal.SIGTERM, lambda *_: print("echo: SIGTERM ignored", flush=True))
            print(f"echo instance {self.instance}: closed, hanging", flush=True)
            time.sleep(3600)


def _count_launch() -> int:
    """How many launches of this instance came before this one (counted in its folder)."""
    path = os.path.join(os.environ.get("VECBRIDGE_WORKDIR", "."), "launches")
    try:
        with open(path) as f:
            before = int(f.read() or 0)
    except FileNotFoundError:
        before = 0
    with open(path, "w") as f:
        f.write(str(before + 1))
    return before


class EchoImageEnv(EchoEnv):
    """Echo with an 84x84x3 uint8 frame; pixel (0, 0) holds the step counter, (0, 1) the action."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.observation_space = spaces.Box(0, 255, shape=(84, 84, 3), dtype=np.uint8)
        self._frame = np.zeros((84, 84, 3), dtype=np.uint8)

    # the options are Echo's: say so in the signature, which names the game's options (launch.options)
    __init__.__signature__ = inspect.signature(EchoEnv.__init__)

    def _observation(self, action: int) -> np.ndarray:
        frame = self._frame
        frame[0, 0, 0] = self.t % 256
        frame[0, 1, 0] = action % 256
        frame[0, 2, 0] = int(self.seed_value) % 256
        frame[0, 3, 0] = self.instance % 256
        return frame

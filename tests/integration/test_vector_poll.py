"""``reset_wait(timeout=0)`` and ``step_wait(timeout=0)`` poll, as in Gymnasium's AsyncVectorEnv.

A zero timeout is "look now": the batch if every instance has answered, else the usual
InstanceTimeout at once, with the request still pending. Real game processes (a pickled
Python game that sleeps when asked to), both drivers.
"""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import pytest

import vecbridge
from vecbridge.errors import InstanceTimeout

DRIVERS = pytest.mark.parametrize("num_workers", [0, 1], ids=["in-process", "worker"])
SLOW_S = 1.0  # far longer than one poll takes, so the first look always finds the request unanswered


def sleepy_class():
    """A game whose reset sleeps ``options["sleep"]`` seconds and whose step sleeps ``action`` seconds."""

    class Sleepy(gym.Env):
        observation_space = gym.spaces.Box(0, 1e6, (1,), np.float32)
        action_space = gym.spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            __import__("time").sleep((options or {}).get("sleep", 0))
            self.t = 0
            return np.zeros(1, np.float32), {}

        def step(self, action):
            __import__("time").sleep(float(action))
            self.t += 1
            return np.full(1, self.t, np.float32), 0.0, False, False, {}

    return Sleepy


def _raises_at_once(wait, pattern: str) -> None:
    start = time.monotonic()
    with pytest.raises(InstanceTimeout, match=pattern):
        wait(timeout=0)
    assert time.monotonic() - start < SLOW_S / 2, "timeout=0 waited for the game"


def _poll_until_done(wait):
    """Call ``wait(timeout=0)`` until it returns: it never blocks, and answers already there are taken."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return wait(timeout=0)
        except InstanceTimeout:
            assert time.monotonic() < deadline, "the answers never counted as there"
            time.sleep(0.02)


@DRIVERS
def test_a_zero_timeout_polls_and_leaves_the_request_pending(num_workers):
    envs = vecbridge.make(vecbridge.python_game(sleepy_class(), startup_timeout=60), num_envs=2, num_workers=num_workers)
    try:
        envs.reset(seed=0)
        envs.reset_async(options={"sleep": SLOW_S})
        _raises_at_once(envs.reset_wait, r"reset_wait: instances \[0, 1\] did not answer within 0 s; "
                                         r"the reset is still pending: call reset_wait\(\) again")  # fmt: skip
        obs, _ = _poll_until_done(envs.reset_wait)
        assert obs.tolist() == [[0.0], [0.0]]

        envs.step_async(np.array([0, 1]))  # instance 1 sleeps
        _raises_at_once(envs.step_wait, r"step_wait: instances \[(0, )?1\] did not answer within 0 s; "
                                        r"the step is still pending: call step_wait\(\) again")  # fmt: skip
        obs, *_ = _poll_until_done(envs.step_wait)
        assert obs.tolist() == [[1.0], [1.0]]  # the pending step's whole batch

        envs.step_async(np.array([0, 0]))  # no sleep: answered while we look away
        obs, *_ = _poll_until_done(envs.step_wait)
        assert obs.tolist() == [[2.0], [2.0]]
    finally:
        envs.close()

"""``vecbridge.python_game(callable)``: any Gymnasium env constructor, shipped with cloudpickle, as external instances.

Every test starts real game processes (``python -m vecbridge.game --pickled``); the
expected values come from the same constructor run here, in this process.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import psutil
import pytest

import vecbridge
from vecbridge.errors import LaunchError


def counting_env_class():
    """A class defined in a function: cloudpickle ships its code by value (no module to import)."""

    class Counting(gym.Env):
        observation_space = gym.spaces.Box(-1e6, 1e6, (2,), np.float32)
        action_space = gym.spaces.Discrete(3)

        def __init__(self, start: float = 0.0, length: int = 5) -> None:
            self.start, self.length, self.t = float(start), int(length), 0

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.t = 0
            return np.array([self.start, 0], np.float32), {"pid": __import__("os").getpid()}

        def step(self, action):
            self.t += 1
            obs = np.array([self.start + int(action), self.t], np.float32)
            return obs, float(action), self.t >= self.length, False, {"pid": __import__("os").getpid()}

    return Counting


def make_envs(constructor, num_envs: int = 2, **kwargs):
    return vecbridge.make(vecbridge.python_game(constructor, startup_timeout=60), num_envs=num_envs, **kwargs)


def test_a_closure_keeps_its_captured_value_across_a_relaunch():
    Counting = counting_env_class()
    start = 41.5  # a local value the closure captures

    def make():
        return Counting(start=start, length=4)

    envs = make_envs(make)
    try:
        obs, info = envs.reset(seed=0)
        np.testing.assert_array_equal(obs, [[41.5, 0], [41.5, 0]])
        obs, *_ = envs.step(np.array([2, 1]))
        np.testing.assert_array_equal(obs, [[43.5, 1], [42.5, 1]])
        psutil.Process(int(info["pid"][1])).kill()  # instance 1 dies: it is relaunched from the same pickle
        _, _, _, truncated, info = envs.step(np.array([0, 0]))
        assert truncated[1] and "vecbridge_error" in info and info["_vecbridge_error"][1]
        obs, *_ = envs.step(np.array([1, 1]))  # next-step autoreset: instance 1 starts a new episode
        obs, *_ = envs.step(np.array([1, 1]))
        assert obs[1][0] == 42.5 and obs[1][1] == 1  # the relaunched process has the captured value
    finally:
        envs.close()


def test_a_lambda_over_gymnasium_make_matches_the_env_run_here():
    envs = make_envs(lambda: gym.make("CartPole-v1"), num_envs=2)
    local = gym.make("CartPole-v1")
    try:
        assert envs.single_observation_space == local.observation_space
        assert envs.single_action_space == local.action_space
        obs, _ = envs.reset(seed=[3, 4])
        expected, _ = local.reset(seed=4)
        np.testing.assert_array_equal(obs[1], expected)
        for action in [0, 1, 1, 0, 1]:
            obs, reward, terminated, *_ = envs.step(np.array([action, action]))
            expected, expected_reward, expected_terminated, *_ = local.step(action)
            np.testing.assert_array_equal(obs[1], expected)
            assert reward[1] == expected_reward and terminated[1] == expected_terminated
    finally:
        local.close()
        envs.close()


def test_a_class_gets_the_game_options_as_keyword_arguments():
    Counting = counting_env_class()
    envs = make_envs(Counting, num_envs=2, start=-3, length=2)  # options reach Counting(start=-3, length=2)
    try:
        obs, _ = envs.reset(seed=0)
        np.testing.assert_array_equal(obs[:, 0], [-3, -3])
        envs.step(np.array([0, 0]))
        _, _, terminated, _, _ = envs.step(np.array([0, 0]))
        assert terminated.all()  # length=2 arrived
    finally:
        envs.close()


def test_a_constructor_that_raises_fails_the_launch_with_its_traceback():
    def refuse():
        raise RuntimeError("no licence for this level")

    with pytest.raises(LaunchError) as caught:
        make_envs(refuse, num_envs=1)
    text = str(caught.value)
    assert "RuntimeError: no licence for this level" in text
    assert "in refuse" in text  # the game's own traceback, down to the constructor


def test_a_module_level_class_is_found_through_the_callers_sys_path():
    """Pickled by reference (this test module), imported in the game process through the shipped sys.path."""
    envs = make_envs(ModuleLevelEnv, num_envs=1)
    try:
        obs, _ = envs.reset(seed=0)
        assert obs.tolist() == [[7.0]] and envs.game_name == "ModuleLevelEnv"
    finally:
        envs.close()


class ModuleLevelEnv(gym.Env):
    observation_space = gym.spaces.Box(0, 10, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        return np.array([7.0], np.float32), {}

    def step(self, action):
        return np.array([7.0], np.float32), 0.0, False, False, {}

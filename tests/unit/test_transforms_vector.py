"""Preprocessing a vector env's observations: episodes start where each autoreset mode says.

The reference is Gymnasium itself: ``FrameStackObservation`` wrapped around each single
env inside a ``SyncVectorEnv``, which resets its stack whenever that env resets.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import FrameStackObservation

from vecbridge.transforms import PreprocessObservations


class Pictures(gym.Env):
    """Frame t of episode e is filled with 16 * e + t (plus 100 * instance); episodes of ``length`` steps."""

    observation_space = spaces.Box(0, 255, (2, 2, 1), np.uint8)
    action_space = spaces.Discrete(2)

    def __init__(self, length: int, base: int = 0) -> None:
        self.length, self.base, self.episode = length, base, -1

    def _frame(self) -> np.ndarray:
        return np.full((2, 2, 1), (self.base + 16 * self.episode + self.t) % 256, np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return self._frame(), {}

    def step(self, action):
        self.t += 1
        return self._frame(), 1.0, self.t == self.length, False, {}


LENGTHS = (3, 5, 4)


def make(mode: AutoresetMode, stacked: bool) -> SyncVectorEnv:
    def factory(i: int):
        if stacked:
            return lambda: FrameStackObservation(Pictures(LENGTHS[i], 100 * i), 3)
        return lambda: Pictures(LENGTHS[i], 100 * i)

    return SyncVectorEnv([factory(i) for i in range(len(LENGTHS))], autoreset_mode=mode)


def theirs(obs: np.ndarray) -> np.ndarray:
    """Gymnasium's stacks [N, 3, H, W, 1] in our layout [N, H, W, 3]."""
    return np.moveaxis(np.asarray(obs)[..., 0], 1, -1)


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_stacks_restart_with_each_episode_as_gymnasiums_do(mode):
    ours = PreprocessObservations(make(mode, stacked=False), "stack=3")
    ref = make(mode, stacked=True)
    assert ours.single_observation_space == spaces.Box(0, 255, (2, 2, 3), np.uint8)
    obs, _ = ours.reset(seed=0)
    ref_obs, _ = ref.reset(seed=0)
    assert np.array_equal(obs, theirs(ref_obs))
    finals = 0
    for _ in range(14):
        obs, rew, term, trunc, info = ours.step(np.zeros(3, np.int64))
        ref_obs, ref_rew, ref_term, ref_trunc, ref_info = ref.step(np.zeros(3, np.int64))
        assert np.array_equal(obs, theirs(ref_obs))
        assert np.array_equal(term, ref_term) and np.array_equal(rew, ref_rew)
        if mode == AutoresetMode.SAME_STEP and term.any():
            for i in np.flatnonzero(term):
                # the final observation is the preprocessed one too: the old episode's last frames
                assert info["final_obs"][i].shape == (2, 2, 3)
                assert np.array_equal(info["final_obs"][i], theirs(ref_info["final_obs"][i][None])[0])
                finals += 1
    assert mode == AutoresetMode.NEXT_STEP or finals >= 5
    ours.close()
    ref.close()


def test_next_step_autoreset_frame_starts_a_new_stack():
    envs = PreprocessObservations(make(AutoresetMode.NEXT_STEP, stacked=False), "stack=3")
    envs.reset()
    seen = [envs.step(np.zeros(3, np.int64))[0][0, 0, 0].tolist() for _ in range(5)]
    # instance 0: frames 1, 2, 3 (final), then the reset frame 16 fills the stack, then 17
    assert seen == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [16, 16, 16], [16, 16, 17]]
    envs.close()


def test_maxpool_does_not_pool_across_an_autoreset():
    envs = PreprocessObservations(make(AutoresetMode.SAME_STEP, stacked=False), "maxpool")
    envs.reset()
    for _ in range(2):
        envs.step(np.zeros(3, np.int64))
    obs, _, term, _, info = envs.step(np.zeros(3, np.int64))  # instance 0's final step
    assert term[0]
    assert info["final_obs"][0][0, 0, 0] == 3  # max(2, 3)
    assert obs[0, 0, 0, 0] == 16  # the new first frame (max(3, 16) is 16 too: the env below tells them apart)
    envs.close()
    envs = PreprocessObservations(
        SyncVectorEnv([lambda: Pictures(2, 240)], autoreset_mode=AutoresetMode.SAME_STEP), "maxpool")
    envs.reset()
    envs.step(np.zeros(1, np.int64))
    obs, _, term, _, info = envs.step(np.zeros(1, np.int64))  # frames 240, 241, 242 (final), then (240+16)%256 = 0
    assert term[0] and info["final_obs"][0][0, 0, 0] == 242 and obs[0, 0, 0, 0] == 0
    envs.close()


def test_a_masked_reset_restarts_only_those_instances():
    envs = PreprocessObservations(make(AutoresetMode.NEXT_STEP, stacked=False), "stack=2")
    envs.reset()
    envs.step(np.zeros(3, np.int64))
    obs, _ = envs.reset(options={"reset_mask": np.array([False, True, False])})
    assert obs[:, 0, 0].tolist() == [[0, 1], [116, 116], [200, 201]]
    envs.close()


def test_other_attributes_are_the_wrapped_envs():
    inner = make(AutoresetMode.NEXT_STEP, stacked=False)
    envs = PreprocessObservations(inner, "stack=2")
    assert envs.num_envs == 3 and envs.get_attr("length") == LENGTHS
    assert envs.raw_observation_space == inner.single_observation_space
    envs.close()

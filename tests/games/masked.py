"""A game with an action mask that changes every step (the action-masks part of the real-games issue).

Observation int64 Box [2]: (the step of the episode, the action not allowed now). Action
Discrete(4); the mask allows every action but ``obs[1] = (step * 3 + seed) % 4``. A masked
action costs -1 and is counted in ``info["masked_taken"]`` (over the process's life); an
allowed one earns +1 when it equals ``(obs[1] + 1) % 4`` (a rule a policy can learn), else 0.
Episodes last 8 steps (terminated). With MASKED_BAD=1 its mask has the wrong length.
Served through vecbridge's Python client (``action_masks()``, sb3-contrib's convention).
"""

import os

import gymnasium as gym
import numpy as np

from vecbridge.game import serve


class Masked(gym.Env):
    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0, 100, (2,), np.int64)
        self.action_space = gym.spaces.Discrete(4)
        self.t, self.offset, self.taken = 0, 0, 0

    def _obs(self) -> np.ndarray:
        return np.array([self.t, (self.t * 3 + self.offset) % 4], np.int64)

    def action_masks(self) -> np.ndarray:
        mask = np.ones(3 if os.environ.get("MASKED_BAD") else 4, bool)
        mask[self._obs()[1] % len(mask)] = False
        return mask

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.offset = seed % 4
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        forbidden = self._obs()[1]
        if action == forbidden:
            self.taken += 1
            reward = -1.0
        else:
            reward = 1.0 if action == (forbidden + 1) % 4 else 0.0
        self.t += 1
        return self._obs(), reward, self.t >= 8, False, {"masked_taken": self.taken}


if __name__ == "__main__":
    serve(Masked)

"""Catch: a small real game with a learnable reward, played in its own process.

A ball falls from a random column of a ``width`` x ``height`` board; the paddle on
the bottom row moves left, stays or moves right. Catching the ball gives +1,
missing it -1; an episode is ``balls`` balls. A random policy scores about
-6 over 10 balls on the default board; a good policy scores +10.
Observation: float32[3] = (ball column, ball row, paddle column), each scaled to [0, 1].
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class CatchEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, width: int = 5, height: int = 8, balls: int = 10, render_mode: str | None = "rgb_array") -> None:
        self.width, self.height, self.balls = width, height, balls
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float32)
        self.action_space = spaces.Discrete(3)
        self.ball_x = self.ball_y = self.paddle = self.caught = self.dropped = 0

    def _obs(self) -> np.ndarray:
        return np.array(
            [self.ball_x / (self.width - 1), self.ball_y / (self.height - 1), self.paddle / (self.width - 1)],
            dtype=np.float32,
        )

    def _new_ball(self) -> None:
        self.ball_x, self.ball_y = int(self.np_random.integers(self.width)), 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.paddle = self.width // 2
        self.caught = self.dropped = 0
        self._new_ball()
        return self._obs(), {}

    def step(self, action: int):
        self.paddle = int(np.clip(self.paddle + int(action) - 1, 0, self.width - 1))
        self.ball_y += 1
        reward = 0.0
        if self.ball_y == self.height - 1:
            hit = self.ball_x == self.paddle
            reward = 1.0 if hit else -1.0
            self.caught += hit
            self.dropped += 1
            self._new_ball()
        terminated = self.dropped >= self.balls
        info = {"caught": self.caught} if terminated else {}
        return self._obs(), reward, terminated, False, info

    def render(self) -> np.ndarray:
        cell = 8
        frame = np.zeros((self.height * cell, self.width * cell, 3), dtype=np.uint8)
        frame[self.ball_y * cell : (self.ball_y + 1) * cell, self.ball_x * cell : (self.ball_x + 1) * cell] = (255, 200, 0)
        y = (self.height - 1) * cell
        frame[y : y + cell, self.paddle * cell : (self.paddle + 1) * cell] = (0, 160, 255)
        return frame

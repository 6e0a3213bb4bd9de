"""A user's own game module, as docs/games.md tells a user to write one, for the command-line tests.

``write_user_games(folder)`` writes it as ``my_games.py`` into ``folder`` (the user's
project folder, the working directory of the commands under test): the module is the
user's, not vecbridge's, so it must be found through the working directory.
"""

from __future__ import annotations

from pathlib import Path

SOURCE = '''
import gymnasium as gym
import numpy as np
import vecbridge


class Walk(gym.Env):
    """x moves by -1 or +1 per step; the episode ends after `length` steps; reward: the action."""

    observation_space = gym.spaces.Box(-100, 100, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, length=5):
        self.length = int(length)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.x = 0, 0
        return np.array([0], np.float32), {}

    def step(self, action):
        self.t += 1
        self.x += 1 if action else -1
        return np.array([self.x], np.float32), float(action), self.t >= self.length, False, {}


def walk_spec():
    return vecbridge.python_game(Walk, name="Walk")


def make_walk():
    return Walk(length=3)


not_a_game = 42
vecbridge.register("Walk-v0", walk_spec, max_episode_steps=50)
gym.register("GymWalk-v0", entry_point=Walk)
'''


def write_user_games(folder: Path) -> Path:
    path = Path(folder) / "my_games.py"
    path.write_text(SOURCE)
    (Path(folder) / "broken_games.py").write_text("import vecbridge\n\nraise RuntimeError('the user module is broken')\n")
    return path

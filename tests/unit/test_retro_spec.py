"""The stable-retro backend without an emulator: spec building, option checks, frame skipping."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from vecbridge.backends.retro import AIRSTRIKER, airstriker_spec, retro_spec
from vecbridge.games.retro_game import StochasticFrameSkip, make_env


def test_retro_spec_serves_make_env_with_the_options_and_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "start.state").write_bytes(b"")
    spec = retro_spec("Foo-Nes-v0", "start.state", scenario="mine.json", integration_paths=["ints"], players=2)
    assert spec.command[-1] == "vecbridge.games.retro_game:make_env" and spec.name == "Foo-Nes-v0"
    assert spec.config == {
        "game": "Foo-Nes-v0",
        "state": str(tmp_path / "start.state"),  # instances run in their own folders
        "scenario": str(tmp_path / "mine.json"),
        "integration_paths": [str(tmp_path / "ints")],
        "players": 2,
    }
    assert retro_spec("Foo-Nes-v0", "Level1").config["state"] == "Level1"  # a state name stays a name


def test_airstriker_defaults_are_stable_retros_training_setup_and_can_be_overridden():
    assert airstriker_spec().config == {"game": AIRSTRIKER, "state": None, "frameskip": 4, "sticky_action_prob": 0.25}
    assert airstriker_spec(frameskip=1, sticky_action_prob=0.0).config["frameskip"] == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"use_restricted_actions": "buttons"}, "expected one of 'filtered', 'all', 'discrete', 'multi_discrete'"),
        ({"obs_type": "pixels"}, "expected one of 'image', 'ram'"),
        ({"inttype": "mine"}, "expected one of 'stable'"),
        ({"frameskip": 0}, "frameskip must be >= 1"),
        ({"sticky_action_prob": 1.0}, "sticky_action_prob in [0, 1)"),
        ({"state": "Level2"}, "its states: Level1"),
        ({"state": "/no/such.state"}, "names no file"),
    ],
)
def test_bad_options_are_refused_before_an_emulator_starts(options, message):
    with pytest.raises((ValueError, FileNotFoundError)) as caught:
        make_env(AIRSTRIKER, **options)
    assert message in str(caught.value)


class Counter(gym.Env):
    """Reward = the action; the observation counts frames; the episode ends at frame ``end``."""

    observation_space = gym.spaces.Box(0, 100, (1,), np.float32)
    action_space = gym.spaces.Discrete(10)
    metadata = {"render_fps": 60.0}

    def __init__(self, end: int = 100) -> None:
        self.end, self.frames, self.actions = end, 0, []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.frames, self.actions = 0, []
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.frames += 1
        self.actions.append(int(action))
        return np.full(1, self.frames, np.float32), float(action), self.frames >= self.end, False, {}


def test_frameskip_holds_the_action_sums_rewards_and_stops_at_the_end():
    env = StochasticFrameSkip(Counter(end=6), frameskip=4, sticky_action_prob=0.0)
    env.reset(seed=0)
    obs, reward, terminated, *_ = env.step(2)
    assert obs[0] == 4 and reward == 8.0 and not terminated and env.unwrapped.actions == [2, 2, 2, 2]
    obs, reward, terminated, *_ = env.step(3)
    assert obs[0] == 6 and reward == 6.0 and terminated  # two frames, then the episode ended
    assert env.metadata["render_fps"] == 15.0


def test_sticky_actions_delay_only_a_steps_first_frame_and_follow_the_seed():
    def played(seed: int) -> list[int]:
        env = StochasticFrameSkip(Counter(), frameskip=2, sticky_action_prob=0.5)
        env.reset(seed=seed)
        for a in range(1, 30):
            env.step(a)
        return env.unwrapped.actions

    actions = played(1)
    assert actions[:2] == [1, 1]  # the first step after a reset is never delayed
    firsts, seconds = actions[2::2], actions[3::2]
    assert seconds == list(range(2, 30))  # a step's second frame always plays its own action
    delayed = [k for k, (f, s) in enumerate(zip(firsts, seconds)) if f != s]
    assert 0 < len(delayed) < len(firsts) and all(firsts[k] == seconds[k] - 1 for k in delayed)
    assert played(1) == actions  # the same seed, the same delays

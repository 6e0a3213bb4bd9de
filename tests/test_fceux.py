"""Escape from Pong in real, headless FCEUX behind vecbridge (vecbridge/EscapeFromPong-v0).

FCEUX 2.6 (Debian ``fceux``) with the BSD-licensed ROM from Debian ``efp``; the processor
is launchers/lua/processors/escape_from_pong.lua, run by launchers/lua/processor.lua.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import psutil
import pytest
from gymnasium import spaces

import vecbridge
from vecbridge import GameEnv
from vecbridge.backends import fceux
from vecbridge.backends.fceux import EFP_ROM, escape_from_pong_spec, register_games

pytestmark = pytest.mark.lua

GAME = "vecbridge/EscapeFromPong-v0"


@pytest.fixture(scope="module", autouse=True)
def _registered():
    assert EFP_ROM.exists(), "the Debian package efp is not installed: run scripts/setup.sh"
    assert Path(fceux.find_fceux()).exists(), "FCEUX is not installed: run scripts/setup.sh"
    register_games()


@pytest.fixture
def no_new_files_in_home_or_tmp():
    """FCEUX must write nothing into the real $HOME or /tmp (only into the instances' folders)."""
    home = Path.home()

    def listing():
        return set(os.listdir(home)) if home.is_dir() else set(), {
            n for n in os.listdir("/tmp") if "fceux" in n.lower() or n.startswith(("runtime-", ".X", "qt"))}

    before = listing()
    yield
    after = listing()
    assert after[0] - before[0] == set(), f"new entries in {home}: {sorted(after[0] - before[0])}"
    assert after[1] - before[1] == set(), f"new FCEUX/Qt entries in /tmp: {sorted(after[1] - before[1])}"


def fceux_children() -> list[psutil.Process]:
    procs = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "fceux" in " ".join(p.cmdline()):
                procs.append(p)
        except psutil.Error:
            pass
    return procs


def test_registered():
    assert GAME in vecbridge.registered()
    spec = vecbridge.registered()[GAME]
    assert spec.config["processor"] == "escape_from_pong" and spec.config["rom"] == str(EFP_ROM)
    assert spec.command[-1] == str(EFP_ROM) and "{launchers}/lua/processor.lua" in spec.command
    assert spec.env["QT_QPA_PLATFORM"] == "offscreen" and spec.env["SDL_AUDIODRIVER"] == "dummy"


def test_two_instances_1000_random_steps_deterministic_and_clean(no_new_files_in_home_or_tmp):
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 9, size=(1000, 2))

    def run(n_steps):
        envs = vecbridge.make(GAME, num_envs=2, observation_type="value")
        try:
            assert envs.single_action_space == spaces.Discrete(9)
            assert envs.single_observation_space == spaces.Box(-np.inf, np.inf, (8,), np.float32)
            procs = fceux_children()
            assert len(procs) == 2
            obs, info = envs.reset(seed=11)
            trace, rewards, ends = [obs], [], 0
            for a in actions[:n_steps]:
                obs, reward, terminated, truncated, info = envs.step(a)
                assert obs.shape == (2, 8) and np.isfinite(obs).all()
                assert set(np.unique(reward)) <= {-1.0, 0.0, 1.0}
                trace.append(obs)
                rewards.append(reward)
                ends += int(terminated.sum() + truncated.sum())
            return np.stack(trace), np.stack(rewards), ends, procs
        finally:
            envs.close()

    t0 = time.monotonic()
    long_trace, long_rewards, _, procs = run(1000)
    elapsed = time.monotonic() - t0
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs)  # close() ended FCEUX
    assert not np.array_equal(long_trace[:, 0], long_trace[:, 1])  # seeds 11 and 12: different starts
    assert len({row.tobytes() for row in long_trace[:, 0]}) > 100  # the ball moves
    # a fresh launch, the same seed and actions: the same observations and rewards
    short_trace, short_rewards, _, _ = run(200)
    np.testing.assert_array_equal(short_trace, long_trace[:201])
    np.testing.assert_array_equal(short_rewards, long_rewards[:200])
    print(f"2 x FCEUX, 1000 steps (4 frames each): {elapsed:.1f} s including start-up")


def test_rewards_and_game_over_from_ram():
    """Holding Down (thrust up): levels 1-3 are escaped (+1 each), then level 4 kills the ball 3 times."""
    env = GameEnv(escape_from_pong_spec(observation_type="value"))
    try:
        obs, info = env.reset(seed=0, options={"noops": 0})
        assert info == {"noops": 0, "levels": 0, "deaths": 0, "lives": 3, "level_ptr": 0x8385}
        assert obs[7] == 3  # lives
        events = []
        for step in range(400):
            obs, reward, terminated, truncated, info = env.step(2)
            if reward:
                events.append((reward, info["levels"], info["deaths"], info["lives"]))
            if terminated or truncated:
                break
        assert terminated and not truncated
        assert events == [(1, 1, 0, 3), (1, 2, 0, 3), (1, 3, 0, 3), (-1, 3, 1, 2), (-1, 3, 2, 1), (-1, 3, 3, 0)]
        assert info["level_ptr"] == 0x83A0 and obs[7] == 0  # level 4's script
        # the episode length is a RAM fact too: the same in a second episode
        env.reset(seed=0, options={"noops": 0})
        for again in range(step + 1):
            *_, terminated, truncated, _ = env.step(2)
        assert terminated and again == step
    finally:
        env.close()


def test_screen_observation_matches_ram():
    env = GameEnv(escape_from_pong_spec(observation_type="both"), render_mode="rgb_array")
    try:
        assert env.observation_space["image"] == spaces.Box(0, 255, (240, 256, 3), np.uint8)
        obs, info = env.reset(seed=1)
        for _ in range(5):
            obs, *_ = env.step(0)
        img, value = obs["image"], obs["value"]
        # the ball: white pixels at about (2 * y + 2, 2 * x + 2) (RAM $18/$16 are in 2-pixel units)
        white = np.argwhere(img.sum(axis=2) > 600)
        near = white[(np.abs(white[:, 1] - (2 * value[0] + 2)) <= 4) & (np.abs(white[:, 0] - (2 * value[1] + 2)) <= 4)]
        assert len(near) > 0, (value[:2], white[:10])
        np.testing.assert_array_equal(env.render(), img)  # render() is the same frame
        # gui.gdscreenshot(true): no FCEUX on-screen message ("Emulation speed ...", white on dark blue)
        # in the picture: the game draws only black, white and red
        r, g, b = (img[..., i].astype(int) for i in range(3))
        assert not ((b > 60) & (r < 60) & (g < 60)).any()
        assert len({tuple(c) for c in img.reshape(-1, 3)}) <= 3
    finally:
        env.close()


def test_default_is_the_screen_and_gymnasium_make_works():
    env = gym.make(GAME, max_episode_steps=50)
    try:
        assert env.observation_space == spaces.Box(0, 255, (240, 256, 3), np.uint8)
        obs, _ = env.reset(seed=0)
        assert obs.shape == (240, 256, 3) and obs.dtype == np.uint8
        for _ in range(3):
            obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert obs.max() == 255  # walls, paddle, ball
    finally:
        env.close()


def test_missing_rom_fails_fast(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(vecbridge.LaunchError, match="the ROM file .*nope.nes does not exist"):
        GameEnv(escape_from_pong_spec(rom=tmp_path / "nope.nes"))
    assert time.monotonic() - t0 < 10  # not the start-up timeout: FCEUX without a ROM would never run the script


def test_ram_observation():
    env = GameEnv(escape_from_pong_spec(observation_type="ram"))
    try:
        assert env.observation_space == spaces.Box(0, 255, (2048,), np.uint8)
        ram, _ = env.reset(seed=0)
        assert int(ram[0x31]) + 256 * int(ram[0x32]) == 0x8385  # level 1 script
        assert ram[0x02] == 0  # not in a level's start pause
    finally:
        env.close()

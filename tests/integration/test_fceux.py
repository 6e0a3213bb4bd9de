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
from vecbridge.backends.fceux import EFP_ROM, escape_from_pong_spec

from support.escape_from_pong_checks import (
    check_ball_drawn_where_ram_says,
    check_holding_down_escapes_three_levels_then_dies,
    check_random_play_is_deterministic_and_clean,
    children_running,
)

pytestmark = pytest.mark.lua

GAME = "vecbridge/EscapeFromPong-v0"


@pytest.fixture(scope="module", autouse=True)
def _registered():
    assert EFP_ROM.exists(), "the Debian package efp is not installed: run scripts/setup.sh"
    assert Path(fceux.find_fceux()).exists(), "FCEUX is not installed: run scripts/setup.sh"


#: FCEUX 2.6.5's Qt message log: the path is compiled in (MsgLogViewer.cpp opens "/tmp/fceux.log"
#: with "w+"), whatever HOME or TMPDIR say; documented in docs/backends/fceux.md
FCEUX_FIXED_PATHS = {"fceux.log"}


@pytest.fixture
def no_new_files_in_home_or_tmp():
    """FCEUX must write nothing into the real $HOME or /tmp (only into the instances' folders)."""
    home = Path.home()

    def listing():
        return set(os.listdir(home)) if home.is_dir() else set(), {
            n for n in os.listdir("/tmp") if ("fceux" in n.lower() or n.startswith(("runtime-", ".X", "qt")))
            and n not in FCEUX_FIXED_PATHS}

    before = listing()
    yield
    after = listing()
    assert after[0] - before[0] == set(), f"new entries in {home}: {sorted(after[0] - before[0])}"
    assert after[1] - before[1] == set(), f"new FCEUX/Qt entries in /tmp: {sorted(after[1] - before[1])}"


def fceux_children() -> list[psutil.Process]:
    return children_running("fceux")


def test_registered():
    assert GAME in vecbridge.registered()
    spec = vecbridge.registered()[GAME]
    assert spec.config["processor"] == "escape_from_pong" and spec.config["rom"] == str(EFP_ROM)
    assert spec.command[-1] == str(EFP_ROM) and "{launchers}/lua/processor.lua" in spec.command
    assert spec.env["QT_QPA_PLATFORM"] == "offscreen" and spec.env["SDL_AUDIODRIVER"] == "dummy"


def test_two_instances_1000_random_steps_deterministic_and_clean(no_new_files_in_home_or_tmp):
    elapsed = check_random_play_is_deterministic_and_clean(GAME, "fceux")
    print(f"2 x FCEUX, 1000 steps (4 frames each): {elapsed:.1f} s including start-up")


def test_rewards_and_game_over_from_ram():
    """Holding Down (thrust up): levels 1-3 are escaped (+1 each), then level 4 kills the ball 3 times."""
    env = GameEnv(escape_from_pong_spec(observation_type="value"))
    try:
        assert check_holding_down_escapes_three_levels_then_dies(env) == 173
    finally:
        env.close()


def test_screen_observation_matches_ram():
    env = GameEnv(escape_from_pong_spec(observation_type="both"), render_mode="rgb_array")
    try:
        img = check_ball_drawn_where_ram_says(env)
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


def test_a_file_fceux_cannot_load_fails_at_once_with_fceux_s_own_words(tmp_path):
    rom = tmp_path / "garbage.nes"
    rom.write_bytes(bytes(range(256)) * 64)  # exists, but no ROM format FCEUX knows
    t0 = time.monotonic()
    with pytest.raises(vecbridge.LaunchError, match="printed 'Unknown ROM file format.', so it will not start") as err:
        GameEnv(escape_from_pong_spec(rom=rom))
    assert time.monotonic() - t0 < 15 and err.value.stage == "connected"  # not the 30-s start-up timeout


def test_ram_observation():
    env = GameEnv(escape_from_pong_spec(observation_type="ram"))
    try:
        assert env.observation_space == spaces.Box(0, 255, (2048,), np.uint8)
        ram, _ = env.reset(seed=0)
        assert int(ram[0x31]) + 256 * int(ram[0x32]) == 0x8385  # level 1 script
        assert ram[0x02] == 0  # not in a level's start pause
    finally:
        env.close()

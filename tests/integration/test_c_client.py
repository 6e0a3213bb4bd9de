"""A game in a language vecbridge ships no client for: C, written from docs/protocol.md alone.

``tests/games/c/walk.c`` speaks the protocol with plain sockets and no JSON library.
It is compiled here (scripts/setup.sh installs gcc), launched by vecbridge as a
command, and must pass the conformance checks and step correctly in a vector env.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces

import vecbridge

SOURCE = Path(__file__).resolve().parents[1] / "games" / "c" / "walk.c"


@pytest.fixture(scope="module")
def walk(tmp_path_factory) -> str:
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "no C compiler on PATH: scripts/setup.sh installs gcc"
    binary = tmp_path_factory.mktemp("walk") / "walk"
    subprocess.run([cc, "-O2", "-Wall", "-Werror", "-o", str(binary), str(SOURCE)], check=True)
    return str(binary)


def test_the_c_game_steps_in_a_vector_env(walk):
    envs = vecbridge.make(vecbridge.LaunchSpec(command=[walk]), num_envs=3)
    try:
        assert envs.game_name == "Walk (C)"
        assert envs.single_observation_space == spaces.Box(-5, 50, (2,), np.float32)
        assert envs.single_action_space == spaces.Discrete(3)
        obs, _ = envs.reset(seed=[0, 1, 4])
        np.testing.assert_array_equal(obs, [[-2, 0], [-1, 0], [2, 0]])
        obs, reward, terminated, truncated, _ = envs.step(np.array([2, 0, 2]))
        np.testing.assert_array_equal(obs, [[-1, 1], [-2, 1], [3, 1]])
        for _ in range(2):
            obs, reward, terminated, truncated, _ = envs.step(np.array([1, 0, 2]))
        # instance 1 walked left to -4, instance 2 right to +5: +1 and the end of its episode
        np.testing.assert_array_equal(obs[:, 0], [-1, -4, 5])
        assert reward.tolist() == [0.0, 0.0, 1.0] and terminated.tolist() == [False, False, True]
        obs, reward, terminated, truncated, _ = envs.step(np.array([1, 0, 1]))
        assert terminated.tolist() == [False, True, False] and reward.tolist() == [0.0, -1.0, 0.0]
        assert obs[2].tolist() == [-2.0, 0.0]  # next-step autoreset (no seed): the new episode starts at -2
        for _ in range(60):  # a walker that stays put is truncated after 50 steps
            *_, truncated, _ = envs.step(np.array([1, 1, 1]))
            if truncated[0]:
                break
        assert truncated[0]
    finally:
        envs.close()


def test_the_c_game_passes_the_conformance_checks(walk):
    out = subprocess.run(
        [sys.executable, "-m", "vecbridge.cli", "check", "--", walk], capture_output=True, text=True, timeout=240
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 failed" in out.stdout and "[FAIL]" not in out.stdout

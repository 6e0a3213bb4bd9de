"""The vecbridge command, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RAW_LIAR = str(Path(__file__).resolve().parents[1] / "games" / "raw_liar.py")


def vecbridge(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vecbridge.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def test_list_shows_the_builtin_games():
    out = vecbridge("list")
    assert out.returncode == 0
    for game in ("vecbridge/Echo-v0", "vecbridge/EchoImage-v0", "vecbridge/Catch-v0"):
        assert game in out.stdout


def test_run_prints_throughput_and_returns():
    out = vecbridge("run", "vecbridge/Catch-v0", "-n", "2", "--seconds", "2")
    assert out.returncode == 0, out.stderr
    assert "steps/s across 2 instances" in out.stdout
    assert "random-policy return" in out.stdout


def test_check_passes_a_conforming_game_given_as_a_command():
    out = vecbridge("check", "--", "{python}", RAW_LIAR)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "6 passed, 0 failed" in out.stdout and "4 passed, 0 failed" in out.stdout


def test_check_fails_a_game_that_lies_about_its_observations():
    out = vecbridge("check", "--", "env", "LIE=dtype", "{python}", RAW_LIAR)
    assert out.returncode == 1
    assert "[FAIL] observations stay in the declared space" in out.stdout
    assert "expected a float32 array of shape [4]" in out.stdout and "float64" in out.stdout

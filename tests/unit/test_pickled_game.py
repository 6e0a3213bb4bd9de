"""vecbridge.pickled_game: packing a constructor into environment variables and back (no processes)."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest

import vecbridge
from vecbridge import pickled_game


def test_a_closure_round_trips_through_the_environment():
    captured = {"level": 3}

    def make(extra=0):
        return captured["level"] + extra

    env = pickled_game.environment(make)
    assert set(env) == {pickled_game.GAME_VARIABLE, pickled_game.PATH_VARIABLE}
    assert all(isinstance(v, str) and "{" not in v for v in env.values())  # survives LaunchSpec's str.format
    captured["level"] = 99  # packed by value at environment() time
    assert pickled_game.load(env)(extra=1) == 4


def test_the_callers_working_folder_travels_as_an_absolute_path(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", ["", *sys.path])
    paths = pickled_game.environment(len)[pickled_game.PATH_VARIABLE].split(os.pathsep)
    assert paths[0] == str(tmp_path) and "" not in paths


def test_python_game_builds_a_pickled_spec_and_keeps_the_callers_settings():
    spec = vecbridge.python_game(lambda: None, env={"EXTRA": "1"}, step_timeout=5)
    assert list(spec.command) == ["{python}", "-m", "vecbridge.game", "--pickled"]
    assert spec.env["EXTRA"] == "1" and pickled_game.GAME_VARIABLE in spec.env
    assert spec.step_timeout == 5 and spec.name == "test_python_game_builds_a_pickled_spec_and_keeps_the_callers_settings.<locals>.<lambda>"
    assert list(vecbridge.python_game("pkg.mod:Env").command) == ["{python}", "-m", "vecbridge.game", "pkg.mod:Env"]


def test_large_captured_data_is_refused_with_advice():
    data = np.random.default_rng(0).random(200_000)  # 1.6 MB: more than an environment variable carries
    with pytest.raises(ValueError, match="captures large data; load that inside the constructor"):
        pickled_game.environment(lambda: data)


def test_what_cloudpickle_cannot_pickle_is_named():
    lock = threading.Lock()
    with pytest.raises(TypeError, match="cloudpickle cannot pickle"):
        pickled_game.environment(lambda: lock)
    with pytest.raises(TypeError, match="a callable returning a gymnasium.Env"):
        pickled_game.environment(42)


def test_loading_without_the_variable_says_who_sets_it():
    with pytest.raises(SystemExit, match="is not set"):
        pickled_game.load({})
    with pytest.raises(SystemExit, match="cannot unpickle the game constructor"):
        pickled_game.load({pickled_game.GAME_VARIABLE: "bm90IGEgcGlja2xl"})

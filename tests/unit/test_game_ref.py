"""vecbridge.game_ref: what a game named in text means (no game is launched here)."""

from __future__ import annotations

import sys

import gymnasium as gym
import pytest

from support.user_games import write_user_games
from vecbridge import pickled_game, registry
from vecbridge.game_ref import FORMS, UnknownGame, game_argument, game_label, resolve_game, resolve_or_exit
from vecbridge.launch.spec import LaunchSpec


@pytest.fixture
def user_project(tmp_path, monkeypatch):
    """The user's project folder as the working directory, as the `vecbridge` script sees it ('' not on sys.path)."""
    write_user_games(tmp_path)
    (tmp_path / "needs_dep.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    yield tmp_path
    for name in ("my_games", "broken_games", "needs_dep"):
        sys.modules.pop(name, None)
    for env_id in ("Walk-v0", "GymWalk-v0"):
        registry._SOURCES.pop(env_id, None)
        gym.registry.pop(env_id, None)


def test_a_registered_id_is_itself():
    assert resolve_game("vecbridge/Catch-v0") == "vecbridge/Catch-v0"


def test_gymnasiums_module_colon_id_imports_the_users_registration(user_project):
    assert "Walk-v0" not in registry.registered_ids()
    assert resolve_game("my_games:Walk-v0") == "Walk-v0"  # the id: its max_episode_steps apply
    assert registry.max_episode_steps("Walk-v0") == 50
    assert str(user_project) in sys.path  # found through the working directory


@pytest.mark.parametrize("attribute", ["walk_spec", "Walk", "make_walk", "GymWalk-v0"])
def test_module_colon_attribute_gives_a_spec_whose_constructor_builds_the_users_env(user_project, attribute):
    spec = resolve_game(f"my_games:{attribute}")
    assert isinstance(spec, LaunchSpec)
    assert list(spec.command) == ["{python}", "-m", "vecbridge.game", "--pickled"]
    env = pickled_game.load(spec.env)()  # what each game process will build
    try:
        assert type(env.unwrapped).__name__ == "Walk"
        assert env.unwrapped.length == (3 if attribute == "make_walk" else 5)
    finally:
        env.close()


def test_an_id_only_gymnasium_knows_is_served_as_a_python_game():
    spec = resolve_game("CartPole-v1")
    assert spec.name == "CartPole-v1"
    env = pickled_game.load(spec.env)()
    try:
        assert env.spec.id == "CartPole-v1"
    finally:
        env.close()


@pytest.mark.parametrize(
    "text, message",
    [
        ("nosuch", "no game 'nosuch': a game is " + FORMS),
        ("nomodule_xyz:Game-v0", "there is no module 'nomodule_xyz'"),
        ("my_games:nope", "my_games registers no id 'nope' and has no attribute 'nope'"),
        ("my_games:not_a_game", "my_games:not_a_game is an int, not a LaunchSpec"),
        ("broken_games:x", "broken_games.py:3: RuntimeError: the user module is broken"),
        ("needs_dep:x", "importing 'needs_dep' for 'needs_dep:x' failed at"),
        (":x", "no game ':x'"),
    ],
)
def test_what_names_no_game_says_why_in_one_line(user_project, text, message):
    with pytest.raises(UnknownGame) as caught:
        resolve_game(text)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(SystemExit) as exited:
        resolve_or_exit("train", text)
    assert str(exited.value).startswith("vecbridge train: ") and "Traceback" not in str(exited.value)


def test_a_missing_dependency_is_not_mistaken_for_a_missing_module(user_project):
    with pytest.raises(UnknownGame, match="ModuleNotFoundError: No module named 'no_such_dependency_xyz'"):
        resolve_game("needs_dep:x")


def test_game_arguments_and_labels():
    spec = game_argument("run", None, ["{python}", "game.py"], framing="binary")
    assert isinstance(spec, LaunchSpec) and spec.framing == "binary"
    assert game_label(spec) == "{python} game.py" and game_label("vecbridge/Echo-v0") == "vecbridge/Echo-v0"
    assert game_label(LaunchSpec(command=["x"], name="Maze")) == "Maze"
    with pytest.raises(SystemExit, match="vecbridge eval: name a game: a registered id"):
        game_argument("eval", None, [])
    with pytest.raises(SystemExit, match="not both"):
        game_argument("run", "vecbridge/Echo-v0", ["x"])

"""Built-in games name the options their game reads (LaunchSpec.known_options): anything else,
and values that are no whole number where one is needed, are one error before any launch."""

from __future__ import annotations

import importlib
import inspect

import pytest

import vecbridge
from vecbridge.backends.fceux import escape_from_pong_spec
from vecbridge.backends.node import escape_from_pong_js_spec
from vecbridge.errors import GameOptionError
from vecbridge.launch.options import check_options

SPECS = pytest.mark.parametrize("build", [escape_from_pong_spec, escape_from_pong_js_spec], ids=["fceux", "jsnes"])


@SPECS
def test_a_misspelt_option_is_refused_with_the_option_it_resembles(build):
    with pytest.raises(GameOptionError, match=r"has no game option\(s\) frame_skip \(did you mean frameskip\?\)"):
        build(frame_skip=1)
    with pytest.raises(GameOptionError, match=r"has no game option\(s\) bogus_option; its options: .*frameskip"):
        build().with_config(bogus_option=1)  # the way make() and -o add options


@SPECS
@pytest.mark.parametrize("option, value", [("frameskip", 2.5), ("frameskip", "8"), ("frameskip", True), ("frameskip", 0),
                                           ("lives", 0), ("noop_max", -1), ("max_steps", 1.0)])  # fmt: skip
def test_counts_must_be_whole_numbers_in_range(build, option, value):
    with pytest.raises(GameOptionError, match=rf"the game option {option} must be a whole number"):
        build(**{option: value})


@SPECS
def test_the_documented_options_pass(build):
    spec = build(observation_type="value", frameskip=2, noop_max=0, lives=1, max_steps=100, reset_state="none",
                 check_hash="warn")  # fmt: skip
    assert spec.config["frameskip"] == 2 and isinstance(spec.known_options, dict)


def test_make_refuses_before_launching_and_the_error_is_a_valueerror():
    with pytest.raises(ValueError, match="did you mean frameskip"):
        vecbridge.make("vecbridge/EscapeFromPong-v0", num_envs=1, frame_skip=1)


def test_a_spec_without_known_options_sends_every_option():
    check_options("g", {"anything": 1}, {"anything": None})
    spec = vecbridge.LaunchSpec(["true"], name="g").with_config(whatever=2.5)
    assert spec.config == {"whatever": 2.5}


PYTHON_GAMES = pytest.mark.parametrize("game, factory, misspelt, meant", [
    ("vecbridge/Catch-v0", "vecbridge.games.catch:CatchEnv", "ball", "balls"),
    ("vecbridge/Echo-v0", "vecbridge.games.echo:EchoEnv", "episode_lenght", "episode_length"),
    ("vecbridge/EchoImage-v0", "vecbridge.games.echo:EchoImageEnv", "delay", "delay_s"),  # its **options are Echo's
    ("vecbridge/Airstriker-Genesis-v0", "vecbridge.games.retro_game:make_env", "frame_skip", "frameskip"),
])  # fmt: skip


@PYTHON_GAMES
def test_the_python_games_refuse_an_option_their_constructor_does_not_take(game, factory, misspelt, meant):
    if "retro_game" in factory:
        pytest.importorskip("stable_retro")
    module, _, attr = factory.partition(":")
    takes = inspect.signature(getattr(importlib.import_module(module), attr)).parameters
    spec = vecbridge.registered()[game]
    assert set(spec.known_options) == set(takes)  # read from the constructor, nothing kept by hand
    with pytest.raises(GameOptionError, match=rf"has no game option\(s\) {misspelt} \(did you mean {meant}\?\)"):
        spec.with_config(**{misspelt: 3})  # the way make() and -o add options: before anything launches
    with pytest.raises(GameOptionError, match=r"has no game option\(s\) foo; its options: "):
        spec.with_config(foo=1)
    assert spec.with_config(**{meant: spec.config.get(meant, 3)}).config[meant] is not None  # a real option passes


def test_make_refuses_a_python_games_misspelt_option_before_launching():
    with pytest.raises(GameOptionError, match=r"Catch has no game option\(s\) ball \(did you mean balls\?\)"):
        vecbridge.make("vecbridge/Catch-v0", num_envs=2, ball=3)  # (it launched, then failed with a LaunchError)

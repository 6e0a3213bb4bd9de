"""The vector env's arguments and the game options, refused before anything is sent or launched."""

from __future__ import annotations

import re

import numpy as np
import pytest

from vecbridge.launch.spec import MAX_CONFIG_JSON, LaunchSpec
from vecbridge.vector.arguments import MAX_SEED, env_ids, reset_ids, seeds_for


def test_seeds_one_per_instance():
    assert seeds_for(3, None) == [None, None, None]
    assert seeds_for(3, 7) == [7, 8, 9] and seeds_for(2, np.int64(4)) == [4, 5]
    assert seeds_for(2, [1, None]) == [1, None] and seeds_for(2, np.array([3, 4])) == [3, 4]
    assert all(type(s) is int for s in seeds_for(2, np.array([3, 4])))
    assert seeds_for(2, MAX_SEED - 2) == [MAX_SEED - 2, MAX_SEED - 1]


@pytest.mark.parametrize("seed, error, words", [
    (1.5, TypeError, "seed must be an integer, a list of 2 integers"),  # (it was "'float' object is not iterable")
    ("12", TypeError, "seed must be an integer"),
    (True, TypeError, "seed must be an integer"),
    (-1, ValueError, r"seed must be in \[0, 2\*\*53\)"),
    (2**60, ValueError, r"seed must be in \[0, 2\*\*53\) .*got 1152921504606846976"),  # (it was sent as it was)
    (MAX_SEED - 1, ValueError, r"seed \+ 1 \(the seed of instance 1\) must be in"),
    ([1, 2, 3], ValueError, "expected 2 seeds, got 3"),
    ([1, 2.0], TypeError, r"seed\[1\] must be an integer or None, got 2.0"),
    ([0, -5], ValueError, r"seed\[1\] must be in \[0, 2\*\*53\)"),
    (np.array(3), TypeError, r"seed must be .* or None; got array\(3\) \(ndarray\) \(a 0-d array: pass int\(seed\)\)"),
    (np.array([3])[0:1].reshape(()), TypeError, r"a 0-d array"),
])  # fmt: skip
def test_bad_seeds_are_refused_naming_the_seed(seed, error, words):
    with pytest.raises(error, match=words):
        seeds_for(2, seed)


def test_reset_mask_picks_the_instances_and_is_not_sent():
    assert reset_ids(3, None) == ([0, 1, 2], None)
    assert reset_ids(3, {"reset_mask": np.array([True, False, True]), "level": 2}) == ([0, 2], {"level": 2})
    assert reset_ids(2, {"reset_mask": np.array([False, True])}) == ([1], None)
    with pytest.raises(ValueError, match=r"options\['reset_mask'\] must be a bool array of shape \(3,\)"):
        reset_ids(3, {"reset_mask": [1, 0, 1]})
    for options in ("x", [("level", 2)], 3):  # not a dict: named (dict() said "dictionary update sequence ...")
        with pytest.raises(TypeError, match=rf"options must be a dict \(or None\), got {re.escape(repr(options))} "
                                            rf"\({type(options).__name__}\)"):  # fmt: skip
            reset_ids(3, options)


def test_a_0d_tensor_seed_is_named():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"got tensor\(3\) \(Tensor\) \(a 0-d array: pass int\(seed\)\)"):
        seeds_for(2, torch.tensor(3))  # (it was "len() of a 0-d tensor")


def test_env_ids_are_distinct_integers_in_range():
    assert env_ids(4, [3, 1]).tolist() == [3, 1] and env_ids(4, np.int32(2)).tolist() == [2]
    for bad, words in (([0.5], "must be integers"), ([4], r"must be in \[0, 4\)"), ([1, 1], "twice")):
        with pytest.raises(ValueError, match=words):
            env_ids(4, bad)


def test_game_options_must_be_json_and_fit_an_environment_variable():
    LaunchSpec(["game"], config={"level": 3, "names": ["a"], "scale": 0.5, "extra": None, "nested": {"k": True}})
    with pytest.raises(TypeError, match=r"game option x=np.int64\(3\) cannot reach the game: options travel as JSON"):
        LaunchSpec(["game"], config={"x": np.int64(3)})
    with pytest.raises(ValueError, match=r"game option x=nan cannot reach the game"):
        LaunchSpec(["game"]).with_config(x=float("nan"))
    with pytest.raises(TypeError, match="game option names must be strings, got 1"):
        LaunchSpec(["game"], config={1: 2})
    with pytest.raises(ValueError, match=r"the game options are [\d,]+ bytes of JSON, more than the .*put large data in a file"):
        LaunchSpec(["game"], config={"blob": "x" * MAX_CONFIG_JSON})


def test_the_placeholders_are_the_template_values():
    from pathlib import Path

    from vecbridge.launch.spec import PLACEHOLDERS

    values = LaunchSpec(["game"]).template_values(host="127.0.0.1", port=1, instance=0, token="t", workdir=Path("/w"))
    assert set(PLACEHOLDERS) == set(values)
    # a nameless spec is named by its command with every placeholder as written (check_game's report title;
    # {config_url} and {socket} used to raise KeyError there)
    spec = LaunchSpec(["chromium", "file:///g.html?port={port}&config={config_url}&s={socket}"])
    assert spec.argv({k: f"{{{k}}}" for k in PLACEHOLDERS}) == list(spec.command)


def test_max_log_bytes_is_a_size_or_zero():
    assert LaunchSpec(["game"]).max_log_bytes == 64 * 1024 * 1024 and LaunchSpec(["game"], max_log_bytes=0).max_log_bytes == 0
    with pytest.raises(ValueError, match=r"max_log_bytes must be 0 \(no limit\) or more, got -1"):
        LaunchSpec(["game"], max_log_bytes=-1)

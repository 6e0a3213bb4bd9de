"""Infos merged into Gymnasium 1.x's vector layout: arrays per key, ``_key`` masks."""

from __future__ import annotations

import numpy as np

from vecbridge.vector.infos import merge_infos


def test_numbers_booleans_arrays_and_objects_get_their_own_arrays_and_masks():
    merged = merge_infos(
        {2: {"score": 3, "won": True, "pos": np.array([1.0, 2.0]), "name": "b"}, 0: {"score": 1, "ratio": 0.5}}, 3
    )
    assert merged["score"].tolist() == [1, 0, 3] and merged["score"].dtype == np.int64
    assert merged["_score"].tolist() == [True, False, True]
    assert merged["won"].dtype == np.bool_ and merged["_won"].tolist() == [False, False, True]
    assert merged["ratio"].dtype == np.float64 and merged["ratio"][0] == 0.5
    assert merged["pos"].shape == (3, 2) and merged["pos"][2].tolist() == [1.0, 2.0]
    assert merged["name"].dtype == object and merged["name"].tolist() == [None, None, "b"]


def test_nested_dicts_merge_recursively_and_final_obs_stays_an_object_array():
    obs = np.zeros((2, 2), dtype=np.uint8)
    merged = merge_infos({1: {"final_obs": obs, "final_info": {"lives": 2}}}, 2)
    assert merged["final_obs"].dtype == object and merged["final_obs"][1] is obs and merged["final_obs"][0] is None
    assert merged["_final_obs"].tolist() == [False, True]
    assert merged["final_info"]["lives"].tolist() == [0, 2] and merged["final_info"]["_lives"].tolist() == [False, True]
    assert merged["_final_info"].tolist() == [False, True]


def test_rows_follow_row_of_for_a_batch_of_some_instances():
    merged = merge_infos({7: {"k": 1}, 3: {"k": 2}}, 2, {7: 0, 3: 1})
    assert merged["k"].tolist() == [1, 2] and merged["_k"].tolist() == [True, True]


def test_numpy_scalars_keep_their_dtype():
    merged = merge_infos({0: {"x": np.float32(1.5)}}, 2)
    assert merged["x"].dtype == np.float32 and merged["x"].tolist() == [1.5, 0.0]


def test_no_infos_merge_to_an_empty_dict():
    assert merge_infos({}, 4) == {}


def test_ints_and_floats_mixed_make_a_float_array_whatever_the_row_order():
    # a game's speed 1.0 arrives as the JSON integer 1; the first row must not truncate 2.5 to 2
    for infos in ({0: {"speed": 1}, 1: {"speed": 2.5}}, {0: {"speed": 2.5}, 1: {"speed": 1}}):
        merged = merge_infos(infos, 2)
        assert merged["speed"].dtype == np.float64
        assert merged["speed"].tolist() == [infos[0]["speed"], infos[1]["speed"]]
    nested = merge_infos({0: {"final_info": {"speed": 1}}, 1: {"final_info": {"speed": 2.5}}}, 2)
    assert nested["final_info"]["speed"].tolist() == [1.0, 2.5]
    arrays = merge_infos({0: {"v": np.array([1, 2])}, 1: {"v": np.array([0.5, 2.0])}}, 2)
    assert arrays["v"].tolist() == [[1.0, 2.0], [0.5, 2.0]]
    assert merge_infos({0: {"n": True}, 1: {"n": 3}}, 2)["n"].tolist() == [1, 3]  # not True, True
    big = merge_infos({0: {"n": 1}, 1: {"n": 2**70}}, 2)["n"]  # no int64 holds it: objects, exact
    assert big.tolist() == [1, 2**70]

"""Space descriptions and gym-bizhawk type strings (docs/protocol.md section 5)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gymnasium import spaces

from vecbridge.errors import SpaceError, VecBridgeError
from vecbridge.protocol.spaces import (
    WIRE_DTYPES,
    parse_type_string,
    space_from_json,
    space_from_type_strings,
    space_to_json,
    wire_dtype,
)
from vecbridge.vector.buffers import leaf_dtype_shape, leaves

I64 = np.iinfo(np.int64)
INF = np.inf


def assert_box(space, low, high, shape, dtype):
    assert isinstance(space, spaces.Box), space
    assert space.shape == shape
    assert space.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(space.low, np.broadcast_to(np.asarray(low, dtype=dtype), shape))
    np.testing.assert_array_equal(space.high, np.broadcast_to(np.asarray(high, dtype=dtype), shape))


def assert_discrete(space, n, start=0):
    assert type(space) is spaces.Discrete, space
    assert int(space.n) == n and int(space.start) == start


def assert_multidiscrete(space, nvec, start):
    assert isinstance(space, spaces.MultiDiscrete), space
    assert space.nvec.tolist() == nvec and space.start.tolist() == start
    assert space.dtype == np.int64


# ---------------------------------------------------------------- dtypes


def test_wire_dtypes():
    assert WIRE_DTYPES == (
        "bool", "int8", "uint8", "int16", "uint16", "int32", "uint32",
        "int64", "uint64", "float16", "float32", "float64",
    )  # fmt: skip
    for name in WIRE_DTYPES:
        dt = wire_dtype(name)
        assert dt == np.dtype(name)
        assert dt.byteorder in ("<", "|", "=")
        assert dt.newbyteorder("<") == dt
    for bad in ("float", "int", "complex64", ">f4", "object", None, 3):
        with pytest.raises(SpaceError):
            wire_dtype(bad)


# ---------------------------------------------------------------- type strings, single items


def test_single_bool():
    assert_discrete(space_from_type_strings("bool"), 2)
    assert_discrete(space_from_type_strings(["bool"]), 2)


@pytest.mark.parametrize(
    ("text", "n", "start"),
    [("int 0 3", 4, 0), ("int 1 6", 6, 1), ("int -1 1", 3, -1), ("int 5 5", 1, 5), ("int -10 -3", 8, -10),
     ("  int   0   3  ", 4, 0), ("int +2 4", 3, 2)],
)  # fmt: skip
def test_single_int_range(text, n, start):
    assert_discrete(space_from_type_strings(text), n, start)


def test_single_int_unbounded():
    assert_box(space_from_type_strings("int"), I64.min, I64.max, (), np.int64)


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [("float", -INF, INF), ("float 0 1", 0, 1), ("float -1.5 2.25", -1.5, 2.25), ("float -1e3 1e3", -1000, 1000),
     ("float -inf inf", -INF, INF), ("float 0 inf", 0, INF), ("float 2 2", 2, 2)],
)  # fmt: skip
def test_single_float(text, low, high):
    assert_box(space_from_type_strings(text), low, high, (), np.float32)


# ---------------------------------------------------------------- type strings, several items


@pytest.mark.parametrize("text", ["bool [4]", "bool[4]", "bool [ 4 ]", "bool\t[4]"])
def test_bool_n(text):
    assert_multidiscrete(space_from_type_strings(text), [2, 2, 2, 2], [0, 0, 0, 0])


@pytest.mark.parametrize("text", ["int 0 3 [2]", "int 0 3[2]"])
def test_int_range_n(text):
    assert_multidiscrete(space_from_type_strings(text), [4, 4], [0, 0])


def test_int_range_n_with_start():
    assert_multidiscrete(space_from_type_strings("int -2 2 [3]"), [5, 5, 5], [-2, -2, -2])


def test_one_item_with_n_suffix_is_an_array():
    assert_multidiscrete(space_from_type_strings("bool [1]"), [2], [0])
    assert_box(space_from_type_strings("float 0 1 [1]"), 0, 1, (1,), np.float32)


@pytest.mark.parametrize("text", ["float 0 1 [8]", "float 0 1[8]"])
def test_float_n_doc_example(text):
    space = space_from_type_strings(text)
    assert_box(space, 0, 1, (8,), np.float32)
    assert space == spaces.Box(0, 1, (8,), np.float32)


def test_float_unbounded_n():
    assert_box(space_from_type_strings("float [3]"), -INF, INF, (3,), np.float32)


def test_int_unbounded_n():
    # several unbounded 'int': an int64 Box, each item unbounded
    assert_box(space_from_type_strings("int [3]"), I64.min, I64.max, (3,), np.int64)


def test_list_of_unbounded_ints():
    assert_box(space_from_type_strings(["int", "int"]), I64.min, I64.max, (2,), np.int64)


def test_list_all_discrete_doc_example():
    space = space_from_type_strings(["int 0 3", "bool"])
    assert_multidiscrete(space, [4, 2], [0, 0])
    assert space == spaces.MultiDiscrete([4, 2])


def test_list_all_discrete_with_starts_and_suffixes():
    space = space_from_type_strings(["int -1 1", "bool [2]", "int 10 12"])
    assert_multidiscrete(space, [3, 2, 2, 3], [-1, 0, 0, 10])


def test_list_no_discrete_float_wins():
    space = space_from_type_strings(["float 0 1", "int", "float -2 2 [2]"])
    assert isinstance(space, spaces.Box) and space.dtype == np.float32 and space.shape == (4,)
    np.testing.assert_array_equal(space.low, np.array([0, -INF, -2, -2], dtype=np.float32))
    np.testing.assert_array_equal(space.high, np.array([1, INF, 2, 2], dtype=np.float32))


def test_list_of_floats():
    space = space_from_type_strings(["float", "float -1 1"])
    assert isinstance(space, spaces.Box) and space.dtype == np.float32 and space.shape == (2,)
    np.testing.assert_array_equal(space.low, np.array([-INF, -1], dtype=np.float32))
    np.testing.assert_array_equal(space.high, np.array([INF, 1], dtype=np.float32))


def test_list_mixed_is_tuple():
    space = space_from_type_strings(["bool", "float 0 1", "int 2 5", "int"])
    assert isinstance(space, spaces.Tuple) and len(space.spaces) == 4
    assert_discrete(space.spaces[0], 2)
    assert_box(space.spaces[1], 0, 1, (), np.float32)
    assert_discrete(space.spaces[2], 4, 2)
    assert_box(space.spaces[3], I64.min, I64.max, (), np.int64)


def test_mixed_with_suffix_expands_items():
    space = space_from_type_strings(["bool [2]", "float"])
    assert isinstance(space, spaces.Tuple) and len(space.spaces) == 3
    assert_discrete(space.spaces[0], 2)
    assert_discrete(space.spaces[1], 2)
    assert_box(space.spaces[2], -INF, INF, (), np.float32)


def test_parse_type_string():
    assert parse_type_string("int 0 3 [2]") == [("int", 0, 3), ("int", 0, 3)]
    assert parse_type_string("bool") == [("bool", None, None)]
    assert parse_type_string("float -1 1") == [("float", -1.0, 1.0)]
    assert parse_type_string("int") == [("int", None, None)]


@pytest.mark.parametrize(
    "text",
    [
        "", " ", "integer", "Bool", "double", "bool 0 1", "int 0", "int 0 1 2", "int 0.5 3", "int 0 1e3",
        "int 3 0", "float 1 0", "float a b", "[3]", "int 0 3 [x]", "int 0 3 [2] extra", "int 0 3 [-1]",
        "int 0 3 []", "float 0 1 [2", "bool, int", "int 0 3 [0]",
    ],
)  # fmt: skip
def test_bad_type_strings(text):
    with pytest.raises(SpaceError):
        space_from_type_strings(text)


@pytest.mark.parametrize("items", [[], [3], ["int", 3], ["bool", None], [["bool"]]])
def test_bad_type_string_lists(items):
    with pytest.raises(SpaceError):
        space_from_type_strings(items)


def test_type_strings_through_space_from_json():
    assert_discrete(space_from_json("int 0 3"), 4)
    assert_multidiscrete(space_from_json(["int 0 3", "bool"]), [4, 2], [0, 0])
    assert_box(space_from_json("float 0 1 [8]"), 0, 1, (8,), np.float32)
    with pytest.raises(SpaceError):
        space_from_json("nonsense")
    with pytest.raises(SpaceError):
        space_from_json([])


# ---------------------------------------------------------------- JSON descriptions


def test_box_scalar_bounds_default_dtype():
    space = space_from_json({"type": "Box", "low": -1, "high": 1, "shape": [3]})
    assert_box(space, -1, 1, (3,), np.float32)
    assert space == spaces.Box(-1, 1, (3,), np.float32)


@pytest.mark.parametrize(
    ("low", "high"),
    [("-inf", "inf"), (None, None), ("-inf", None), (None, "inf"), ("-inf", "+inf")],
)
def test_box_infinite_bounds(low, high):
    space = space_from_json({"type": "Box", "low": low, "high": high, "shape": [2], "dtype": "float64"})
    assert_box(space, -INF, INF, (2,), np.float64)


def test_box_missing_bounds_are_unbounded():
    assert_box(space_from_json({"type": "Box", "shape": [2]}), -INF, INF, (2,), np.float32)


def test_box_missing_shape_is_scalar():
    assert_box(space_from_json({"type": "Box", "low": 0, "high": 1}), 0, 1, (), np.float32)


def test_box_nested_list_bounds():
    space = space_from_json(
        {"type": "Box", "low": [[0, -1], [-2, "-inf"]], "high": [[1, 1], [2, None]], "shape": [2, 2]}
    )
    assert space.shape == (2, 2) and space.dtype == np.float32
    np.testing.assert_array_equal(space.low, np.array([[0, -1], [-2, -INF]], dtype=np.float32))
    np.testing.assert_array_equal(space.high, np.array([[1, 1], [2, INF]], dtype=np.float32))


def test_box_image():
    desc = {"type": "Box", "low": 0, "high": 255, "shape": [84, 84, 3], "dtype": "uint8"}
    space = space_from_json(desc)
    assert_box(space, 0, 255, (84, 84, 3), np.uint8)
    assert space == spaces.Box(0, 255, (84, 84, 3), np.uint8)


def test_box_every_dtype_bounded():
    for dtype in WIRE_DTYPES:
        space = space_from_json({"type": "Box", "low": 0, "high": 1, "shape": [2], "dtype": dtype})
        assert space.dtype == np.dtype(dtype) and space.shape == (2,)
        np.testing.assert_array_equal(space.low, [0, 0])
        np.testing.assert_array_equal(space.high, [1, 1])


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"])
def test_box_integer_dtype_unbounded_clamps_to_the_dtype_range(dtype):
    info = np.iinfo(dtype)
    for low, high in ((None, None), ("-inf", "inf")):
        space = space_from_json({"type": "Box", "low": low, "high": high, "shape": [2], "dtype": dtype})
        assert space.dtype == np.dtype(dtype)
        assert space.low.tolist() == [info.min, info.min], (low, space.low)
        assert space.high.tolist() == [info.max, info.max], (high, space.high)


@pytest.mark.parametrize(
    "desc",
    [
        {"type": "Box", "shape": [2], "dtype": "complex64"},
        {"type": "Box", "shape": [2], "dtype": "float"},
        {"type": "Box", "shape": [-1]},
        {"type": "Box", "shape": "2"},
        {"type": "Box", "shape": [2.0]},
        {"type": "Box", "shape": [True]},
        {"type": "Box", "shape": [2], "low": "abc"},
        {"type": "Box", "shape": [2], "low": True},
        {"type": "Box", "shape": [2], "high": {"x": 1}},
        {"type": "Box", "shape": [2], "low": [0, 0, 0]},
        {"type": "Box", "shape": [2, 2], "low": [0, 0]},
        {"type": "Box", "shape": [2], "low": [0, "x"]},
        {"type": "Box", "shape": [2], "low": 1, "high": 0},
        {"type": "Discrete"},
        {"type": "Discrete", "n": 0},
        {"type": "Discrete", "n": "many"},
        {"type": "Discrete", "n": 2, "start": "x"},
        {"type": "MultiDiscrete"},
        {"type": "MultiDiscrete", "nvec": [3, 0]},
        {"type": "MultiDiscrete", "nvec": [3, 4], "start": [1]},
        {"type": "MultiDiscrete", "nvec": "abc"},
        {"type": "MultiBinary"},
        {"type": "MultiBinary", "n": -1},
        {"type": "MultiBinary", "n": "x"},
        {"type": "Dict"},
        {"type": "Dict", "spaces": [{"type": "Discrete", "n": 2}]},
        {"type": "Dict", "spaces": {"a": {"type": "Nope"}}},
        {"type": "Tuple"},
        {"type": "Tuple", "spaces": 5},
        {"type": "Tuple", "spaces": [{"type": "Discrete", "n": 0}]},
        {"type": "Graph"},
        {"type": "box", "shape": [2]},
        {"shape": [2]},
        {},
        5,
        None,
        True,
        [{"type": "Discrete", "n": 2}],
        ["bool", {"type": "Discrete", "n": 2}],
    ],
)
def test_invalid_descriptions(desc):
    with pytest.raises(SpaceError):
        space_from_json(desc)


@pytest.mark.parametrize("n", [0, [2, 0]])
def test_an_empty_multibinary_says_what_n_must_be(n):
    # (it was "invalid MultiBinary description ...: AssertionError: ", gymnasium's bare assert)
    with pytest.raises(SpaceError, match=r"MultiBinary 'n' must be positive \(a count, or a shape of positive sizes\)"):
        space_from_json({"type": "MultiBinary", "n": n})


def test_space_error_is_not_a_protocol_error_but_a_vecbridge_error():
    with pytest.raises(VecBridgeError):
        space_from_json({"type": "Graph"})


def test_discrete():
    assert_discrete(space_from_json({"type": "Discrete", "n": 5}), 5, 0)
    space = space_from_json({"type": "Discrete", "n": 3, "start": -1})
    assert_discrete(space, 3, -1)
    assert space == spaces.Discrete(3, start=-1)


def test_multidiscrete():
    space = space_from_json({"type": "MultiDiscrete", "nvec": [3, 4]})
    assert_multidiscrete(space, [3, 4], [0, 0])
    space = space_from_json({"type": "MultiDiscrete", "nvec": [3, 4], "start": [1, -2]})
    assert_multidiscrete(space, [3, 4], [1, -2])
    assert space == spaces.MultiDiscrete([3, 4], start=[1, -2])
    space = space_from_json({"type": "MultiDiscrete", "nvec": [[2, 3], [4, 5]]})
    assert space.shape == (2, 2)


def test_multibinary():
    space = space_from_json({"type": "MultiBinary", "n": 4})
    assert isinstance(space, spaces.MultiBinary) and space.shape == (4,) and space.dtype == np.int8
    space = space_from_json({"type": "MultiBinary", "n": [2, 3]})
    assert isinstance(space, spaces.MultiBinary) and space.shape == (2, 3)


def test_dict_and_tuple_nested():
    desc = {
        "type": "Dict",
        "spaces": {
            "screen": {"type": "Box", "low": 0, "high": 255, "shape": [4, 5, 3], "dtype": "uint8"},
            "lives": "int 0 3",
            "misc": {"type": "Tuple", "spaces": [{"type": "Discrete", "n": 2}, ["float", "float 0 1"]]},
        },
    }
    space = space_from_json(desc)
    assert isinstance(space, spaces.Dict)
    assert set(space.spaces) == {"screen", "lives", "misc"}  # (gymnasium sorts the keys of a Dict)
    assert_box(space["screen"], 0, 255, (4, 5, 3), np.uint8)
    assert_discrete(space["lives"], 4)
    assert isinstance(space["misc"], spaces.Tuple)
    assert_discrete(space["misc"][0], 2)
    assert isinstance(space["misc"][1], spaces.Box) and space["misc"][1].shape == (2,)


# ---------------------------------------------------------------- space_to_json and round trips


def test_space_to_json_forms():
    assert space_to_json(spaces.Discrete(3, start=-1)) == {"type": "Discrete", "n": 3, "start": -1}
    assert space_to_json(spaces.Box(0, 255, (2, 2, 3), np.uint8)) == {
        "type": "Box", "low": 0, "high": 255, "shape": [2, 2, 3], "dtype": "uint8",
    }  # fmt: skip
    assert space_to_json(spaces.Box(-np.inf, np.inf, (2,), np.float32)) == {
        "type": "Box", "low": "-inf", "high": "inf", "shape": [2], "dtype": "float32",
    }  # fmt: skip
    assert space_to_json(spaces.Box(np.array([0, 1.5]), np.array([1, 2.5]), dtype=np.float64)) == {
        "type": "Box", "low": [0, 1.5], "high": [1, 2.5], "shape": [2], "dtype": "float64",
    }  # fmt: skip
    assert space_to_json(spaces.MultiDiscrete([3, 4])) == {"type": "MultiDiscrete", "nvec": [3, 4], "start": [0, 0]}
    assert space_to_json(spaces.MultiBinary(4)) == {"type": "MultiBinary", "n": 4}
    assert space_to_json(spaces.MultiBinary([2, 3])) == {"type": "MultiBinary", "n": [2, 3]}
    assert space_to_json(spaces.Tuple([spaces.Discrete(2)])) == {
        "type": "Tuple", "spaces": [{"type": "Discrete", "n": 2, "start": 0}],
    }  # fmt: skip
    assert space_to_json(spaces.Dict({"a": spaces.Discrete(2)})) == {
        "type": "Dict", "spaces": {"a": {"type": "Discrete", "n": 2, "start": 0}},
    }  # fmt: skip


def test_space_to_json_int64_bounds_stay_in_range():
    # the JSON of the type string 'int' must not name numbers an int64 cannot hold
    desc = space_to_json(space_from_type_strings("int"))
    for bound in (desc["low"], desc["high"]):
        assert bound in ("inf", "-inf", None) or I64.min <= bound <= I64.max, desc


def test_space_to_json_rejects_other_spaces():
    with pytest.raises(SpaceError):
        space_to_json(spaces.Text(5))
    with pytest.raises(SpaceError):
        space_to_json(spaces.Dict({"t": spaces.Text(5)}))


ROUND_TRIP_SPACES = {
    "box-f32": spaces.Box(-1, 1, (3,), np.float32),
    "box-f32-fraction": spaces.Box(-0.1, 0.7, (2,), np.float32),
    "box-f64-inf": spaces.Box(-np.inf, np.inf, (2, 2), np.float64),
    "box-half-inf": spaces.Box(np.array([0, -np.inf], np.float32), np.array([np.inf, 1], np.float32)),
    "box-per-item": spaces.Box(np.array([[0, 1], [2, 3]], np.float32), np.array([[1, 2], [3, 4]], np.float32)),
    "box-scalar": spaces.Box(0, 1, (), np.float32),
    "box-image": spaces.Box(0, 255, (8, 6, 3), np.uint8),
    "box-int16": spaces.Box(-5, 5, (4,), np.int16),
    "box-f16": spaces.Box(-2, 2, (2,), np.float16),
    "box-int64-unbounded": space_from_type_strings("int"),
    "box-int32-unbounded": spaces.Box(np.iinfo(np.int32).min, np.iinfo(np.int32).max, (2,), np.int32),
    "discrete": spaces.Discrete(5),
    "discrete-start": spaces.Discrete(3, start=-1),
    "multidiscrete": spaces.MultiDiscrete([3, 4, 2]),
    "multidiscrete-start": spaces.MultiDiscrete([3, 4], start=[1, -2]),
    "multibinary": spaces.MultiBinary(6),
    "multibinary-2d": spaces.MultiBinary([2, 3]),
    "tuple": spaces.Tuple([spaces.Discrete(2), spaces.Box(0, 1, (2,), np.float32)]),
    "dict": spaces.Dict(
        {
            "screen": spaces.Box(0, 255, (4, 4, 3), np.uint8),
            "pos": spaces.Box(-10, 10, (2,), np.float32),
            "inner": spaces.Dict({"t": spaces.Tuple([spaces.MultiBinary(2), spaces.Discrete(4, start=1)])}),
        }
    ),
}


@pytest.mark.parametrize("name", list(ROUND_TRIP_SPACES))
def test_round_trip(name):
    space = ROUND_TRIP_SPACES[name]
    desc = space_to_json(space)
    text = json.dumps(desc, allow_nan=False)  # valid strict JSON: no NaN/Infinity literals
    back = space_from_json(json.loads(text))
    assert back == space
    assert type(back) is type(space)
    if isinstance(space, spaces.Box):
        assert back.dtype == space.dtype
        np.testing.assert_array_equal(back.low, space.low)
        np.testing.assert_array_equal(back.high, space.high)


@pytest.mark.parametrize(
    "desc",
    [
        "bool", "int 0 3", "int", "float", "float -1 1", "bool [3]", "int 0 3 [2]", "float 0 1 [8]",
        ["int 0 3", "bool"], ["float", "float 0 1"], ["bool", "float 0 1"], ["int", "int"],
    ],
)  # fmt: skip
def test_type_strings_round_trip_through_json(desc):
    space = space_from_json(desc)
    back = space_from_json(json.loads(json.dumps(space_to_json(space), allow_nan=False)))
    assert back == space
    for (_, a), (_, b) in zip(leaves(space), leaves(back)):
        if isinstance(a, spaces.Box):
            np.testing.assert_array_equal(a.low, b.low)
            np.testing.assert_array_equal(a.high, b.high)


# ---------------------------------------------------------------- leaves


def test_leaves_and_leaf_dtype_shape():
    space = ROUND_TRIP_SPACES["dict"]
    paths = [p for p, _ in leaves(space)]
    assert paths == [("inner", "t", 0), ("inner", "t", 1), ("pos",), ("screen",)]  # gymnasium sorts Dict keys
    assert leaf_dtype_shape(spaces.Discrete(3)) == (np.dtype(np.int64), ())
    assert leaf_dtype_shape(spaces.Box(0, 255, (2, 3, 3), np.uint8)) == (np.dtype(np.uint8), (2, 3, 3))
    assert leaf_dtype_shape(spaces.MultiDiscrete([2, 3])) == (np.dtype(np.int64), (2,))
    assert leaf_dtype_shape(spaces.MultiBinary(4)) == (np.dtype(np.int8), (4,))
    with pytest.raises(SpaceError):
        leaves(spaces.Text(3))

"""Which actions fit an integer space (Discrete, MultiDiscrete, MultiBinary), row by row and one by one.

A value that numpy would cast into the action buffer must not change on the way: 1.7 is no
Discrete value, and a MultiBinary 2 or -1 is no button (stable-retro shifts it into the next
button's bit, or fails in C++).
"""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from vecbridge.errors import InvalidAction
from vecbridge.protocol.values import check_action, describe_space, first_invalid

BUTTONS = spaces.MultiBinary(12)
PADS = spaces.MultiDiscrete([3, 3, 14])
SHIFTED = spaces.Discrete(5, start=2)  # 2..6


def rows(*values, dtype=None):
    return np.array(values, dtype=dtype)


@pytest.mark.parametrize(
    "space, batch, first_bad",
    [
        (BUTTONS, rows([0] * 12, [1] * 12, dtype=np.int8), None),
        (BUTTONS, rows([0] * 12, [1] * 12, dtype=bool), None),
        (BUTTONS, rows([0] * 12, [-1] + [0] * 11), 1),
        (BUTTONS, rows([0] * 12, [0] * 11 + [2]), 1),
        (BUTTONS, rows([0.0] * 12, [1.0] * 12), None),
        (BUTTONS, rows([1.0] * 12, [0.5] + [0.0] * 11), 1),
        (BUTTONS, rows([np.nan] * 12), 0),
        (PADS, rows([2, 2, 13], [0, 0, 0]), None),
        (PADS, rows([0, 0, 0], [2, 3, 13]), 1),
        (PADS, rows([0, 0, 14]), 0),
        (PADS, rows([0.0, 1.0, 2.0], [0.0, 1.0, 2.5]), 1),
        (SHIFTED, rows(2, 6), None),
        (SHIFTED, rows(2, 7), 1),
        (SHIFTED, rows(1, 3), 0),
        (SHIFTED, rows(3.0, 4.0), None),
        (SHIFTED, rows(3.0, 1.7 + 2), 1),
        (SHIFTED, rows(np.inf), 0),
        (SHIFTED, rows("3"), 0),
        (SHIFTED, rows(2, 3, 4, None, dtype=object), 3),  # an object array: row by row (it said row 0)
        (SHIFTED, rows(2, 3.0, True + 2, np.int8(6), dtype=object), None),  # whole numbers of any kind
        (SHIFTED, rows(2, 3.5, dtype=object), 1),
        (SHIFTED, rows(2, float("nan"), dtype=object), 1),
        (SHIFTED, rows(2, 10**400, dtype=object), 1),
        (PADS, rows([0, 0, 0], [1, "a", 2], dtype=object), 1),
        (BUTTONS, rows([0] * 12, [1] * 11 + [[1]], dtype=object), 1),
        (SHIFTED, rows(3 + 0j), 0),
        (spaces.Box(0, 1, (2,)), rows([5.0, -3.0]), None),  # Box bounds are the game's to enforce (SB3 clips)
    ],
)
def test_first_invalid(space, batch, first_bad):
    assert first_invalid(space, batch) == first_bad


@pytest.mark.parametrize(
    "space, action",
    [(SHIFTED, 1.7), (SHIFTED, 7), (SHIFTED, float("nan")), (BUTTONS, [2] + [0] * 11), (BUTTONS, [-1] * 12),
     (PADS, [0, 0, 14]), (spaces.Dict({"b": BUTTONS}), {"b": [0.5] * 12}),
     (spaces.Tuple((SHIFTED, BUTTONS)), (3, [3] * 12))],
)  # fmt: skip
def test_check_action_refuses_values_the_cast_would_change(space, action):
    with pytest.raises(InvalidAction, match=r"^instance 3: expected an action of "):
        check_action(space, action, 3)


def test_check_action_passes_what_fits():
    assert check_action(SHIFTED, np.int64(6), 0) == 6
    assert check_action(SHIFTED, 4.0, 0) == 4
    assert check_action(BUTTONS, [True] * 12, 0).tolist() == [1] * 12
    assert check_action(spaces.Tuple((SHIFTED, PADS)), (2, [2, 2, 13]), 0)[1].tolist() == [2, 2, 13]


def test_integer_spaces_say_their_values():
    assert describe_space(BUTTONS) == "an int8 array of shape [12] of 0s and 1s (MultiBinary)"
    assert describe_space(PADS) == "an int64 array of shape [3] (MultiDiscrete(nvec=[3, 3, 14]))"
    assert describe_space(spaces.MultiDiscrete([3, 3], start=[1, 0])).endswith("(MultiDiscrete(nvec=[3, 3], start=[1, 0]))")
    assert describe_space(SHIFTED) == "an integer in [2, 6] (Discrete(5))"

"""2048's training options in real Chromium: the one-hot observation, the penalty for a move that
changes nothing, and the default limit on such moves in a row."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

import vecbridge

pytestmark = pytest.mark.browser

EMPTY_ROWS = [[0] * 4 for _ in range(3)]


def test_onehot_observation_penalty_and_default_invalid_move_limit():
    envs = vecbridge.make("vecbridge/2048-v0", num_envs=2, observation="onehot", invalid_move_penalty=3)
    try:
        assert envs.single_observation_space == spaces.Box(0, 1, (4, 4, 18), np.uint8)
        obs, _ = envs.reset(seed=3)
        assert obs.shape == (2, 4, 4, 18) and obs.dtype == np.uint8
        np.testing.assert_array_equal(obs.sum(axis=-1), np.ones((2, 4, 4)))  # one kind per cell
        for i, board in enumerate(envs.call("board")):  # the kind is log2 of the tile (0: empty)
            b = np.array(board)
            np.testing.assert_array_equal(obs[i].argmax(axis=-1), np.where(b > 0, np.log2(np.maximum(b, 1)), 0))

        # a merge: the score it gains, no penalty
        envs.call("set_board", [[2, 2, 0, 0], *EMPTY_ROWS], 0)
        obs, reward, terminated, truncated, info = envs.step(np.array([3, 3]))  # left: 2 + 2 -> 4
        np.testing.assert_array_equal(reward, [4, 4])
        assert info["moved"].all() and obs[:, 0, 0, 2].tolist() == [1, 1]

        # a move that changes nothing costs the penalty; the 50th in a row truncates (the default limit)
        envs.call("set_board", [[2, 4, 2, 4], *EMPTY_ROWS], 0)
        for k in range(1, 51):
            obs, reward, terminated, truncated, info = envs.step(np.array([0, 0]))  # up: nothing moves
            np.testing.assert_array_equal(reward, [-3, -3])
            assert not info["moved"].any() and not terminated.any()
            assert truncated.tolist() == [k == 50] * 2, k
    finally:
        envs.close()


def test_log2_stays_the_default_and_the_limit_can_be_switched_off():
    envs = vecbridge.make("vecbridge/2048-v0", num_envs=1, invalid_move_limit=0)
    try:
        assert envs.single_observation_space == spaces.Box(0, 17, (4, 4), np.uint8)
        envs.reset(seed=1)
        envs.call("set_board", [[2, 4, 2, 4], *EMPTY_ROWS], 0)
        for _ in range(60):
            _, reward, terminated, truncated, info = envs.step(np.array([0]))
            assert reward[0] == 0 and not info["moved"][0] and not truncated[0] and not terminated[0]
    finally:
        envs.close()

"""Max-pool and frame stack: per-instance memory, cleared at each new episode; stacks as Gymnasium's."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.wrappers import FrameStackObservation

from vecbridge.transforms import FrameStack, MaxPool, PreprocessError


def frame(value: int, shape=(2, 3, 1)) -> np.ndarray:
    return np.full(shape, value, dtype=np.uint8)


def feed(step, values: list[int], ids: list[int], new: list[bool], shape=(2, 3, 1)) -> np.ndarray:
    frames = np.stack([frame(v, shape) for v in values])
    out = np.zeros((len(ids), *step.output_shape(shape)), dtype=np.uint8)
    step.apply(frames, np.array(ids), np.array(new), out)
    return out


def stack_values(out_row: np.ndarray, c: int = 1) -> list[int]:
    """The frames of one stacked row, oldest first, by their (constant) value."""
    return [int(out_row[0, 0, k]) for k in range(0, out_row.shape[-1], c)]


# ---------------------------------------------------------------- max-pool
def test_maxpool_is_the_max_of_this_frame_and_the_previous_one():
    pool = MaxPool()
    first = np.array([[0, 9], [5, 1]], np.uint8)[..., None]
    second = np.array([[3, 2], [5, 8]], np.uint8)[..., None]
    out = np.zeros((1, 2, 2, 1), np.uint8)
    pool.apply(first[None], np.array([0]), np.array([True]), out)
    assert np.array_equal(out[0], first)  # a new episode's first frame is pooled with itself
    pool.apply(second[None], np.array([0]), np.array([False]), out)
    assert np.array_equal(out[0], np.maximum(first, second))


def test_maxpool_memory_is_per_instance_and_cleared_by_a_new_episode():
    pool = MaxPool()
    assert feed(pool, [10, 50], [0, 1], [True, True])[:, 0, 0, 0].tolist() == [10, 50]
    # different batch compositions and orders: each instance pools with its own previous frame
    assert feed(pool, [20], [1], [False])[:, 0, 0, 0].tolist() == [50]
    assert feed(pool, [5, 7], [1, 0], [False, False])[:, 0, 0, 0].tolist() == [20, 10]
    # a reset: the old episode's brighter frame must not leak into the new one
    assert feed(pool, [1, 3], [0, 1], [True, False])[:, 0, 0, 0].tolist() == [1, 5]
    assert feed(pool, [0], [0], [False])[:, 0, 0, 0].tolist() == [1]


def test_an_instance_seen_for_the_first_time_starts_an_episode():
    pool = MaxPool()
    feed(pool, [200], [0], [True])
    assert feed(pool, [4], [7], [False])[0, 0, 0, 0] == 4  # instance 7's memory is not row 0's, nor zeros


# ---------------------------------------------------------------- frame stack
def test_stack_pads_with_the_first_frame_and_shifts_in_new_ones():
    stack = FrameStack(4)
    assert stack.output_shape((2, 3, 1)) == (2, 3, 4)
    assert stack_values(feed(stack, [1], [0], [True])[0]) == [1, 1, 1, 1]
    assert stack_values(feed(stack, [2], [0], [False])[0]) == [1, 1, 1, 2]
    assert stack_values(feed(stack, [3], [0], [False])[0]) == [1, 1, 2, 3]
    assert stack_values(feed(stack, [4], [0], [False])[0]) == [1, 2, 3, 4]
    assert stack_values(feed(stack, [5], [0], [False])[0]) == [2, 3, 4, 5]
    assert stack_values(feed(stack, [9], [0], [True])[0]) == [9, 9, 9, 9]  # a reset clears the stack


def test_zero_padding():
    stack = FrameStack(3, padding="zero")
    assert stack_values(feed(stack, [7], [0], [True])[0]) == [0, 0, 7]
    assert stack_values(feed(stack, [8], [0], [False])[0]) == [0, 7, 8]
    assert stack_values(feed(stack, [6], [0], [True])[0]) == [0, 0, 6]


def test_stacks_are_per_instance_across_batches_in_any_order():
    stack = FrameStack(3)
    out = feed(stack, [10, 20, 30], [2, 0, 1], [True, True, True])
    assert [stack_values(r) for r in out] == [[10, 10, 10], [20, 20, 20], [30, 30, 30]]
    out = feed(stack, [21], [0], [False])
    assert stack_values(out[0]) == [20, 20, 21]
    out = feed(stack, [31, 11, 22], [1, 2, 0], [False, True, False])
    assert [stack_values(r) for r in out] == [[30, 30, 31], [11, 11, 11], [20, 21, 22]]


def test_colour_frames_stack_on_the_channel_axis_oldest_first():
    stack = FrameStack(2)
    rgb = np.stack([np.full((2, 2, 3), [1, 2, 3], np.uint8), np.full((2, 2, 3), [4, 5, 6], np.uint8)])
    out = np.zeros((1, 2, 2, 6), np.uint8)
    stack.apply(rgb[:1], np.array([0]), np.array([True]), out)
    stack.apply(rgb[1:], np.array([0]), np.array([False]), out)
    assert out[0, 0, 0].tolist() == [1, 2, 3, 4, 5, 6]


def test_bad_stack_arguments():
    with pytest.raises(PreprocessError, match="at least 1"):
        FrameStack(0)
    with pytest.raises(PreprocessError, match="unknown padding 'same'"):
        FrameStack(4, padding="same")


class Pictures(gym.Env):
    """A tiny image env: frame t of episode e is filled with 16 * e + t; episodes of 5 steps."""

    observation_space = spaces.Box(0, 255, (2, 2, 1), np.uint8)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode = getattr(self, "episode", -1) + 1
        self.t = 0
        return frame(16 * self.episode, (2, 2, 1)), {}

    def step(self, action):
        self.t += 1
        return frame(16 * self.episode + self.t, (2, 2, 1)), 0.0, self.t == 5, False, {}


@pytest.mark.parametrize("padding", ["reset", "zero"])
def test_stack_equals_gymnasiums_frame_stack_observation_over_episodes(padding):
    ref_env = FrameStackObservation(Pictures(), 4, padding_type=padding)
    raw_env, stack = Pictures(), FrameStack(4, padding)
    out = np.zeros((1, 2, 2, 4), np.uint8)
    for _ in range(3):
        ref, _ = ref_env.reset()
        raw, _ = raw_env.reset()
        stack.apply(raw[None], np.array([3]), np.array([True]), out)
        assert np.array_equal(np.moveaxis(ref[..., 0], 0, -1), out[0])  # theirs: (4, H, W, 1); ours: (H, W, 4)
        done = False
        while not done:
            ref, _, done, _, _ = ref_env.step(0)
            raw, *_ = raw_env.step(0)
            stack.apply(raw[None], np.array([3]), np.array([False]), out)
            assert np.array_equal(np.moveaxis(ref[..., 0], 0, -1), out[0])

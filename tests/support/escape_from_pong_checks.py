"""Checks shared by the two Escape from Pong backends' tests (FCEUX: test_fceux.py; Node/jsnes:
test_node_backend.py): the same game, so the same facts must hold under both."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import psutil
from gymnasium import spaces

import vecbridge

HOLD_DOWN_EVENTS = [(1, 1, 0, 3), (1, 2, 0, 3), (1, 3, 0, 3), (-1, 3, 1, 2), (-1, 3, 2, 1), (-1, 3, 3, 0)]


def children_running(marker: str) -> list[psutil.Process]:
    """This process's descendants whose command line contains ``marker``."""
    procs = []
    for p in psutil.Process().children(recursive=True):
        try:
            if marker in " ".join(p.cmdline()):
                procs.append(p)
        except psutil.Error:
            pass
    return procs


def check_random_play_is_deterministic_and_clean(
    game: str, marker: str, check_processes: Callable[[list[psutil.Process]], None] = lambda procs: None
) -> float:
    """1000 random steps of 2 instances, then 200 in a fresh launch with the same seed: the same trace.

    Also: 2 game processes (``marker`` in their command line) that ``close()`` ends, different
    starts for seeds 11 and 12, a moving ball. Returns the seconds the long run took.
    """
    actions = np.random.default_rng(0).integers(0, 9, size=(1000, 2))

    def run(n_steps):
        envs = vecbridge.make(game, num_envs=2, observation_type="value")
        try:
            assert envs.single_action_space == spaces.Discrete(9)
            assert envs.single_observation_space == spaces.Box(-np.inf, np.inf, (8,), np.float32)
            procs = children_running(marker)
            assert len(procs) == 2
            check_processes(procs)
            obs, _ = envs.reset(seed=11)
            trace, rewards = [obs], []
            for a in actions[:n_steps]:
                obs, reward, *_ = envs.step(a)
                assert obs.shape == (2, 8) and np.isfinite(obs).all()
                assert set(np.unique(reward)) <= {-1.0, 0.0, 1.0}
                trace.append(obs)
                rewards.append(reward)
            return np.stack(trace), np.stack(rewards), procs
        finally:
            envs.close()

    t0 = time.monotonic()
    long_trace, long_rewards, procs = run(1000)
    elapsed = time.monotonic() - t0
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs)  # close() ended them
    assert not np.array_equal(long_trace[:, 0], long_trace[:, 1])  # seeds 11 and 12: different starts
    assert len({row.tobytes() for row in long_trace[:, 0]}) > 100  # the ball moves
    short_trace, short_rewards, _ = run(200)  # a fresh launch, the same seed and actions
    np.testing.assert_array_equal(short_trace, long_trace[:201])
    np.testing.assert_array_equal(short_rewards, long_rewards[:200])
    return elapsed


def check_holding_down_escapes_three_levels_then_dies(env) -> int:
    """Holding Down (thrust up): levels 1-3 are escaped (+1 each), then level 4 kills the ball 3 times.

    The episode length is a RAM fact too: a second episode ends at the same step. Returns its length.
    """
    obs, info = env.reset(seed=0, options={"noops": 0})
    assert info == {"noops": 0, "levels": 0, "deaths": 0, "lives": 3, "level_ptr": 0x8385}
    assert obs[7] == 3  # lives
    events = []
    for step in range(400):
        obs, reward, terminated, truncated, info = env.step(2)
        if reward:
            events.append((reward, info["levels"], info["deaths"], info["lives"]))
        if terminated or truncated:
            break
    assert terminated and not truncated
    assert events == HOLD_DOWN_EVENTS
    assert info["level_ptr"] == 0x83A0 and obs[7] == 0  # level 4's script
    env.reset(seed=0, options={"noops": 0})
    for again in range(step + 1):
        *_, terminated, truncated, _ = env.step(2)
    assert terminated and again == step
    return step + 1


def check_ball_drawn_where_ram_says(env) -> np.ndarray:
    """observation_type="both": the screen shows the ball where RAM puts it, and render() is that screen.

    Returns the screen after 5 no-op steps from seed 1.
    """
    assert env.observation_space["image"] == spaces.Box(0, 255, (240, 256, 3), np.uint8)
    obs, _ = env.reset(seed=1)
    for _ in range(5):
        obs, *_ = env.step(0)
    img, value = obs["image"], obs["value"]
    # the ball: white pixels at about (2 * y + 2, 2 * x + 2) (RAM $18/$16 are in 2-pixel units)
    white = np.argwhere(img.sum(axis=2) > 600)
    near = white[(np.abs(white[:, 1] - (2 * value[0] + 2)) <= 4) & (np.abs(white[:, 0] - (2 * value[1] + 2)) <= 4)]
    assert len(near) > 0, (value[:2], white[:10])
    np.testing.assert_array_equal(env.render(), img)  # render() is the same frame
    return img

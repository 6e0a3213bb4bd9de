"""``vecbridge.make(..., preprocess=...)`` over real game processes: the declared space and the values."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import vecbridge
from vecbridge.transforms import Pipeline, PreprocessError

SPEC = "gray,resize=42x42,maxpool,stack=3"


def play(envs, steps: int = 12):
    """Reset (seed 0) and step with fixed actions; every observation and the final observations."""
    observations, finals = [envs.reset(seed=0)[0]], []
    for t in range(steps):
        obs, _, term, trunc, info = envs.step(np.array([t % 2, (t + 1) % 2]))
        observations.append(obs)
        if "final_obs" in info:
            finals += [info["final_obs"][i] for i in np.flatnonzero(info["_final_obs"])]
    return observations, finals


@pytest.mark.parametrize("backend", ["vecbridge", "vecbridge-worker", "gymnasium"])
@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_preprocessed_observations_equal_the_pipeline_on_the_raw_ones(backend, mode):
    """vecbridge's instance groups preprocess each batch (in this process, or in a worker
    process); Gymnasium's vector env is wrapped in this process. Both equal the reference."""
    kwargs = dict(num_envs=2, backend=backend, autoreset_mode=mode, episode_length=5)
    if backend == "vecbridge-worker":
        kwargs.update(backend="vecbridge", num_workers=1)
    envs = vecbridge.make("vecbridge/EchoImage-v0", preprocess=SPEC, **kwargs)
    try:
        assert envs.single_observation_space == gym.spaces.Box(0, 255, (42, 42, 3), np.uint8)
        assert envs.observation_space.shape == (2, 42, 42, 3)
        seen, finals = play(envs)
    finally:
        envs.close()
    raw_envs = vecbridge.make("vecbridge/EchoImage-v0", **kwargs)
    try:
        raw, raw_finals = play(raw_envs)
    finally:
        raw_envs.close()
    # the reference: the same pipeline applied here to the raw frames, episode starts worked out by hand
    pipeline, ids = Pipeline.parse(SPEC), np.arange(2)
    expected = [pipeline(raw[0], ids, True)]
    done_before = np.zeros(2, bool)
    finals_expected = []
    for t in range(1, len(raw)):
        done_now = raw[t][:, 0, 0, 0] == 0 if mode == "SameStep" else done_before  # Echo's counter restarts at 0
        if mode == "SameStep" and done_now.any():
            finished = np.flatnonzero(done_now)
            finals_expected += list(pipeline(np.stack([raw_finals.pop(0) for _ in finished]), finished, False))
        expected.append(pipeline(raw[t], ids, done_now))
        done_before = raw[t][:, 0, 0, 0] == 5
    for t, (got, want) in enumerate(zip(seen, expected)):
        assert np.array_equal(got, want), f"step {t}"
    assert len(finals) == len(finals_expected) == (4 if mode == "SameStep" else 0)
    for got, want in zip(finals, finals_expected):
        assert got.shape == (42, 42, 3) and np.array_equal(got, want)


def test_gymnasium_make_vec_takes_preprocess():
    envs = gym.make_vec("vecbridge/EchoImage-v0", num_envs=2, preprocess="resize=21,stack=2")
    try:
        obs, _ = envs.reset(seed=1)
        assert obs.shape == (2, 21, 21, 6) and obs.dtype == np.uint8
    finally:
        envs.close()


def test_the_gymnasium_backend_with_preprocessing_is_a_context_manager():
    with vecbridge.make("vecbridge/EchoImage-v0", 2, backend="gymnasium", preprocess="resize=21") as envs:
        obs, _ = envs.reset(seed=1)
        assert obs.shape == (2, 21, 21, 3)
    assert envs.env.closed  # (it raised TypeError before anything ran, after the instances had started)


def test_preprocessing_a_vector_observation_is_refused_and_leaves_nothing_behind():
    with pytest.raises(PreprocessError, match=r"image observation: Box uint8 of shape \(height, width, channels\)"):
        vecbridge.make("vecbridge/Echo-v0", num_envs=2, preprocess="gray")


def test_vecbridge_run_takes_preprocess(capsys):
    from vecbridge.cli import main

    assert main(["run", "vecbridge/EchoImage-v0", "-n", "2", "--seconds", "0.5", "--preprocess", "gray,resize=21,stack=2"]) == 0
    assert "observation Box(0, 255, (21, 21, 2), uint8)" in capsys.readouterr().out


def test_send_and_recv_return_preprocessed_observations_of_the_instances_that_answered():
    envs = vecbridge.make("vecbridge/EchoImage-v0", num_envs=3, preprocess="gray,stack=2")
    try:
        assert envs.raw_observation_space.shape == (84, 84, 3)
        obs, _ = envs.reset(seed=0)
        assert obs.shape == (3, 84, 84, 2)
        envs.send(np.array([1, 0]), env_ids=[2, 0])
        obs, rewards, term, trunc, info, ids = envs.recv()
        assert sorted(ids.tolist()) == [0, 2] and obs.shape == (2, 84, 84, 2) and obs.dtype == np.uint8
        assert not np.array_equal(obs[..., 0], obs[..., 1])  # the stack holds the reset frame and the step's
    finally:
        envs.close()


@pytest.mark.parametrize("preprocess", [None, "stack=3"])
@pytest.mark.parametrize("num_workers", [0, 1], ids=["in-process", "worker"])
def test_a_crashed_step_s_final_obs_in_same_step_is_the_observation_the_step_before_left(preprocess, num_workers):
    """The failed step made no frame: its final_obs is the last observation, not that frame stacked again."""
    envs = vecbridge.make("vecbridge/EchoImage-v0", num_envs=2, num_workers=num_workers, autoreset_mode="SameStep",
                          preprocess=preprocess, crash_instances=[1], crash_at_step=3)  # fmt: skip
    try:
        envs.reset(seed=0)
        before = None
        for _ in range(3):
            obs, _, _, truncated, info = envs.step(np.array([1, 1]))
            if "vecbridge_error" in info and info["_vecbridge_error"][1]:
                break
            before = obs[1].copy()
        assert truncated[1] and info["_final_obs"][1], info
        assert np.array_equal(info["final_obs"][1], before)  # NEXT_STEP keeps that same row
        assert obs[1][0, 0, 0] == 0  # and the new process's first observation follows
    finally:
        envs.close()

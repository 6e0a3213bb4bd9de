"""The examples run, and the CleanRL example treats NEXT_STEP reset steps correctly."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import torch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_cleanrl_gae_skips_reset_steps_and_bootstraps_truncations():
    gae = load_example("cleanrl_ppo").compute_gae
    # one instance, 4 steps: step 1 ends an episode, step 2 is the reset step NEXT_STEP inserts
    values = torch.tensor([[1.0], [2.0], [5.0], [3.0]])  # values[2] = V(final observation of the episode)
    rewards = torch.tensor([[1.0], [1.0], [0.0], [1.0]])
    dones = torch.tensor([[0.0], [1.0], [0.0], [0.0]])
    next_value = torch.tensor([4.0])
    for terminated, bootstrap in ((1.0, 0.0), (0.0, 5.0)):  # terminated: no bootstrap; truncated: V(final obs)
        terms = torch.tensor([[0.0], [terminated], [0.0], [0.0]])
        adv, ret = gae(rewards, values, terms, dones, next_value, gamma=0.5, lam=1.0)
        assert adv[1, 0].item() == pytest.approx(1.0 + 0.5 * bootstrap - 2.0)  # nothing of the reset step leaks in
        assert adv[0, 0].item() == pytest.approx(1.0 + 0.5 * 2.0 - 1.0 + 0.5 * adv[1, 0].item())
        assert adv[3, 0].item() == pytest.approx(1.0 + 0.5 * 4.0 - 3.0)
        torch.testing.assert_close(ret, adv + values)


@pytest.mark.slow
def test_cleanrl_example_runs():
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "cleanrl_ppo.py"), "--num-envs", "4", "--num-steps", "64",
         "--total-timesteps", "3072", "--log-every", "4"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = re.search(r"done: 3072 steps, (\d+) episodes, mean return of the last \d+: -?[\d.]+; (\d+) reset steps", proc.stdout)
    assert m, proc.stdout
    episodes, skipped = int(m.group(1)), int(m.group(2))
    # every episode end is followed by one reset step (unless it ends the last rollout), left out of the updates
    assert episodes == 4 * (768 // 70) and episodes - 4 <= skipped <= episodes


def test_the_minimal_processor_of_docs_games_runs_unchanged_on_fceux():
    """examples/processors/efp_minimal.lua (docs/games.md): gym-bizhawk v0.3 form, ROM from the processor."""
    import numpy as np

    import vecbridge
    from vecbridge.backends.fceux import fceux_spec

    envs = vecbridge.make(fceux_spec(str(EXAMPLES / "processors" / "efp_minimal.lua")), num_envs=2, frameskip=4)
    try:
        space = envs.single_observation_space
        assert (space.shape, space.dtype, int(space.low.min()), int(space.high.max())) == ((4,), np.int64, 0, 255)
        assert envs.single_action_space.n == 5
        envs.reset(seed=0)
        rewards = []
        for _ in range(400):
            obs, reward, terminated, truncated, _ = envs.step(envs.action_space.sample())
            assert obs.shape == (2, 4) and space.contains(obs[0])
            rewards += reward.tolist()
        assert set(rewards) <= {-1.0, 0.0, 1.0} and min(rewards) == -1.0  # random play loses balls
    finally:
        envs.close()


@pytest.mark.slow
@pytest.mark.ray
def test_rllib_example_trains_evaluates_and_writes_its_curve(tmp_path):
    """examples/rllib_ppo.py end to end on two local Ray nodes: training, the greedy evaluation
    (which once failed inside RLlib: its local env runner had no env), the CSV, plot and summary."""
    import json
    import os

    out = tmp_path / "out" / "catch"
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}  # LocalCluster's head fails with it
    env["HOME"] = str(tmp_path)  # RLlib writes ~/ray_results/<run>: keep it in the test's folder
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "rllib_ppo.py"), "vecbridge/Catch-v0", "--nodes", "2", "--envs-per-runner", "2",
         "--timesteps", "2048", "--batch", "512", "--minibatch", "64", "--epochs", "2", "--minutes", "3",
         "--eval-episodes", "2", "--normalize", "--out", str(out)],
        capture_output=True, text=True, timeout=400, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["timesteps"] >= 2048 and summary["settings"]["normalize"] is True
    assert summary["evaluation_greedy"]["num_episodes"] >= 2
    rows = out.with_suffix(".csv").read_text().splitlines()
    assert rows[0].startswith("iteration,timesteps") and len(rows) >= 1 + 2048 // 512
    assert out.with_suffix(".png").stat().st_size > 1000

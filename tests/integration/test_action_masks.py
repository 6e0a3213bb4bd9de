"""Action masks end to end: a game's allowed actions reach the user in the shared buffers
(``envs.action_masks()``), through the SB3 adapter to sb3-contrib's MaskablePPO, from a
Python game (tests/games/masked.py). A gym-bizhawk processor's ``getInvalidActions`` under
FCEUX and the BizHawk stand-in: tests/integration/test_gymbizhawk.py."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported

import vecbridge
from vecbridge.errors import VecBridgeError
from vecbridge.sb3 import VecBridgeSB3

GAMES = Path(__file__).resolve().parents[1] / "games"
MASKED = str(GAMES / "masked.py")


def masked_spec(**env: str) -> vecbridge.LaunchSpec:
    return vecbridge.LaunchSpec(command=["{python}", MASKED], env=env, name="Masked")


def expected(obs: np.ndarray) -> np.ndarray:
    """The game's rule: every action but obs[1]."""
    mask = np.ones((len(obs), 4), bool)
    mask[np.arange(len(obs)), obs[:, 1]] = False
    return mask


@pytest.mark.parametrize("num_workers", [0, 1])
@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_the_mask_goes_with_every_observation(num_workers, mode):
    envs = vecbridge.make(masked_spec(), num_envs=3, num_workers=num_workers, autoreset_mode=mode)
    try:
        obs, _ = envs.reset(seed=[0, 1, 2])
        masks = envs.action_masks()
        assert masks.dtype == np.bool_ and masks.shape == (3, 4)
        np.testing.assert_array_equal(masks, expected(obs))
        rng = np.random.default_rng(0)
        ends = 0
        for _ in range(20):  # past two episode ends of 8 steps: autoreset in both modes
            allowed = envs.action_masks()
            actions = np.array([rng.choice(np.flatnonzero(row)) for row in allowed])
            obs, rewards, terminated, _, infos = envs.step(actions)
            ends += int(terminated.sum())
            np.testing.assert_array_equal(envs.action_masks(), expected(obs))
            assert (rewards >= 0).all()  # a masked action would cost -1
        assert ends >= 3
        assert envs.get_attr("taken") == (0, 0, 0)  # the games counted no masked action
        copy = envs.action_masks()
        copy[:] = False  # a copy: the shared buffer is not the caller's to change
        assert envs.action_masks().any()
    finally:
        envs.close()


def test_a_game_without_a_mask_says_so():
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2, autoreset_mode="SameStep")
    try:
        with pytest.raises(AttributeError, match="sends no action mask"):
            envs.action_masks()
        assert not is_masking_supported(VecBridgeSB3(envs))
    finally:
        envs.close()


def test_maskable_ppo_trains_through_the_sb3_adapter_and_never_takes_a_masked_action():
    env = VecBridgeSB3(vecbridge.make(masked_spec(), num_envs=4, autoreset_mode="SameStep"))
    try:
        assert is_masking_supported(env)
        obs = env.reset()
        np.testing.assert_array_equal(get_action_masks(env), expected(obs))
        model = MaskablePPO("MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=2, seed=0, device="cpu")
        model.learn(512)
        assert env.get_attr("taken") == [0, 0, 0, 0]  # 512 steps, and not one masked action
        # and a policy that ignores the mask does take masked actions (the game counts them)
        for _ in range(16):
            env.step(np.zeros(4, np.int64))
        assert sum(env.get_attr("taken")) > 0
    finally:
        env.close()


def test_a_mask_of_the_wrong_length_is_reported_with_what_came():
    with pytest.raises(VecBridgeError, match=r"instance 0.*action_masks\(\).*4 entries.*got a bool array of shape \[3\]"):
        envs = vecbridge.make(masked_spec(MASKED_BAD="1"), num_envs=1)
        try:
            envs.reset(seed=0)
        finally:
            envs.close()


def test_train_with_maskable_ppo_then_eval_keeps_to_the_masks(tmp_path, monkeypatch):
    """``vecbridge train --algo maskable-ppo`` on a game of the user's (the ``--`` form), and the
    comparison after training: the trained policies never take a masked action (each costs -1,
    so every return is >= 0), while the uniformly random policy does."""
    import json

    from vecbridge.cli import main

    run = tmp_path / "run"
    argv = ["train", "-n", "2", "-t", "256", "--run-dir", str(run), "--algo", "maskable-ppo", "--eval-episodes", "4",
            "--ppo", "n_steps=64", "--ppo", "batch_size=64", "--ppo", "n_epochs=1", "--checkpoint-freq", "0",
            "--no-progress", "--torch-threads", "1", "--", sys.executable, MASKED]  # fmt: skip
    assert main(argv) == 0
    assert json.loads((run / "config.json").read_text())["algo"] == "maskable-ppo"
    data = json.loads((run / "eval.json").read_text())
    for policy in ("deterministic", "stochastic"):
        assert all(r >= 0 for r in data[policy]["returns"]), (policy, data[policy]["returns"])
    assert min(data["random"]["returns"]) < 0  # 4 episodes of 8 random moves: masked ones among them

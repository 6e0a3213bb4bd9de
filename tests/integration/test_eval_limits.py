"""``vecbridge eval`` always ends: the episode step limit, where it comes from, a line per episode; videos."""

from __future__ import annotations

import json
import re

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

import vecbridge.sb3.evaluate as evaluate_cmd
import vecbridge.sb3.train as train_cmd
from vecbridge.registry import max_episode_steps, registered_ids


def test_every_registered_game_has_a_step_limit():
    limits = {game: max_episode_steps(game) for game in registered_ids() if game.startswith("vecbridge/")}
    assert limits and all(isinstance(n, int) and n > 0 for n in limits.values()), limits
    assert limits["vecbridge/2048-v0"] > 0


def test_an_endless_episode_is_cut_by_the_registered_limit(capsys):
    # Echo with 100,000-step episodes: only the registered limit (1,000) ends them
    argv = ["vecbridge/Echo-v0", "--random", "--episodes", "2", "-n", "2", "-o", "episode_length=100000"]
    assert evaluate_cmd.main(argv) == 0
    out, err = capsys.readouterr()
    assert "episode step limit: 1000 steps (from the registration of vecbridge/Echo-v0)" in err
    assert len(re.findall(r"episode [12]/2 \(instance \d\): return [-\d.]+, 1000 steps \(cut by the step limit\)", err)) == 2
    assert "2 episodes, random policy" in out and "2 cut by the 1000-step limit" in out


def test_the_command_line_limit_wins_and_zero_means_none(capsys):
    argv = ["vecbridge/Echo-v0", "--random", "--episodes", "1", "-n", "1", "-o", "episode_length=30",
            "--max-episode-steps", "7"]  # fmt: skip
    assert evaluate_cmd.main(argv) == 0
    out, err = capsys.readouterr()
    assert "episode step limit: 7 steps (from --max-episode-steps)" in err and "mean length 7.0" in out
    assert evaluate_cmd.main([*argv[:-1], "0"]) == 0
    out, err = capsys.readouterr()
    assert "episode step limit: none" in err and "mean length 30.0" in out


@pytest.mark.slow
def test_a_run_records_its_limit_and_preprocessing_and_eval_shows_what_the_policy_sees(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["vecbridge/EchoImage-v0", "-n", "2", "-t", "128", "--run-dir", str(run_dir), "-o", "episode_length=12",
            "--preprocess", "gray,resize=42x42,stack=3", "--max-episode-steps", "10", "--ppo", "n_steps=64",
            "--ppo", "batch_size=64", "--ppo", "n_epochs=1", "--checkpoint-freq", "0", "--no-progress",
            "--torch-threads", "1"]  # fmt: skip
    assert train_cmd.main(argv) == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["preprocess"] == "gray,resize=42x42,stack=3" and config["max_episode_steps"] == 10
    assert config["frame_stack"] == 1  # the pipeline stacks; SB3's VecFrameStack does not stack again
    capsys.readouterr()
    argv = ["vecbridge/EchoImage-v0", "--model", str(run_dir / "model.zip"), "--episodes", "2", "-n", "2",
            "--video", str(tmp_path / "ep.mp4"), "--policy-view", str(tmp_path / "seen.png"),
            "--frames", str(tmp_path / "frames")]  # fmt: skip
    assert evaluate_cmd.main(argv) == 0
    out, err = capsys.readouterr()
    assert "episode step limit: 10 steps (from the training run's config.json)" in err
    assert "preprocessing: gray,resize=42x42,stack=3" in err and "mean length 10.0" in out
    assert len(imageio.mimread(tmp_path / "ep.mp4")) == 10  # the game's own frames, one per step
    assert len(list((tmp_path / "frames").glob("frame_*.png"))) == 10
    with Image.open(tmp_path / "seen.png") as image:
        grid = np.asarray(image)
    # 8 moments of 10, each a row of 3 grey frames of 42x42 shown at 4x (168 pixels), 2-pixel gaps
    assert grid.shape == (2 + 8 * 170, 2 + 3 * 170)
    # the Python API finds the run's config.json beside the model too (it used to evaluate the raw
    # frames and stop: "the model expects observations of shape (3, 42, 42), which is no stack ...")
    from vecbridge.sb3.evaluate import evaluate

    result = evaluate("vecbridge/EchoImage-v0", model=run_dir / "model.zip", episodes=2, num_envs=2)
    assert result.lengths == [10, 10], result
    # copied away from its run folder, the model's pipeline is unknown: the error says what to give
    alone = tmp_path / "alone" / "model.zip"
    alone.parent.mkdir()
    alone.write_bytes((run_dir / "model.zip").read_bytes())
    with pytest.raises(SystemExit, match=r"the game gives Box\(0, 255, \(3, 84, 84\), uint8\) after wrapping \(no "
                                         r"config.json of its run beside the model: give the run's --preprocess\)"):
        evaluate("vecbridge/EchoImage-v0", model=alone, episodes=1, num_envs=1)
    # in its run folder but evaluated on another game: the hint says that, not "no config.json"
    with pytest.raises(SystemExit, match=r"\(its run trained on another game: see the note above\)$"):
        evaluate("vecbridge/Echo-v0", model=run_dir / "model.zip", episodes=1, num_envs=1)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(1200)  # Chromium and 3 x 2,000 moves: about a minute on a quiet 2-core machine
def test_a_deterministic_2048_policy_that_gets_stuck_still_ends(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["vecbridge/2048-v0", "--num-envs", "2", "--timesteps", "2048", "--run-dir", str(run_dir),
            "--checkpoint-freq", "0", "--no-progress", "--no-tensorboard"]  # fmt: skip
    assert train_cmd.main(argv) == 0
    capsys.readouterr()
    argv = ["vecbridge/2048-v0", "--model", str(run_dir / "model.zip"), "--episodes", "3", "--deterministic"]
    assert evaluate_cmd.main(argv) == 0
    out, err = capsys.readouterr()
    assert "episode step limit: 2000 steps (from the training run's config.json)" in err
    assert len(re.findall(r"episode [123]/3 \(instance \d\): return", err)) == 3
    assert "3 episodes, deterministic policy" in out

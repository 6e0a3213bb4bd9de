"""``vecbridge train`` and ``vecbridge eval``: the files a run writes, resuming, evaluation output."""

from __future__ import annotations

import argparse
import json
import re

import pytest


import vecbridge.sb3.evaluate as evaluate_cmd  # noqa: E402
import vecbridge.sb3.train as train_cmd  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL_PPO = ["--ppo", "n_steps=256", "--ppo", "batch_size=128", "--ppo", "n_epochs=2"]
QUIET = ["--torch-threads", "1"]


def only_run(runs_dir):
    runs = [p for p in runs_dir.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def assert_png(path):
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()


def eval_line(text):
    m = re.search(r"(\d+) episodes?, (deterministic|stochastic|random) .*return mean (-?[\d.]+) ± std ([\d.]+)", text)
    assert m, text
    return int(m.group(1)), float(m.group(3)), float(m.group(4))


def eval_range(text):
    """(min, max) of the returns on the eval line."""
    m = re.search(r"\(min (-?[\d.e+]+), max (-?[\d.e+]+), mean length", text)
    assert m, text
    return float(m.group(1)), float(m.group(2))


def check_catch_returns(text, count):
    """A Catch return is 2 * caught - 10 (10 balls, +1 a catch, -1 a miss): an even integer in [-10, 10].
    The mean, min and max printed must come from such returns; for 3 returns they fix the std too."""
    n, mean, std = eval_line(text)
    low, high = eval_range(text)
    assert n == count
    for value in (low, high):
        assert value == int(value) and int(value) % 2 == 0 and -10 <= value <= 10, text
    total = round(mean * n)
    assert abs(mean * n - total) < 0.01 * n and total % 2 == 0 and low <= mean <= high, text
    if n == 3:
        middle = total - low - high
        assert low <= middle <= high and middle % 2 == 0, text
        spread = ((low - mean) ** 2 + (middle - mean) ** 2 + (high - mean) ** 2) / 3
        assert std == pytest.approx(spread**0.5, abs=0.001), text
    return mean


@pytest.mark.slow
def test_train_writes_a_run_resumes_and_evaluates(tmp_path, capsys):
    from stable_baselines3 import PPO

    runs = tmp_path / "runs"
    argv = ["vecbridge/Catch-v0", "--num-envs", "2", "--timesteps", "2048", "--runs-dir", str(runs),
            "--checkpoint-freq", "1024", *SMALL_PPO, *QUIET]  # fmt: skip
    assert train_cmd.main(argv) == 0
    out, err = capsys.readouterr()
    assert "steps/s" in err and "return" in err  # the live progress bar (tqdm, on stderr)
    run = only_run(runs)
    assert re.fullmatch(r"Catch-v0-\d{8}-\d{6}", run.name)
    assert str(run) in out
    for name in ("model.zip", "config.json", "progress.csv", "checkpoints/rl_model_1024_steps.zip",
                 "checkpoints/rl_model_2048_steps.zip"):  # fmt: skip
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert_png(run / "learning_curve.png")
    config = json.loads((run / "config.json").read_text())
    assert config["game"] == "vecbridge/Catch-v0" and config["policy"] == "MlpPolicy"
    assert config["ppo"]["n_steps"] == 256 and config["num_envs"] == 2
    assert config["torch_threads"] == 1  # an MLP on the CPU: one thread, the games need the cores
    rows = (run / "progress.csv").read_text().splitlines()
    assert rows[0] == "timesteps,episode_return,episode_length,wall_time_s"
    assert len(rows) - 1 == 2 * (1024 // 70)  # each instance: 1024 steps, 14 episodes of 70 steps
    assert all(int(r.split(",")[2]) == 70 for r in rows[1:])

    # resume from the first checkpoint: --timesteps is the total to reach
    argv = ["vecbridge/Catch-v0", "--num-envs", "2", "--timesteps", "3072", "--runs-dir", str(runs),
            "--checkpoint-freq", "1024", "--resume", str(run / "checkpoints" / "rl_model_1024_steps.zip"),
            "--no-progress", *QUIET]  # fmt: skip
    assert train_cmd.main(argv) == 0
    out, _ = capsys.readouterr()
    assert "resuming from" in out and "at 1024 steps" in out
    assert only_run(runs) == run  # continues in the checkpoint's run folder
    assert (run / "checkpoints" / "rl_model_3072_steps.zip").is_file()
    assert PPO.load(run / "model.zip", device="cpu").num_timesteps == 3072
    config = json.loads((run / "config.json").read_text())
    assert config["resumed_from"][-1].endswith("rl_model_1024_steps.zip") and config["ppo"]["n_steps"] == 256
    assert len((run / "progress.csv").read_text().splitlines()) > len(rows)  # appended, not replaced

    frames = tmp_path / "frames"
    argv = ["vecbridge/Catch-v0", "--model", str(run / "model.zip"), "--episodes", "3", "--deterministic",
            "--frames", str(frames), "--video", str(tmp_path / "episode.gif")]  # fmt: skip
    assert evaluate_cmd.main(argv) == 0
    out, _ = capsys.readouterr()
    assert "deterministic" in out
    check_catch_returns(out, 3)
    assert evaluate_cmd.main(argv[:6]) == 0  # the same seed and model, deterministic: the same episodes
    assert eval_line(capsys.readouterr().out) == eval_line(out)
    pngs = sorted(frames.glob("*.png"))
    assert len(pngs) == 70  # one Catch episode: 70 steps
    assert_png(pngs[0])
    assert (tmp_path / "episode.gif").read_bytes()[:6] == b"GIF89a"

    assert evaluate_cmd.main(["vecbridge/Catch-v0", "--random", "--episodes", "4", "--num-envs", "2"]) == 0
    out = capsys.readouterr().out
    assert "random policy" in out and check_catch_returns(out, 4) < 10


@pytest.mark.slow
def test_config_file_and_command_line_overrides(tmp_path, capsys):
    from stable_baselines3 import PPO

    config = tmp_path / "ppo.json"
    config.write_text(json.dumps({"n_steps": 128, "gamma": 0.9, "policy_kwargs": {"net_arch": [16], "activation_fn": "relu"}}))
    run_dir = tmp_path / "exact"
    argv = ["vecbridge/Catch-v0", "-n", "2", "-t", "256", "--run-dir", str(run_dir), "--config", str(config),
            "--ppo", "gamma=0.95", "--ppo", "batch_size=64", "--checkpoint-freq", "0", "--no-progress",
            "--no-tensorboard", *QUIET]  # fmt: skip
    assert train_cmd.main(argv) == 0
    model = PPO.load(run_dir / "model.zip", device="cpu")
    assert (model.n_steps, model.gamma, model.batch_size) == (128, 0.95, 64)
    assert model.policy.net_arch == [16] and model.policy.activation_fn.__name__ == "ReLU"
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "tensorboard").exists()
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["ppo"]["gamma"] == 0.95 and saved["ppo"]["policy_kwargs"]["activation_fn"] == "relu"
    with pytest.raises(SystemExit, match="unknown PPO hyperparameter"):
        train_cmd.main(["vecbridge/Catch-v0", "--run-dir", str(tmp_path / "x"), "--ppo", "n_step=3"])


@pytest.mark.slow
def test_image_game_trains_a_cnn_on_stacked_frames(tmp_path, capsys):
    from stable_baselines3 import PPO

    run_dir = tmp_path / "img"
    argv = ["vecbridge/EchoImage-v0", "-n", "2", "-t", "128", "--run-dir", str(run_dir), "-o", "episode_length=10",
            "--ppo", "n_steps=64", "--ppo", "batch_size=64", "--ppo", "n_epochs=1", "--checkpoint-freq", "0",
            "--ppo", 'policy_kwargs={"features_extractor_class": "small"}', "--no-progress", *QUIET]  # fmt: skip
    with pytest.raises(SystemExit, match="--normalize is for vector observations"):
        train_cmd.main([*argv, "--normalize"])
    assert train_cmd.main([*argv, "--normalize-reward"]) == 0
    assert "CnnPolicy" in capsys.readouterr().out
    model = PPO.load(run_dir / "model.zip", device="cpu")
    assert model.observation_space.shape == (12, 84, 84)  # 4 frames, channels first
    assert type(model.policy.features_extractor).__name__ == "SmallCNN"  # named in config.json, found again on load
    config = json.loads((run_dir / "config.json").read_text())
    assert config["ppo"]["policy_kwargs"] == {"features_extractor_class": "small"} and config["normalize"] == "reward"
    import pickle

    with open(run_dir / "vecnormalize.pkl", "rb") as f:
        stats = pickle.load(f)
    assert not stats.norm_obs and stats.norm_reward and stats.ret_rms.count > 100  # the rewards alone
    argv = ["vecbridge/EchoImage-v0", "--model", str(run_dir / "model.zip"), "--episodes", "2", "-n", "2",
            "-o", "episode_length=10"]  # fmt: skip
    assert evaluate_cmd.main(argv) == 0
    out = capsys.readouterr().out
    assert "observations normalized" not in out  # rewards alone: the frames go to the CNN as they are
    count, mean, std = eval_line(out)
    low, high = eval_range(out)
    # Echo's reward: 1 when the action equals t % 2, else 0: a return is an integer in [0, 10]
    assert count == 2 and "mean length 10.0" in out
    assert low == int(low) and high == int(high) and 0 <= low <= high <= 10
    assert mean == pytest.approx((low + high) / 2) and std == pytest.approx((high - low) / 2, abs=1e-3)


def test_parsers_plug_into_a_subcommand_group():
    parser = argparse.ArgumentParser(prog="vecbridge")
    sub = parser.add_subparsers(dest="cmd", required=True)
    train_cmd.add_parser(sub)
    evaluate_cmd.add_parser(sub)
    args = parser.parse_args(["train", "vecbridge/2048-v0", "--num-envs", "8", "--timesteps", "200000", "--ppo", "ent_coef=0.01"])
    assert (args.func, args.num_envs, args.timesteps, args.ppo) == (train_cmd.run_cli, 8, 200000, ["ent_coef=0.01"])
    args = parser.parse_args(["eval", "vecbridge/2048-v0", "--model", "runs/x/model.zip", "--episodes", "20", "--deterministic"])
    assert (args.func, args.episodes, args.deterministic) == (evaluate_cmd.run_cli, 20, True)


def test_vecbridge_command_line_has_train_and_eval():
    from vecbridge import cli

    choices = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert "train" in choices and "eval" in choices


@pytest.mark.slow
def test_normalize_statistics_travel_with_checkpoints(tmp_path, capsys):
    run_dir = tmp_path / "norm"
    common = ["vecbridge/Catch-v0", "-n", "2", "--run-dir", str(run_dir), "--normalize", "--checkpoint-freq", "256",
              "--no-progress", "--no-tensorboard", "-o", "balls=2", "--max-episode-steps", "10", *QUIET]  # fmt: skip
    assert train_cmd.main([*common, "-t", "512", "--ppo", "n_steps=128", "--ppo", "batch_size=64"]) == 0
    assert (run_dir / "vecnormalize.pkl").is_file()
    assert (run_dir / "checkpoints" / "rl_model_vecnormalize_256_steps.pkl").is_file()
    from vecbridge.sb3.common import vecnormalize_for

    assert vecnormalize_for(run_dir / "model.zip") == run_dir / "vecnormalize.pkl"
    ckpt = run_dir / "checkpoints" / "rl_model_256_steps.zip"
    assert vecnormalize_for(ckpt) == run_dir / "checkpoints" / "rl_model_vecnormalize_256_steps.pkl"
    rows = (run_dir / "progress.csv").read_text().splitlines()[1:]
    assert rows and all(int(r.split(",")[2]) == 10 for r in rows)  # every episode cut at --max-episode-steps
    first_count = observations_counted(run_dir / "vecnormalize.pkl")
    ckpt_count = observations_counted(run_dir / "checkpoints" / "rl_model_vecnormalize_256_steps.pkl")
    assert 512 <= first_count < 600 and 256 <= ckpt_count < first_count  # 2 instances x 256 (x 128) steps
    resume = ["--resume", str(run_dir / "checkpoints" / "rl_model_256_steps.zip")]
    assert train_cmd.main([*common, "-t", "768", *resume]) == 0
    assert json.loads((run_dir / "config.json").read_text())["normalize"] is True
    # the resumed run went on from the checkpoint's statistics: its count grew from there (768 - 256 steps more)
    assert observations_counted(run_dir / "vecnormalize.pkl") == pytest.approx(ckpt_count + 512, abs=8)
    capsys.readouterr()
    # eval picks up the statistics and the run's game options and time limit from config.json
    assert evaluate_cmd.main(["vecbridge/Catch-v0", "--model", str(run_dir / "model.zip"), "--episodes", "2", "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert eval_line(out)[0] == 2 and "mean length 10.0" in out
    assert f"observations normalized with the statistics in {run_dir / 'vecnormalize.pkl'}" in out
    assert evaluate_cmd.main(["vecbridge/Catch-v0", "--model", str(ckpt), "--episodes", "2", "-n", "2"]) == 0
    assert f"the statistics in {run_dir / 'checkpoints' / 'rl_model_vecnormalize_256_steps.pkl'}" in capsys.readouterr().out


def observations_counted(path):
    """How many observations a saved VecNormalize's running statistics have seen."""
    import pickle

    with open(path, "rb") as f:
        return float(pickle.load(f).obs_rms.count)

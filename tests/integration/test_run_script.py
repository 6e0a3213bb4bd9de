"""scripts/run.sh: the main job's command line (printed with VECBRIDGE_RUN_DRY=1, parsed by `vecbridge train`'s own parser)."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
from pathlib import Path

import pytest

import vecbridge.sb3.train as train_cmd

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "run.sh"


def train_args(*extra: str) -> argparse.Namespace:
    out = subprocess.run([str(SCRIPT), *extra], env={**os.environ, "VECBRIDGE_RUN_DRY": "1"}, capture_output=True,
                         text=True, check=True, timeout=60).stdout  # fmt: skip
    words = shlex.split(out)
    assert words[:2] == [".venv/bin/vecbridge", "train"], out
    parser = argparse.ArgumentParser(prog="vecbridge")
    train_cmd.add_parser(parser.add_subparsers(dest="cmd", required=True))
    return parser.parse_args(words[1:])


def test_the_main_job_is_escape_from_pong_on_8_instances_evaluated_against_random():
    args = train_args()
    assert args.game == "vecbridge/EscapeFromPong-v0" and args.num_envs == 8
    assert args.eval_episodes > 0 and args.max_episode_steps > 0
    assert "observation_type=value" in args.option


def test_catch_stays_a_quick_option_and_extra_arguments_reach_train():
    args = train_args("--game", "catch", "--timesteps", "1000", "--seed", "3")
    assert args.game == "vecbridge/Catch-v0" and args.timesteps == 1000 and args.seed == 3
    assert train_args("--game=catch").game == "vecbridge/Catch-v0"
    assert train_args("--timesteps", "5").timesteps == 5  # later arguments win


def test_an_unknown_game_is_refused():
    result = subprocess.run([str(SCRIPT), "--game", "tetris"], env={**os.environ, "VECBRIDGE_RUN_DRY": "1"},
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2 and "unknown game 'tetris' (pong or catch)" in result.stderr
    with pytest.raises(subprocess.CalledProcessError):
        train_args("--game")

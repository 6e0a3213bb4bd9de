"""``vecbridge bench`` runs, writes valid JSON and a real PNG, and accounts processes correctly.

No test here asserts a speed: speed belongs in the benchmark (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import io
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import vecbridge

from vecbridge.bench import add_parser, run_bench
from vecbridge.bench.measure import CaseConfig, run_case
from vecbridge.bench.report import format_tables
from vecbridge.bench.runners import RUNNERS, FloorRunner, Runner, RunnerUnavailable

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RESULT_KEYS = {"env", "runner", "num_envs", "steps_per_s", "runs", "cpu_s_per_step", "rss_bytes"}


VECBRIDGE = str(Path(sys.executable).with_name("vecbridge"))  # the installed command, as a user runs it


def bench(*args: str, cwd, timeout: float = 280) -> subprocess.CompletedProcess:
    return subprocess.run([VECBRIDGE, "bench", "--no-progress", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)  # fmt: skip


def test_bench_writes_valid_json_a_png_and_a_table(tmp_path):
    out_json, out_png = tmp_path / "out.json", tmp_path / "out.png"
    runners = ["floor", "vecbridge", "gymnasium-sync"]
    proc = bench(
        "--env", "vecbridge/Echo-v0", "--num-envs", "1,2", "--runners", ",".join(runners),
        "--seconds", "0.3", "--repeat", "1", "--json", str(out_json), "--plot", str(out_png), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr

    report = json.loads(out_json.read_text())
    machine = report["machine"]
    assert machine["cores_logical"] == os.cpu_count()
    assert machine["memory_bytes"] > 0
    assert machine["versions"]["vecbridge"] and machine["versions"]["gymnasium"]
    results = report["results"]
    assert sorted((r["runner"], r["num_envs"]) for r in results) == sorted((r, n) for r in runners for n in (1, 2))
    for r in results:
        assert RESULT_KEYS <= r.keys(), r
        assert r["error"] is None, r
        assert r["env"] == "vecbridge/Echo-v0"
        assert r["interleaved"] is True  # --interleave auto: 3 runners of at most 2 instances take turns
        assert isinstance(r["steps_per_s"], float) and r["steps_per_s"] > 0 and math.isfinite(r["steps_per_s"])
        assert len(r["runs"]) == 1 and r["runs"][0] == r["steps_per_s"]
        assert r["cpu_s_per_step"] > 0
        assert isinstance(r["rss_bytes"], int) and r["rss_bytes"] > 10 * 2**20
        assert r["num_game_processes"] == r["num_envs"]  # the games were found, and not counted as the runner's
    vb = {r["num_envs"]: r for r in results if r["runner"] == "vecbridge"}
    from vecbridge.vector.vector_env import default_num_workers

    assert vb[1]["settings"]["num_workers"] == default_num_workers(1)  # the vector env's own default layout

    data = out_png.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000
    import matplotlib.image

    image = matplotlib.image.imread(str(out_png))
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200

    ratios = {(x["runner"], x["num_envs"]): x for x in report["ratios"]}
    assert sorted(ratios) == sorted((r, n) for r in ("floor", "gymnasium-sync") for n in (1, 2))
    for (runner, n), x in ratios.items():  # interleaved runs: the ratio pairs them run by run
        assert x["paired"] and x["ratio"] == pytest.approx(vb[n]["runs"][0] / next(
            r["runs"][0] for r in results if r["runner"] == runner and r["num_envs"] == n), rel=1e-3)
    assert "vecbridge / floor" in proc.stdout and "vecbridge / gymnasium-sync" in proc.stdout
    for name in runners:
        assert name in proc.stdout
    assert "N=1" in proc.stdout and "N=2" in proc.stdout and "steps per second" in proc.stdout


def test_bench_async_runner_takes_options_and_a_batch_fraction(tmp_path):
    out_json = tmp_path / "s.json"
    proc = bench(
        "--num-envs", "2", "--runners", "vecbridge-async", "--batch-size", "0.5", "--seconds", "0.3", "--repeat", "1",
        "--option", "slow_instances=[0]", "--option", "delay_s=0.0005", "--json", str(out_json), "--interleave", "off",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out_json.read_text())
    (r,) = report["results"]
    assert r["error"] is None, r
    assert r["interleaved"] is False and report["config"]["interleave"] == "off"
    assert r["settings"]["batch_size"] == 1
    assert r["options"] == {"slow_instances": [0], "delay_s": 0.0005}
    assert r["steps_per_s"] > 0


def test_bench_refuses_unknown_runners_and_games(tmp_path):
    proc = bench("--runners", "vecbridge,nonesuch", "--seconds", "0.1", cwd=tmp_path)
    assert proc.returncode == 2 and "nonesuch" in proc.stderr
    proc = bench("--env", "vecbridge/NoSuchGame-v0", "--seconds", "0.1", cwd=tmp_path)
    assert proc.returncode == 2 and "no game 'vecbridge/NoSuchGame-v0'" in proc.stderr
    proc = bench("--interleave", "sometimes", cwd=tmp_path)
    assert proc.returncode == 2 and "--interleave" in proc.stderr


def test_a_python_game_made_from_a_lambda_is_benchmarked_like_any_game():
    """run_bench with a LaunchSpec: it travels to each case's process as JSON, pickled constructor included."""
    spec = vecbridge.python_game(lambda: gym.make("CartPole-v1"), name="CartPole-lambda")
    out = io.StringIO()
    report = run_bench([spec], counts=[2], runners=["vecbridge", "floor"], seconds=0.2, repeat=1, warmup=0.1,
                       progress=False, out=out)  # fmt: skip
    for r in report["results"]:
        assert r["env"] == "CartPole-lambda" and r["error"] is None and r["steps_per_s"] > 0, r
        assert r["num_game_processes"] == 2
    assert "CartPole-lambda" in out.getvalue() and report["config"]["envs"] == ["CartPole-lambda"]


class _Missing(Runner):
    name = "missing-lib"

    @classmethod
    def check_available(cls) -> None:
        raise RunnerUnavailable("libfoo is not installed")


def test_an_unavailable_runner_is_reported_not_raised(monkeypatch):
    monkeypatch.setitem(RUNNERS, "missing-lib", _Missing)
    result = run_case(CaseConfig(runner="missing-lib", env="vecbridge/Echo-v0", num_envs=2, seconds=0.1, repeat=1))
    assert result["steps_per_s"] is None and result["runs"] == []
    assert result["error"].startswith("unavailable") and "libfoo" in result["error"]
    json.dumps(result, allow_nan=False)
    table = format_tables([result])
    assert "missing-lib" in table and "libfoo" in table


def test_the_runners_own_processes_exclude_the_games():
    from vecbridge.bench import procs

    runner = FloorRunner("vecbridge/Echo-v0", 3, {})
    runner.start()
    try:
        sets = procs.classify()
        game_pids = {inst.process.pid for inst in runner.insts}
        assert {p.pid for p in sets.games} == game_pids
        own = {p.pid for p in sets.own}
        assert os.getpid() in own and not own & game_pids
        assert runner.run.reaper.pid not in {p.pid for p in sets.games}  # the reaper is vecbridge's, not a game
        runner.step()
    finally:
        runner.close()


def test_add_parser_takes_the_documented_interface():
    parser = argparse.ArgumentParser(prog="vecbridge")
    sub = parser.add_subparsers(dest="cmd", required=True)
    add_parser(sub)
    args = parser.parse_args(
        "bench --env vecbridge/Echo-v0 --num-envs 1,2,4,8,16 --runners vecbridge,gymnasium-async,gymnasium-sync,"
        "sb3-subproc,floor --seconds 5 --repeat 3 --json out.json --plot out.png".split()
    )
    assert args.env == ["vecbridge/Echo-v0"] and args.num_envs == [1, 2, 4, 8, 16]
    assert args.runners == ["vecbridge", "gymnasium-async", "gymnasium-sync", "sb3-subproc", "floor"]
    assert (args.seconds, args.repeat, args.json, args.plot) == (5.0, 3, "out.json", "out.png")
    assert args.func.__name__ == "cmd_bench"
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "--num-envs", "0,2"])


def test_interleaved_cases_take_turns_run_by_run():
    from vecbridge.bench.schedule import run_interleaved

    configs = [
        CaseConfig(runner=r, env="vecbridge/Echo-v0", num_envs=2, seconds=0.2, repeat=3, warmup=0.1)
        for r in ("floor", "no-such-runner", "vecbridge")
    ]
    order: list[tuple[int, int]] = []
    results = run_interleaved(configs, lambda k, e: order.append((k, e["k"])) if e["event"] == "run" else None)
    # every run of one round before any run of the next round: case 0, then case 2, round by round
    assert order == [(0, 0), (2, 0), (0, 1), (2, 1), (0, 2), (2, 2)]
    floor, missing, vb = results
    assert floor["error"] is None and vb["error"] is None and len(floor["runs"]) == len(vb["runs"]) == 3
    assert "unknown runner" in missing["error"]  # a case that cannot start does not hold up the others


def test_a_sequential_case_runs_whole():
    from vecbridge.bench.schedule import run_sequential, should_interleave

    events: list[str] = []
    result = run_sequential(
        CaseConfig(runner="floor", env="vecbridge/Echo-v0", num_envs=1, seconds=0.1, repeat=2, warmup=0.1),
        lambda e: events.append(e["event"]),
    )
    assert result["error"] is None and len(result["runs"]) == 2
    assert events == ["started", "warmed", "run", "run"]
    assert should_interleave("auto", ["floor", "vecbridge"], 32) and not should_interleave("auto", ["floor"] * 5, 16)
    assert not should_interleave("off", ["floor", "vecbridge"], 1) and should_interleave("on", ["floor"], 512)


@pytest.mark.parametrize("env_id", ["vecbridge/EscapeFromPong-v0", "vecbridge/EscapeFromPongJS-v0"])
def test_the_raw_runner_steps_the_emulator_in_its_own_loop(env_id):
    """The raw runner (no vecbridge): two instances step in batches, count as games, and leave nothing behind."""
    from vecbridge.bench import procs
    from vecbridge.bench.raw import BATCH, RawRunner

    runner = RawRunner(env_id, 2, {"observation_type": "image"})
    runner.start()
    try:
        assert runner.step() == 2 * BATCH and runner.step() == 2 * BATCH
        sets = procs.classify()
        assert {p.pid for p in runner.procs} <= {p.pid for p in sets.games}
        assert os.getpid() in {p.pid for p in sets.own}
    finally:
        runner.close()
    assert all(p.poll() is not None for p in runner.procs) and not runner.dir.exists()


def test_the_raw_runner_is_unavailable_for_other_games():
    result = run_case(CaseConfig(runner="raw", env="vecbridge/Echo-v0", num_envs=1, seconds=0.1, repeat=1))
    assert result["error"].startswith("unavailable") and "no raw loop for vecbridge/Echo-v0" in result["error"]


def test_a_game_a_module_registers_and_a_dict_observation_are_benchmarked(tmp_path):
    # docs/games.md's MODULE:ENV_ID form (the cases ran where the module was never imported: UnregisteredEnv),
    # and floor on a Dict observation (it raised "Value after * must be an iterable"): unavailable, said so
    (tmp_path / "my_games.py").write_text(
        "import gymnasium as gym, numpy as np, vecbridge\n"
        "class Walk(gym.Env):\n"
        "    observation_space = gym.spaces.Dict({'x': gym.spaces.Box(-9, 9, (1,), np.float32)})\n"
        "    action_space = gym.spaces.Discrete(2)\n"
        "    def reset(self, *, seed=None, options=None):\n"
        "        self.t = 0\n"
        "        return {'x': np.zeros(1, np.float32)}, {}\n"
        "    def step(self, action):\n"
        "        self.t += 1\n"
        "        return {'x': np.full(1, self.t % 9, np.float32)}, 1.0, self.t >= 5, False, {}\n"
        "vecbridge.register('Walk-v0', lambda: vecbridge.python_game(Walk))\n"
    )
    out = bench("--env", "my_games:Walk-v0", "-n", "1", "--runners", "floor,vecbridge", "--seconds", "0.5",
                "--repeat", "1", "--json", "out.json", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    results = {r["runner"]: r for r in json.loads((tmp_path / "out.json").read_text())["results"]}
    assert results["vecbridge"]["error"] is None and results["vecbridge"]["steps_per_s"] > 0
    assert results["floor"]["error"].startswith("unavailable: floor reads one array per observation")


def test_preprocess_reaches_the_runners_that_do_it_and_the_others_are_unavailable():
    spec = "gray,resize=42x42"
    for name in ("vecbridge", "vecbridge-tcp", "gymnasium-async"):
        runner = RUNNERS[name]("vecbridge/EchoImage-v0", 2, {"preprocess": spec})
        runner.start()
        try:
            assert runner.envs.single_observation_space.shape[:2] == (42, 42), name  # preprocessed, not sent to the game
            runner.step()
        finally:
            runner.close()
    result = run_case(CaseConfig(runner="gymnasium-sync", env="vecbridge/EchoImage-v0", num_envs=2, seconds=0.1,
                                 repeat=1, options={"preprocess": spec}))  # fmt: skip
    assert result["steps_per_s"] is None and result["error"].startswith("unavailable: gymnasium-sync does not preprocess")
    args = argparse.ArgumentParser()
    add_parser(args.add_subparsers(dest="cmd"))
    assert args.parse_args(["bench", "--preprocess", spec]).preprocess == spec

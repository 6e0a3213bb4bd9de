"""The vecbridge command, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.user_games import write_user_games

RAW_LIAR = str(Path(__file__).resolve().parents[1] / "games" / "raw_liar.py")
CLUMSY = str(Path(__file__).resolve().parents[1] / "games" / "clumsy.py")
VECBRIDGE = str(Path(sys.executable).with_name("vecbridge"))  # the installed script, as a user runs it


def vecbridge(*args: str, timeout: float = 240, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([VECBRIDGE, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def test_list_shows_the_builtin_games():
    out = vecbridge("list")
    assert out.returncode == 0
    for game in ("vecbridge/Echo-v0", "vecbridge/EchoImage-v0", "vecbridge/Catch-v0"):
        assert game in out.stdout
    assert "{{" not in out.stdout and "}}" not in out.stdout  # commands as a shell takes them, not templates
    fceux = next(line for line in out.stdout.splitlines() if line.startswith("vecbridge/EscapeFromPong-v0 "))
    assert "{ echo " in fceux and "--loadlua '{launchers}/lua/processor.lua'" in fceux, fceux


def test_run_prints_throughput_and_returns():
    out = vecbridge("run", "vecbridge/Catch-v0", "-n", "2", "--seconds", "2")
    assert out.returncode == 0, out.stderr
    assert "steps/s across 2 instances" in out.stdout
    assert "random-policy return" in out.stdout


def _interrupted_once(argv: list[str], stream: str, ready: str) -> tuple[int, str, str]:
    """Run ``vecbridge ARGV``, send SIGINT once ``ready`` shows on its ``stream`` ("out"/"err"); rc, stdout, stderr."""
    import signal
    import threading
    import time

    # SIGINT as in a terminal: a suite started in the background (`nohup ... &`) passes it on ignored
    proc = subprocess.Popen([VECBRIDGE, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    seen: dict[str, list[str]] = {"out": [], "err": []}
    pumps = [threading.Thread(target=lambda k=k, f=f: seen[k].extend(iter(f.readline, "")), daemon=True)
             for k, f in (("out", proc.stdout), ("err", proc.stderr))]  # fmt: skip
    for pump in pumps:
        pump.start()
    try:
        deadline = time.monotonic() + 240  # a loaded machine: imports and launches take their time
        while proc.poll() is None and time.monotonic() < deadline and not any(ready in line for line in seen[stream]):
            time.sleep(0.2)
        assert proc.poll() is None and any(ready in line for line in seen[stream]), seen
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for pump in pumps:
        pump.join(timeout=10)
    return proc.returncode, "".join(seen["out"]), "".join(seen["err"])


def test_ctrl_c_ends_run_and_eval_with_one_line_and_a_whole_video(tmp_path):
    import imageio.v2 as imageio

    rc, _, err = _interrupted_once(["run", "vecbridge/Catch-v0", "-n", "2", "--seconds", "600"], "out", "launched")
    assert rc == 130 and "Traceback" not in err, err  # (it used to be a ~50-line traceback)
    assert err.rstrip().endswith("vecbridge run: interrupted"), err
    video = tmp_path / "ep.mp4"
    argv = ["eval", "vecbridge/EchoImage-v0", "--random", "-k", "100000", "-n", "1", "-o", "episode_length=20",
            "--video", str(video)]  # fmt: skip
    rc, _, err = _interrupted_once(argv, "err", "episode 2/")
    assert rc == 130 and "Traceback" not in err, err
    assert err.rstrip().endswith("vecbridge eval: interrupted"), err
    assert f"interrupted: the frames recorded so far are in {video}" in err, err
    assert len(imageio.mimread(video)) >= 20  # a whole file: readable to its end


def test_check_passes_a_conforming_game_given_as_a_command():
    out = vecbridge("check", "--", "env", "EPISODE=5", "{python}", RAW_LIAR)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "6 passed, 0 failed\n" in out.stdout and "4 passed, 0 failed\n" in out.stdout
    assert "[PASS] autoreset  (NEXT_STEP: the step after an end is a reset)" in out.stdout


def test_check_counts_a_check_it_could_not_run_apart():
    out = vecbridge("check", "--", "{python}", RAW_LIAR)  # no episode ever ends: autoreset cannot be checked
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[SKIP] autoreset" in out.stdout and "3 passed, 0 failed, 1 not checked" in out.stdout


def test_check_fails_a_game_that_lies_about_its_observations():
    out = vecbridge("check", "--", "env", "LIE=dtype", "{python}", RAW_LIAR)
    assert out.returncode == 1
    assert "[FAIL] observations stay in the declared space" in out.stdout
    assert "expected a float32 array of shape [4]" in out.stdout and "float64" in out.stdout


FORMS = "a registered id (see `vecbridge list`), MODULE:ENV_ID"


@pytest.mark.parametrize("command", [["run", "my_gmaes:Walk-v0"], ["check", "Walk-v9"], ["train", "nosuch:x"],
                                     ["eval", "nosuch", "--random"], ["bench", "--env", "vecbridge/Echo-v0,nosuch"]])
def test_every_command_says_in_one_line_what_names_a_game(tmp_path, command):
    write_user_games(tmp_path)
    out = vecbridge(*command, cwd=tmp_path)
    assert out.returncode != 0 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith(f"vecbridge {command[0]}: no game ") and FORMS in out.stderr
    assert "LaunchSpec)" not in out.stderr.split("MODULE:ATTRIBUTE")[0]  # no advice the command line cannot follow


@pytest.mark.parametrize("command, message", [
    (["run", "vecbridge/Catch-v0", "-n", "2", "--preprocess", "gray"],
     "vecbridge run: PreprocessError: image preprocessing needs an image observation"),
    (["train", "vecbridge/Catch-v0", "--preprocess", "blur"],
     "vecbridge train: PreprocessError: unknown preprocessing step 'blur'; the steps are: gray, crop="),
    (["run", "-n", "1", "--seconds", "1", "--", "{python}", "-c", "import sys; sys.exit(3)"],
     "vecbridge run: LaunchError: instance 0 exited with status 3 before it connected"),
])  # fmt: skip
def test_a_failing_game_or_bad_spec_is_reported_without_a_traceback(command, message):
    out = vecbridge(*command)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith(message), out.stderr
    assert out.stderr.endswith("(VECBRIDGE_TRACEBACK=1 shows where it was raised)\n")


@pytest.mark.parametrize("command, message", [
    (["eval", "vecbridge/Catch-v0", "--model", "no/such/model.zip"], "vecbridge eval: --model: no such file no/such/model.zip\n"),
    (["train", "vecbridge/Catch-v0", "--resume", "no/such/rl_model"], "vecbridge train: --resume: no such file no/such/rl_model\n"),
    (["run", "vecbridge/Catch-v0", "-n", "0"], "argument --num-envs/-n: must be at least 1, got 0\n"),
    (["train", "vecbridge/Catch-v0", "-n", "two"], "argument --num-envs/-n: expected a whole number, got 'two'\n"),
    (["run", "vecbridge/Catch-v0", "--num-workers", "-1"], "argument --num-workers: must be at least 0, got -1\n"),
    (["run", "vecbridge/Catch-v0", "--seconds", "-1"], "argument --seconds: must be a number above 0, got -1\n"),
    (["bench", "--repeat", "0"], "argument --repeat: must be at least 1, got 0\n"),
    (["eval", "vecbridge/Catch-v0", "--random", "-k", "0"], "argument --episodes/-k: must be at least 1, got 0\n"),
    (["train", "vecbridge/Catch-v0", "--timesteps", "-5"], "argument --timesteps/-t: must be at least 1, got -5\n"),
    (["train", "vecbridge/Catch-v0", "--torch-threads", "-1"], "argument --torch-threads: must be at least 1, got -1\n"),
    (["train", "vecbridge/Catch-v0", "--ppo", "seed=5"], "seed cannot be set there; it sets seed from --seed\n"),
    (["train", "vecbridge/Catch-v0", "--config", "no/such.json"], "--config: cannot read no/such.json: No such file or directory\n"),
    (["eval", "vecbridge/Catch-v0", "--random", "--video", "ep.xyz"], "(.mp4 and the others need imageio-ffmpeg)\n"),
])  # fmt: skip
def test_a_bad_argument_is_refused_in_one_line_before_any_game_starts(command, message):
    out = vecbridge(*command)
    assert out.returncode in (1, 2) and out.stdout == "" and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.endswith(message), out.stderr


@pytest.mark.parametrize("extra", [["--preprocess", "blur"], ["--preprocess", "gray"], ["-o", "no_such_option=1"],
                                   ["--ppo", "n_steps=\"abc\""], ["--ppo", "batch_size=0"]])  # the last two: PPO refuses
def test_train_that_cannot_start_leaves_no_run_folder(tmp_path, extra):
    out = vecbridge("train", "vecbridge/Catch-v0", "-n", "1", "--runs-dir", str(tmp_path / "runs"), *extra)
    assert out.returncode == 1 and out.stderr.startswith("vecbridge train: "), out.stderr  # (a game's log tail may hold its traceback)
    assert not any((tmp_path / "runs").glob("*")), list((tmp_path / "runs").glob("*"))


def test_run_does_not_count_episodes_that_an_instance_failure_cut_short():
    # clumsy's episodes never end; its instance 1 crashes at its 3rd step (exit 7), its first
    # relaunch says an invalid hello, its second is well behaved: two failures, no real episode
    game = ["--", "env", "CLUMSY=badrelaunch", "CLUMSY_INSTANCE=1", "{python}", CLUMSY]
    out = vecbridge("run", "-n", "2", "--seconds", "2", *game)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "random-policy return" not in out.stdout, out.stdout  # (it used to count the cut episodes)
    assert "2 instance failure(s): their episodes were cut short and are not counted" in out.stdout, out.stdout
    assert "exited with status 7" in out.stderr and "stage: handshake" in out.stderr, out.stderr


def test_step_timeout_says_when_an_instance_counts_as_hung():
    # each step takes 0.5 s against a step timeout of 0.2 s: hung, relaunched, until the budget is spent
    out = vecbridge("run", "vecbridge/Echo-v0", "-n", "1", "--seconds", "30", "--step-timeout", "0.2", "-o", "delay_s=0.5")
    assert out.returncode == 1 and "RestartBudgetExceeded" in out.stderr, out.stdout + out.stderr
    assert "no reply to step within 0.2 s" in out.stderr, out.stderr


def test_run_dir_keeps_the_logs_that_a_launch_error_names(tmp_path):
    game = ["--", "{python}", "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"]
    out = vecbridge("run", "-n", "1", "--seconds", "1", *game)
    assert out.returncode == 1 and "log: " in out.stderr
    assert "that log was in a temporary run folder, removed on exit" in out.stderr  # and it is gone
    assert not os.path.exists(out.stderr.split("log: ")[1].split()[0])
    out = vecbridge("run", "-n", "1", "--seconds", "1", "--run-dir", str(tmp_path / "kept"), *game)
    log = tmp_path / "kept" / "instance-0" / "game.log"
    assert out.returncode == 1 and f"log: {log}" in out.stderr and "temporary run folder" not in out.stderr
    assert log.read_text() == "boom\n"


def test_vecbridge_traceback_shows_where_an_error_was_raised():
    import os

    out = subprocess.run([VECBRIDGE, "run", "vecbridge/Catch-v0", "--preprocess", "gray"], capture_output=True, text=True,
                         timeout=240, env={**os.environ, "VECBRIDGE_TRACEBACK": "1"})  # fmt: skip
    assert out.returncode == 1 and "Traceback (most recent call last)" in out.stderr
    assert "vecbridge.transforms.base.PreprocessError: image preprocessing needs" in out.stderr


def test_an_os_error_is_one_line_and_vecbridge_traceback_0_hides_tracebacks(tmp_path):
    import os

    (tmp_path / "a-file").write_text("")
    for value in ("0", "no", ""):
        out = subprocess.run([VECBRIDGE, "run", "vecbridge/Catch-v0", "--run-dir", str(tmp_path / "a-file" / "run")],
                             capture_output=True, text=True, timeout=240, env={**os.environ, "VECBRIDGE_TRACEBACK": value})  # fmt: skip
        assert out.returncode == 1 and "Traceback" not in out.stderr, (value, out.stderr)
        assert out.stderr.startswith("vecbridge run: NotADirectoryError: [Errno 20] Not a directory: "), out.stderr


def test_two_runs_in_one_run_folder_at_once_the_second_is_refused(tmp_path):
    from vecbridge.launch.folders import hold

    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    lock = hold(run)  # a run under way there
    try:
        for argv in (["run", "vecbridge/Catch-v0", "-n", "1", "--seconds", "1"], ["train", "vecbridge/Catch-v0", "-t", "64"]):
            out = vecbridge(*argv, "--run-dir", str(run))
            assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
            assert f"FolderInUse: the run folder {run} is in use by another vecbridge run" in out.stderr, out.stderr
            assert os.listdir(run) == []  # nothing of the second run's
    finally:
        os.close(lock)
    out = vecbridge("run", "vecbridge/Catch-v0", "-n", "1", "--seconds", "1", "--run-dir", str(run))
    assert out.returncode == 0, out.stderr  # free again once the first run is over


def test_a_users_own_game_through_run_check_eval_and_bench(tmp_path):
    """my_games.py in the working folder registers Walk-v0 (vecbridge) and GymWalk-v0 (Gymnasium)."""
    write_user_games(tmp_path)
    out = vecbridge("run", "my_games:Walk-v0", "-n", "2", "--seconds", "1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "steps/s across 2 instances" in out.stdout and "random-policy return" in out.stdout

    out = vecbridge("check", "my_games:walk_spec", "--steps", "20", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "vecbridge check: Walk" in out.stdout and " failed" in out.stdout and "not checked" not in out.stdout

    out = vecbridge("eval", "my_games:GymWalk-v0", "--random", "--episodes", "4", "-n", "2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "4 episodes, random policy" in out.stdout and "mean length 5.0" in out.stdout  # Walk's episodes: 5 steps

    out = vecbridge("eval", "--random", "--episodes", "2", "--", "env", "EPISODE=3", "{python}", RAW_LIAR, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "2 episodes, random policy" in out.stdout and "mean length 3.0" in out.stdout

    report = tmp_path / "bench.json"
    out = vecbridge("bench", "--env", "my_games:Walk", "-n", "2", "-r", "vecbridge,gymnasium-async,sb3-subproc",
                    "--seconds", "0.3", "--repeat", "1", "--no-progress", "--json", str(report), cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    results = json.loads(report.read_text())["results"]
    assert sorted(r["runner"] for r in results) == ["gymnasium-async", "sb3-subproc", "vecbridge"]
    for r in results:
        assert r["env"] == "my_games:Walk" and r["error"] is None and r["steps_per_s"] > 0, r
        assert r["num_game_processes"] == 2  # the user's game ran as 2 processes under every runner


def test_resume_from_an_earlier_checkpoint_and_runs_that_do_not_fit(tmp_path):
    run = tmp_path / "ck"
    out = vecbridge("train", "vecbridge/Catch-v0", "-n", "2", "-t", "3000", "--checkpoint-freq", "1000", "--normalize",
                    "--run-dir", str(run), "--no-progress", "--no-tensorboard")  # fmt: skip
    assert out.returncode == 0, out.stderr
    # a new run into that folder is refused (it used to append its episodes and replace the model)
    model = (run / "model.zip").read_bytes()
    out = vecbridge("train", "vecbridge/Catch-v0", "-n", "2", "-t", "1000", "--run-dir", str(run), "--no-progress")
    assert out.returncode == 1 and out.stderr.strip().splitlines()[-1] == (
        f"vecbridge train: --run-dir {run} already holds a run (config.json, progress.csv, model.zip); continue it "
        f"with --resume {run / 'model.zip'}, or give another --run-dir"), out.stderr  # fmt: skip
    assert (run / "model.zip").read_bytes() == model
    # resumed from its 1000-step checkpoint: the later episodes and checkpoints are said to go
    out = vecbridge("train", "vecbridge/Catch-v0", "-n", "2", "-t", "2000", "--resume", str(run / "checkpoints" /
                    "rl_model_1000_steps.zip"), "--normalize-reward", "--no-progress", "--no-tensorboard")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "episode(s) past step 1000, from before the resume; they are dropped" in out.stdout, out.stdout
    assert ("checkpoints past step 1000 (rl_model_2000_steps.zip, rl_model_3000_steps.zip, rl_model_4000_steps.zip) "
            "are from before the resume; they are moved to checkpoints/before-resume-at-1000/") in out.stdout, out.stdout
    aside = sorted(p.name for p in (run / "checkpoints" / "before-resume-at-1000").iterdir())
    assert aside == [f"rl_model_{k}000_steps.zip" for k in (2, 3, 4)] + [
        f"rl_model_vecnormalize_{k}000_steps.pkl" for k in (2, 3, 4)], aside  # fmt: skip
    assert sorted(p.name for p in (run / "checkpoints").glob("*_steps.zip")) == ["rl_model_1000_steps.zip"]
    assert "do not apply to a resumed run; it keeps its own (True)" in out.stdout
    steps = [int(line.split(",")[0]) for line in (run / "progress.csv").read_text().splitlines()[1:]]
    assert steps == sorted(steps) and steps[-1] > 1000, steps  # (it used to go back to 1000 after 3000)
    # a resume with nothing left to do (the total already reached) keeps the run's config.json as it was
    config = (run / "config.json").read_bytes()
    out = vecbridge("train", "vecbridge/Catch-v0", "-n", "4", "-t", "1500", "--resume", str(run / "model.zip"),
                    "--no-progress", "--no-tensorboard")  # fmt: skip
    assert out.returncode == 0 and "nothing to do: the model has " in out.stdout, out.stdout + out.stderr
    assert (run / "config.json").read_bytes() == config
    # the model (with its VecNormalize statistics) on a game of other spaces: one line each
    out = vecbridge("eval", "vecbridge/Echo-v0", "--model", str(run / "model.zip"), "-k", "1")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.splitlines()[-1].startswith("vecbridge eval: the model expects observations Box(0.0, 1.0, (3,), float32), the game "
                                                  "gives Box(-1.0, 1e+06, (4,), float32)"), out.stderr  # fmt: skip
    out = vecbridge("train", "vecbridge/Echo-v0", "-n", "2", "-t", "9000", "--resume", str(run / "model.zip"),
                    "--run-dir", str(tmp_path / "other"), "--no-progress")  # fmt: skip
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "does not fit this game or its settings: AssertionError: spaces must have the same shape" in out.stderr
    assert f"; resume with the game, game options and preprocessing it was trained with ({run / 'config.json'})" in out.stderr
    assert not (tmp_path / "other").exists()


@pytest.mark.slow
def test_train_and_eval_a_users_own_game_and_a_command(tmp_path):
    write_user_games(tmp_path)
    small = ["-n", "2", "-t", "64", "--ppo", "n_steps=32", "--ppo", "batch_size=32", "--ppo", "n_epochs=1",
             "--checkpoint-freq", "0", "--no-progress", "--no-tensorboard", "--torch-threads", "1"]  # fmt: skip
    out = vecbridge("train", "my_games:Walk-v0", *small, "--run-dir", str(tmp_path / "walk"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads((tmp_path / "walk" / "config.json").read_text())["game"] == "my_games:Walk-v0"
    out = vecbridge("eval", "my_games:Walk-v0", "--model", str(tmp_path / "walk" / "model.zip"), "--episodes", "2",
                    cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "note: the model was trained on" not in out.stderr  # the run's game is recognised
    assert "2 episodes, stochastic policy" in out.stdout and "mean length 5.0" in out.stdout

    out = vecbridge("train", *small, "--run-dir", str(tmp_path / "liar"), "--", "env", "EPISODE=4", "{python}", RAW_LIAR,
                    cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads((tmp_path / "liar" / "config.json").read_text())["game"] == f"env EPISODE=4 {{python}} {RAW_LIAR}"


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_sigterm_or_sighup_stops_train_and_saves_the_model_as_ctrl_c_does(tmp_path, signame):
    # As `nohup vecbridge train ... &` from a script runs it: SIGINT ignored, so Ctrl-C's path is closed.
    # SIGHUP: a closed terminal or a dropped ssh session (it used to end train without a model).
    import os
    import signal
    import time

    signum = getattr(signal, signame)

    import psutil

    run = tmp_path / "run"
    proc = subprocess.Popen([VECBRIDGE, "train", "vecbridge/Catch-v0", "-n", "2", "--timesteps", "10000000",
                             "--run-dir", str(run), "--checkpoint-freq", "0", "--no-progress", "--no-tensorboard"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: (signal.signal(signal.SIGINT, signal.SIG_IGN),
                                                # as a terminal's session has it, even if this suite runs under nohup
                                                signal.signal(signal.SIGHUP, signal.SIG_DFL)))  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        progress = run / "progress.csv"
        while time.monotonic() < deadline and proc.poll() is None:
            if progress.exists() and len(progress.read_text().splitlines()) > 3:  # episodes are being played
                break
            time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()
        games = psutil.Process(proc.pid).children(recursive=True)
        assert games, "train started no game processes"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signum, err
    assert "interrupted: saving the model as it is" in out, out + err
    assert "(interrupted)" in out and "Traceback" not in err
    from stable_baselines3 import PPO

    model = PPO.load(run / "model.zip", device="cpu")
    assert model.num_timesteps > 0
    time.sleep(1)
    left = [p.pid for p in games if psutil.pid_exists(p.pid) and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"game processes left behind: {left}"
    assert not os.path.exists(run / "eval.json")  # an interrupted run is not evaluated

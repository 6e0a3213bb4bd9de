"""No process is left behind: after close, after an exception in user code, after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil
import pytest
from dataclasses import replace
from gymnasium.utils.env_checker import check_env

import vecbridge
from vecbridge.errors import WorkerError
from support.leftovers import vecbridge_processes, wait_for_no_processes


def _games_started_since(start: float) -> list[psutil.Process]:
    return [p for p in vecbridge_processes(start) if "vecbridge.game" in " ".join(p.cmdline())]


def _run_script(body: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(body)], stdout=subprocess.PIPE, text=True)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_sigkill_of_the_parent_leaves_no_game_behind(num_workers):
    start = time.time()
    proc = _run_script(
        f"""
        import vecbridge, numpy as np
        envs = vecbridge.make("vecbridge/Echo-v0", num_envs=4, num_workers={num_workers})
        envs.reset(seed=0)
        envs.step(np.zeros(4, dtype=np.int64))
        print("ready", flush=True)
        import time; time.sleep(600)
        """
    )
    assert proc.stdout.readline().strip() == "ready"
    assert len(_games_started_since(start)) == 4
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    killed_at = time.monotonic()
    assert wait_for_no_processes(start, timeout=5.0) == []
    assert time.monotonic() - killed_at < 5.0


# a game that starts a child in a session of its own (setsid), which ignores SIGTERM
SETSID_CHILD = "setsid sh -c 'trap \"\" TERM; sleep 1001' & exec {python} -m vecbridge.game vecbridge.games.echo:EchoEnv"


@pytest.mark.parametrize("num_workers", [0, 1])
def test_sigkill_of_the_parent_ends_a_game_child_that_left_its_process_group(num_workers):
    start = time.time()
    proc = _run_script(
        f"""
        import vecbridge, numpy as np
        from dataclasses import replace
        spec = replace(vecbridge.registered()["vecbridge/Echo-v0"], command=["sh", "-c", {SETSID_CHILD!r}])
        envs = vecbridge.make(spec, num_envs=2, num_workers={num_workers})
        envs.reset(seed=0)
        print("ready", flush=True)
        import time; time.sleep(600)
        """
    )
    assert proc.stdout.readline().strip() == "ready"
    try:
        strays = [p for p in vecbridge_processes(start) if p.cmdline() == ["sleep", "1001"]]
        assert len(strays) == 2 and all(os.getpgid(p.pid) == p.ppid() for p in strays)  # a group of their own
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # (with no worker process, only the reaper's group kill acted: they stayed)
    proc.wait()
    proc.stdout.close()
    assert wait_for_no_processes(start, timeout=10.0) == []


# a game that writes into its HOME after it has closed (as FCEUX writes its configuration on exit)
WRITES_ON_EXIT = "{python} -m vecbridge.game vecbridge.games.echo:EchoEnv; sleep 0.5; mkdir -p \"$HOME/.late\"; echo x > \"$HOME/.late/cfg\""


@pytest.mark.parametrize("num_workers", [0, 1])
def test_sigkill_of_the_parent_leaves_no_run_folder_even_when_games_write_while_closing(num_workers, tmp_path):
    # With worker processes, the run folder went at once while the workers were still closing
    # their games, and FCEUX or Chromium wrote their configuration into it again (found by a trial).
    (tmp_path / "tmp").mkdir()
    start = time.time()
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import vecbridge
        from dataclasses import replace
        spec = replace(vecbridge.registered()["vecbridge/Echo-v0"], command=["sh", "-c", {WRITES_ON_EXIT!r}])
        envs = vecbridge.make(spec, num_envs=2, num_workers={num_workers})
        envs.reset(seed=0)
        print("ready", flush=True)
        import time; time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmp_path / "tmp")})  # fmt: skip
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert wait_for_no_processes(start, timeout=15.0) == []
    time.sleep(1.0)  # (a write after the removal came ~0.5 s after it)
    assert os.listdir(tmp_path / "tmp") == []


@pytest.mark.parametrize("num_workers", [0, 1])
def test_close_ends_a_game_child_that_left_its_process_group(num_workers):
    start = time.time()
    spec = replace(vecbridge.registered()["vecbridge/Echo-v0"], command=["sh", "-c", SETSID_CHILD])
    envs = vecbridge.make(spec, num_envs=2, num_workers=num_workers)
    try:
        envs.reset(seed=0)
        assert len([p for p in vecbridge_processes(start) if p.cmdline() == ["sleep", "1001"]]) == 2
    finally:
        envs.close()  # the games exit on close; their children used to stay (no longer below them)
    assert wait_for_no_processes(start, timeout=10.0) == []


def _workers_of_this_process() -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if "vecbridge.vector.worker" in " ".join(p.cmdline())]


def test_sigkill_of_a_worker_is_a_worker_error_and_leaves_no_game_behind():
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2, num_workers=1)
    start = time.time() - 30
    try:
        envs.reset(seed=0)
        games = _games_started_since(start)
        assert len(games) == 2
        [worker] = _workers_of_this_process()
        worker.kill()
        gone, alive = psutil.wait_procs(games, timeout=5)
        assert not alive
        with pytest.raises(WorkerError, match=r"worker 0 \(instances \[0, 1\]\) (died with exit code -9|closed its pipe)"):
            envs.step(np.zeros(2, dtype=np.int64))
    finally:
        envs.close()


@pytest.mark.parametrize("num_workers", [0, 1])
def test_sigkill_of_the_parent_after_a_relaunch_leaves_no_game_behind(num_workers):
    start = time.time()
    proc = _run_script(
        f"""
        import vecbridge, numpy as np
        envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2, num_workers={num_workers}, crash_instances=[0], crash_at_step=1)
        envs.reset(seed=0)
        _, _, _, trunc, _ = envs.step(np.zeros(2, dtype=np.int64))  # instance 0 crashes and is relaunched
        assert trunc[0]
        envs.step(np.zeros(2, dtype=np.int64))  # its new process resets
        print("ready", flush=True)
        import time; time.sleep(600)
        """
    )
    assert proc.stdout.readline().strip() == "ready"
    assert len(_games_started_since(start)) == 2  # the new process of instance 0, and instance 1
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert wait_for_no_processes(start, timeout=5.0) == []  # the reaper knew the new process too


@pytest.mark.parametrize("num_workers", [0, 1])
def test_close_kills_a_game_that_ignores_close_and_sigterm(num_workers, tmp_path):
    spec = replace(vecbridge.registered()["vecbridge/Echo-v0"], close_grace=0.5).with_config(hang_on_close=True)
    envs = vecbridge.make(spec, num_envs=2, num_workers=num_workers, run_dir=str(tmp_path))
    try:
        games = [psutil.Process(pid) for pid in envs.get_attr("pid")]
    finally:
        started = time.monotonic()
        envs.close()
    assert time.monotonic() - started < 15
    assert not any(game.is_running() for game in games)
    for i in range(2):  # each game said it ignored SIGTERM: SIGKILL ended it
        log = (tmp_path / f"instance-{i}" / "game.log").read_text()
        assert "closed, hanging" in log and "SIGTERM ignored" in log, log


def test_an_exception_in_user_code_leaves_no_process_behind():
    start = time.time()
    proc = _run_script(
        """
        import vecbridge
        envs = vecbridge.make("vecbridge/Echo-v0", num_envs=3)
        envs.reset(seed=0)
        raise RuntimeError("user code failed")
        """
    )
    proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert wait_for_no_processes(start, timeout=5.0) == []


def test_close_ends_every_process_and_folder():
    start = time.time()
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=3, num_workers=2)
    run_dir = envs._run.run_dir
    assert len(_games_started_since(start)) == 3
    envs.close()
    assert wait_for_no_processes(start, timeout=0.5) == []
    assert not run_dir.exists()


def test_single_env_passes_gymnasium_env_checker():
    env = vecbridge.GameEnv("vecbridge/Catch-v0", render_mode="rgb_array")
    try:
        check_env(env)
        frame = env.render()
        assert frame.dtype.name == "uint8" and frame.shape == (64, 40, 3)
    finally:
        env.close()


def test_gymnasium_make_gives_the_single_env():
    import gymnasium as gym

    env = gym.make("vecbridge/Echo-v0")
    try:
        obs, _ = env.reset(seed=3)
        assert obs.shape == (4,)
        assert env.unwrapped.call("echo", 1)["args"] == [1]
    finally:
        env.close()


def test_gymnasium_make_with_preprocess_says_where_preprocessing_is():
    import gymnasium as gym

    # it used to reach the game as a game option, and the launch failed on it
    with pytest.raises(TypeError, match=r"preprocess=... is for vecbridge's vector env, .*use gymnasium.make_vec\("
                                        r"'vecbridge/EchoImage-v0', n, preprocess=...\) with the default vectorization"):
        gym.make("vecbridge/EchoImage-v0", preprocess="gray")
    with pytest.raises(TypeError, match=r"nor Gymnasium's own vector envs \(make_vec with vectorization_mode="):
        gym.make_vec("vecbridge/EchoImage-v0", num_envs=2, vectorization_mode="sync", preprocess="gray")


def test_single_env_reports_a_crash_with_the_log():
    env = vecbridge.GameEnv("vecbridge/Echo-v0", crash_instances=[0], crash_at_step=1)
    try:
        env.reset(seed=0)
        with pytest.raises(vecbridge.errors.ConnectionClosed, match=r"instance 0: .*exited with status 7"):
            env.step(0)
        assert "exited with status 7" in env.failed
        # every later request says so (it used to be "cannot send 'reset' while the connection is awaiting reply")
        for request in (lambda: env.reset(), lambda: env.step(0)):
            with pytest.raises(vecbridge.errors.StateError, match=r"^instance 0 failed earlier \(.*exited with status 7"
                                                                  r".*close\(\) it and make a new one"):  # fmt: skip
                request()
    finally:
        env.close()


def test_single_env_reports_a_hang_with_its_timeout():
    from dataclasses import replace

    spec = replace(vecbridge.registered()["vecbridge/Echo-v0"], step_timeout=1.0)
    env = vecbridge.GameEnv(spec, hang_instances=[0], hang_at_step=1)
    try:
        env.reset(seed=0)
        with pytest.raises(vecbridge.errors.InstanceTimeout,
                           match=r"^instance 0: the reply to step did not come within the timeout \(1 s, the spec's "
                                 r"step_timeout\); the game is still running"):  # fmt: skip
            env.step(0)
        with pytest.raises(vecbridge.errors.StateError, match="failed earlier"):
            env.reset()
    finally:
        env.close()
    assert env.pid is None


def test_check_game_runs_the_checks_after_a_failure_on_a_new_instance():
    from vecbridge.testing import check_game

    report = check_game("vecbridge/Echo-v0", steps=20, crash_instances=[0], crash_at_step=25)
    by_name = {r.name: r for r in report.results}
    # the first check's 20 steps pass; the seeding check's rollouts reach step 25, where the game crashes
    assert by_name["observations stay in the declared space"].passed
    seeded = by_name["the same seed and actions give the same observations"]
    assert not seeded.passed and "exited with status 7" in seeded.detail, report
    for name in ("gymnasium's env checker", "an unknown call gets an error reply, not a crash"):
        assert by_name[name].passed, report  # (they failed on the dead connection: "awaiting reply")
    assert "on a new instance: the game failed in an earlier check" in by_name["gymnasium's env checker"].detail
    assert by_name["exits on close"].passed and by_name["exits on close"].checked, report


@pytest.mark.parametrize("num_workers", [0, 1])
def test_a_chatty_games_log_keeps_its_last_part(num_workers, tmp_path):
    # (a game printing every step filled its log at 7 MB/s: at 8 instances, a disk in hours)
    spec = replace(vecbridge.registered()["vecbridge/Echo-v0"], max_log_bytes=200_000)
    envs = vecbridge.make(spec, num_envs=2, num_workers=num_workers, run_dir=str(tmp_path / "run"), chatty_bytes=10_000)
    try:
        envs.reset(seed=0)
        steps, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < 6.0:  # past three of the group's log checks (every 2 s)
            envs.step(np.zeros(2, dtype=np.int64))
            steps += 1
        assert steps * 10_000 > 600_000, steps  # each log was written well past its limit
        envs.step(np.zeros(2, dtype=np.int64))
    finally:
        envs.close()
    for log in sorted((tmp_path / "run").glob("instance-*/game.log")):
        text = log.read_text()
        assert text.startswith("[vecbridge: ") and "bytes of this log were dropped at 200,000" in text, text[:200]
        assert log.stat().st_size <= 200_000, log.stat().st_size  # trimmed once more at close (it grew 2 s at a time)


def test_run_dir_keeps_logs_per_instance(tmp_path):
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2, run_dir=str(tmp_path / "run"))
    envs.close()
    for i in range(2):
        assert (tmp_path / "run" / f"instance-{i}" / "game.log").exists()
        assert (tmp_path / "run" / f"instance-{i}" / "home").is_dir()


class _NaNAfterTwo:
    """A Gymnasium env whose third observation holds NaN (at index 1), for vecbridge check."""

    def __init__(self):
        import gymnasium as gym

        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.t = 0

    def reset(self, seed=None, options=None):
        self.t = 0
        return np.zeros(3, np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.full(3, self.t, np.float32)
        if self.t >= 3:
            obs[1] = np.nan
        return obs, 0.0, False, False, {}

    def close(self):
        pass


def test_check_names_nan_in_an_observation_and_does_not_call_it_nondeterminism():
    from vecbridge.testing import check_game

    report = check_game(vecbridge.python_game(_NaNAfterTwo, name="NaNAfterTwo"), steps=5)
    by_name = {r.name: r for r in report.results}
    first = by_name["observations stay in the declared space"]
    assert not first.passed and "step 2: observation holds NaN at index (1,)" in first.detail, first.detail
    assert by_name["the same seed and actions give the same observations"].passed  # NaN in both runs: the same

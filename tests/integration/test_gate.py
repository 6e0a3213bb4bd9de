"""Strangers and clumsy games: the run keeps stepping, resources stay bounded, failures are the instance's.

Real stranger processes (tests/games/stranger.py) connect to vecbridge's listener during a
run and during a launch; real games of the run (tests/games/clumsy.py) break the protocol
in a step or in their hello.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil
import pytest

import vecbridge
from vecbridge.errors import LaunchError, RestartBudgetExceeded
from vecbridge.protocol.limits import MAX_UNAUTHENTICATED
from vecbridge.vector.budget import RestartBudget

GAMES = Path(__file__).resolve().parents[1] / "games"
STRANGER, CLUMSY = str(GAMES / "stranger.py"), str(GAMES / "clumsy.py")
WARNING = "vecbridge closed a connection before its hello"


def echo(**changes) -> vecbridge.LaunchSpec:
    return replace(vecbridge.registered()["vecbridge/Echo-v0"], **changes)


def vecbridge_pid(envs, num_workers: int) -> int:
    return os.getpid() if num_workers == 0 else envs._driver.worker_pids()[0]


def tcp_port(pid: int) -> int:
    """The port of the listener (127.0.0.1, LISTEN) of vecbridge process ``pid``."""
    ports = [c.laddr.port for c in psutil.Process(pid).net_connections("tcp")
             if c.status == psutil.CONN_LISTEN and c.laddr.ip == "127.0.0.1"]  # fmt: skip
    assert len(ports) == 1, ports
    return ports[0]


def stranger(mode: str, port: int, count: int = 1, hold_s: float = 30.0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, STRANGER, mode, str(port), str(count), str(hold_s)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip


MODES = ["deep", "dims70", "hugeshape", "bigframe", "garbage", "comm", "websocket", "token"]


@pytest.mark.parametrize("num_workers", [0, 1])
def test_strangers_during_a_run_change_nothing_for_the_env(num_workers, caplog, capfd):
    caplog.set_level(logging.WARNING, logger="vecbridge.launch.gate")
    envs = vecbridge.make(echo(handshake_timeout=1.0), num_envs=2, num_workers=num_workers)
    try:
        obs, _ = envs.reset(seed=0)
        pid = vecbridge_pid(envs, num_workers)
        port = tcp_port(pid)
        procs = [stranger(mode, port) for mode in MODES] + [stranger("silent", port, count=300)]
        files_before = psutil.Process(pid).num_fds()  # (with the strangers' stdout pipes when pid is ours)
        steps, peak, t0 = 0, files_before, time.monotonic()
        while any(p.poll() is None for p in procs) and time.monotonic() - t0 < 90:
            obs, _, term, trunc, info = envs.step(np.zeros(2, dtype=np.int64))
            assert not trunc.any() and "vecbridge_error" not in info  # no instance noticed anything
            steps += 1
            if steps % 10 == 0:
                peak = max(peak, psutil.Process(pid).num_fds())
        reports = [json.loads(p.communicate(timeout=30)[0]) for p in procs]
        for mode, report in zip([*MODES, "silent"], reports):
            assert report["connected"] == report["closed_by_vecbridge"] >= 1, (mode, report)
        assert reports[-1]["connected"] == 300
        # open files: at most the cap of unauthenticated connections above the start, never 300
        assert peak <= files_before + MAX_UNAUTHENTICATED + 4, (files_before, peak)
        assert psutil.Process(pid).num_fds() <= files_before + 2
        stats = envs.connection_stats()
        assert envs.rejected_connections == sum(stats.values()) >= 300 + len(MODES)
        # (which reason each stranger gets depends on timing: a flood of silent ones evicts the slow senders)
        assert stats["malformed"] >= 1 and stats["bad_token"] >= 1 and stats["timeout"] + stats["capacity"] >= 250
        assert steps > 20
        obs, *_ = envs.step(np.zeros(2, dtype=np.int64))
        totals = envs.call("__getattr__", "total_steps")  # the first processes, never relaunched
        assert obs[0, 0] == obs[1, 0] and totals[0] == totals[1] >= steps + 1 - (steps + 1) // 200
    finally:
        envs.close()
    said = [r.getMessage() for r in caplog.records if WARNING in r.getMessage()]
    if num_workers == 1:  # the worker's warnings reach its stderr
        said = [line for line in capfd.readouterr().err.splitlines() if WARNING in line]
    assert 1 <= len(said) <= 10, said  # rate-limited: a burst, then one per 10 s
    assert any("127.0.0.1:" in line for line in said)


def test_a_silent_connection_is_closed_at_the_handshake_deadline():
    envs = vecbridge.make(echo(handshake_timeout=2.0), num_envs=1, num_workers=1)
    try:
        envs.reset(seed=0)
        proc = stranger("silent", tcp_port(envs._driver.worker_pids()[0]), count=1, hold_s=20)
        while proc.poll() is None:
            envs.step(np.zeros(1, dtype=np.int64))
        report = json.loads(proc.communicate()[0])
        assert report["closed_by_vecbridge"] == 1 and 1.9 <= report["seconds"] <= 5.0, report
        assert envs.connection_stats()["timeout"] == 1
    finally:
        envs.close()


def test_a_worker_closes_silent_connections_even_while_the_env_is_idle():
    envs = vecbridge.make(echo(handshake_timeout=1.0), num_envs=1, num_workers=1)
    try:
        envs.reset(seed=0)
        proc = stranger("silent", tcp_port(envs._driver.worker_pids()[0]), count=5, hold_s=20)
        report = json.loads(proc.communicate(timeout=30)[0])  # nobody steps meanwhile
        assert report["closed_by_vecbridge"] == 5 and report["seconds"] < 5, report
    finally:
        envs.close()


def test_strangers_during_the_launch_do_not_fail_it():
    # each game waits 2 s before it connects; strangers connect meanwhile
    slow = ["{python}", "-c", "import runpy, sys, time; time.sleep(2); sys.argv = ['game', 'vecbridge.games.echo:EchoEnv']; "
            "runpy.run_module('vecbridge.game', run_name='__main__')"]  # fmt: skip
    made: dict = {}
    thread = threading.Thread(target=lambda: made.setdefault("envs", vecbridge.make(echo(command=slow), num_envs=2, num_workers=0)))
    thread.start()
    try:
        port = None
        while port is None and thread.is_alive():
            try:
                port = tcp_port(os.getpid())
            except AssertionError:
                time.sleep(0.02)
        procs = [stranger(mode, port, hold_s=20) for mode in ("deep", "token", "garbage")]
        thread.join(60)
        reports = [json.loads(p.communicate(timeout=30)[0]) for p in procs]
        assert all(r["closed_by_vecbridge"] == 1 for r in reports), reports
        envs = made["envs"]
        obs, _ = envs.reset(seed=0)
        assert obs.shape == (2, 4) and envs.rejected_connections == 3
    finally:
        thread.join(60)
        if "envs" in made:
            made["envs"].close()


# ---------------------------------------------------------------- games of the run that break the protocol


def clumsy(mode: str, instance: int = 1, **settings) -> vecbridge.LaunchSpec:
    return vecbridge.LaunchSpec(command=["{python}", CLUMSY], env={"CLUMSY": mode, "CLUMSY_INSTANCE": str(instance)},
                                startup_timeout=30, **settings)  # fmt: skip


@pytest.mark.parametrize("mode, words", [("reward401", "'reward' must be a finite number"),
                                         ("nan", "'reward' must be a finite number (a float64), got number nan"),
                                         ("deepinfo", "deeper than 64 levels")])  # fmt: skip
@pytest.mark.parametrize("num_workers", [0, 1])
def test_a_game_that_breaks_the_protocol_in_a_step_is_a_crash_of_that_instance(mode, words, num_workers):
    envs = vecbridge.make(clumsy(mode), num_envs=2, num_workers=num_workers)
    try:
        envs.reset(seed=0)
        for _ in range(2):
            envs.step(np.zeros(2, dtype=np.int64))
        obs, _, term, trunc, info = envs.step(np.zeros(2, dtype=np.int64))
        assert trunc.tolist() == [False, True] and not term.any()
        assert words in info["vecbridge_error"][1] and "instance 1" in info["vecbridge_error"][1]
        assert info["vecbridge_restarts"][1] == 1
        obs, _, _, trunc, _ = envs.step(np.zeros(2, dtype=np.int64))  # instance 1 was relaunched and reset
        assert obs[:, 0].tolist() == [4.0, 0.0] and not trunc.any()
    finally:
        envs.close()


@pytest.mark.parametrize("num_envs, unix", [(1, False), (2, True)])
def test_a_hello_whose_instance_is_no_number_fails_its_launch_at_once(num_envs, unix):
    # Its token is right, so it is this run's game; the instance it names is unusable, so it is
    # told by the peer's process id (a Unix socket) or by being the only one owing a hello.
    # (It used to be refused as a stranger and the launch waited out its start-up timeout.)
    spec = clumsy("instancestr", instance=num_envs - 1)
    if unix:
        spec = replace(spec, env={**spec.env, "CLUMSY_UNIX": "1"})
    with pytest.raises(LaunchError) as err:
        vecbridge.make(spec, num_envs=num_envs)
    assert err.value.stage == "handshake" and err.value.instance == num_envs - 1, str(err.value)
    assert "the hello's 'instance' must be a JSON integer" in str(err.value) and "got string '" in str(err.value)


@pytest.mark.parametrize("unix", [False, True])
def test_a_game_that_hangs_up_before_its_hello_and_exits_is_not_said_to_be_refused(unix):
    spec = clumsy("hangup", instance=0)
    if unix:  # told by its process id: the launch error quotes what happened to its connection
        spec = replace(spec, env={**spec.env, "CLUMSY_UNIX": "1"})
    with pytest.raises(LaunchError) as err:
        vecbridge.make(spec, num_envs=1)
    said = str(err.value)
    assert "exited with status 5" in said and "refused" not in said, said
    assert "it closed the connection before its hello was complete" in said, said
    if unix:
        assert "after a connection that claimed to be it ended without a welcome: " in said, said
    else:
        assert "before it connected and said hello (connections that ended without a welcome lately: " in said, said


def test_a_hello_with_discrete_n_1e400_is_a_launch_error_at_the_handshake():
    with pytest.raises(LaunchError) as err:
        vecbridge.make(clumsy("hello1e400", instance=0), num_envs=2, num_workers=1)
    assert err.value.stage == "handshake" and err.value.instance == 0
    assert "'n' must be an integer, got inf" in str(err.value)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_a_bad_hello_at_relaunch_costs_a_restart_and_the_next_one_comes_back(num_workers):
    envs = vecbridge.make(clumsy("badrelaunch"), num_envs=2, num_workers=num_workers,
                          restart_budget=RestartBudget(max_restarts=3))  # fmt: skip
    try:
        envs.reset(seed=0)
        for _ in range(2):
            envs.step(np.zeros(2, dtype=np.int64))
        _, _, _, trunc, info = envs.step(np.zeros(2, dtype=np.int64))  # instance 1 exits with status 7
        assert trunc.tolist() == [False, True] and "exited with status 7" in info["vecbridge_error"][1]
        obs, _, _, trunc, info = envs.step(np.zeros(2, dtype=np.int64))
        # its first relaunch said an invalid hello (one more restart); the second is back
        assert obs[:, 0].tolist() == [4.0, 0.0] and not trunc.any()
        assert info["vecbridge_restarts"][1] == 2 and "stage: handshake" in info["vecbridge_error"][1]
        assert "'n' must be an integer" in info["vecbridge_error"][1]
    finally:
        envs.close()


def test_a_game_whose_hello_is_always_invalid_spends_the_budget():
    envs = vecbridge.make(clumsy("badrelaunch"), num_envs=2, restart_budget=RestartBudget(max_restarts=1))
    try:
        envs.reset(seed=0)
        with pytest.raises(RestartBudgetExceeded) as err:
            for _ in range(10):
                envs.step(np.zeros(2, dtype=np.int64))
        assert err.value.instance == 1 and "stage: handshake" in str(err.value)
    finally:
        envs.close()


def test_a_kept_run_folder_used_again_counts_each_run_apart(tmp_path):
    run_dir = str(tmp_path / "run")
    envs = vecbridge.make(echo(handshake_timeout=1.0), num_envs=1, num_workers=0, run_dir=run_dir)
    try:
        envs.reset(seed=0)
        proc = stranger("token", tcp_port(os.getpid()), hold_s=20)
        while proc.poll() is None:
            envs.step(np.zeros(1, dtype=np.int64))
        proc.communicate()
        assert envs.rejected_connections == 1
    finally:
        envs.close()
    again = vecbridge.make("vecbridge/Echo-v0", num_envs=1, num_workers=0, run_dir=run_dir)
    try:
        assert again.rejected_connections == 0
    finally:
        again.close()

"""Failing instances under both drivers: crashes, hangs, error replies, protocol liars, relaunches.

Every test runs with the instances driven from this process (``num_workers=0``) and from
a worker process (``num_workers=1``), and looks at the run only through the public API,
the run folder and the process table.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil
import pytest

import vecbridge
from vecbridge.errors import LaunchError, RestartBudgetExceeded, StateError, VecBridgeError
from vecbridge.vector import RestartBudget

DRIVERS = pytest.mark.parametrize("num_workers", [0, 1], ids=["in-process", "worker"])
RAW_LIAR = str(Path(__file__).resolve().parents[1] / "games" / "raw_liar.py")
ZEROS2 = np.zeros(2, dtype=np.int64)


def echo_spec(**changes) -> vecbridge.LaunchSpec:
    return replace(vecbridge.registered()["vecbridge/Echo-v0"], **changes)


@DRIVERS
def test_a_crashed_instance_is_truncated_and_relaunched(num_workers):
    envs = vecbridge.make(
        "vecbridge/Echo-v0", num_envs=3, num_workers=num_workers, crash_instances=[1], crash_at_step=3
    )
    try:
        envs.reset(seed=0)
        for _ in range(2):
            _, _, _, trunc, _ = envs.step(np.zeros(3, dtype=np.int64))
            assert not trunc.any()
        obs, rew, term, trunc, info = envs.step(np.zeros(3, dtype=np.int64))
        assert trunc.tolist() == [False, True, False] and not term.any()
        assert info["_vecbridge_error"].tolist() == [False, True, False]
        assert "instance 1" in info["vecbridge_error"][1] and "exited with status 7" in info["vecbridge_error"][1]
        assert info["vecbridge_restarts"][1] == 1
        obs, _, _, trunc, _ = envs.step(np.zeros(3, dtype=np.int64))  # the autoreset of the new instance
        assert obs[1, 0] == 0 and obs[0, 0] == 4 and not trunc.any()
    finally:
        envs.close()


@DRIVERS
def test_a_crash_in_same_step_mode_ends_the_episode_truncated_with_the_new_first_observation(num_workers):
    envs = vecbridge.make(
        "vecbridge/Echo-v0", num_envs=2, num_workers=num_workers, autoreset_mode="SameStep",
        crash_instances=[0], crash_at_step=2,
    )  # fmt: skip
    try:
        envs.reset(seed=0)
        envs.step(ZEROS2)
        obs, rew, term, trunc, info = envs.step(ZEROS2)
        assert trunc.tolist() == [True, False] and not term.any() and rew[0] == 0
        assert obs[0, 0] == 0 and obs[1, 0] == 2  # instance 0 already starts its next episode
        assert info["final_obs"][0][0] == 1  # the last observation before the crash
        assert "exited with status 7" in info["vecbridge_error"][0]
    finally:
        envs.close()


@DRIVERS
def test_the_others_keep_stepping_while_an_instance_relaunches(num_workers, tmp_path):
    # instance 0 crashes at its 3rd step; its new process takes 4 s to connect. Through
    # send/recv (batch 1), instances 1 and 2 must keep stepping meanwhile: a relaunch
    # does not block the group.
    envs = vecbridge.make(
        "vecbridge/Echo-v0", num_envs=3, num_workers=num_workers, batch_size=1, run_dir=str(tmp_path),
        crash_instances=[0], crash_at_step=3, slow_relaunch_s=4.0,
    )  # fmt: skip
    try:
        envs.async_reset(seed=0)
        steps = {0: 0, 1: 0, 2: 0}
        crashed_at = back_at = None  # the number of steps the others had done then
        give_up = time.monotonic() + 60
        while time.monotonic() < give_up:
            obs, _, _, trunc, info, ids = envs.recv(timeout=60)
            i = int(ids[0])
            steps[i] += 1
            if i == 0 and crashed_at is None and "vecbridge_error" in info:
                assert trunc[0] and "exited with status 7" in info["vecbridge_error"][0]
                crashed_at = steps[1] + steps[2]
            elif i == 0 and crashed_at is not None:  # the new instance's first answer (its reset)
                back_at = steps[1] + steps[2]
                assert obs[0, 0] == 0  # a fresh episode
                break
            envs.send(np.zeros(1, dtype=np.int64), ids)
        assert crashed_at is not None and back_at is not None
        assert back_at - crashed_at >= 200, (crashed_at, back_at)  # 4 s of relaunch: many steps of the others
        assert sorted(p.name for p in (tmp_path / "instance-0").glob("game*.log")) == ["game.log", "game.restart-1.log"]
    finally:
        envs.close()


def _pid_in_log(log: Path, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"relaunched \(pid (\d+)\)", log.read_text() if log.exists() else "")
        if found:
            return int(found.group(1))
        time.sleep(0.05)
    raise AssertionError(f"{log} never named the relaunched process")


@DRIVERS
def test_close_during_a_relaunch_ends_the_new_process_too(num_workers, tmp_path):
    envs = vecbridge.make(
        "vecbridge/Echo-v0", num_envs=2, num_workers=num_workers, batch_size=1, run_dir=str(tmp_path),
        crash_instances=[0], crash_at_step=1, slow_relaunch_s=30.0,
    )  # fmt: skip
    try:
        envs.async_reset(seed=0)
        envs.send(ZEROS2)
        for _ in range(2):  # instance 0's step fails (its new process sleeps 30 s before connecting)
            envs.recv(timeout=30)
        new_process = psutil.Process(_pid_in_log(tmp_path / "instance-0" / "game.restart-1.log"))
        assert new_process.is_running()
    finally:
        envs.close()
    assert not new_process.is_running()  # killed, not left to connect to nobody (the fixture checks the rest)


@DRIVERS
def test_a_hung_instance_is_timed_out_and_relaunched(num_workers):
    spec = echo_spec(step_timeout=3.0).with_config(hang_instances=[0], hang_at_step=2)
    envs = vecbridge.make(spec, num_envs=2, num_workers=num_workers)
    try:
        envs.reset(seed=0)
        envs.step(ZEROS2)
        _, _, _, trunc, info = envs.step(ZEROS2)
        assert trunc.tolist() == [True, False]
        assert "no reply to step within 3 s (hung)" in info["vecbridge_error"][0]
        obs, _, _, trunc, _ = envs.step(ZEROS2)
        assert obs[0, 0] == 0 and not trunc.any()  # the new process's first observation
    finally:
        envs.close()


@DRIVERS
def test_an_error_reply_to_step_counts_as_a_failure(num_workers):
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2, num_workers=num_workers, fail_instances=[1], fail_at_step=1)
    try:
        envs.reset(seed=0)
        _, _, _, trunc, info = envs.step(ZEROS2)
        assert trunc.tolist() == [False, True]
        assert "the game answered step with an error" in info["vecbridge_error"][1]
        assert "injected failure at step 1" in info["vecbridge_error"][1]
    finally:
        envs.close()


@DRIVERS
def test_a_refused_reset_raises_once_the_others_are_done_and_the_env_stays_usable(num_workers):
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=3, num_workers=num_workers)
    try:
        for _ in range(2):  # (it used to leave the env stuck: "recv() them first", and recv() spun)
            with pytest.raises(vecbridge.GameError, match=r"^instance 1: the game failed to reset: .*refused on purpose") as err:
                envs.reset(seed=0, options={"refuse_instances": [1]})
            assert err.value.instance == 1 and "RuntimeError" in err.value.remote_traceback
        with pytest.raises(vecbridge.GameError, match=r"^instance 0: "):  # the lowest instance of those refused
            envs.reset(seed=0, options={"refuse_instances": [2, 0]})
        obs, _ = envs.reset(seed=5)
        assert obs[:, 3].tolist() == [0, 1, 2] and obs[:, 0].tolist() == [0, 0, 0]
        obs, _, _, trunc, _ = envs.step(np.zeros(3, dtype=np.int64))
        assert obs[:, 0].tolist() == [1, 1, 1] and not trunc.any()
        # a step right after a refused reset resets that instance (its episode never started)
        with pytest.raises(vecbridge.GameError):
            envs.reset(seed=0, options={"refuse_instances": [1]})
        obs, rew, _, _, _ = envs.step(np.zeros(3, dtype=np.int64))
        assert obs[:, 0].tolist() == [1, 0, 1] and rew[1] == 0.0  # the others were reset: their first step
        assert envs.get_attr("instance") == (0, 1, 2)
    finally:
        envs.close()


@DRIVERS
def test_a_crash_during_a_call_raises_from_the_call_and_the_instance_comes_back(num_workers):
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2, num_workers=num_workers, crash_instances=[1], crash_at_step=1)
    try:
        envs.reset(seed=0)
        with pytest.raises(VecBridgeError, match=r"instance 1 failed: .*exited with status"):
            envs.call("_faults")  # step 1 of instance 1: it crashes inside the call
        obs, rew, _, trunc, _ = envs.step(ZEROS2)  # its new process resets in place of this step
        assert obs[1, 0] == 0 and rew[1] == 0 and not trunc.any()
    finally:
        envs.close()


@DRIVERS
@pytest.mark.parametrize(
    "lie, expected",
    [
        ("dtype", r"expected a float32 array of shape \[4\].*got a float64 array of shape \[4\]"),
        ("shape", r"expected a float32 array of shape \[4\].*got a float32 array of shape \[5\]"),
    ],
)
def test_a_game_lying_about_its_spaces_fails_at_its_first_observation(num_workers, lie, expected):
    spec = vecbridge.LaunchSpec(command=["{python}", RAW_LIAR], env={"LIE": lie})
    envs = vecbridge.make(spec, num_envs=2, num_workers=num_workers)
    try:
        with pytest.raises(LaunchError) as err:
            envs.reset(seed=0)
        assert err.value.stage == "first observation" and err.value.instance in (0, 1)
        assert "before its first observation" in str(err.value) and "ArrayMismatch" in str(err.value)
        assert re.search(expected, str(err.value)), str(err.value)
        assert err.value.log_path.endswith("game.log")
    finally:
        envs.close()


@DRIVERS
def test_a_crash_before_the_first_observation_at_start_up_is_a_launch_error(num_workers):
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2, num_workers=num_workers, launch_fault="reset", faulty_launches=[0])
    try:
        with pytest.raises(LaunchError) as err:
            envs.reset(seed=0)  # not retried, whatever the budget: a start-up failure
        assert err.value.stage == "first observation"
        assert "stage: first observation" in str(err.value) and "exited with status 7" in str(err.value)
        assert "launch 0" in err.value.log_tail
    finally:
        envs.close()


@DRIVERS
def test_a_launch_error_beside_a_connection_still_owing_its_hello_is_the_launch_error(num_workers, capfd):
    # instance 1 connects and says nothing; instance 0 exits. Closing the group with that connection
    # still in the gate raised "ValueError: I/O operation on closed epoll object" in place of the LaunchError.
    code = ("import socket, os, time; s = socket.create_connection((os.environ['VECBRIDGE_HOST'], "
            "int(os.environ['VECBRIDGE_PORT']))); time.sleep(60)")  # fmt: skip
    spec = vecbridge.LaunchSpec(["sh", "-c", 'if [ "$VECBRIDGE_INSTANCE" = 0 ]; then sleep 0.5; exit 3; fi; '
                                             'exec {python} -c "$CODE"'], env={"CODE": code}, startup_timeout=20)
    with pytest.raises(LaunchError, match=r"instance 0 exited with status 3 before it connected"):
        vecbridge.make(spec, num_envs=2, num_workers=num_workers)
    assert "ValueError" not in capfd.readouterr().err  # (a worker printed it as it closed)


@DRIVERS
def test_the_start_up_timeout_expiring_is_a_launch_error(num_workers):
    spec = echo_spec(startup_timeout=2.0).with_config(launch_fault="hang", faulty_launches=[0])
    started = time.monotonic()
    with pytest.raises(LaunchError) as err:
        vecbridge.make(spec, num_envs=2, num_workers=num_workers)
    assert err.value.stage == "connected" and "did not connect to vecbridge within 2 s" in str(err.value)
    assert time.monotonic() - started < 60  # the game hangs for an hour


@DRIVERS
@pytest.mark.parametrize(
    "fault, reason",
    [
        ("crash", r"exited with status 5 before it connected"),
        ("hang", r"did not connect to vecbridge within 10 s"),
        ("spaces", r"declares observation_space Box\(.*\(5,\).* but instance 0 declared Box\(.*\(4,\)"),
    ],
)
def test_a_relaunch_that_fails_is_retried_within_the_budget(num_workers, fault, reason, tmp_path):
    # instance 0 crashes at its 2nd step; its first two new processes fail (crash before
    # connecting, never connect, or declare other spaces); the third serves. (A start-up
    # timeout short enough for a quick test, long enough for a start on a loaded machine.)
    spec = echo_spec(startup_timeout=10.0 if fault == "hang" else 60.0).with_config(
        crash_instances=[0], crash_at_step=2, launch_fault=fault, faulty_launches=[1, 2]
    )
    envs = vecbridge.make(spec, num_envs=2, num_workers=num_workers, run_dir=str(tmp_path), restart_budget=RestartBudget(5))
    try:
        envs.reset(seed=0)
        envs.step(ZEROS2)
        _, _, _, trunc, info = envs.step(ZEROS2)
        assert trunc.tolist() == [True, False] and info["vecbridge_restarts"][0] == 1
        obs, _, _, trunc, info = envs.step(ZEROS2)  # the autoreset waits for the third new process
        assert obs[0, 0] == 0 and not trunc.any()
        assert info["vecbridge_restarts"][0] == 3 and re.search(reason, info["vecbridge_error"][0]), info
        logs = sorted(p.name for p in (tmp_path / "instance-0").glob("game*.log"))
        assert logs == ["game.log", "game.restart-1.log", "game.restart-2.log", "game.restart-3.log"]
    finally:
        envs.close()


@DRIVERS
def test_relaunches_that_keep_failing_spend_the_budget(num_workers):
    spec = echo_spec().with_config(crash_instances=[0], crash_at_step=1, launch_fault="crash", faulty_launches=[1, 2, 3])
    envs = vecbridge.make(spec, num_envs=2, num_workers=num_workers, restart_budget=RestartBudget(max_restarts=2))
    try:
        envs.reset(seed=0)
        with pytest.raises(RestartBudgetExceeded) as err:
            for _ in range(5):
                envs.step(ZEROS2)
        assert err.value.instance == 0 and "2 restart(s) used of 2 per run" in str(err.value)
        assert "exited with status 5 before it connected" in err.value.last_error
        assert err.value.log_path.endswith("game.restart-2.log")
        assert str(err.value).count("--- last lines of the log ---") == 1, str(err.value)  # (it used to come twice)
    finally:
        envs.close()


@DRIVERS
def test_a_spent_restart_budget_raises_naming_instance_and_log(num_workers):
    envs = vecbridge.make(
        "vecbridge/Echo-v0", num_envs=2, num_workers=num_workers, crash_instances=[0], crash_at_step=1,
        restart_budget=RestartBudget(max_restarts=2),
    )  # fmt: skip
    try:
        envs.reset(seed=0)
        with pytest.raises(RestartBudgetExceeded) as err:
            for _ in range(10):
                envs.step(ZEROS2)  # each new instance crashes at its first step
        assert err.value.instance == 0
        assert "instance 0" in str(err.value) and "2 restart(s) used of 2" in str(err.value)
        assert err.value.log_path.endswith(".log")
        # the run is over: every later call says so (step used to say "recv() them first", and recv() spun)
        for call in (lambda: envs.step(ZEROS2), lambda: envs.reset(), lambda: envs.recv(), lambda: envs.get_attr("t")):
            with pytest.raises(StateError, match=r"stopped at an error it cannot go on from \(RestartBudgetExceeded: "
                                                 r"instance 0 failed .*close\(\) it and make a new one"):  # fmt: skip
                call()
    finally:
        envs.close()


@DRIVERS
@pytest.mark.parametrize("period_s, pause_s, survives", [(60.0, 0.0, False), (1.0, 1.2, True)])
def test_the_restart_budget_limits_restarts_per_period(num_workers, period_s, pause_s, survives):
    # every process of instance 0 crashes at its first step: a crash every other step
    budget = RestartBudget(max_restarts=10, max_per_period=1, period_s=period_s)
    envs = vecbridge.make(
        "vecbridge/Echo-v0", num_envs=2, num_workers=num_workers, crash_instances=[0], crash_at_step=1, restart_budget=budget
    )
    try:
        envs.reset(seed=0)
        _, _, _, trunc, _ = envs.step(ZEROS2)  # the first crash: one restart, the period's only one
        assert trunc[0]
        envs.step(ZEROS2)  # the autoreset
        time.sleep(pause_s)
        if survives:
            _, _, _, trunc, info = envs.step(ZEROS2)  # the second crash, once the first left the period
            assert trunc[0] and info["vecbridge_restarts"][0] == 2
        else:
            with pytest.raises(RestartBudgetExceeded, match=r"1 restart\(s\) used of 10 per run, 1 of 1 per 60 s"):
                envs.step(ZEROS2)
    finally:
        envs.close()


FATAL_AFTER_FIRST = """
import os, sys, time
flag = os.path.join(sys.argv[1], "launched-%s" % os.environ["VECBRIDGE_INSTANCE"])
if os.path.exists(flag):  # a relaunch: this one cannot start, and says so in its log
    print("error: the cartridge slot is empty", flush=True)
    time.sleep(120)
open(flag, "w").close()
os.execv(sys.executable, [sys.executable, "-m", "vecbridge.game", "vecbridge.games.echo:EchoEnv"])
"""


@DRIVERS
def test_a_launch_or_relaunch_whose_log_says_it_cannot_start_fails_at_once(num_workers, tmp_path):
    spec = vecbridge.LaunchSpec(["{python}", "-c", FATAL_AFTER_FIRST, str(tmp_path)], name="Echo", startup_timeout=60,
                                fatal_log_lines=("cartridge slot is empty",))  # fmt: skip
    envs = vecbridge.make(spec, num_envs=2, num_workers=num_workers, restart_budget=RestartBudget(max_restarts=1))
    try:
        envs.reset(seed=0)
        [victim] = [p for p in psutil.Process().children(recursive=True)
                    if "vecbridge.game" in " ".join(p.cmdline()) and p.environ().get("VECBRIDGE_INSTANCE") == "1"]  # fmt: skip
        t0 = time.monotonic()
        victim.kill()
        with pytest.raises(RestartBudgetExceeded, match="printed 'error: the cartridge slot is empty'"):
            for _ in range(200):
                envs.step(np.zeros(2, dtype=np.int64))
        assert time.monotonic() - t0 < 30  # each relaunch failed at once, not after its 60-s start-up timeout
    finally:
        envs.close()
    with pytest.raises(LaunchError, match="printed 'error: the cartridge slot is empty'") as err:
        vecbridge.make(spec, num_envs=2, num_workers=num_workers)  # both flags exist now: the launch itself fails
    assert err.value.stage == "connected"


@DRIVERS
def test_a_game_that_ends_inside_a_frame_is_reported_with_how_it_ended(num_workers):
    spec = vecbridge.LaunchSpec(command=["{python}", RAW_LIAR], env={"LIE": "half"})
    envs = vecbridge.make(spec, num_envs=1, num_workers=num_workers)
    try:
        envs.reset(seed=0)
        for _ in range(3):
            _, _, _, truncated, info = envs.step(np.zeros(1, dtype=np.int64))
        error = info["vecbridge_error"][0]
        assert truncated[0] and "closed the connection inside a frame" in error and "exited with status 9" in error, error
    finally:
        envs.close()

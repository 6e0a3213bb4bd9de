"""The vector env against real game processes over real sockets."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import vecbridge
from vecbridge.errors import InvalidAction, LaunchError, RestartBudgetExceeded, StateError
from vecbridge.vector import RestartBudget


@pytest.fixture
def echo4():
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=4, num_workers=2, episode_length=5)
    yield envs
    envs.close()


def test_reset_and_step_values(echo4):
    obs, info = echo4.reset(seed=0)
    assert obs.shape == (4, 4) and obs.dtype == np.float32
    assert info == {}
    assert obs[:, 3].tolist() == [0, 1, 2, 3]  # each row comes from its own instance
    assert (obs[:, 0] == 0).all() and (obs[:, 1] == -1).all()
    actions = np.array([0, 1, 1, 0])
    obs, rew, term, trunc, info = echo4.step(actions)
    assert obs[:, 1].tolist() == actions.tolist()
    assert (obs[:, 0] == 1).all()
    assert rew.tolist() == [1.0, 0.0, 0.0, 1.0]  # reward 1 when action == step parity (0)
    assert not term.any() and not trunc.any()


def test_seeding_is_per_instance_and_reproducible(echo4):
    a, _ = echo4.reset(seed=42)
    b, _ = echo4.reset(seed=42)
    c, _ = echo4.reset(seed=[42, 43, 44, 45])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)  # seed=int means seeds int, int+1, ...
    assert len(set(a[:, 2].tolist())) > 1


def test_next_step_autoreset(echo4):
    echo4.reset(seed=0)
    for _ in range(4):
        echo4.step(np.zeros(4, dtype=np.int64))
    obs, rew, term, trunc, _ = echo4.step(np.zeros(4, dtype=np.int64))
    assert term.all() and (obs[:, 0] == 5).all()
    obs, rew, term, trunc, _ = echo4.step(np.ones(4, dtype=np.int64))  # this step is a reset
    assert (obs[:, 0] == 0).all() and (obs[:, 1] == -1).all()
    assert (rew == 0).all() and not term.any() and not trunc.any()
    assert echo4.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP


@pytest.mark.parametrize("num_workers", [0, 1])
def test_same_step_autoreset(num_workers):
    envs = vecbridge.make(
        "vecbridge/Echo-v0", num_envs=2, num_workers=num_workers, autoreset_mode="SameStep", episode_length=3
    )
    try:
        envs.reset(seed=0)
        envs.step(np.zeros(2, dtype=np.int64))
        envs.step(np.zeros(2, dtype=np.int64))
        obs, rew, term, trunc, info = envs.step(np.zeros(2, dtype=np.int64))
        assert term.all()
        assert (obs[:, 0] == 0).all()  # already the first observation of the next episode
        assert info["_final_obs"].all()
        assert [fo[0] for fo in info["final_obs"]] == [3.0, 3.0]
        assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    finally:
        envs.close()


def test_reset_mask_resets_only_masked_instances(echo4):
    echo4.reset(seed=0)
    echo4.step(np.zeros(4, dtype=np.int64))
    obs, _ = echo4.reset(options={"reset_mask": np.array([True, False, True, False])})
    assert obs[:, 0].tolist() == [0, 1, 0, 1]


def test_infos_are_dicts_of_arrays_with_masks():
    envs = vecbridge.make("vecbridge/Catch-v0", num_envs=3, balls=1, height=3)
    try:
        envs.reset(seed=1)
        _, _, term, _, info = envs.step(np.ones(3, dtype=np.int64))
        assert not term.any() and info == {}
        _, _, term, _, info = envs.step(np.ones(3, dtype=np.int64))
        assert term.all()
        assert info["_caught"].tolist() == [True, True, True]
        assert info["caught"].shape == (3,)
    finally:
        envs.close()


def test_async_wait_state_is_guarded(echo4):
    echo4.reset(seed=0)
    with pytest.raises(StateError, match="step_async"):
        echo4.step_wait()
    echo4.step_async(np.zeros(4, dtype=np.int64))
    with pytest.raises(StateError, match="step_wait"):
        echo4.reset()
    echo4.step_wait(timeout=30)


def test_wrong_actions_are_rejected_with_the_instance_named(echo4):
    echo4.reset(seed=0)
    with pytest.raises(InvalidAction, match=r"instance 2: expected an action of an integer in \[0, 1\]"):
        echo4.step(np.array([0, 1, 5, 0]))
    with pytest.raises(InvalidAction, match=r"shape \[4\]"):
        echo4.step(np.zeros(3, dtype=np.int64))
    echo4.step(np.zeros(4, dtype=np.int64))  # still usable


@pytest.mark.parametrize("num_workers", [0, 2])
def test_call_get_attr_set_attr_render(num_workers):
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=3, num_workers=num_workers, render_mode="rgb_array")
    try:
        envs.reset(seed=0)
        assert [r["instance"] for r in envs.call("echo", 7, k="v")] == [0, 1, 2]
        assert envs.call("echo", 7, k="v")[1]["args"] == [7]
        envs.set_attr("t", [10, 20, 30])
        assert envs.get_attr("t") == (10, 20, 30)
        frames = envs.render()
        assert len(frames) == 3 and frames[0].shape == (16, 16, 3) and frames[1][0, 0, 0] == 20
    finally:
        envs.close()


@pytest.mark.parametrize("num_workers", [0, 1])
def test_async_batch_send_recv_returns_the_fast_instances_first(num_workers):
    envs = vecbridge.make(
        "vecbridge/Echo-v0", num_envs=4, num_workers=num_workers, batch_size=2, slow_instances=[0, 1], slow_factor=300
    )  # instances 0 and 1 sleep 0.3 s per step
    try:
        envs.async_reset(seed=0)
        obs, rew, term, trunc, info, ids = envs.recv()
        assert len(ids) == 2 and obs.shape == (2, 4)
        envs.send(np.zeros(4, dtype=np.int64), np.arange(4))
        obs, rew, term, trunc, info, ids = envs.recv(timeout=30)
        assert sorted(ids.tolist()) == [2, 3]
        assert obs[:, 3].tolist() == ids.tolist() and info["env_id"].tolist() == ids.tolist()
        with pytest.raises(StateError, match="already stepping"):
            envs.send(np.zeros(1, dtype=np.int64), [0])
        obs, _, _, _, _, ids = envs.recv(timeout=30)
        assert sorted(ids.tolist()) == [0, 1] and (obs[:, 0] == 1).all()
    finally:
        envs.close()


@pytest.mark.parametrize("num_workers", [0, 1])
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


@pytest.mark.parametrize("num_workers", [0, 1])
def test_the_others_keep_stepping_while_an_instance_relaunches(num_workers):
    # instance 0 crashes at its 3rd step; its new process takes 4 s to connect. Through
    # send/recv (batch 1), instances 1 and 2 must keep stepping meanwhile: a relaunch
    # does not block the group.
    envs = vecbridge.make(
        "vecbridge/Echo-v0", num_envs=3, num_workers=num_workers, batch_size=1,
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
        logs = sorted(p.name for p in Path(envs._run.run_dir, "instance-0").glob("game*.log"))
        assert logs == ["game.log", "game.restart-1.log"]
    finally:
        envs.close()


def test_close_during_a_relaunch_ends_the_new_process_too():
    envs = vecbridge.make(
        "vecbridge/Echo-v0", num_envs=2, batch_size=1, crash_instances=[0], crash_at_step=1, slow_relaunch_s=30.0
    )
    try:
        envs.async_reset(seed=0)
        envs.send(np.zeros(2, dtype=np.int64))
        for _ in range(2):  # instance 0's step fails (its new process sleeps 30 s before connecting)
            *_, info, ids = envs.recv(timeout=30)
        relaunching = envs._pipes[0].group.relauncher.active
        assert list(relaunching) == [0] and relaunching[0].process.poll() is None
        process = relaunching[0].process
    finally:
        envs.close()
    assert process.poll() is not None  # killed, not left to connect to nobody (the fixture checks the rest)


def test_a_relaunch_that_fails_is_retried_within_the_budget():
    # every process of instance 0 after the first crashes at once: each relaunch fails, and
    # the budget (not a hang) ends the run, naming the launch failure
    envs = vecbridge.make(
        "vecbridge/Echo-v0", num_envs=2, crash_instances=[0], crash_at_step=2,
        restart_budget=RestartBudget(max_restarts=3),
    )  # fmt: skip
    try:
        envs.reset(seed=0)
        envs.call_at([0], "__setattr__", "crash_at", 1)  # the next steps of instance 0 crash at once
        with pytest.raises(RestartBudgetExceeded) as err:
            for _ in range(20):
                envs.step(np.zeros(2, dtype=np.int64))
        assert err.value.instance == 0 and "3 restart(s) used of 3" in str(err.value)
    finally:
        envs.close()


def test_a_hung_instance_is_timed_out_and_relaunched():
    spec = vecbridge.registered()["vecbridge/Echo-v0"]
    from dataclasses import replace

    spec = replace(spec, step_timeout=3.0).with_config(hang_instances=[0], hang_at_step=2)
    envs = vecbridge.make(spec, num_envs=2)
    try:
        envs.reset(seed=0)
        envs.step(np.zeros(2, dtype=np.int64))
        _, _, _, trunc, info = envs.step(np.zeros(2, dtype=np.int64))
        assert trunc.tolist() == [True, False]
        assert "hung" in info["vecbridge_error"][0]
    finally:
        envs.close()


def test_an_error_reply_to_step_counts_as_a_failure():
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2, fail_instances=[1], fail_at_step=1)
    try:
        envs.reset(seed=0)
        _, _, _, trunc, info = envs.step(np.zeros(2, dtype=np.int64))
        assert trunc.tolist() == [False, True]
        assert "injected failure at step 1" in info["vecbridge_error"][1]
    finally:
        envs.close()


@pytest.mark.parametrize("num_workers", [0, 1])
def test_a_spent_restart_budget_raises_naming_instance_and_log(num_workers):
    envs = vecbridge.make(
        "vecbridge/Echo-v0", num_envs=2, num_workers=num_workers, crash_instances=[0], crash_at_step=1,
        restart_budget=RestartBudget(max_restarts=2),
    )
    try:
        envs.reset(seed=0)
        with pytest.raises(RestartBudgetExceeded) as err:
            for _ in range(10):
                envs.step(np.zeros(2, dtype=np.int64))  # each new instance crashes at its first step
        assert err.value.instance == 0
        assert "instance 0" in str(err.value) and "2 restart(s) used of 2" in str(err.value)
        assert err.value.log_path.endswith(".log")
    finally:
        envs.close()


RAW_LIAR = str(Path(__file__).resolve().parents[1] / "games" / "raw_liar.py")


@pytest.mark.parametrize(
    "lie, expected",
    [
        ("dtype", r"expected a float32 array of shape \[4\].*got a float64 array of shape \[4\]"),
        ("shape", r"expected a float32 array of shape \[4\].*got a float32 array of shape \[5\]"),
    ],
)
def test_a_game_lying_about_its_spaces_is_a_clear_failure(lie, expected):
    spec = vecbridge.LaunchSpec(command=["{python}", RAW_LIAR], env={"LIE": lie})
    envs = vecbridge.make(spec, num_envs=2, restart_budget=RestartBudget(0))
    try:
        with pytest.raises(RestartBudgetExceeded, match=r"instance \d failed before its first observation") as err:
            envs.reset(seed=0)
        assert re.search(expected, str(err.value)), str(err.value)
        assert "ArrayMismatch" in str(err.value)
    finally:
        envs.close()


def test_a_game_written_from_the_protocol_page_alone_works():
    envs = vecbridge.make(vecbridge.LaunchSpec(command=["{python}", RAW_LIAR]), num_envs=2)
    try:
        obs, _ = envs.reset(seed=0)
        obs, *_ = envs.step(np.array([0, 1]))
        assert obs[:, 0].tolist() == [1.0, 1.0]
    finally:
        envs.close()


def test_a_bad_token_fails_the_handshake():
    spec = vecbridge.LaunchSpec(command=["{python}", RAW_LIAR], env={"LIE": "token"}, startup_timeout=10)
    with pytest.raises(LaunchError) as err:
        vecbridge.make(spec, num_envs=1)
    assert err.value.stage == "handshake" and "BadToken" in str(err.value)


@pytest.mark.parametrize("stage", ["spawned", "connected"])
def test_launch_failures_name_the_stage_and_show_the_log(stage):
    if stage == "spawned":
        spec = vecbridge.LaunchSpec(command=["/nonexistent/game-binary"])
        with pytest.raises(LaunchError) as err:
            vecbridge.make(spec, num_envs=2)
    else:
        with pytest.raises(LaunchError) as err:
            vecbridge.make("vecbridge/Echo-v0", num_envs=2, crash_on_launch=True)
        assert "crash_on_launch is set" in err.value.log_tail
    assert err.value.stage == stage
    assert f"stage: {stage}" in str(err.value)


def test_close_is_idempotent_and_use_after_close_is_an_error():
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2)
    envs.close()
    envs.close()
    with pytest.raises(StateError, match="closed"):
        envs.reset()


def test_dict_and_image_observations():
    envs = vecbridge.make("vecbridge/EchoImage-v0", num_envs=2)
    try:
        obs, _ = envs.reset(seed=0)
        assert obs.shape == (2, 84, 84, 3) and obs.dtype == np.uint8
        obs, *_ = envs.step(np.array([1, 0]))
        assert obs[:, 0, 0, 0].tolist() == [1, 1] and obs[:, 0, 1, 0].tolist() == [1, 0]
        assert obs[:, 0, 3, 0].tolist() == [0, 1]
    finally:
        envs.close()


def test_the_default_worker_layout_follows_the_core_count(monkeypatch):
    from vecbridge.vector.vector_env import default_num_workers

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert default_num_workers(8) == 0  # small machine: this process drives the instances
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert default_num_workers(8) == 8 and default_num_workers(100) == 16


def test_gymnasium_make_vec_uses_the_vector_entry_point():
    import gymnasium as gym

    envs = gym.make_vec("vecbridge/Echo-v0", num_envs=3, num_workers=1)
    try:
        assert isinstance(envs.unwrapped, vecbridge.BridgeVectorEnv)
        obs, _ = envs.reset(seed=1)
        assert obs.shape == (3, 4)
    finally:
        envs.close()


def test_gymnasium_backend_gives_a_plain_async_vector_env():
    import gymnasium as gym

    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2, backend="gymnasium")
    try:
        assert type(envs) is gym.vector.AsyncVectorEnv
        obs, _ = envs.reset(seed=0)
        obs, rew, *_ = envs.step(np.array([0, 1]))
        assert obs[:, 1].tolist() == [0, 1] and rew.tolist() == [1.0, 0.0]
    finally:
        envs.close()

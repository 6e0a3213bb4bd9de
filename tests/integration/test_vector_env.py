"""The vector env's API against real game processes over real sockets (failures: test_vector_failures.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import vecbridge
from vecbridge.errors import GameError, InstanceTimeout, InvalidAction, LaunchError, StateError

DRIVERS = pytest.mark.parametrize("num_workers", [0, 1], ids=["in-process", "worker"])


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


@pytest.mark.parametrize("num_workers", [0, 1])
def test_a_step_before_the_first_reset_is_refused_and_the_env_stays_usable(num_workers):
    with vecbridge.make("vecbridge/Echo-v0", num_envs=2, num_workers=num_workers) as envs:
        for attempt in (lambda: envs.step(np.zeros(2, np.int64)), lambda: envs.send(np.zeros(1, np.int64), [1])):
            with pytest.raises(StateError, match=r"before the first reset: call reset\(\) first"):
                attempt()
        obs, _ = envs.reset(seed=3)
        obs, *_ = envs.step(np.ones(2, np.int64))
        assert obs.shape == (2, 4)
    assert envs.closed  # the with block closed it


@pytest.mark.parametrize("num_workers", [0, 1])
def test_ctrl_c_during_a_wait_leaves_it_pending_and_the_wait_again_returns_the_batch(num_workers):
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2, num_workers=num_workers, delay_s=0.5, episode_length=100)
    try:
        envs.reset(seed=0)
        signal.setitimer(signal.ITIMER_REAL, 0.2)  # Ctrl-C while the games still work on the step
        with pytest.raises(KeyboardInterrupt):
            envs.step(np.array([1, 0]))
        with pytest.raises(StateError, match=r"while a step is pending; call step_wait\(\) first"):
            envs.step(np.array([1, 0]))
        obs, reward, terminated, truncated, info = envs.step_wait(timeout=30)  # the interrupted step's batch
        assert obs.shape == (2, 4) and not truncated.any() and "vecbridge_error" not in info
        envs.step(np.array([0, 1]))  # and on as usual
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        envs.close()


def test_wrong_actions_are_rejected_with_the_instance_named(echo4):
    echo4.reset(seed=0)
    with pytest.raises(InvalidAction, match=r"instance 2: expected an action of an integer in \[0, 1\]"):
        echo4.step(np.array([0, 1, 5, 0]))
    with pytest.raises(InvalidAction, match=r"shape \[4\]"):
        echo4.step(np.zeros(3, dtype=np.int64))
    with pytest.raises(InvalidAction, match=r"instance 1: expected an action of an integer in \[0, 1\].*got np.float64\(0.5\)"):
        echo4.step(np.array([0.0, 0.5, 1.0, 1.0]))  # a cast would have made it 0 without a word
    echo4.step(np.zeros(4, dtype=np.int64))  # still usable


def test_bad_rows_seeds_and_options_are_named(echo4):
    echo4.reset(seed=0)
    with pytest.raises(InvalidAction, match=r"instance 3: expected an action of an integer in \[0, 1\].*, got None$"):
        echo4.step(np.array([0, 1, 1, None], dtype=object))  # rows 0-2 are fine (it blamed row 0)
    with pytest.raises(InvalidAction, match=r"instance 2: expected an action of .*, got 'a'$"):
        echo4.step(np.array([0, 1, "a", 0], dtype=object))
    with pytest.raises(TypeError, match=r"seed must be an integer, a list of 4 integers \(or None\), or None; "
                                        r"got array\(3\) \(ndarray\) \(a 0-d array: pass int\(seed\)\)"):  # fmt: skip
        echo4.reset(seed=np.array(3))  # (it was "len() of unsized object")
    with pytest.raises(TypeError, match=r"options must be a dict \(or None\), got 'x' \(str\)"):
        echo4.reset(options="x")  # (it was "dictionary update sequence element #0 ...")
    obs, *_ = echo4.step(np.array([0, 1, 1.0, True], dtype=object))  # whole numbers in an object array are fine
    assert obs[:, 1].tolist() == [0, 1, 1, 1]


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


@DRIVERS
@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_autoreset_through_send_and_recv(num_workers, mode):
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2, num_workers=num_workers, autoreset_mode=mode, episode_length=2)
    zeros = np.zeros(2, dtype=np.int64)
    try:
        envs.async_reset(seed=0)
        envs.recv(timeout=30)
        envs.send(zeros)
        envs.recv(timeout=30)
        envs.send(zeros)
        obs, rew, term, trunc, info, ids = envs.recv(timeout=30)  # the episodes' last step
        assert term.all() and sorted(ids.tolist()) == [0, 1]
        envs.send(zeros)
        after, rew_after, term_after, _, _, _ = envs.recv(timeout=30)
        if mode == "NextStep":
            assert (obs[:, 0] == 2).all()
            assert (after[:, 0] == 0).all() and (rew_after == 0).all() and not term_after.any()  # this step was a reset
        else:
            assert (obs[:, 0] == 0).all() and [fo[0] for fo in info["final_obs"]] == [2.0, 2.0]
            assert (after[:, 0] == 1).all() and not term_after.any()
    finally:
        envs.close()


@DRIVERS
def test_a_masked_reset_cancels_only_its_instances_autoreset(num_workers):
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2, num_workers=num_workers, episode_length=2)
    zeros = np.zeros(2, dtype=np.int64)
    try:
        envs.reset(seed=0)
        envs.step(zeros)
        _, _, term, _, _ = envs.step(zeros)
        assert term.all()
        obs, _ = envs.reset(options={"reset_mask": np.array([True, False])})
        assert obs[:, 0].tolist() == [0, 2]
        obs, rew, term, _, _ = envs.step(zeros)
        assert obs[:, 0].tolist() == [1, 0] and rew[1] == 0 and not term.any()  # instance 1 autoresets now
    finally:
        envs.close()


@pytest.mark.parametrize("mask", [np.array([True, False]), np.array([1, 0, 1, 0]), np.ones((2, 2), dtype=bool)])
def test_an_invalid_reset_mask_is_refused(echo4, mask):
    echo4.reset(seed=0)
    with pytest.raises(ValueError, match=r"options\['reset_mask'\] must be a bool array of shape \(4,\)"):
        echo4.reset(options={"reset_mask": mask})
    obs, _ = echo4.reset(options={"reset_mask": [True, False, False, False]})  # a list of bools is fine
    assert obs.shape == (4, 4)


@DRIVERS
def test_step_wait_and_recv_time_out_naming_the_slow_instance(num_workers):
    envs = vecbridge.make(
        "vecbridge/Echo-v0", num_envs=2, num_workers=num_workers, slow_instances=[1], slow_factor=2000
    )  # instance 1 sleeps 2 s per step
    try:
        envs.reset(seed=0)
        envs.step_async(np.zeros(2, dtype=np.int64))
        with pytest.raises(InstanceTimeout, match=r"step_wait: instances \[(0, )?1\] did not answer within 0.3 s; "
                                                  r"the step is still pending: call step_wait\(\) again"):  # fmt: skip
            envs.step_wait(timeout=0.3)
        with pytest.raises(StateError, match=r"while a step is pending; call step_wait\(\) first"):
            envs.step(np.zeros(2, dtype=np.int64))  # refused, and nothing changed
        obs, rewards, *_ = envs.step_wait(timeout=30)  # the late step: the whole batch
        assert obs[:, 0].tolist() == [1.0, 1.0] and rewards.shape == (2,)  # both instances' first step
        envs.step(np.zeros(2, dtype=np.int64))  # lockstep goes on
        envs.send(np.zeros(1, dtype=np.int64), [1])
        with pytest.raises(InstanceTimeout, match=r"recv\(\): only 0 of 1 instances ready after 0.3 s; still stepping: \[1\]"):
            envs.recv(timeout=0.3)
        *_, ids = envs.recv(timeout=30)
        assert ids.tolist() == [1]
    finally:
        envs.close()


def test_recv_with_nothing_in_flight_is_an_error(echo4):
    with pytest.raises(StateError, match="recv\\(\\) with nothing in flight"):
        echo4.recv()
    echo4.async_reset(seed=0)
    echo4.recv(timeout=30)
    with pytest.raises(StateError, match="nothing in flight"):
        echo4.recv()


@pytest.mark.parametrize(
    "ids, match",
    [([4], r"must be in \[0, 4\), got \[4\]"), ([-1], r"must be in \[0, 4\)"), ([0, 0], "twice"), ([0.5], "integers")],
)
def test_bad_env_ids_are_refused(echo4, ids, match):
    echo4.async_reset(seed=0)
    with pytest.raises(ValueError, match=match):
        echo4.send(np.zeros(len(ids), dtype=np.int64), ids)
    with pytest.raises(ValueError, match=match):
        echo4.call_at(ids, "echo")
    echo4.send(np.zeros(2, dtype=np.int64), [2, 3])  # still usable
    *_, got = echo4.recv(timeout=30)
    assert sorted(got.tolist()) == [0, 1, 2, 3]


@DRIVERS
def test_call_errors_name_the_instance_and_leave_the_env_usable(num_workers):
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2, num_workers=num_workers)
    try:
        envs.reset(seed=0)
        with pytest.raises(GameError, match=r"instance 0: the game failed the call: AttributeError") as err:
            envs.call("no_such_method")
        assert err.value.instance == 0 and "Traceback" in err.value.remote_traceback
        with pytest.raises(GameError, match=r"instance 1: .*no_such_attribute"):
            envs.call_at([1], "__getattr__", "no_such_attribute")
        with pytest.raises(GameError, match=r"instance 0: .*no_such_attribute"):
            envs.get_attr("no_such_attribute")
        with pytest.raises(ValueError, match=r"one value per instance \(2\), got 3"):
            envs.set_attr("t", [1, 2, 3])
        envs.send(np.zeros(1, dtype=np.int64), [0])
        with pytest.raises(StateError, match=r"cannot call while instances \[0\] are stepping"):
            envs.call("echo")
        envs.recv(timeout=30)
        assert envs.call("echo", 1)[1] == {"args": [1], "kwargs": {}, "instance": 1}
    finally:
        envs.close()


def test_each_instance_sees_its_own_private_folders(tmp_path):
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2, run_dir=str(tmp_path))
    try:
        for i, seen in enumerate(envs.call("environment")):
            folder = Path(os.path.realpath(tmp_path / f"instance-{i}"))
            seen = {k: os.path.realpath(v) for k, v in seen.items()}
            assert seen["HOME"] == str(folder / "home") and seen["TMPDIR"] == str(folder / "tmp")
            assert seen["XDG_RUNTIME_DIR"] == str(folder / "tmp")
            for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
                assert seen[name].startswith(str(folder / "home") + os.sep), (name, seen[name])
            assert seen["cwd"] == str(folder)
            assert (folder / "home").is_dir() and (folder / "tmp").is_dir()
    finally:
        envs.close()


RAW_LIAR = str(Path(__file__).resolve().parents[1] / "games" / "raw_liar.py")


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
    with pytest.raises(StateError, match="closed"):  # without a render_mode too, where render() is None
        envs.render()


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


@pytest.mark.parametrize("how", ["make_vec", "registered", "workers", "gymnasium"])
def test_max_episode_steps_truncates_the_step_that_reaches_it(how):
    """gymnasium.make_vec passes the registered limit (or the caller's) to the vector entry point,
    which used to drop it: episodes never ended by time."""
    import gymnasium as gym

    if how == "make_vec":
        envs = gym.make_vec("vecbridge/Echo-v0", num_envs=2, max_episode_steps=3)
    elif how == "registered":
        vecbridge.register("test/ShortEcho-v0", vecbridge.registered()["vecbridge/Echo-v0"], max_episode_steps=3)
        envs = gym.make_vec("test/ShortEcho-v0", num_envs=2)
    else:
        envs = vecbridge.make("vecbridge/Echo-v0", 2, max_episode_steps=3, **(
            {"num_workers": 1} if how == "workers" else {"backend": "gymnasium"}))  # fmt: skip
    try:
        envs.reset(seed=0)
        truncated = [envs.step(np.array([1, 1]))[3].tolist() for _ in range(7)]
        # steps 1-3, then the NEXT_STEP reset step, then steps 1-3 of the next episode
        assert truncated == [[False, False]] * 2 + [[True, True]] + [[False, False]] * 3 + [[True, True]], truncated
    finally:
        envs.close()
    with pytest.raises(ValueError, match=r"max_episode_steps must be a whole number of steps, 1 or more \(or None\), got 0"):
        vecbridge.make("vecbridge/Echo-v0", 1, max_episode_steps=0)


def test_a_run_folder_in_use_by_another_env_is_refused_and_free_again_after_its_close(tmp_path):
    first = vecbridge.make("vecbridge/Echo-v0", 2, num_workers=1, run_dir=str(tmp_path / "run"))  # its worker joins it
    try:
        with pytest.raises(vecbridge.FolderInUse, match="is in use by another vecbridge run") as err:
            vecbridge.make("vecbridge/Echo-v0", 1, run_dir=str(tmp_path / "run"))
        assert err.value.path == str(tmp_path / "run")
        first.reset(seed=0)
    finally:
        first.close()
    vecbridge.make("vecbridge/Echo-v0", 1, run_dir=str(tmp_path / "run")).close()


def test_make_takes_the_specs_step_timeout_for_a_registered_id():
    envs = vecbridge.make("vecbridge/Echo-v0", 1, step_timeout=0.3, startup_timeout=20, hang_instances=[0], hang_at_step=2)
    try:
        assert (envs.spec_launch.step_timeout, envs.spec_launch.startup_timeout) == (0.3, 20)
        assert "step_timeout" not in envs.spec_launch.config  # not sent to the game as a game option
        envs.reset(seed=0)
        envs.step(np.array([0]))
        _, _, _, truncated, info = envs.step(np.array([0]))
        assert truncated[0] and "no reply to step within 0.3 s (hung)" in info["vecbridge_error"][0], info
    finally:
        envs.close()


def test_a_relative_command_that_is_not_found_says_where_it_was_looked_for(tmp_path, monkeypatch):
    (tmp_path / "game.sh").write_text("#!/bin/sh\n")
    (tmp_path / "game.sh").chmod(0o755)
    monkeypatch.chdir(tmp_path)  # it is here, but an instance starts in its own folder
    with pytest.raises(vecbridge.LaunchError, match=r"could not start './game.sh': .*No such file or directory.* \(a relative "
                       r"path is taken from the instance's own folder, .*instance-0: give an absolute one, e\.g\. "
                       r"\"\$PWD/game\.sh\"\)") as err:  # fmt: skip
        vecbridge.make(vecbridge.LaunchSpec(["./game.sh"]), 2)
    assert err.value.stage == "spawned"


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


@pytest.mark.parametrize("batch_size", [0, 3, -1, 1.5])
def test_a_batch_size_outside_one_to_num_envs_is_refused_before_anything_launches(batch_size):
    with pytest.raises(ValueError, match=rf"batch_size must be in \[1, num_envs=2\], got {batch_size}"):
        vecbridge.make("vecbridge/Echo-v0", num_envs=2, batch_size=batch_size)


@DRIVERS
def test_a_call_that_times_out_is_collected_before_the_next_request(num_workers):
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2, num_workers=num_workers, timeout=1.0)
    try:
        envs.reset(seed=0)
        with pytest.raises(InstanceTimeout, match=r"call: instances \[0, 1\] did not answer within 1 s; their answers "
                                                  r"are waited for \(and dropped\) before the next request"):  # fmt: skip
            envs.call("sleep", 1.5)
        obs, *_ = envs.step(np.zeros(2, dtype=np.int64))  # the late answers are collected first, then it steps
        assert obs[:, 0].tolist() == [1.0, 1.0]
        assert envs.call("echo", 7)[0]["args"] == [7]  # calls answer their own request, not the late one
        with pytest.raises(InstanceTimeout):
            envs.call("sleep", 3)
        with pytest.raises(InstanceTimeout, match=r"a call that timed out earlier: instances \[0, 1\] did not answer "
                                                  r"within 1 s either; the next request waits for them again"):
            envs.step(np.zeros(2, dtype=np.int64))  # still not answered: said, and tried again next time
        envs.step(np.zeros(2, dtype=np.int64))
    finally:
        envs.close()

"""stable-retro games as vecbridge instances, with the real wheel and the Airstriker ROM it ships."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import gymnasium as gym
import numpy as np
import psutil
import pytest
import stable_retro  # the retro extra, which scripts/setup.sh installs

import vecbridge
from vecbridge.backends.retro import AIRSTRIKER, retro_spec
from vecbridge.errors import GameOptionError, LaunchError

AIRSTRIKER_ID = "vecbridge/Airstriker-Genesis-v0"
PLAIN = {"frameskip": 1, "sticky_action_prob": 0.0}  # exactly retro.make: one frame per step, no sticky actions


def button_actions(n: int, num_envs: int | None = None, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (n, 12) if num_envs is None else (n, num_envs, 12)
    return rng.integers(0, 2, size=shape, dtype=np.int8)


def instance_process(i: int) -> psutil.Process:
    """The game process of instance ``i`` among this test's children (num_workers=0)."""
    for proc in psutil.Process().children(recursive=True):
        try:
            if "retro_game:make_env" in " ".join(proc.cmdline()) and proc.environ().get("VECBRIDGE_INSTANCE") == str(i):
                return proc
        except psutil.Error:
            continue
    raise AssertionError(f"no retro game process for instance {i}")


def test_airstriker_spaces_reset_and_step():
    env = vecbridge.GameEnv(AIRSTRIKER_ID, render_mode="rgb_array")
    try:
        assert env.observation_space == gym.spaces.Box(0, 255, (224, 320, 3), np.uint8)
        assert env.action_space == gym.spaces.MultiBinary(12)
        obs, info = env.reset(seed=0)
        assert obs.shape == (224, 320, 3) and obs.dtype == np.uint8 and obs.any()
        rewards = 0.0
        for action in button_actions(50):
            obs, reward, terminated, truncated, info = env.step(action)
            rewards += reward
            assert obs.shape == (224, 320, 3) and not truncated
        assert set(info) >= {"score", "lives", "gameover"}  # the integration's data.json variables
        assert rewards == info["score"]  # the scenario rewards the score
        assert np.array_equal(env.render(), obs)  # render() is the last screen
        assert env.call("get_action_meaning", [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) == ["B"]
    finally:
        env.close()


def test_button_values_that_are_no_button_are_refused_before_they_are_sent():
    with vecbridge.make(AIRSTRIKER_ID, num_envs=2, num_workers=0) as envs:
        envs.reset(seed=0)
        for bad in ([-1] * 12, [0] * 11 + [2], [0.5] * 12):  # -1 crashed the emulator; 2 pressed the next button
            with pytest.raises(vecbridge.InvalidAction, match=r"instance 1: expected an action of an int8 array of "
                                                              r"shape \[12\] of 0s and 1s \(MultiBinary\)"):  # fmt: skip
                envs.step(np.array([[0] * 12, bad]))
        obs, reward, terminated, truncated, info = envs.step(np.array([[1] + [0] * 11, [0] * 12]))
        assert "vecbridge_error" not in info and not truncated.any()
    env = vecbridge.GameEnv(AIRSTRIKER_ID)
    try:
        env.reset(seed=0)
        with pytest.raises(vecbridge.InvalidAction, match="instance 0: expected an action of an int8 array"):
            env.step([2] * 12)
        env.step([0] * 12)
    finally:
        env.close()


def test_frames_are_exactly_those_of_retro_make_in_process():
    """The screen crosses the socket byte for byte: the same actions give the same frames as retro.make here."""
    from vecbridge.games.retro_game import make_env

    actions = button_actions(40)
    local = make_env(AIRSTRIKER)  # the one emulator this process may hold
    try:
        expected = [local.reset(seed=0)[0].copy()] + [local.step(a)[0].copy() for a in actions]
    finally:
        local.close()
    env = vecbridge.GameEnv(retro_spec(AIRSTRIKER))
    try:
        got = [env.reset(seed=0)[0]] + [env.step(a)[0] for a in actions]
    finally:
        env.close()
    assert len({frame.tobytes() for frame in expected}) > 5  # the screen moves
    for k, (a, b) in enumerate(zip(expected, got)):
        assert np.array_equal(a, b), f"frame {k} differs"


def test_ram_observations_and_discrete_actions():
    env = vecbridge.GameEnv(retro_spec(AIRSTRIKER, obs_type="ram", use_restricted_actions="discrete"))
    try:
        assert env.observation_space == gym.spaces.Box(0, 255, (65536,), np.uint8)  # the Genesis's 64 KiB of RAM
        assert env.action_space == gym.spaces.Discrete(126)  # 3 x 3 x 14 button combinations of the integration
        first, _ = env.reset(seed=0)
        for a in range(0, 126, 5):
            obs, *_ = env.step(a)
        assert obs.dtype == np.uint8 and not np.array_equal(obs, first)
    finally:
        env.close()


def test_seeded_sticky_actions_repeat_and_instances_are_independent_emulators():
    # The registered id: 4 frames per step, sticky actions (0.25) drawn from the seed.
    actions = button_actions(25, num_envs=2)
    envs = vecbridge.make(AIRSTRIKER_ID, num_envs=2)
    try:
        assert envs.observation_space.shape == (2, 224, 320, 3)
        runs = []
        for _ in range(2):
            frames = [envs.reset(seed=7)[0].copy()]
            for a in actions:
                frames.append(envs.step(a)[0].copy())
            runs.append(np.stack(frames))
    finally:
        envs.close()
    assert np.array_equal(runs[0], runs[1])  # same seed, same actions: the same frames
    assert not np.array_equal(runs[0][:, 0], runs[0][:, 1])  # each instance plays its own game

    envs = vecbridge.make(AIRSTRIKER_ID, num_envs=2, **PLAIN)  # no randomness: same actions, same frames
    try:
        envs.reset(seed=0)
        for a in button_actions(20):
            obs, *_ = envs.step(np.stack([a, a]))
        assert np.array_equal(obs[0], obs[1]) and obs[0].any()
    finally:
        envs.close()


def test_screens_take_vecbridges_image_preprocessing():
    envs = vecbridge.make(AIRSTRIKER_ID, num_envs=2, preprocess="gray,resize=84x84,stack=4")
    try:
        assert envs.single_observation_space == gym.spaces.Box(0, 255, (84, 84, 4), np.uint8)
        obs, _ = envs.reset(seed=0)
        for a in button_actions(3, num_envs=2):
            obs, *_ = envs.step(a)
        assert obs.shape == (2, 84, 84, 4) and obs[:, :, :, -1].any()
    finally:
        envs.close()


def test_a_killed_emulator_is_relaunched():
    envs = vecbridge.make(AIRSTRIKER_ID, num_envs=2, num_workers=0, **PLAIN)
    try:
        envs.reset(seed=0)
        for a in button_actions(5, num_envs=2):
            envs.step(a)
        old = instance_process(1)
        os.kill(old.pid, signal.SIGKILL)
        old.wait(timeout=10)
        obs, reward, terminated, truncated, info = envs.step(button_actions(1, num_envs=2)[0])
        assert info["_vecbridge_error"].tolist() == [False, True] and "instance 1" in info["vecbridge_error"][1]
        assert truncated.tolist() == [False, True] and info["vecbridge_restarts"][1] == 1
        for a in button_actions(10, num_envs=2, seed=1):
            obs, reward, terminated, truncated, info = envs.step(a)
            assert not truncated.any() and obs[1].any()
        assert instance_process(1).pid != old.pid
    finally:
        envs.close()


def test_airstriker_passes_vecbridge_check():
    # 16 frames a step, so that episodes end (at game over) within the autoreset check's 200 steps
    command = [sys.executable, "-m", "vecbridge.cli", "check", AIRSTRIKER_ID, "--steps", "40", "-o", "frameskip=16"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "6 passed, 0 failed\n" in out.stdout and "4 passed, 0 failed\n" in out.stdout  # nothing skipped


def test_gymnasium_make_applies_the_registered_time_limit():
    env = gym.make(AIRSTRIKER_ID)
    try:
        assert env.spec.max_episode_steps == 4500
        obs, _ = env.reset(seed=0)
        assert obs.shape == (224, 320, 3)
    finally:
        env.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"game": "Airstriker-Genesis"}, "no integration named 'Airstriker-Genesis'"),  # close matches are listed
        ({"game": AIRSTRIKER, "state": "Level9"}, "its states: Level1"),
        ({"game": "SonicTheHedgehog-Genesis-v0"}, "-m stable_retro.import"),  # an integration without its ROM
        ({"game": AIRSTRIKER, "obs_type": "pixels"}, "expected one of 'image', 'ram'"),
        # retro.make would go on without them: no reward, no episode end
        ({"game": AIRSTRIKER, "scenario": "nope"}, "has no scenario 'nope'; its JSON files: data, metadata, scenario"),
        ({"game": AIRSTRIKER, "info": "nope"}, "has no info 'nope'"),
        ({"game": AIRSTRIKER, "frameskip": "abc"}, "frameskip must be an integer, got 'abc'"),
    ],
)
def test_a_bad_game_option_fails_the_launch_with_a_clear_message(options, message):
    game = options.pop("game")
    with pytest.raises(LaunchError) as caught:
        vecbridge.make(retro_spec(game, **options), num_envs=1)
    assert message in str(caught.value)
    if game == "Airstriker-Genesis":
        assert "Airstriker-Genesis-v0" in str(caught.value)


def test_a_misspelt_option_is_refused_before_anything_launches():
    """make_env's parameters are the spec's known options (it launched, then failed with a LaunchError)."""
    with pytest.raises(GameOptionError, match=r"has no game option\(s\) frame_skip \(did you mean frameskip\?\); "
                                              r"its options: frameskip, game,"):  # fmt: skip
        retro_spec(AIRSTRIKER, frame_skip=4)
    with pytest.raises(GameOptionError, match=r"has no game option\(s\) foo"):
        vecbridge.make("vecbridge/Airstriker-Genesis-v0", num_envs=2, foo=1)


def test_a_custom_integration_and_a_state_file(tmp_path):
    """Your own integration folder (integration_paths) and a .state file by path, as retro.make takes them."""
    source = os.path.join(os.path.dirname(stable_retro.__file__), "data", "stable", AIRSTRIKER)
    mine = tmp_path / "integrations" / "MyStriker-Genesis-v0"
    shutil.copytree(source, mine)
    (mine / "Level1.state").rename(mine / "Start.state")
    (mine / "metadata.json").write_text('{"default_state": "Start"}')
    env = vecbridge.GameEnv(retro_spec("MyStriker-Genesis-v0", integration_paths=[tmp_path / "integrations"], **PLAIN))
    try:
        custom, _ = env.reset(seed=0)
    finally:
        env.close()
    env = vecbridge.GameEnv(retro_spec(AIRSTRIKER, state=mine / "Start.state", **PLAIN))
    try:
        by_path, _ = env.reset(seed=0)
    finally:
        env.close()
    assert np.array_equal(custom, by_path) and custom.any()


def test_the_bench_runners_step_retro_make_as_its_users_do():
    from vecbridge.bench import run_bench

    runners = ["retro-alone", "retro-sb3-subproc", "retro-gymnasium-async"]  # (the vecbridge runner: test_bench.py)
    with open(os.devnull, "w") as devnull:
        report = run_bench(AIRSTRIKER_ID, counts=[1], runners=runners, seconds=0.5, repeat=1, warmup=0.2,
                           options=PLAIN, progress=False, out=devnull)  # fmt: skip
    by_runner = {r["runner"]: r for r in report["results"]}
    for name in runners:
        assert by_runner[name]["error"] is None, by_runner[name]["error"]
        assert by_runner[name]["steps_per_s"] > 0

"""The gym-bizhawk processor runtime (launchers/lua/processor.lua, bizhawk.lua, emu.lua).

A processor file written from gym-bizhawk's guide template (tests/games/lua/
template_processor.lua, with the guide's ``package.path`` line and
``bizhawk.GymEnv.new(...):run(...)`` ending) runs unchanged under real FCEUX (on
efp.nes) and under lua5.4 with the BizHawk stand-in (comm socket) and a fake
BizHawk emulator API (tests/games/lua/fake_bizhawk_emu.lua).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces

import vecbridge
from vecbridge import GameEnv, LaunchError, LaunchSpec
from vecbridge.backends.fceux import EFP_ROM, fceux_spec

pytestmark = pytest.mark.lua

GAMES = Path(__file__).resolve().parents[1] / "games" / "lua"
TEMPLATE = GAMES / "template_processor.lua"
LAUNCHERS = Path(vecbridge.launchers_dir())
EFP_SHA1 = "1dd014ece0763d49710ca3f27d032ae227cd9d96"  # the whole efp.nes file (Debian efp 1.6-3)
EFP_MD5 = "c723dfeeb7f274b79ecf83e22e8e65a8"  # FCEUX's rom.gethash("md5"): the ROM data without the iNES header


def standin_spec(processor: str | Path, rom: str | Path | None = EFP_ROM, env: dict | None = None, **config) -> LaunchSpec:
    """The processor runtime under lua5.4 + the BizHawk stand-in (comm) + the fake emulator."""
    return LaunchSpec(
        command=["lua5.4", "-l", "bizhawk_standin", "-l", "fake_bizhawk_emu", "{launchers}/lua/processor.lua"],
        env={"LUA_PATH": f"{GAMES}/?.lua;{{launchers}}/lua/?.lua;;", **({"FAKE_ROM": str(rom)} if rom else {}),
             **(env or {})},
        framing="comm",
        config={"processor": str(processor), **config},
        startup_timeout=20,
        step_timeout=20,
    )


def backend_spec(backend: str, processor: Path, **config) -> LaunchSpec:
    if backend == "fceux":
        return fceux_spec(processor, EFP_ROM, **config)
    return standin_spec(processor, **config)


@pytest.fixture(scope="module", autouse=True)
def _roms_installed():
    assert EFP_ROM.exists(), "the Debian package efp is not installed: run scripts/setup.sh"


def with_hash(tmp_path: Path, value: str) -> Path:
    src = TEMPLATE.read_text(encoding="utf-8").replace('this.HASH = ""', f'this.HASH = "{value}"')
    assert value in src
    path = tmp_path / "hashed_processor.lua"
    path.write_text(src, encoding="utf-8")
    return path


# ------------------------------------------------------------------ the guide's template, unchanged, on both


@pytest.mark.parametrize("backend", ["fceux", "bizhawk-standin"])
def test_template_processor_runs_unchanged(backend):
    env = GameEnv(backend_spec(backend, TEMPLATE, observation_type="value"), render_mode="rgb_array")
    try:
        # ACTION = {"bool", "bool"} -> MultiDiscrete([2, 2]); OBSERVATION = "int", 8 values -> int64 Box [8]
        assert env.action_space == spaces.MultiDiscrete([2, 2])
        assert env.observation_space.shape == (8,) and env.observation_space.dtype == np.int64
        assert env.get_wrapper_attr("metadata")["render_fps"] == 60
        assert env.call("NAME") == "TemplateProcessor"  # other names reach the processor

        def episode(seed):
            obs, _ = env.reset(seed=seed)
            frame0 = env.call("framecount")
            trace = [obs]
            for i in range(40):
                obs, reward, terminated, truncated, info = env.step(np.array([i % 3 == 0, i % 5 == 0]))
                assert not terminated and not truncated and reward in (0, 1)
                trace.append(obs)
            assert env.call("framecount") == frame0 + 40  # frameskip 1: one frame per step
            return np.stack(trace)

        a, b = episode(3), episode(3)
        np.testing.assert_array_equal(a, b)  # reset reloads the power-on state: same seed, same observations
        assert len({row.tobytes() for row in a}) > 1
        frame = env.render()
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    finally:
        env.close()


def test_template_processor_reads_the_fake_console():
    """Under the stand-in, RAM $10 is the player: Right moves it by 2 per frame; catching the target scores."""
    env = GameEnv(standin_spec(TEMPLATE, observation_type="value", setup_str="500"))
    try:
        obs, _ = env.reset(seed=0)
        assert obs[0] == 120 and obs[1] == 40  # player x, target x
        obs, reward, *_ = env.step(np.array([1, 0]))
        assert obs[0] == 122 and obs[6] == 1  # moved right; $16 = the buttons of that frame (Right)
        total, steps = 0.0, 0
        while total == 0 and steps < 100:
            obs, reward, terminated, truncated, info = env.step(np.array([0, 1]))
            total += reward
            steps += 1
        assert total == 1 and obs[3] == 1  # the score byte went up once: reward 1
    finally:
        env.close()


# ------------------------------------------------------------------ observation types, frameskip, seeds


def test_observation_types():
    for obs_type, check in [
        ("value", lambda s: s == spaces.Box(np.iinfo(np.int64).min, np.iinfo(np.int64).max, (8,), np.int64)),
        ("image", lambda s: s == spaces.Box(0, 255, (24, 32, 3), np.uint8)),
        ("ram", lambda s: s == spaces.Box(0, 255, (2048,), np.uint8)),
        ("both", lambda s: isinstance(s, spaces.Dict) and set(s.spaces) == {"value", "image"}),
    ]:
        env = GameEnv(standin_spec(TEMPLATE, observation_type=obs_type), render_mode="rgb_array")
        try:
            assert check(env.observation_space), (obs_type, env.observation_space)
            obs, _ = env.reset(seed=0)
            assert env.observation_space.contains(obs)
            obs, *_ = env.step(np.array([1, 0]))
            if obs_type == "image":
                # the fake screen: a white column at the player's x * 32 // 256 (x = 122 -> column 15)
                assert (obs[:, 15] == 255).all() and (obs[:, 0, :2] == 0).all()
                np.testing.assert_array_equal(env.render(), obs)
            if obs_type == "ram":
                assert obs[0x10] == 122 and obs[0x16] == 1
        finally:
            env.close()
    with pytest.raises(LaunchError, match="observation_type must be"):
        GameEnv(standin_spec(TEMPLATE, observation_type="pixels"))


def test_frameskip_calls_step_per_frame_and_stops_at_done():
    env = GameEnv(standin_spec(TEMPLATE, observation_type="value", frameskip=3, setup_str="5"))
    try:
        assert env.get_wrapper_attr("metadata")["render_fps"] == 20
        env.reset(seed=0)
        f0 = env.call("framecount")
        obs, _, terminated, _, _ = env.step(np.array([1, 0]))
        assert env.call("framecount") == f0 + 3 and obs[0] == 120 + 6 and not terminated
        obs, _, terminated, _, _ = env.step(np.array([1, 0]))
        assert terminated  # the processor's episode is 5 frames: done after 2 of the 3
        assert env.call("framecount") == f0 + 5 and obs[0] == 120 + 10
    finally:
        env.close()


@pytest.mark.parametrize("frameskip", [2.5, "x", 0])
def test_a_frameskip_that_is_no_whole_number_is_a_launch_error_not_floored(frameskip):
    with pytest.raises(LaunchError, match=rf"frameskip must be a whole number, 1 or more, got {frameskip}"):
        GameEnv(standin_spec(TEMPLATE, observation_type="value", frameskip=frameskip))


def test_seed_picks_idle_frames():
    env = GameEnv(standin_spec(TEMPLATE, observation_type="value", noop_max=10))
    try:
        noops = {}
        for seed in range(8):
            obs, info = env.reset(seed=seed)
            noops[seed] = info["noops"]
            assert 0 <= info["noops"] <= 10
            assert obs[2] == 1 + info["noops"]  # $12: frames since power-on (1 before the power-on state)
            again, info2 = env.reset(seed=seed)
            assert info2["noops"] == info["noops"]
            np.testing.assert_array_equal(again, obs)
        assert len(set(noops.values())) > 1
        _, info = env.reset(options={"noops": 7})
        assert info["noops"] == 7
        a = [env.reset()[1]["noops"] for _ in range(5)]  # seed=None: the sequence goes on
        env.reset(seed=0)
        b = [env.reset()[1]["noops"] for _ in range(5)]
        env.reset(seed=0)
        assert a != [0] * 5 and b == [env.reset()[1]["noops"] for _ in range(5)]
    finally:
        env.close()


def test_reset_state_none_leaves_resets_to_the_processor():
    env = GameEnv(standin_spec(TEMPLATE, observation_type="value", reset_state="none"))
    try:
        env.reset(seed=0)
        for _ in range(10):
            env.step(np.array([1, 0]))
        obs, _ = env.reset(seed=0)
        assert obs[0] == 140  # the template's reset() does not restore the console: the player stays
    finally:
        env.close()


def test_save_and_load_state():
    env = GameEnv(standin_spec(TEMPLATE, observation_type="value"))
    try:
        env.reset(seed=0)
        env.step(np.array([1, 0]))
        assert env.call("save_state", "here") is True
        saved = env.step(np.array([1, 0]))[0]
        for _ in range(5):
            env.step(np.array([0, 1]))
        env.call("load_state", "here")
        np.testing.assert_array_equal(env.step(np.array([1, 0]))[0], saved)
    finally:
        env.close()


# ------------------------------------------------------------------ HASH


def test_hash_mismatch_under_fceux_names_both_hashes(tmp_path):
    """check_hash="error" makes a mismatch fatal (the default logs it and runs: test_gymbizhawk.py)."""
    wrong = "0123456789abcdef0123456789abcdef01234567"
    with pytest.raises(LaunchError) as err:
        GameEnv(fceux_spec(with_hash(tmp_path, wrong), EFP_ROM, check_hash="error"))
    message = str(err.value)
    assert "HASH not match" in message and wrong in message and EFP_SHA1 in message
    assert "SHA-1 of /usr/share/nes/efp.nes" in message
    wrong_md5 = "0123456789abcdef0123456789abcdef"
    with pytest.raises(LaunchError, match=f"(?s)HASH not match.*{wrong_md5}.*{EFP_MD5}.*rom.gethash"):
        GameEnv(fceux_spec(with_hash(tmp_path, wrong_md5), EFP_ROM, check_hash=True))


def test_hash_match_under_fceux_sha1_and_md5(tmp_path):
    for value in (EFP_SHA1.upper(), "SHA1:" + EFP_SHA1, EFP_MD5):
        env = GameEnv(fceux_spec(with_hash(tmp_path, value), EFP_ROM, observation_type="value"))
        env.close()
    # check_hash=False skips the check
    env = GameEnv(fceux_spec(with_hash(tmp_path, "00" * 20), EFP_ROM, observation_type="value", check_hash=False))
    env.close()


def test_hash_under_bizhawk_standin(tmp_path):
    # BizHawk: HASH is compared with gameinfo.getromhash() (the fake one: SHA-1 of FAKE_ROM, upper case)
    env = GameEnv(standin_spec(with_hash(tmp_path, EFP_SHA1.upper()), observation_type="value"))
    env.close()
    with pytest.raises(LaunchError, match=r"(?s)HASH not match.*expects the ROM with hash 00+, but.*" + EFP_SHA1 +
                       r".*gameinfo\.getromhash"):
        GameEnv(standin_spec(with_hash(tmp_path, "00" * 20), observation_type="value", check_hash="error"))


# ------------------------------------------------------------------ loading processors


def test_processor_not_found_is_a_clear_launch_error():
    with pytest.raises(LaunchError, match=r'processor "no_such_processor" not found'):
        GameEnv(standin_spec("no_such_processor"))
    with pytest.raises(LaunchError, match=r'processor "no_such_processor" not found'):
        GameEnv(fceux_spec("no_such_processor", EFP_ROM))


def test_processor_errors_before_the_handshake_end_the_emulator(tmp_path):
    broken = tmp_path / "broken.lua"
    broken.write_text(TEMPLATE.read_text(encoding="utf-8").replace(
        "this.setup = function(self, env, setup_str)", "this.setup = function(self, env, setup_str)\n error('bad setup')"))
    with pytest.raises(LaunchError, match="bad setup"):
        GameEnv(fceux_spec(broken, EFP_ROM))
    syntax = tmp_path / "syntax.lua"
    syntax.write_text("this is not lua")
    with pytest.raises(LaunchError, match="cannot load the processor"):
        GameEnv(standin_spec(syntax))
    nostep = tmp_path / "nostep.lua"  # (it failed at the first step, on a line of processor_game.lua)
    nostep.write_text(TEMPLATE.read_text(encoding="utf-8").replace("this.step = function", "this.stpe = function"))
    with pytest.raises(LaunchError, match=r"the processor has no step\(self, action\) function .*got nil"):
        GameEnv(standin_spec(nostep))


@pytest.mark.parametrize("backend", ["fceux", "bizhawk-standin"])
def test_processor_errors_while_serving_are_error_replies(backend, tmp_path):
    """Under FCEUX too (its BizHawk API stand-in made the client run unprotected: an error ended FCEUX)."""
    failing = tmp_path / "failing_processor.lua"
    failing.write_text(TEMPLATE.read_text(encoding="utf-8").replace(
        "   this.step = function(self, action)\n",
        "   this.step = function(self, action)\n      if action[1] and action[2] then error('boom: both ways') end\n"))
    env = GameEnv(backend_spec(backend, failing, observation_type="value"))
    try:
        env.reset(seed=0)
        with pytest.raises(vecbridge.GameError, match=r"failing_processor.lua:\d+: boom: both ways"):
            env.step(np.array([1, 1]))
        with pytest.raises(vecbridge.GameError):
            env.call("no_such_method")
        env.reset(seed=1)  # still serving
        assert env.step(np.array([1, 0]))[0].shape == (8,)
    finally:
        env.close()
    assert env.failed is None


@pytest.mark.parametrize("backend", ["fceux", "bizhawk-standin"])
def test_a_reward_is_added_up_as_gym_bizhawk_does(backend, tmp_path):
    """`reward = reward + r` in gym-bizhawk: a numeric string counts (it was dropped: 0), nil is an error (it was 0)."""
    def variant(name: str, returned: str) -> Path:
        path = tmp_path / f"{name}_processor.lua"
        path.write_text(TEMPLATE.read_text(encoding="utf-8").replace("      return reward, done\n", f"      return {returned}, done\n"))
        return path

    env = GameEnv(backend_spec(backend, variant("string", '"1.5"'), observation_type="value"))
    try:
        env.reset(seed=0)
        assert env.step(np.array([1, 0]))[1] == 1.5
    finally:
        env.close()
    env = GameEnv(backend_spec(backend, variant("nil", "nil"), observation_type="value"))
    try:
        env.reset(seed=0)
        with pytest.raises(vecbridge.GameError, match=r"the processor's step must return its reward \(a number\) "
                                                      r"first, then done: got nil"):  # fmt: skip
            env.step(np.array([1, 0]))
    finally:
        env.close()


def test_a_processor_that_returns_its_table(tmp_path):
    """A file that returns the processor (no env:run at the end) is served by processor.lua."""
    src = TEMPLATE.read_text(encoding="utf-8")
    src = src.replace('local env = bizhawk.GymEnv.new("_custom.log")\nenv:run(EnvProcessor.new())', "return EnvProcessor.new()")
    assert "return EnvProcessor.new()" in src
    path = tmp_path / "returning.lua"
    path.write_text(src, encoding="utf-8")
    env = GameEnv(standin_spec(path, observation_type="value"))
    try:
        env.reset(seed=0)
        assert env.step(np.array([1, 0]))[0][0] == 122
    finally:
        env.close()


def test_the_processor_can_run_as_the_emulator_script_itself():
    """FCEUX reads LUA_PATH: the processor file itself may be the --loadlua script."""
    base = fceux_spec(TEMPLATE, EFP_ROM, observation_type="value")
    command = [str(TEMPLATE) if part == "{launchers}/lua/processor.lua" else part for part in base.command]
    env = GameEnv(LaunchSpec(command=command, env=base.env, config=base.config, startup_timeout=30))
    try:
        env.reset(seed=0)
        env.step(np.array([0, 1]))
    finally:
        env.close()


# ------------------------------------------------------------------ Lua unit checks


def _lua(*args: str, workdir: Path, flavor: str = "lua5.4", fake: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "VECBRIDGE_LAUNCHERS": str(LAUNCHERS), "VECBRIDGE_WORKDIR": str(workdir),
           "LUA_PATH": f"{GAMES}/?.lua;{LAUNCHERS}/lua/?.lua;;"}
    pre = ["-l", "fake_bizhawk_emu"] if fake else []
    return subprocess.run([flavor, *pre, str(GAMES / "processor_unit.lua"), *args], capture_output=True, text=True,
                          env=env, timeout=60, cwd=workdir)


def test_lua_unit_checks(tmp_path):
    result = _lua(workdir=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr + result.stdout
    assert list(tmp_path.iterdir()) == []  # the screenshot file was read and removed


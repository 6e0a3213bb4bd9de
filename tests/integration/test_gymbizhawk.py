"""gym-bizhawk processors of every generation, unchanged, on real FCEUX (efp.nes) and under the
BizHawk stand-in; their spaces (flat and gym-bizhawk's own), their ROM, HASH and action masks;
BizHawk's Lua surface under FCEUX.

The test processors were written from gym-bizhawk's documentation (see each file's header):
tests/games/lua/template_processor.lua (the guide), gymbizhawk_v3_processor.lua (v0.3, the
current release) and gymbizhawk_prerelease_processor.lua (bizhawk.new / init).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces

import vecbridge
from vecbridge import GameEnv, LaunchError
from vecbridge.backends.bizhawk import bizhawk_spec
from vecbridge.backends.fceux import EFP_ROM, fceux_spec
from vecbridge.backends.processor_rom import probe_processor, processor_rom
from support.action_mask import RESET_FIELDS, STEP_FIELDS, masked_payload

from test_bizhawk import fake_emuhawk  # noqa: F401  (a fixture)
from test_processor import EFP_SHA1, GAMES, LAUNCHERS, TEMPLATE, standin_spec, with_hash

pytestmark = pytest.mark.lua

V3 = GAMES / "gymbizhawk_v3_processor.lua"
PRERELEASE = GAMES / "gymbizhawk_prerelease_processor.lua"
LUA_PATH = f"{GAMES}/?.lua;{LAUNCHERS}/lua/?.lua;;"
INT64 = np.iinfo(np.int64)


@pytest.fixture(autouse=True)
def _rom_variables(monkeypatch):
    """The test processors read their ROM from these, as gym-bizhawk's examples do."""
    monkeypatch.setenv("VB_TEST_ROM", str(EFP_ROM))
    monkeypatch.setenv("TEMPLATE_ROM", str(EFP_ROM))


def spec_for(backend: str, processor: Path, **config):
    return fceux_spec(processor, **config) if backend == "fceux" else standin_spec(processor, **config)


def hello_metadata(env: GameEnv) -> dict:
    return env._inst.hello.metadata  # GameEnv.metadata keeps only render_modes/render_fps


def instance_log(env: GameEnv) -> str:
    return Path(env._inst.process.log_path).read_text(errors="replace")


# ------------------------------------------------------------------ the three generations


@pytest.mark.parametrize("backend", ["fceux", "bizhawk-standin"])
def test_current_release_processor(backend):
    """v0.3: bizhawk.run, ACTION_SPACE / OBSERVATION_SPACE with [N] and *, getInfo, masks."""
    env = GameEnv(spec_for(backend, V3, setup_str="5"))
    try:
        assert env.action_space == spaces.MultiDiscrete([3, 2])
        low, high = np.array([0, 0, 0] + [INT64.min] * 5), np.array([255, 1, 1] + [INT64.max] * 5)
        assert env.observation_space == spaces.Box(low, high, (8,), np.int64)
        assert hello_metadata(env)["action_mask"] is True
        assert env.call("setup_mode") == "FAST_RUN" and env.call("setup_observation_type") == "VALUE"
        obs, info = env.reset(seed=0)
        assert env.observation_space.contains(obs) and info["noops"] == 0
        for t in range(1, 6):
            obs, reward, terminated, truncated, info = env.step(np.array([1, 1]))
            assert reward == 1 and info["t"] == t and not terminated and truncated == (t == 5)
        assert env.call("save_state", "a") is True
        env.step(np.array([0, 0]))
        env.call("load_state", "a")
        assert env.call("getInfo") == {"t": 5}  # restore() brought the processor's counter back
    finally:
        env.close()


@pytest.mark.parametrize("backend", ["fceux", "bizhawk-standin"])
def test_prerelease_processor_observes_the_screen(backend):
    """bizhawk.new(log), init(self, env, py_init_str), no getObservation: the screen."""
    env = GameEnv(spec_for(backend, PRERELEASE, setup_str="", frameskip=10), render_mode="rgb_array")
    try:
        assert env.action_space == spaces.MultiDiscrete([2, 2, 2, 2])
        shape = (240, 256, 3) if backend == "fceux" else (24, 32, 3)
        assert env.observation_space == spaces.Box(0, 255, shape, np.uint8)
        assert env.call("init_str") == ""
        obs, _ = env.reset(seed=0)
        for _ in range(3):
            obs, reward, terminated, truncated, _ = env.step(np.array([1, 0, 1, 0]))
        assert obs.shape == shape and reward == 0 and not terminated
        np.testing.assert_array_equal(env.render(), obs)
        if backend == "fceux":
            assert obs.reshape(-1, 3).std(axis=0).max() > 10  # 30 frames in: the title screen, not one colour
    finally:
        env.close()


@pytest.mark.parametrize("backend", ["fceux", "bizhawk-standin"])
def test_gym_bizhawk_spaces_on_request(backend):
    """spaces="gym-bizhawk": gym-bizhawk's own Tuples, for both generations of declarations."""
    env = GameEnv(spec_for(backend, TEMPLATE, spaces="gym-bizhawk", observation_type="both"))
    try:
        assert env.action_space == spaces.Tuple((spaces.Discrete(2), spaces.Discrete(2)))
        image, value = env.observation_space.spaces
        assert image.dtype == np.uint8 and image.shape[2] == 3
        assert value == spaces.Box(INT64.min, INT64.max, (8,), np.int64)
        env.reset(seed=0)
        obs, *_ = env.step((1, 0))
        assert env.observation_space.contains(obs)
    finally:
        env.close()
    env = GameEnv(spec_for(backend, V3, spaces="gym-bizhawk"))
    try:
        assert env.action_space == spaces.Tuple((spaces.Discrete(3), spaces.Discrete(2)))
        assert env.observation_space == spaces.Tuple((
            spaces.Discrete(256), spaces.Discrete(2), spaces.Discrete(2), spaces.Box(INT64.min, INT64.max, (5,), np.int64)))
        env.reset(seed=0)
        obs, reward, *_ = env.step((1, 1))
        assert env.observation_space.contains(obs) and reward == 1
    finally:
        env.close()


@pytest.mark.parametrize("processor", [TEMPLATE, V3, PRERELEASE], ids=["guide", "v0.3", "pre-release"])
def test_every_generation_through_the_bizhawk_launcher(fake_emuhawk, monkeypatch, processor):
    """bizhawk_spec without a ROM: EmuHawk (the fake, parsing as 2.10 does) starts empty and the
    runtime opens the processor's own ROM, as gym-bizhawk does."""
    monkeypatch.setenv("FAKE_EMUHAWK_PARSER", "2.10")
    env = GameEnv(bizhawk_spec(processor, emuhawk=fake_emuhawk, windows=True, startup_timeout=30))
    try:
        assert env.call("ROM") == str(EFP_ROM)
        env.reset(seed=0)
        obs, *_ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
    finally:
        env.close()


def test_int_lo_hi_observation_is_a_box(tmp_path):
    """OBSERVATION = "int 0 255" with 8 values is Box(0, 255, (8,), int64), as gym-bizhawk builds it."""
    path = tmp_path / "bounded.lua"
    path.write_text(TEMPLATE.read_text().replace('this.OBSERVATION = "int"', 'this.OBSERVATION = "int 0 255"'))
    env = GameEnv(fceux_spec(path, EFP_ROM))
    try:
        assert env.observation_space == spaces.Box(0, 255, (8,), np.int64)
        assert env.action_space == spaces.MultiDiscrete([2, 2])
    finally:
        env.close()


# ------------------------------------------------------------------ the ROM from the processor


def test_rom_from_the_processor(tmp_path, monkeypatch):
    # an absolute path from an environment variable the processor reads
    assert processor_rom(V3) == EFP_ROM
    assert fceux_spec(V3).config["rom"] == str(EFP_ROM) == fceux_spec(V3, rom="").config["rom"]
    monkeypatch.delenv("VB_TEST_ROM")
    with pytest.raises(ValueError, match=r"names none \(it reads the environment variable VB_TEST_ROM, not set here\)"):
        fceux_spec(V3)
    with pytest.raises(ValueError, match="VB_TEST_ROM"):
        fceux_spec(V3, rom="")  # "" is no ROM, not the current directory
    # a processor that does not load: its error, not "names none ... pass rom=" (which was the wrong fix)
    broken = tmp_path / "broken.lua"
    broken.write_text(V3.read_text() + "\nend\n")
    with pytest.raises(ValueError, match=r"the processor .*broken.lua does not load \(vecbridge reads its ROM from it "
                                         r"when no rom= is given\): cannot load the processor: .*broken.lua:\d+:"):
        fceux_spec(broken)
    # a relative path: relative to the processor file
    (tmp_path / "roms").mkdir()
    (tmp_path / "roms" / "game.nes").symlink_to(EFP_ROM)
    relative = tmp_path / "relative.lua"
    relative.write_text(V3.read_text().replace('bizhawk.getenv_safe("VB_TEST_ROM")', '"roms/game.nes"'))
    assert processor_rom(relative) == tmp_path / "roms" / "game.nes"
    missing = tmp_path / "missing.lua"
    missing.write_text(V3.read_text().replace('bizhawk.getenv_safe("VB_TEST_ROM")', '"roms/nothere.nes"'))
    with pytest.raises(FileNotFoundError, match=r"names the ROM 'roms/nothere.nes', and .*roms/nothere.nes does not exist"):
        fceux_spec(missing)
    info = probe_processor(PRERELEASE)
    assert info["name"] == "PreRelease" and info["unset"] == ["VB_TEST_ROM"] and info["rom"] is None
    env = GameEnv(fceux_spec(relative))  # launched on the processor's own ROM
    try:
        env.reset(seed=0)
        assert env.step(np.array([0, 0]))[4]["t"] == 1
    finally:
        env.close()


# ------------------------------------------------------------------ HASH


def test_hash_mismatch_logs_and_runs_unless_asked_to_fail(tmp_path):
    wrong = "00" * 20
    # the user sees it too, not only the instance log (a temporary run folder's log is gone after close)
    with pytest.warns(UserWarning, match=rf"the loaded ROM's hash {EFP_SHA1} is not the processor's HASH {wrong}"):
        env = GameEnv(fceux_spec(with_hash(tmp_path, wrong), EFP_ROM, observation_type="value"))
    try:
        assert hello_metadata(env)["hash"] == env.metadata["hash"] == {
            "expected": wrong, "actual": EFP_SHA1, "match": False, "how": f"SHA-1 of {EFP_ROM}"}
        assert f"HASH not match for processor \"TemplateProcessor\": it expects the ROM with hash {wrong}" in \
            instance_log(env)
        env.reset(seed=0)
    finally:
        env.close()
    with pytest.raises(LaunchError, match=rf"(?s)HASH not match.*{wrong}.*{EFP_SHA1}"):
        GameEnv(fceux_spec(with_hash(tmp_path, wrong), EFP_ROM, check_hash="error"))
    with pytest.warns(UserWarning, match="is not the processor's HASH"):
        envs = vecbridge.make(fceux_spec(with_hash(tmp_path, wrong), EFP_ROM, observation_type="value"), num_envs=1)
    try:
        assert envs.metadata["hash"]["match"] is False
    finally:
        envs.close()
    with pytest.raises(LaunchError, match='check_hash must be "warn", "error" or "off"'):
        GameEnv(fceux_spec(with_hash(tmp_path, wrong), EFP_ROM, check_hash="sometimes"))


# ------------------------------------------------------------------ action masks, byte for byte


def _lua(*args: str, pre: tuple[str, ...] = (), flavor: str = "lua5.4") -> subprocess.CompletedProcess:
    env = {**os.environ, "VECBRIDGE_LAUNCHERS": str(LAUNCHERS), "LUA_PATH": LUA_PATH}
    return subprocess.run([flavor, *pre, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("flavor", ["lua5.4", "luajit", "lua5.1"])
def test_lua_unit_checks(flavor):
    result = _lua(str(GAMES / "gymbizhawk_unit.lua"), flavor=flavor)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr + result.stdout


def test_processor_masks_on_the_fake_console():
    result = _lua(str(GAMES / "processor_mask_unit.lua"), str(V3), pre=("-l", "fake_bizhawk_emu"))
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr + result.stdout


@pytest.mark.parametrize("flavor", ["lua5.4", "lua5.1"])
def test_action_mask_bytes(flavor):
    """vecbridge.lua appends "action_mask" (a bool array) exactly as docs/protocol.md writes it
    (tests/unit/test_action_mask_wire.py feeds the same bytes to today's host)."""
    lines = _lua(str(GAMES / "gymbizhawk_unit.lua"), "mask-payloads", flavor=flavor).stdout.split()
    step, reset = (bytes.fromhex(line) for line in lines)
    assert step == masked_payload("step_result", STEP_FIELDS)
    assert reset == masked_payload("reset_result", RESET_FIELDS)


@pytest.mark.parametrize("backend", ["fceux", "bizhawk-standin"])
def test_invalid_actions_reach_the_vector_envs_action_masks(backend):
    """getInvalidActions() (left is invalid on even steps) through the shared buffers, per step."""
    envs = vecbridge.make(spec_for(backend, V3), num_envs=2, autoreset_mode="SameStep")
    try:
        envs.reset(seed=0)
        even, odd = [True, True, False, True, True], [True] * 5  # MultiDiscrete([3, 2]): stand/right/left, A
        masks = [envs.action_masks()]
        for _ in range(3):
            envs.step(np.zeros((2, 2), np.int64))
            masks.append(envs.action_masks())
        assert [m.tolist() for m in masks] == [[even, even], [odd, odd], [even, even], [odd, odd]]
    finally:
        envs.close()


# ------------------------------------------------------------------ BizHawk's Lua API under FCEUX


def test_bizhawk_api_under_real_fceux(tmp_path):
    from vecbridge.backends.fceux import find_fceux

    home = tmp_path / "home"
    (home / "run").mkdir(parents=True)
    (home / "run").chmod(0o700)
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(home / "run"), "XDG_CONFIG_HOME": str(home),
           "XDG_DATA_HOME": str(home), "XDG_CACHE_HOME": str(home), "TMPDIR": str(home),
           "QT_QPA_PLATFORM": "offscreen", "SDL_AUDIODRIVER": "dummy", "VECBRIDGE_LAUNCHERS": str(LAUNCHERS)}
    done = subprocess.run([find_fceux(), "--no-config", "1", "--videoDriver", "1", "--sound", "0", "--loadlua",
                           str(GAMES / "fceux_bizhawk_api.lua"), str(EFP_ROM)],
                          capture_output=True, text=True, env=env, timeout=90, cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "\nok\n" in "\n" + out, out[-3000:]
    # BizHawk's own warnings for what FCEUX cannot do are in the log, as BizHawk writes them
    assert "Unable to find domain: OAM" in out and "Error: the domain PPU Bus is not writable" in out


def test_vecbridge_package_ships_the_runtime():
    lua = Path(vecbridge.launchers_dir()) / "lua"
    for name in ("gymbizhawk_spaces.lua", "processor_game.lua", "bizhawk_api.lua", "bizhawk_memory.lua",
                 "bizstring.lua", "probe_processor.lua"):
        assert (lua / name).is_file(), name

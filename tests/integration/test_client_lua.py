"""The Lua client (launchers/lua/vecbridge.lua) under real interpreters over real sockets.

Each game in tests/games/lua/ runs under lua5.4, lua5.1 and luajit with LuaSocket
(``binary`` framing), and under lua5.4 through the BizHawk stand-in
(launchers/lua/bizhawk_standin.lua: EmuHawk's ``comm`` API, ``comm`` framing).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil
import pytest
from gymnasium import spaces

import vecbridge
from vecbridge import GameEnv, GameError, LaunchError, LaunchSpec
from vecbridge.protocol import HostConnection, space_from_json
from vecbridge.transport import read_event, send_all

pytestmark = pytest.mark.lua

GAMES = Path(__file__).resolve().parents[1] / "games" / "lua"
LUA_DIR = Path(vecbridge.launchers_dir()) / "lua"

FLAVORS = {
    "lua5.4": ["lua5.4"],
    "lua5.1": ["lua5.1"],
    "luajit": ["luajit"],
    "bizhawk-standin": ["lua5.4", "-l", "bizhawk_standin"],
}
TRANSPORT = {"lua5.4": "socket/binary", "lua5.1": "socket/binary", "luajit": "socket/binary", "bizhawk-standin": "comm/comm"}


def _available(flavor: str) -> bool:
    exe = FLAVORS[flavor][0]
    if shutil.which(exe) is None:
        return False
    return subprocess.run([exe, "-e", "require('socket')"], capture_output=True).returncode == 0


def flavor_params(flavors=FLAVORS):
    # No skips: scripts/setup.sh installs every interpreter; a missing one must fail loudly.
    return [pytest.param(f, marks=pytest.mark.lua) for f in flavors]


ALL = flavor_params()
PLAIN = flavor_params(["lua5.4", "lua5.1", "luajit"])


def make_spec(flavor: str, game: str, env: dict | None = None, **settings) -> LaunchSpec:
    return LaunchSpec(
        command=[*FLAVORS[flavor], str(GAMES / game)],
        env={"LUA_PATH": "{launchers}/lua/?.lua;;", **(env or {})},
        startup_timeout=20,
        step_timeout=20,
        **settings,
    )


@contextmanager
def open_env(flavor: str, game: str = "counter.lua", render_mode: str | None = None, env: dict | None = None, **config):
    e = GameEnv(make_spec(flavor, game, env=env, config=config), render_mode=render_mode)
    try:
        yield e
    finally:
        e.close()


def run_lua(flavor: str, script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LUA_PATH": f"{LUA_DIR}/?.lua;;"}
    return subprocess.run(
        [*FLAVORS[flavor][:1], str(GAMES / script), *args], capture_output=True, text=True, env=env, timeout=30
    )


# ------------------------------------------------------------------ the counter game, in Python


class Counter:
    """An independent Python model of tests/games/lua/counter.lua."""

    MOD = 2**31 - 1

    def __init__(self, max_steps: int = 20) -> None:
        self.rng, self.max_steps, self.episodes = 1, max_steps, 0
        self.pos = self.target = self.t = 0
        self.noise = 0.0

    def _rand(self) -> int:
        self.rng = self.rng * 48271 % self.MOD
        return self.rng

    def _obs(self) -> np.ndarray:
        return np.array([self.pos, self.target, self.t, self.noise], dtype=np.float32)

    def reset(self, seed=None, start=0):
        if seed is not None:
            self.rng = seed % (self.MOD - 1) + 1
        self.episodes += 1
        self.pos, self.t = start, 0
        self.target = self._rand() % 5 + 1
        self.noise = (self._rand() % 1000) / 1000
        return self._obs(), {"episode": self.episodes, "seeded": seed is not None}

    def step(self, action: int):
        self.pos += action - 1
        self.t += 1
        self.noise = (self._rand() % 1000) / 1000
        terminated = self.pos == self.target
        truncated = not terminated and self.t >= self.max_steps
        info = {"distance": abs(self.target - self.pos), "t": self.t, "label": f"step {self.t}"}
        return self._obs(), (1.0 if terminated else -0.1), terminated, truncated, info


def counter_target(seed: int) -> int:
    c = Counter()
    c.reset(seed=seed)
    return c.target


def assert_step_equal(got, expected):
    obs, reward, terminated, truncated, info = got
    e_obs, e_reward, e_terminated, e_truncated, e_info = expected
    assert obs.dtype == np.float32 and obs.shape == (4,)
    np.testing.assert_array_equal(obs, e_obs)
    assert reward == e_reward
    assert (terminated, truncated) == (e_terminated, e_truncated)
    assert info == e_info


# ------------------------------------------------------------------ handshake, reset, step


@pytest.mark.parametrize("flavor", ALL)
def test_handshake_and_spaces(flavor):
    with open_env(flavor) as env:
        assert env.observation_space == spaces.Box(-np.inf, np.inf, (4,), np.float32)
        assert env.action_space == spaces.Discrete(3)
        assert env.game_name == "counter"
        assert env.metadata["render_modes"] == ["rgb_array"]  # the default when the game has render()
        assert env.call("transport") == TRANSPORT[flavor]
        version = env.call("lua_version")
        assert version.startswith("Lua 5.4" if flavor in ("lua5.4", "bizhawk-standin") else "Lua 5.1")
        assert ("LuaJIT" in version) == (flavor == "luajit")


@pytest.mark.parametrize("flavor", ALL)
def test_reset_and_step_follow_the_game_logic(flavor):
    model = Counter(max_steps=20)
    with open_env(flavor) as env:
        obs, info = env.reset(seed=5)
        e_obs, e_info = model.reset(seed=5)
        np.testing.assert_array_equal(obs, e_obs)
        assert info == e_info
        # walk right to the target: the last step terminates with reward 1
        for _ in range(model.target):
            got = env.step(2)
            assert_step_equal(got, model.step(2))
        assert got[1:3] == (1.0, True)
        assert_step_equal(env.step(1), model.step(1))  # past the end, the game still answers
        # reset without a seed continues the random stream; options reach the game
        obs, info = env.reset(options={"start": 2})
        e_obs, e_info = model.reset(start=2)
        np.testing.assert_array_equal(obs, e_obs)
        assert info == e_info
        assert obs[0] == 2


@pytest.mark.parametrize("flavor", ALL)
def test_truncation_and_config(flavor):
    model = Counter(max_steps=3)
    with open_env(flavor, max_steps=3) as env:
        assert env.call("env_config") == {"max_steps": 3}
        assert env.call("welcome_info") == {"instance": 0, "config": {"max_steps": 3}}
        np.testing.assert_array_equal(env.reset(seed=123)[0], model.reset(seed=123)[0])
        for _ in range(3):
            got = env.step(0)
            assert_step_equal(got, model.step(0))
        assert got[2:4] == (False, True)


@pytest.mark.parametrize("flavor", ALL)
def test_same_seed_same_observations(flavor):
    with open_env(flavor) as env:
        runs = []
        for seed in (7, 7, 8):
            first, _ = env.reset(seed=seed)
            steps = [env.step(a)[0] for a in (2, 0, 1, 1)]
            runs.append(np.stack([first, *steps]))
        np.testing.assert_array_equal(runs[0], runs[1])
        assert not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize("flavor", ALL)
def test_render_returns_a_uint8_frame(flavor):
    with open_env(flavor, render_mode="rgb_array") as env:
        env.reset(seed=1)
        env.step(2)
        env.step(2)  # pos = 2
        frame = env.render()
        y, x, c = np.meshgrid(np.arange(2), np.arange(4), np.arange(3), indexing="ij")
        expected = ((2 * 10 + y * 4 + x + c * 50) % 256).astype(np.uint8)
        assert frame.dtype == np.uint8 and frame.shape == (2, 4, 3)
        np.testing.assert_array_equal(frame, expected)


# ------------------------------------------------------------------ call, attributes, errors


@pytest.mark.parametrize("flavor", ALL)
def test_call_and_attributes(flavor):
    with open_env(flavor) as env:
        assert env.call("add", 2, 3) == 5
        assert env.call("add", 0.5, 0.25) == 0.75
        assert env.call("pair") == [1, "two"]  # several return values: a list
        assert env.call("greet", "bob") == "hello bob"
        assert env.call("greet", "bob", punctuation="!") == "hello bob!"  # kwargs: a last table argument
        env.reset(seed=2)
        env.step(2)
        assert env.call("state") == {"pos": 1, "target": counter_target(2), "t": 1}
        # attributes
        assert env.get_game_attr("max_steps") == 20
        assert env.get_game_attr("label") == "counter game"
        env.set_game_attr("max_steps", 2)
        assert env.get_game_attr("max_steps") == 2
        env.reset(seed=2)
        env.step(0)
        assert env.step(0)[3] is True  # truncated after the new max_steps
        env.set_game_attr("label", None)  # setting nil removes the field
        with pytest.raises(GameError, match="no attribute"):
            env.get_game_attr("label")
        with pytest.raises(GameError, match="is a method"):
            env.get_game_attr("add")
        with pytest.raises(GameError, match="no method or attribute 'nope'"):
            env.call("nope")


@pytest.mark.parametrize("flavor", ALL)
def test_json_values_round_trip(flavor):
    value = {
        "text": 'quote " backslash \\ slash / newline \n tab \t nul \u0000 bell \u0007',
        "unicode": "é € 😀 \u2028",
        "numbers": [0, -1, 2**40, 0.1, -2.5e-7, 1e300, 123456.789],
        "flags": [True, False, None],
        "empty_list": [],
        "empty_object": {},
        "nested": {"a": [{"b": [[], {}]}], "c": {"d": "e"}},
    }
    with open_env(flavor) as env:
        assert env.call("echo", value) == value
        assert env.call("echo", None) is None
        assert env.call("base64", "hi") == "aGk="


@pytest.mark.parametrize("flavor", ALL)
def test_game_errors_come_back_and_the_game_keeps_serving(flavor):
    with open_env(flavor) as env:
        with pytest.raises(GameError) as info:
            env.call("fail", "oops, a custom message")
        err = info.value
        assert err.instance == 0
        assert "oops, a custom message" in str(err)
        assert "counter.lua" in err.remote_traceback and "stack traceback" in err.remote_traceback
        # an error in step
        env.reset(seed=1)
        env.set_game_attr("fail_next_step", True)
        with pytest.raises(GameError, match="boom: step failed on purpose"):
            env.step(1)
        # the game goes on
        model = Counter()
        np.testing.assert_array_equal(env.reset(seed=9)[0], model.reset(seed=9)[0])
        assert_step_equal(env.step(2), model.step(2))
        # an observation of the wrong size is caught in Lua, before it is sent
        with pytest.raises(GameError, match=r"expected 4 values \(a float32 array of shape \[4\] \(Box\)\), got 3"):
            env.call("bad_observation")
        assert env.call("add", 1, 1) == 2


@pytest.mark.parametrize("flavor", ALL)
def test_the_process_exits_on_close(flavor):
    e = GameEnv(make_spec(flavor, "counter.lua", close_grace=30))
    try:
        e.reset(seed=0)
        proc = psutil.Process(e.pid)
    finally:
        start = time.monotonic()
        e.close()
    # close waits up to close_grace for the game to exit by itself, then kills it
    assert time.monotonic() - start < 5
    assert not proc.is_running()


@pytest.mark.parametrize("flavor", ALL)
def test_the_process_exits_at_end_of_file(flavor, tmp_path):
    """Without a close message: the host just drops the connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    token = "0123abcd" * 4
    env = {
        **os.environ,
        "LUA_PATH": f"{LUA_DIR}/?.lua;;",
        "VECBRIDGE_HOST": "127.0.0.1",
        "VECBRIDGE_PORT": str(listener.getsockname()[1]),
        "VECBRIDGE_INSTANCE": "3",
        "VECBRIDGE_TOKEN": token,
        "VECBRIDGE_CONFIG": "{}",
        "HOME": str(tmp_path),
    }
    proc = subprocess.Popen([*FLAVORS[flavor], str(GAMES / "counter.lua")], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        listener.settimeout(20)
        sock, _ = listener.accept()
        conn = HostConnection(token)
        hello = read_event(sock, conn, time.monotonic() + 20, "the hello")
        assert hello.instance == 3 and conn.framing_name == TRANSPORT[flavor].split("/")[1]
        send_all(sock, conn.send_welcome({}))
        send_all(sock, conn.send_reset(4))
        assert read_event(sock, conn, time.monotonic() + 20).observation.shape == (4,)
        sock.close()
        assert proc.wait(timeout=10) == 0, proc.stdout.read()
    finally:
        listener.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


# ------------------------------------------------------------------ arrays in every dtype

EDGE_VALUES = {
    "bool": [True, False, True],
    "int8": [-128, -1, 0, 127],
    "uint8": [0, 1, 128, 255],
    "int16": [-32768, -1, 0, 32767],
    "uint16": [0, 1, 65535],
    "int32": [-(2**31), -1, 0, 2**31 - 1],
    "uint32": [0, 1, 2**32 - 1],
    "int64": [-(2**53) + 1, -(2**32), -1, 0, 2**32, 2**53 - 1],
    "uint64": [0, 1, 2**32, 2**53 - 1],
    "float16": [0.0, -0.0, 1.0, -2.5, 65504.0, 6e-8, math.inf, -math.inf, math.nan, 0.1],
    "float32": [0.0, -0.0, 1.0, 0.1, -3.4028235e38, 1.4e-45, 1.1754942e-38, math.inf, -math.inf, math.nan, 1 / 3],
    "float64": [0.0, -0.0, 0.1, 1e300, -5e-324, 2.2250738585072014e-308, math.inf, math.nan, 1 / 3],
}


@pytest.mark.parametrize("flavor", ALL)
def test_arrays_round_trip_in_every_dtype(flavor):
    with open_env(flavor) as env:
        for dtype, values in EDGE_VALUES.items():
            arr = np.array(values, dtype=dtype)
            back = env.call("roundtrip", dtype, arr)  # numpy in, unpacked in Lua, packed again
            assert isinstance(back, np.ndarray) and back.dtype == np.dtype(dtype) and back.shape == arr.shape, dtype
            assert back.tobytes() == arr.tobytes(), (dtype, back, arr)  # bit-exact, -0.0 and NaN included
        # from JSON numbers, and nested lists for a 2-D shape
        back = env.call("roundtrip", "int16", [1, -2, 300])
        np.testing.assert_array_equal(back, np.array([1, -2, 300], dtype=np.int16))
        grid = np.arange(6, dtype=np.int32).reshape(2, 3) - 3
        back = env.call("roundtrip", "int32", grid, [2, 3])
        assert back.shape == (2, 3) and back.dtype == np.int32
        np.testing.assert_array_equal(back, grid)
        np.testing.assert_array_equal(env.call("roundtrip", "float32", np.float32(2.5), []), np.float32(2.5))


@pytest.mark.parametrize("flavor", ALL)
def test_values_that_do_not_fit_are_named(flavor):
    with open_env(flavor) as env:
        with pytest.raises(GameError, match=r"item 2 is 300: out of range for uint8 \[0, 255\]"):
            env.call("roundtrip", "uint8", [1, 300])
        with pytest.raises(GameError, match="item 1 is 1.5: expected an integer for int32"):
            env.call("roundtrip", "int32", [1.5])
        with pytest.raises(GameError, match="out of range for int8"):
            env.call("roundtrip", "int8", [-129])
        assert env.call("add", 1, 2) == 3


# ------------------------------------------------------------------ composite spaces


@pytest.mark.parametrize("flavor", ALL)
def test_multidiscrete_action_and_dict_observation(flavor):
    with open_env(flavor, "spaces.lua", variant="multidiscrete") as env:
        assert env.action_space == spaces.MultiDiscrete([4, 2])
        assert isinstance(env.observation_space, spaces.Dict)
        assert env.observation_space["last"] == spaces.Box(-10, 10, (2,), np.int32)
        assert env.observation_space["count"] == spaces.Discrete(100)
        obs, _ = env.reset()
        assert obs["count"] == 0
        np.testing.assert_array_equal(obs["last"], [0, 0])
        obs, _, terminated, _, _ = env.step(np.array([3, 1]))
        assert obs["count"] == 1 and not terminated
        assert obs["last"].dtype == np.int32
        np.testing.assert_array_equal(obs["last"], [3, 1])
        kind = "integer" if flavor in ("lua5.4", "bizhawk-standin") else "number"
        assert env.call("describe_action") == f"{{1={kind},2={kind}}}"  # a 1-based Lua list of numbers


@pytest.mark.parametrize("flavor", ALL)
def test_dict_action(flavor):
    with open_env(flavor, "spaces.lua", variant="dict") as env:
        assert isinstance(env.action_space, spaces.Dict)
        assert env.action_space["jump"] == spaces.MultiBinary(2)
        env.reset()
        action = {"move": 2, "jump": np.array([1, 0], dtype=np.int8), "aim": np.array([0.5, -0.25], dtype=np.float32)}
        obs, *_ = env.step(action)
        assert obs["move"] == 2
        np.testing.assert_array_equal(obs["jump"], [1, 0])
        np.testing.assert_array_equal(obs["aim"], [0.5, -0.25])
        kind = "integer" if flavor in ("lua5.4", "bizhawk-standin") else "number"
        number = "float" if flavor in ("lua5.4", "bizhawk-standin") else "number"
        assert env.call("describe_action") == f"{{aim={{1={number},2={number}}},jump={{1={kind},2={kind}}},move={kind}}}"


@pytest.mark.parametrize("flavor", PLAIN)
def test_tuple_action_and_scalar_spaces(flavor):
    with open_env(flavor, "spaces.lua", variant="tuple") as env:
        assert env.action_space == spaces.Tuple([spaces.Discrete(4), spaces.Box(0, 1, (), np.float32)])
        env.reset()
        obs, *_ = env.step((3, np.array(0.75, dtype=np.float32)))
        np.testing.assert_array_equal(obs, np.array([3, 0.75], dtype=np.float32))
    with open_env(flavor, "spaces.lua", variant="scalar") as env:
        assert env.observation_space.shape == () and env.observation_space.dtype == np.int64
        env.reset()
        obs, *_ = env.step(np.array(0.5, dtype=np.float32))
        assert obs.shape == () and obs == 50


# ------------------------------------------------------------------ images as byte strings


def expected_image(t: int) -> np.ndarray:
    return ((np.arange(8 * 8 * 3) + t) % 256).astype(np.uint8).reshape(8, 8, 3)


@pytest.mark.parametrize("flavor", ALL)
def test_uint8_image_observation_from_a_byte_string(flavor):
    with open_env(flavor, "image.lua", render_mode="rgb_array") as env:
        assert env.observation_space == spaces.Box(0, 255, (8, 8, 3), np.uint8)
        assert env.action_space == spaces.Discrete(2)
        assert env.metadata == {"render_modes": ["rgb_array"], "render_fps": 30}
        obs, _ = env.reset(options={"t": 250})  # pixel values wrap around 255
        np.testing.assert_array_equal(obs, expected_image(250))
        obs, reward, terminated, _, info = env.step(1)
        np.testing.assert_array_equal(obs, expected_image(252))
        assert (reward, terminated, info["t"]) == (1, True, 252)
        assert info["corner"].dtype == np.int16  # a vecbridge.array in info arrives as a numpy array
        np.testing.assert_array_equal(info["corner"], [252, -252])
        np.testing.assert_array_equal(env.render(), expected_image(252))
        env.call("short_frame")
        with pytest.raises(GameError, match="expected 192 bytes .*, got a string of 10 bytes"):
            env.step(0)


def expected_pixels(t: int, h: int = 3, w: int = 5) -> np.ndarray:
    """tests/games/lua/pixels.lua's image at step t, computed here."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(y * 7 + x * 3 + t) % 256, (y * 5 + x * 11 + 2 * t) % 256, (x * y + t) % 256], -1).astype(np.uint8)


def expected_palette(t: int, h: int = 3, w: int = 5) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    i = (y + x + t) % 8
    return np.stack([i * 30, 255 - i * 30, i * 7], -1).astype(np.uint8)


def _png_file(path: Path, rgb: np.ndarray) -> str:
    from PIL import Image

    Image.fromarray(rgb, "RGB").save(path, "PNG")
    return str(path)


@pytest.mark.parametrize("flavor", ALL)
def test_pixel_formats_arrive_as_rgb(flavor, tmp_path):
    """Each pixel format's bytes, built in Lua, arrive as the RGB the game drew (docs/protocol.md, "Pixel formats")."""
    png = _png_file(tmp_path / "screen.png", expected_pixels(40, 4, 6))
    cases = [("rgb", {}), ("rgbx", {}), ("bgrx", {}), ("xrgb", {}), ("xrgb", {"view": True}), ("palette", {}),
             ("png", {"png": png, "h": 4, "w": 6}), ("png", {"png": png, "h": 4, "w": 6, "raw": True})]
    for fmt, extra in cases:
        with open_env(flavor, "pixels.lua", render_mode="rgb_array", format=fmt, **extra) as env:
            h, w = extra.get("h", 3), extra.get("w", 5)
            assert env.observation_space == spaces.Box(0, 255, (h, w, 3), np.uint8), fmt
            ref = (lambda t: expected_pixels(40, 4, 6)) if fmt == "png" else expected_palette if fmt == "palette" else expected_pixels
            obs, _ = env.reset()
            np.testing.assert_array_equal(obs, ref(0), err_msg=fmt)
            for t in (2, 3):  # the second step's header is a cached one on the host
                obs, *_ = env.step(1 if t == 2 else 0)
                np.testing.assert_array_equal(obs, ref(t), err_msg=fmt)
            if fmt != "palette":
                np.testing.assert_array_equal(env.render(), ref(3), err_msg=fmt)


@pytest.mark.parametrize("flavor", flavor_params(["lua5.4", "lua5.1"]))
def test_pixel_format_errors_are_named(flavor):
    code = ("local v = require('vecbridge'); "
            "print(select(2, pcall(v.check, {type='Box', shape={3, 5, 3}, dtype='uint8', pixel_format='xrgb'}, "
            "string.rep('a', 45)))); print(select(2, pcall(v.space, {type='Box', shape={3, 5, 4}, dtype='uint8', "
            "pixel_format='rgbx'})))")
    result = subprocess.run([FLAVORS[flavor][0], "-e", code], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "LUA_PATH": f"{LUA_DIR}/?.lua;;"})
    out = result.stdout
    assert "expected 60 bytes (uint8 [3, 5, 4] (pixel_format 'xrgb')), got a string of 45 bytes" in out, out + result.stderr
    assert "a pixel_format belongs on a uint8 Box of shape [H, W, 3]" in out, out


# ------------------------------------------------------------------ the vector env


@pytest.mark.parametrize("flavor", flavor_params(["lua5.4", "bizhawk-standin"]))
def test_vector_env(flavor):
    venv = vecbridge.make(make_spec(flavor, "counter.lua"), num_envs=2)
    try:
        models = [Counter(), Counter()]
        obs, _ = venv.reset(seed=[11, 12])
        np.testing.assert_array_equal(obs, np.stack([m.reset(seed=s)[0] for m, s in zip(models, (11, 12))]))
        obs, reward, *_ = venv.step(np.array([2, 0]))
        expected = [m.step(a) for m, a in zip(models, (2, 0))]
        np.testing.assert_array_equal(obs, np.stack([e[0] for e in expected]))
        np.testing.assert_array_equal(reward, [e[1] for e in expected])
        assert venv.call("add", 1, 2) == (3, 3)
        assert venv.get_attr("max_steps") == (20, 20)
        venv.set_attr("max_steps", [4, 5])
        assert venv.get_attr("max_steps") == (4, 5)
    finally:
        venv.close()


# ------------------------------------------------------------------ BizHawk specifics


@pytest.mark.parametrize("flavor", PLAIN)
def test_comm_framing_over_luasocket(flavor):
    """A spec that expects the comm framing (VECBRIDGE_FRAMING=comm) gets it from plain Lua too."""
    model = Counter()
    e = GameEnv(make_spec(flavor, "counter.lua", framing="comm"), render_mode="rgb_array")
    try:
        assert e.call("transport") == "socket/comm"
        np.testing.assert_array_equal(e.reset(seed=3)[0], model.reset(seed=3)[0])
        assert_step_equal(e.step(2), model.step(2))
        assert e.render().shape == (2, 4, 3)
        value = {"bytes": np.arange(256, dtype=np.uint8), "text": "é" * 100}
        back = e.call("echo", value)
        np.testing.assert_array_equal(back["bytes"], value["bytes"])  # arrays come back as lists
        assert back["text"] == value["text"]
    finally:
        e.close()



def test_bizhawk_userdata_is_a_fallback_for_the_environment():
    assert _available("bizhawk-standin"), "lua5.4 with LuaSocket is not installed: run scripts/setup.sh"
    # As with EmuHawk --userdata=k:v;...: the instance, token and config come from userdata only.
    env = {
        "VECBRIDGE_INSTANCE": "",
        "VECBRIDGE_TOKEN": "",
        "VECBRIDGE_CONFIG": "",
        "BIZHAWK_USERDATA": "vecbridge_instance:{instance};vecbridge_token:{token};vecbridge_config:{config_json}",
    }
    with GameEnv(make_spec("bizhawk-standin", "counter.lua", env=env, config={"max_steps": 2})) as e:
        assert e.call("transport") == "comm/comm"
        assert e.call("env_config") == {"max_steps": 2}
        e.reset(seed=1)
        e.step(0)
        assert e.step(0)[3] is True


def test_bizhawk_standin_framing_matches_emuhawk(tmp_path):
    """The stand-in frames exactly like EmuHawk: '<byte length> <text>' both ways."""
    assert _available("bizhawk-standin"), "lua5.4 with LuaSocket is not installed: run scripts/setup.sh"
    script = tmp_path / "echo.lua"
    script.write_text(
        "require('bizhawk_standin')\n"
        "assert(comm.socketServerIsConnected())\n"
        "local n = comm.socketServerSend('h\\195\\169llo')\n"  # 6 bytes, 5 characters
        "comm.socketServerSend(tostring(n))\n"
        "local got = comm.socketServerResponse()\n"
        "comm.socketServerSend('got:' .. got)\n"
        "comm.socketServerSetTimeout(200)\n"
        "comm.socketServerSend('timeout:[' .. comm.socketServerResponse() .. ']')\n"
        "comm.socketServerSend(tostring(userdata.get('n')) .. ',' .. type(userdata.get('n')) .. ',' .."
        " tostring(userdata.get('s')) .. ',' .. tostring(userdata.get('vecbridge_x')))\n"
        "comm.socketServerSetTimeout(0)\n"
        "local last = comm.socketServerResponse()\n"
        "comm.socketServerSend('eof:[' .. last .. ']:' .. tostring(comm.socketServerIsConnected()))\n"
    )
    listener = socket.create_server(("127.0.0.1", 0))
    env = {
        **os.environ,
        "LUA_PATH": f"{LUA_DIR}/?.lua;;",
        "VECBRIDGE_HOST": "127.0.0.1",
        "VECBRIDGE_PORT": str(listener.getsockname()[1]),
        "BIZHAWK_USERDATA": "n:42;s:a:b",
        "VECBRIDGE_X": "from the environment",
    }
    proc = subprocess.Popen(["lua5.4", str(script)], env=env, cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        listener.settimeout(20)
        sock, _ = listener.accept()
        sock.settimeout(20)
        reader = sock.makefile("rb")

        def frame() -> bytes:
            digits = b""
            while (c := reader.read(1)) != b" ":
                assert c.isdigit(), c
                digits += c
            return reader.read(int(digits))

        assert frame() == "héllo".encode()
        assert frame() == b"8"  # bytes sent, the length prefix included
        sock.sendall(b"3 abc")
        assert frame() == b"got:abc"
        assert frame() == b"timeout:[]"
        assert frame() == b"42,number,a:b,from the environment"
        sock.shutdown(socket.SHUT_WR)
        assert frame() == b"eof:[]:false"
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
        sock.close()
    finally:
        listener.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


# ------------------------------------------------------------------ a real emulator: FCEUX (Lua 5.1)

FCEUX = shutil.which("fceux") or shutil.which("/usr/games/fceux") or "fceux"
EFP_ROM = Path("/usr/share/nes/efp.nes")


def test_fceux_game():
    assert EFP_ROM.exists(), "the Debian package efp is not installed: run scripts/setup.sh"
    spec = LaunchSpec(
        command=[FCEUX, "--no-config", "1", "--videoDriver", "1", "--sound", "0",
                 "--loadlua", str(GAMES / "fceux_efp.lua"), str(EFP_ROM)],
        env={"LUA_PATH": "{launchers}/lua/?.lua;;", "QT_QPA_PLATFORM": "offscreen", "SDL_AUDIODRIVER": "dummy"},
        config={"frameskip": 3},
        startup_timeout=30,
        step_timeout=30,
        close_grace=30,
    )
    env = GameEnv(spec)
    try:
        assert env.call("lua_version") == "Lua 5.1"
        assert env.observation_space == spaces.Box(0, 255, (64,), np.uint8)
        runs = []
        for _ in range(2):  # reset powers the console on: the same actions give the same RAM
            obs, info = env.reset()
            start = info["frame"]
            ram = [obs] + [env.step(a)[0] for a in (3, 3, 1, 0, 2, 2)]
            assert env.call("framecount") == start + 6 * 3  # frameskip 3: emu.frameadvance ran in step
            runs.append(np.stack(ram))
        np.testing.assert_array_equal(runs[0], runs[1])
        assert len({r.tobytes() for r in runs[0]}) > 1  # the RAM changed along the way
        with pytest.raises(GameError, match="failed after a frame"):
            env.call("advance_then_fail")
        frame = env.call("framecount")
        env.step(0)
        assert env.call("framecount") == frame + 3
        proc = psutil.Process(env.pid)
    finally:
        start = time.monotonic()
        env.close()
    assert time.monotonic() - start < 5  # emu.exit() after close, well before the kill
    assert not proc.is_running()


# ------------------------------------------------------------------ launch errors, unit checks, spaces


@pytest.mark.parametrize("flavor", PLAIN)
def test_launch_errors_are_clear(flavor):
    with pytest.raises(LaunchError, match="invalid type string \"floot\\[2\\]\""):
        GameEnv(make_spec(flavor, "broken.lua", config={"variant": "bad_space"}))
    with pytest.raises(LaunchError, match=r"needs methods reset\(self, seed, options\) and step\(self, action\)"):
        GameEnv(make_spec(flavor, "broken.lua", config={"variant": "no_step"}))


@pytest.mark.parametrize("flavor", PLAIN)
def test_lua_unit_checks(flavor):
    result = run_lua(flavor, "unit.lua")
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr + result.stdout


SPACE_DESCRIPTIONS = [
    "bool",
    "int",
    "int -3 4",
    "float",
    "float -1 1",
    "float[4]",
    "float 0 1 [1]",
    "int 0 3 [2]",
    "int[3]",
    ["bool", "bool", "int 0 9"],
    ["int 0 3", "bool"],
    ["float", "int"],
    ["int", "int"],
    ["int 0 3", "float 0 1"],
    ["bool"],
    {"type": "Box", "low": 0, "high": 255, "shape": [84, 84, 3], "dtype": "uint8"},
    {"type": "Box", "low": "-inf", "high": None, "shape": []},
    {"type": "Discrete", "n": 5, "start": -2},
    {"type": "MultiDiscrete", "nvec": [[2, 3], [4, 5]]},
    {"type": "MultiBinary", "n": [2, 3]},
    {"type": "MultiBinary", "n": 4},
    {"type": "Dict", "spaces": {"a": "float[2]", "b": {"type": "Discrete", "n": 3}}},
    {"type": "Tuple", "spaces": ["bool", {"type": "Box", "shape": [2], "dtype": "float64"}]},
]


def summarize(space) -> dict:
    if isinstance(space, spaces.Discrete):
        return {"kind": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.Dict):
        return {"kind": "Dict", "spaces": {k: summarize(v) for k, v in space.spaces.items()}}
    if isinstance(space, spaces.Tuple):
        return {"kind": "Tuple", "spaces": [summarize(v) for v in space.spaces]}
    return {"kind": type(space).__name__, "dtype": space.dtype.name, "shape": list(space.shape)}


@pytest.mark.parametrize("flavor", PLAIN)
def test_lua_parses_spaces_like_vecbridge(flavor):
    result = run_lua(flavor, "parse_spaces.lua", json.dumps(SPACE_DESCRIPTIONS))
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    for desc, got in zip(SPACE_DESCRIPTIONS, parsed, strict=True):
        assert got == summarize(space_from_json(desc)), desc


def test_a_lua_game_after_double_dash_finds_require_vecbridge():
    # the README's `vecbridge check -- lua5.4 "$PWD/mygame.lua"` on a game that does require("vecbridge"):
    # the -- form set no LUA_PATH ("module 'vecbridge' not found"); a LUA_PATH of the user's own still counts
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("LUA_PATH")}
    cli = str(Path(sys.executable).with_name("vecbridge"))
    out = subprocess.run([cli, "check", "--steps", "20", "--", "lua5.4", str(GAMES / "counter.lua")],
                         capture_output=True, text=True, timeout=240, env=env)  # fmt: skip
    assert out.returncode == 0 and " 0 failed" in out.stdout, out.stdout + out.stderr
    from vecbridge.game_ref import command_game

    saved = os.environ.get("LUA_PATH")
    os.environ["LUA_PATH"] = "/mine/?.lua;;"
    try:
        spec = command_game(["lua5.4", "game.lua"])
    finally:
        os.environ.pop("LUA_PATH")
        if saved is not None:
            os.environ["LUA_PATH"] = saved
    assert spec.env["LUA_PATH"] == "{launchers}/lua/?.lua;/mine/?.lua;;"

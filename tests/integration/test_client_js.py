"""The JavaScript game client (launchers/js/vecbridge.js) in real Node and headless Chromium.

Every test launches a real interpreter that speaks the protocol over a real socket:
``node`` with the binary framing and the WebSocket transport (Node's own WebSocket, else the
``ws`` package), and
Chromium with a file:// page that connects over WebSocket. Expected values are computed
here, independently, from the rules stated at the top of each test game.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil
import pytest
from gymnasium import spaces

import vecbridge
from vecbridge import GameEnv, LaunchSpec
from vecbridge.backends import node as backends_node
from vecbridge.errors import GameError, LaunchError
from vecbridge.protocol.connection import CallResult, HostConnection, ResetResult, StepResult
from vecbridge.transport import deadline_after, read_event, send_all

GAMES = Path(__file__).resolve().parents[1] / "games" / "js"
CLIENT = vecbridge.launchers_dir() / "js" / "vecbridge.js"

# docs: ../shared/notes/real-backends.md; a private profile per instance, in its workdir
CHROMIUM = [
    "chromium",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--user-data-dir={workdir}/profile",
]
QUERY = "?vecbridge_port={port}&vecbridge_instance={instance}&vecbridge_token={token}&vecbridge_config={config_json}"


def node_spec(script: str, *node_args: str, **settings) -> LaunchSpec:
    return LaunchSpec(command=["node", *node_args, str(GAMES / script)], startup_timeout=20, **settings)


def browser_spec(page: str, **settings) -> LaunchSpec:
    url = (GAMES / page).as_uri() + QUERY
    return LaunchSpec(command=[*CHROMIUM, url], framing="websocket", startup_timeout=30, **settings)


@contextmanager
def game_env(spec: LaunchSpec, **kwargs):
    env = GameEnv(spec, **kwargs)
    try:
        yield env
    finally:
        env.close()


@contextmanager
def vector_env(spec: LaunchSpec, num_envs: int):
    envs = vecbridge.make(spec, num_envs=num_envs)
    try:
        yield envs
    finally:
        envs.close()


# ---------------------------------------------------------------- reference games


class CounterRef:
    """tests/games/js/counter_game.js, recomputed."""

    WIDTH, HEIGHT = 12, 3

    def __init__(self, max_steps: int = 20) -> None:
        self.max_steps = max_steps
        self.rng = self.pos = self.target = self.t = 0

    def _next(self) -> int:
        self.rng = (self.rng * 1103515245 + 12345) & 0xFFFFFFFF
        return self.rng >> 16

    def obs(self) -> np.ndarray:
        return np.array([self.pos, self.target, self.t, self.pos * 0.1], dtype=np.float32)

    def reset(self, seed: int | None = None, start: int | None = None):
        if seed is not None:
            self.rng = seed & 0xFFFFFFFF
        self.pos = self._next() % 5
        self.target = 5 + self._next() % 6
        self.t = 0
        if start is not None:
            self.pos = start
        return self.obs(), {"distance": self.target - self.pos, "seeded": seed is not None}

    def step(self, action: int):
        self.pos += action - 1
        self.t += 1
        distance = abs(self.target - self.pos)
        terminated = distance == 0
        truncated = not terminated and self.t >= self.max_steps
        reward = 10.0 if terminated else -0.5 * distance
        return self.obs(), reward, terminated, truncated, {"t": self.t, "distance": distance, "tag": "counter"}

    def frame(self) -> np.ndarray:
        f = np.zeros((self.HEIGHT, self.WIDTH, 3), dtype=np.uint8)
        f[0, min(max(self.pos, 0), self.WIDTH - 1), 0] = 255
        if self.target < self.WIDTH:
            f[1, self.target, 1] = 255
        f[2, : min(self.t, self.WIDTH), 2] = 255
        return f


class PainterRef:
    """tests/games/js/painter_game.js, recomputed."""

    WIDTH, HEIGHT = 8, 6
    MOVES = [(0, 0), (0, -1), (1, 0), (0, 1), (-1, 0)]

    def __init__(self, max_steps: int = 50) -> None:
        self.max_steps = max_steps

    def reset(self, x: int = 0, y: int = 0):
        self.image = np.zeros((self.HEIGHT, self.WIDTH, 3), dtype=np.uint8)
        self.x, self.y, self.t = x, y, 0
        return self.image.copy(), {"cursor": np.array([x, y], dtype=np.int32)}

    def step(self, action):
        dx, dy = self.MOVES[action["move"]]
        self.x = min(max(self.x + dx, 0), self.WIDTH - 1)
        self.y = min(max(self.y + dy, 0), self.HEIGHT - 1)
        self.t += 1
        s = float(np.float32(action["strength"]))
        if action["paint"]:
            self.image[self.y, self.x] = [math.floor(int(c) * s) for c in action["color"]]
        info = {"cursor": np.array([self.x, self.y], dtype=np.int32)}
        return self.image.copy(), float(action["paint"]), False, self.t >= self.max_steps, info


def painter_actions(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield {
            "move": int(rng.integers(0, 5)),
            "color": rng.integers(0, 256, size=3).astype(np.int64),
            "paint": int(rng.integers(0, 2)) if rng.random() < 0.8 else 1,
            "strength": np.float32(rng.choice([1.0, 0.5, rng.random()])),
        }


def assert_step_equal(got, want) -> None:
    obs, reward, terminated, truncated, info = got
    w_obs, w_reward, w_terminated, w_truncated, w_info = want
    np.testing.assert_array_equal(obs, w_obs)
    assert obs.dtype == w_obs.dtype
    assert (reward, terminated, truncated) == (w_reward, w_terminated, w_truncated)
    assert info.keys() == w_info.keys()
    for key, value in w_info.items():
        np.testing.assert_array_equal(info[key], value)


def play_counter(env, ref: CounterRef, seed: int | None, actions) -> None:
    obs, info = env.reset(seed=seed)
    w_obs, w_info = ref.reset(seed)
    np.testing.assert_array_equal(obs, w_obs)
    assert info == w_info
    for action in actions:
        got = env.step(action)
        want = ref.step(action)
        assert_step_equal(got, want)
        if want[2] or want[3]:
            return


def check_counter_episodes(env) -> None:
    """Spaces, two full episodes (one terminates, one truncates), same-seed determinism, render."""
    assert env.observation_space == spaces.Box(-100, 100, (4,), np.float32)
    assert env.action_space == spaces.Discrete(3)
    assert env.game_name == "counter"
    assert env.metadata["render_modes"] == ["rgb_array"]
    ref = CounterRef(max_steps=6)
    play_counter(env, ref, 11, [2] * 20)  # walks right onto the target: terminates
    assert ref.pos == ref.target
    play_counter(env, ref, None, [1, 0, 1, 0, 1, 1, 1])  # unseeded: the game's RNG goes on; truncates
    assert ref.t == 6 and ref.pos != ref.target
    first = [env.reset(seed=s)[0] for s in (3, 4, 3)]
    np.testing.assert_array_equal(first[0], first[2])
    assert any(not np.array_equal(env.reset(seed=s)[0], first[0]) for s in range(4, 10))
    ref.reset(3)
    obs, _ = env.reset(seed=3, options={"start": 2})
    np.testing.assert_array_equal(obs, CounterRef().reset(3, start=2)[0])
    ref.reset(3, start=2)
    for action in (2, 0, 2, 2):
        env.step(action)
        ref.step(action)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape == (3, 12, 3)
    np.testing.assert_array_equal(frame, ref.frame())


def check_counter_calls_and_errors(env) -> None:
    """call / get / set attributes, errors that come back as GameError, serving afterwards."""
    assert env.call("add", 2, 3) == 5
    np.testing.assert_array_equal(env.call("scaled", np.arange(3, dtype=np.float32), factor=2), [0, 2, 4])
    assert env.call("scaled", [1, 2]).dtype == np.float32
    assert env.call("later", {"a": [1, None]}) == {"a": [1, None]}  # an async method
    assert env.get_game_attr("label") == "counter"
    env.set_game_attr("label", "renamed")
    assert env.get_game_attr("label") == "renamed"

    with pytest.raises(GameError) as err:
        env.call("boom", "kaput")
    assert "RangeError: kaput" in str(err.value)
    assert "counter_game.js" in err.value.remote_traceback  # the JS stack
    with pytest.raises(GameError, match="no method or attribute \"nope\""):
        env.call("nope")
    with pytest.raises(GameError, match="no method or attribute"):
        env.get_game_attr("missing")

    env.set_game_attr("badObservation", True)
    with pytest.raises(GameError) as err:
        env.reset(seed=1)
    message = str(err.value)
    assert "observation" in message and "float32 array of shape [4]" in message and "3 values" in message
    env.set_game_attr("badObservation", False)

    ref = CounterRef(max_steps=6)
    play_counter(env, ref, 5, [1, 0, 2])  # still serving, still right
    assert env.call("state") == {"pos": ref.pos, "target": ref.target, "t": ref.t}


def check_painter(env, steps: int = 30) -> None:
    assert env.observation_space == spaces.Box(0, 255, (6, 8, 3), np.uint8)
    assert env.action_space == spaces.Dict(
        move=spaces.Discrete(5),
        color=spaces.MultiDiscrete([256, 256, 256]),
        paint=spaces.Discrete(2),
        strength=spaces.Box(0, 1, (), np.float32),
    )
    ref = PainterRef(max_steps=steps)
    obs, info = env.reset(seed=0, options={"x": 3, "y": 2})
    w_obs, w_info = ref.reset(3, 2)
    np.testing.assert_array_equal(obs, w_obs)
    np.testing.assert_array_equal(info["cursor"], w_info["cursor"])
    assert info["cursor"].dtype == np.int32
    for action in painter_actions(steps):
        obs, reward, terminated, truncated, info = env.step(action)
        w_obs, w_reward, _, w_truncated, w_info = ref.step(action)
        np.testing.assert_array_equal(obs, w_obs)
        assert obs.dtype == np.uint8 and obs.shape == (6, 8, 3)
        assert (reward, terminated, truncated) == (w_reward, False, w_truncated)
        np.testing.assert_array_equal(info["cursor"], w_info["cursor"])
        assert info["color_is_bigint"] is True  # MultiDiscrete arrives as a BigInt64Array
    assert ref.image.any()  # it painted something
    np.testing.assert_array_equal(env.render(), ref.image)


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def all_gone(procs: list[psutil.Process], timeout: float = 2.0) -> bool:
    """Whether every process has exited (zombies count as gone) within ``timeout`` s."""

    def running(p: psutil.Process) -> bool:
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + timeout
    while any(running(p) for p in procs):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# ---------------------------------------------------------------- Node


@pytest.mark.node
def test_node_counter_episodes_match_the_reference():
    with game_env(node_spec("counter.mjs", config={"max_steps": 6}), render_mode="rgb_array") as env:
        check_counter_episodes(env)


@pytest.mark.node
def test_node_calls_attributes_and_errors():
    with game_env(node_spec("counter.mjs", config={"max_steps": 6})) as env:
        check_counter_calls_and_errors(env)


@pytest.mark.node
@pytest.mark.parametrize("speeds", [[1.0, 2.5], [2.5, 1.0]])
def test_node_infos_of_ints_and_floats_merge_as_floats(speeds):
    """tests/games/js/speed.mjs: JSON writes JavaScript's 1.0 as 1; the merged array must not truncate 2.5 to 2."""
    with vector_env(node_spec("speed.mjs", config={"speeds": speeds}), num_envs=2) as envs:
        _, info = envs.reset(seed=0)
        assert info["speed"].dtype == np.float64 and info["speed"].tolist() == speeds
        *_, info = envs.step(np.array([0, 0]))
        assert info["speed"].tolist() == speeds and info["final"]["speed"].tolist() == speeds


@pytest.mark.node
def test_node_vector_env_call_get_set_attr():
    with vector_env(node_spec("counter.mjs"), num_envs=2) as envs:
        obs, _ = envs.reset(seed=5)
        refs = [CounterRef(), CounterRef()]
        np.testing.assert_array_equal(obs, [refs[0].reset(5)[0], refs[1].reset(6)[0]])
        for actions in ([1, 0], [0, 1], [1, 1]):  # never onto the target: no autoreset here
            obs, reward, terminated, truncated, info = envs.step(np.array(actions))
            want = [ref.step(a) for ref, a in zip(refs, actions)]
            np.testing.assert_array_equal(obs, [w[0] for w in want])
            np.testing.assert_array_equal(reward, [w[1] for w in want])
            assert not terminated.any() and not truncated.any()
            np.testing.assert_array_equal(info["distance"], [w[4]["distance"] for w in want])
        assert envs.call("add", 1, 2) == (3, 3)
        assert envs.call("state") == tuple({"pos": r.pos, "target": r.target, "t": r.t} for r in refs)
        assert envs.get_attr("label") == ("counter", "counter")
        envs.set_attr("label", ["left", "right"])
        assert envs.get_attr("label") == ("left", "right")
        pids = envs.call("pid")
        assert len(set(pids)) == 2
        games = [psutil.Process(pid) for pid in pids]
    assert all_gone(games)


@pytest.mark.node
def test_node_image_observation_and_dict_action():
    with game_env(node_spec("painter.mjs", config={"max_steps": 30}), render_mode="rgb_array") as env:
        check_painter(env)


def _pixels_ref(t: int, h: int = 3, w: int = 5) -> np.ndarray:
    """tests/games/js/pixels.mjs's image at step t, computed here."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(y * 7 + x * 3 + t) % 256, (y * 5 + x * 11 + 2 * t) % 256, (x * y + t) % 256], -1).astype(np.uint8)


def test_node_pixel_formats_arrive_as_rgb(tmp_path):
    """Each pixel format's bytes (rgbx as jsnes-style Uint32 words) arrive as the RGB the game drew."""
    from PIL import Image

    Image.fromarray(_pixels_ref(9, 4, 6), "RGB").save(tmp_path / "s.png")
    for fmt in ("rgb", "rgbx", "bgrx", "xrgb", "png"):
        extra = {"png": str(tmp_path / "s.png"), "h": 4, "w": 6} if fmt == "png" else {}
        ref = (lambda t: _pixels_ref(9, 4, 6)) if fmt == "png" else _pixels_ref
        with game_env(node_spec("pixels.mjs", config={"format": fmt, **extra}), render_mode="rgb_array") as env:
            assert env.observation_space == spaces.Box(0, 255, ref(0).shape, np.uint8)
            np.testing.assert_array_equal(env.reset()[0], ref(0), err_msg=fmt)
            for t, a in ((2, 1), (3, 0)):  # the second step's header is a cached one on the host
                np.testing.assert_array_equal(env.step(a)[0], ref(t), err_msg=fmt)
            np.testing.assert_array_equal(env.render(), ref(3), err_msg=fmt)
            if fmt == "xrgb":
                env.call("short")
                with pytest.raises(GameError, match=r"expected uint8 \[3,5,4\] bytes \(pixel_format \"xrgb\", 60 bytes\)"):
                    env.step(0)


@pytest.mark.node
@pytest.mark.parametrize("bad, message", [
    ("float", r"observation\[.img.\]: item 0 is 300.70001220703125: expected an integer for uint8"),
    ("array", r"item 5 is 256: out of range for uint8 \[0, 255\]"),
    ("fraction", r"item 1 is 1.5: expected an integer for int32"),
    ("imagedata", r"expected a uint8 array of shape \[4,4,3\] .*got an image of width 8 and height 2"),
])  # fmt: skip
def test_node_values_that_do_not_fit_their_dtype_or_shape_are_refused(bad, message):
    # they used to arrive changed: 300.7 as 44, 256 as 0, 1.5 as 1, an 8 x 2 image as a 4 x 4 one
    with game_env(node_spec("strict.mjs", config={"bad": bad})) as env:
        env.reset()
        with pytest.raises(GameError, match=message):
            env.step(0)


@pytest.mark.node
def test_a_commonjs_game_after_double_dash_finds_require_vecbridge(tmp_path):
    # launchers/js/README.md's require("vecbridge"), checked as node.md says: `vecbridge check -- node game.js`
    # (the -- form set no NODE_PATH: "Cannot find module 'vecbridge'")
    import sys

    game = tmp_path / "game.js"
    game.write_text('const vecbridge = require("vecbridge");\n'
                    'vecbridge.serve({observationSpace: "int 0 9", actionSpace: "bool", t: 0,\n'
                    '  reset() { this.t = 0; return {observation: 0, info: {}}; },\n'
                    '  step(a) { this.t++; return {observation: this.t % 10, reward: 1, terminated: this.t >= 5,\n'
                    '                              truncated: false, info: {}}; }});\n')  # fmt: skip
    out = subprocess.run([str(Path(sys.executable).with_name("vecbridge")), "check", "--steps", "20", "--", "node",
                          str(game)], capture_output=True, text=True, timeout=240)  # fmt: skip
    assert out.returncode == 0 and " 0 failed" in out.stdout, out.stdout + out.stderr


@pytest.mark.node
def test_node_values_that_fit_are_converted():
    with game_env(node_spec("strict.mjs", config={"bad": "good"})) as env:
        env.reset()
        obs = env.step(0)[0]
        assert obs["img"].tolist() == [[[10, 20, 30]] * 4] * 4 and obs["n"].tolist() == [-5, 2147483647]


ECHO_SPACE = spaces.Dict(
    f16=spaces.Box(-10, 10, (3,), np.float16),
    f32=spaces.Box(-1, 1, (2, 3), np.float32),
    f64=spaces.Box(-1e9, 1e9, (2,), np.float64),
    scalar=spaces.Box(-1, 1, (), np.float64),
    i8=spaces.Box(-128, 127, (4,), np.int8),
    u8=spaces.Box(0, 255, (2, 2), np.uint8),
    i16=spaces.Box(-30000, 30000, (2,), np.int16),
    u16=spaces.Box(0, 60000, (2,), np.uint16),
    i32=spaces.Box(-2e9, 2e9, (2,), np.int32),
    u32=spaces.Box(0, 4e9, (2,), np.uint32),
    i64=spaces.Box(-(10**15), 10**15, (3,), np.int64),
    u64=spaces.Box(0, 10**15, (2,), np.uint64),
    b=spaces.Box(0, 1, (5,), bool),
    d=spaces.Discrete(5, start=-2),
    md=spaces.MultiDiscrete([[2, 3], [4, 5]]),
    mb=spaces.MultiBinary([2, 3]),
    t=spaces.Tuple([spaces.Discrete(2), spaces.Box(-1, 1, (), np.float32)]),
    ts=spaces.MultiDiscrete([4, 2]),
)


def echo_reset_observation(k: int) -> dict:
    """echo.mjs's reset(seed=k), built from plain JS numbers there."""
    return {
        "f16": np.array([0.5, -2.25, k], np.float16),
        "f32": np.array([[0.25, -0.5, 0.125], [k / 4, 0, -1]], np.float32),
        "f64": np.array([math.pi, -k * 1e6]),
        "scalar": np.array(-0.75),
        "i8": np.array([-128, 127, k, -1], np.int8),
        "u8": np.array([[0, 255], [k, 7]], np.uint8),
        "i16": np.array([-30000, 30000], np.int16),
        "u16": np.array([0, 60000], np.uint16),
        "i32": np.array([-2e9, 2e9], np.int32),
        "u32": np.array([0, 4e9], np.uint32),
        "i64": np.array([-(10**15), 10**15, k], np.int64),
        "u64": np.array([0, 10**15], np.uint64),
        "b": np.array([True, False, True, False, k > 0]),
        "d": -2,
        "md": np.array([[1, 2], [3, k % 5]]),
        "mb": np.array([[1, 0, 1], [0, 1, 0]], np.int8),
        "t": (1, np.array(0.5, np.float32)),
        "ts": np.array([3, 1]),
    }


def assert_same_value(got, want, path="") -> None:
    if isinstance(want, dict):
        assert got.keys() == want.keys(), path
        for key in want:
            assert_same_value(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, tuple):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same_value(g, w, f"{path}[{i}]")
    elif isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray) and got.dtype == want.dtype and got.shape == want.shape, (path, got)
        np.testing.assert_array_equal(got, want, err_msg=path)
    else:
        assert got == want and type(got) is type(want), (path, got, want)


def plain_ints(value):
    """A sampled value as it comes back from a game: Discrete values are Python ints."""
    if isinstance(value, dict):
        return {k: plain_ints(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(plain_ints(v) for v in value)
    return int(value) if isinstance(value, np.integer) else value


def check_echo(env, int64_type: str) -> None:
    assert env.observation_space == ECHO_SPACE
    assert env.action_space == ECHO_SPACE
    for k in (0, 3):
        obs, info = env.reset(seed=k)
        assert_same_value(obs, echo_reset_observation(k))
        assert info == {"seed": k}
    env.action_space.seed(1)
    for _ in range(10):  # every dtype both ways: the action comes back as the observation
        action = env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(action)
        assert_same_value(obs, plain_ints(action))
        assert info["i64_type"] == int64_type and info["ts_type"] == int64_type
        np.testing.assert_array_equal(info["echo_i64"], action["i64"])
    # arrays inside call arguments and results keep dtype and shape, large ones too
    big = np.full((1000, 1000), 7, np.uint8)  # 1 MB each way: frames split over many reads
    for value in (np.arange(12, dtype=np.int16).reshape(3, 4), np.linspace(0, 1, 7), big):
        back = env.call("echo", value)
        assert back.dtype == value.dtype and back.shape == value.shape
        np.testing.assert_array_equal(back, value)
    assert env.call("shapeOf", np.zeros((2, 3, 4), np.float32)) == [2, 3, 4]
    grid = env.call("grid", 2, 3)  # vecbridge.ndarray(values, shape, dtype)
    assert grid.dtype == np.int16 and grid.tolist() == [[-3, -2, -1], [0, 1, 2]]
    assert env.call("echo", {"n": 1, "s": "x", "l": [True, None]}) == {"n": 1, "s": "x", "l": [True, None]}


@pytest.mark.node
def test_node_every_dtype_and_space_both_ways():
    with game_env(node_spec("echo.mjs")) as env:
        check_echo(env, "bigint")


@pytest.mark.node
def test_node_int64_as_numbers_option():
    with game_env(node_spec("echo.mjs", config={"int64": "number"})) as env:
        check_echo(env, "number")


def node_major() -> int:
    out = subprocess.run(["node", "-p", "process.versions.node.split('.')[0]"], capture_output=True, text=True, timeout=30)
    return int(out.stdout)


@pytest.mark.node
def test_node_websocket_transport():
    """framing="websocket" in Node as a user gets it: Node's own WebSocket from Node 22, else the ws
    package (node_spec fetches it; scripts/setup.sh has it in the cache already)."""
    spec = backends_node.node_spec(GAMES / "echo.mjs", framing="websocket", startup_timeout=60)
    assert spec.framing == "websocket" and "ws@8.23.0" in list(spec.command)
    with game_env(spec) as env:
        check_echo(env, "bigint")


@pytest.mark.node
def test_node_websocket_transport_through_the_ws_package():
    """The ws package even where this Node has a global WebSocket (Node 22+ loses it with the flag)."""
    flags = ["--no-experimental-websocket"] if node_major() >= 22 else []  # before 22: none to hide
    spec = backends_node.node_spec(GAMES / "echo.mjs", framing="websocket", node_args=flags, startup_timeout=60)
    with game_env(spec) as env:
        check_echo(env, "bigint")


@pytest.mark.node
def test_node_websocket_without_any_implementation_says_what_to_do():
    """No global WebSocket and no ws package: the launch fails with the remedies in the log."""
    flags = ["--no-experimental-websocket"] if node_major() >= 22 else []
    spec = node_spec("echo.mjs", *flags, framing="websocket", env={"NODE_PATH": "", "VECBRIDGE_NPM_WS": ""})
    with pytest.raises(LaunchError, match="no WebSocket implementation here.*ws package is not found"):
        GameEnv(spec)


@pytest.mark.node
def test_node_exits_by_itself_on_close():
    with game_env(node_spec("counter.mjs", close_grace=30)) as env:
        env.reset(seed=0)
        tree = process_tree(env.pid)
        started = time.monotonic()
    assert time.monotonic() - started < 5  # not the 30 s grace: the game exited by itself
    assert all_gone(tree)


@contextmanager
def raw_game(script: str):
    """A game driven with HostConnection directly, to shape the byte stream by hand."""
    listener = socket.create_server(("127.0.0.1", 0))
    token = "feedface"
    with tempfile.TemporaryDirectory(prefix="vecbridge-jstest-") as tmp:
        env = dict(
            os.environ,
            VECBRIDGE_HOST="127.0.0.1",
            VECBRIDGE_PORT=str(listener.getsockname()[1]),
            VECBRIDGE_INSTANCE="0",
            VECBRIDGE_TOKEN=token,
            VECBRIDGE_CONFIG='{"max_steps": 6}',
            VECBRIDGE_LAUNCHERS=str(vecbridge.launchers_dir()),
            HOME=tmp,
            TMPDIR=tmp,
        )
        log = open(os.path.join(tmp, "game.log"), "wb")
        proc = subprocess.Popen(["node", str(GAMES / script)], env=env, stdout=log, stderr=subprocess.STDOUT)
        listener.settimeout(20)
        try:
            sock, _ = listener.accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = HostConnection(token)
            conn.hello_event = read_event(sock, conn, deadline_after(20), "the hello")
            yield proc, sock, conn
        finally:
            listener.close()
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            log.close()


@pytest.mark.node
def test_node_frames_split_and_coalesced_then_eof_exits():
    with raw_game("counter.mjs") as (proc, sock, conn):
        assert conn.framing_name == "binary"
        # welcome and the first request in one segment
        send_all(sock, conn.send_welcome({"max_steps": 6}) + conn.send_reset(seed=9))
        event = read_event(sock, conn, deadline_after(10))
        ref = CounterRef(max_steps=6)
        assert isinstance(event, ResetResult)
        np.testing.assert_array_equal(event.observation, ref.reset(9)[0])
        # a request dribbled in one byte at a time
        for action in (2, 0):
            for byte in conn.send_step(action):
                sock.sendall(bytes([byte]))
                time.sleep(0.001)
            event = read_event(sock, conn, deadline_after(10))
            assert isinstance(event, StepResult)
            np.testing.assert_array_equal(event.observation, ref.step(action)[0])
        send_all(sock, conn.send_call("add", [20, 22]))
        assert read_event(sock, conn, deadline_after(10)) == CallResult(42)
        sock.close()  # end of file, no 'close' message: the game must exit
        assert proc.wait(10) == 0


@pytest.mark.node
def test_node_close_message_exits_with_status_0():
    with raw_game("painter.mjs") as (proc, sock, conn):
        send_all(sock, conn.send_welcome({}))
        send_all(sock, conn.send_close())
        assert proc.wait(10) == 0
        sock.close()


def inline_node_game(source: str, *node_args: str, **settings) -> LaunchSpec:
    """``node -e source``; braces doubled because command parts are str.format templates."""
    escaped = source.replace("{", "{{").replace("}", "}}")
    return LaunchSpec(command=["node", *node_args, "-e", escaped], startup_timeout=20, **settings)


@pytest.mark.node
def test_node_bad_space_fails_the_launch_with_a_clear_message():
    source = "require('vecbridge').serve({observationSpace: 'float [4', actionSpace: 'bool', reset() {}, step() {}})"
    with pytest.raises(LaunchError) as err:  # require('vecbridge') through NODE_PATH, as launchers/js/README.md says
        GameEnv(inline_node_game(source, env={"NODE_PATH": "{launchers}/js"}))
    assert "invalid type string" in str(err.value) and "float [4" in str(err.value)


@pytest.mark.node
def test_node_esm_entry_and_plain_object_game():
    """The .mjs wrapper; a plain object game with type-string spaces and [obs, info] replies."""
    source = f"""
    import {{ serve, gameConfig }} from {json.dumps((vecbridge.launchers_dir() / "js" / "vecbridge.mjs").as_uri())};
    let n = 0;
    await serve({{
      observationSpace: 'int 0 9 [2]',
      actionSpace: ['int -1 1', 'float -1 1'],
      name: 'plain',
      reset(seed) {{ n = gameConfig().start; return [[n, 9 - n], {{}}]; }},
      step([move, push]) {{ n += move; return {{observation: [n, Math.round(push[0] * 4)], reward: push[0]}}; }},
    }});
    """
    spec = inline_node_game(source, "--input-type=module", config={"start": 4})
    with game_env(spec) as env:
        assert env.game_name == "plain"
        assert env.observation_space == spaces.MultiDiscrete([10, 10])
        assert env.action_space == spaces.Tuple([spaces.Discrete(3, start=-1), spaces.Box(-1, 1, (), np.float32)])
        obs, info = env.reset()
        assert obs.tolist() == [4, 5] and obs.dtype == np.int64 and info == {}
        obs, reward, terminated, truncated, info = env.step((-1, np.float32(0.5)))
        assert obs.tolist() == [3, 2] and reward == 0.5 and not terminated and not truncated and info == {}


@pytest.mark.node
def test_client_loads_as_an_injected_classic_script():
    """The file's text run as a classic script where there is no module, require or process
    (as Page.addScriptToEvaluateOnNewDocument runs it) defines globalThis.vecbridge, and a
    second injection keeps the first."""
    script = f"""
    const vm = require('vm');
    const src = require('fs').readFileSync({json.dumps(str(CLIENT))}, 'utf8');
    const search = '?vecbridge_port=9&vecbridge_instance=2&vecbridge_token=t&vecbridge_config=%7B%22a%22%3A1%7D';
    const g = {{ TextEncoder, TextDecoder, URLSearchParams, console, location: {{ search }} }};
    vm.createContext(g);
    vm.runInContext(src, g);
    const first = vm.runInContext('globalThis.vecbridge', g);
    vm.runInContext(src, g);
    const p = first.connectParams();
    console.log(JSON.stringify({{
      same: vm.runInContext('globalThis.vecbridge', g) === first,
      serve: typeof first.serve, version: first.PROTOCOL_VERSION, params: p,
      space: first.parseSpace(['int 0 3', 'bool']).kind,
      leaked: ['module', 'exports', 'require'].filter((k) => k in g),
    }}));
    """
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result == {
        "same": True,
        "serve": "function",
        "version": 1,
        "params": {"host": "127.0.0.1", "port": 9, "instance": 2, "token": "t", "config": {"a": 1}},
        "space": "MultiDiscrete",
        "leaked": [],
    }


# ---------------------------------------------------------------- headless Chromium

HOME_PATHS = [".config/chromium", ".cache/chromium",
    ".pki", ".local/share/applications", ".local/share/recently-used.xbel"]
TMP_PREFIXES = (".org.chromium.", "org.chromium.", ".com.google.Chrome", "chromium", "scoped_dir")


def chromium_traces() -> dict[str, float]:
    """Things a Chromium run could leave in $HOME or /tmp, with their mtimes."""
    found = {}
    home = Path.home()
    for rel in HOME_PATHS:
        path = home / rel
        if path.exists():
            found[str(path)] = path.stat().st_mtime
    for tmp in {tempfile.gettempdir(), "/tmp"}:
        for name in os.listdir(tmp):
            if name.startswith(TMP_PREFIXES):
                found[os.path.join(tmp, name)] = os.stat(os.path.join(tmp, name)).st_mtime
    return found


@pytest.fixture
def no_chromium_traces():
    before = chromium_traces()
    yield
    after = chromium_traces()
    assert after == before, f"Chromium left files behind: {sorted(set(after.items()) - set(before.items()))}"


@pytest.mark.browser
def test_browser_counter_episodes_match_the_reference(no_chromium_traces):
    with game_env(browser_spec("counter.html", config={"max_steps": 6}), render_mode="rgb_array") as env:
        check_counter_episodes(env)


@pytest.mark.browser
def test_browser_calls_attributes_and_errors(no_chromium_traces):
    with game_env(browser_spec("counter.html", config={"max_steps": 6})) as env:
        check_counter_calls_and_errors(env)


@pytest.mark.browser
def test_browser_canvas_image_observation_and_dict_action(no_chromium_traces):
    with game_env(browser_spec("painter.html", config={"max_steps": 12}), render_mode="rgb_array") as env:
        check_painter(env, steps=12)


@pytest.mark.browser
def test_browser_exits_on_close_and_leaves_nothing(no_chromium_traces):
    with game_env(browser_spec("counter.html", close_grace=30)) as env:
        env.reset(seed=0)
        env.step(1)
        tree = process_tree(env.pid)
        assert any("chrom" in " ".join(p.cmdline()) for p in tree[1:])
        started = time.monotonic()
    # the page closes its window on 'close', which ends headless Chromium (not the 30 s grace)
    assert time.monotonic() - started < 10
    assert all_gone(tree)


@pytest.mark.browser
def test_browser_vector_env(no_chromium_traces):
    with vector_env(browser_spec("counter.html"), num_envs=2) as envs:
        obs, _ = envs.reset(seed=8)
        refs = [CounterRef(), CounterRef()]
        np.testing.assert_array_equal(obs, [refs[0].reset(8)[0], refs[1].reset(9)[0]])
        obs, reward, *_ = envs.step(np.array([0, 1]))
        np.testing.assert_array_equal(obs, [refs[0].step(0)[0], refs[1].step(1)[0]])
        assert envs.call("add", 4, 5) == (9, 9)
        envs.set_attr("label", ["a", "b"])
        assert envs.get_attr("label") == ("a", "b")

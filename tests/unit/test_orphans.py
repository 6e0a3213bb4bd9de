"""What is left when the process that launched games is killed the way Ray kills it.

Ray kills an actor together with the actor's direct children, and an actor whose raylet
dies goes on running unless it watches for that. These tests do both to small real
processes (no Ray): a "launcher" with a reaper, killed with its children; and a process
watching its parent, whose parent is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil

LAUNCHER = textwrap.dedent(
    """
    import subprocess, sys, time
    from vecbridge.launch.reaper import Reaper
    reaper = Reaper()
    game = subprocess.Popen(["sleep", "300"], start_new_session=True)
    reaper.watch_group(game.pid)
    reaper.watch_dir(sys.argv[1])
    print(reaper.pid, game.pid, flush=True)
    time.sleep(300)
    """
)


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_the_reaper_is_no_child_of_its_launcher_and_cleans_up_after_a_kill_of_the_launcher_and_its_children(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        reaper_pid, game_pid = map(int, launcher.stdout.readline().split())
        children = psutil.Process(launcher.pid).children()
        assert reaper_pid not in [c.pid for c in children]  # detached: Ray's child kill cannot reach it
        assert game_pid in [c.pid for c in children]
        for proc in [psutil.Process(launcher.pid), *children]:  # as Ray ends an actor: it and its children
            proc.kill()
        launcher.wait()
        assert _gone(reaper_pid) and _gone(game_pid)
        deadline = time.monotonic() + 10
        while folder.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not folder.exists(), "the reaper removed the run folder"
    finally:
        launcher.kill()
        launcher.wait()


def test_reaper_close_waits_for_the_detached_reaper_to_exit(tmp_path):
    from vecbridge.launch.reaper import Reaper

    folder = tmp_path / "run"
    folder.mkdir()
    reaper = Reaper()
    game = subprocess.Popen(["sleep", "300"], start_new_session=True)
    reaper.watch_group(game.pid)
    reaper.watch_dir(folder)
    reaper.close()  # what is still registered is cleaned up before close() returns
    assert not folder.exists() and game.poll() == -signal.SIGTERM
    assert _gone(reaper.pid)


WATCHER = textwrap.dedent(
    """
    import subprocess, sys
    child = subprocess.Popen([sys.executable, "-c", '''
    import time
    from vecbridge.vector.ray_actor import exit_with_parent
    exit_with_parent("the test's watcher", interval=0.05)
    print("watching", flush=True)
    time.sleep(300)
    '''], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "watching\\n"
    print(child.pid, flush=True)
    child.wait()
    """
)


def test_a_process_watching_its_parent_exits_when_the_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", WATCHER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)  # fmt: skip
    child = int(parent.stdout.readline())
    try:
        time.sleep(0.3)
        assert psutil.Process(child).status() != psutil.STATUS_ZOMBIE  # it watches; it does not exit on its own
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert _gone(child, timeout=5), "the watcher noticed its parent was gone"
        assert f"the test's watcher exits: the process that started it (pid {parent.pid}" in parent.stderr.read()
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass

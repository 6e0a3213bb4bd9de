"""What a test leaves behind: processes started by this test session, vecbridge run folders."""

from __future__ import annotations

import os
import tempfile
import time

import psutil

SESSION_MARK = os.environ["VECBRIDGE_TEST_SESSION"]  # set by tests/conftest.py


def vecbridge_processes(since: float) -> list[psutil.Process]:
    """Processes started by this test session after ``since``."""
    found = []
    for proc in psutil.process_iter(["pid", "create_time", "cmdline"]):
        try:
            if proc.info["create_time"] < since - 1 or proc.pid == os.getpid():
                continue
            if "multiprocessing.resource_tracker" in " ".join(proc.info["cmdline"] or []):
                continue  # multiprocessing's own helper: lives as long as this Python process
            if proc.environ().get("VECBRIDGE_TEST_SESSION") == SESSION_MARK:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def wait_for_no_processes(since: float, timeout: float = 30.0) -> list[psutil.Process]:
    # 30 s, not 10: in one CI run on a loaded machine (the suite took 16 minutes instead of 8-11) a
    # Ray actor of test_ray.py took longer than 10 s to exit after its env closed (it was a zombie,
    # exited, by the time the failure was printed). A process really left behind still fails the test.
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in vecbridge_processes(since) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def run_folders() -> set[str]:
    try:
        names = os.listdir(tempfile.gettempdir())
    except FileNotFoundError:  # the session's private TMPDIR is gone (removed at its end, e.g. after Ctrl-C)
        return set()
    return {name for name in names if name.startswith("vecbridge-")}

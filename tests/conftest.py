"""Shared fixtures: every test must leave no game process, worker or run folder behind."""

from __future__ import annotations

import os
import tempfile
import time
import uuid

import psutil
import pytest


# Every process this test session starts inherits this marker, so leftovers are found
# even after they were re-parented, and processes of other sessions are never blamed.
SESSION_MARK = uuid.uuid4().hex
os.environ["VECBRIDGE_TEST_SESSION"] = SESSION_MARK
# Run folders go to a private temporary directory, checked after each test.
_TMP = tempfile.mkdtemp(prefix="vbt-")  # short: Chromium fails if its socket path under TMPDIR passes 107 bytes
os.environ["TMPDIR"] = _TMP
tempfile.tempdir = _TMP


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


def wait_for_no_processes(since: float, timeout: float = 10.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in vecbridge_processes(since) if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def run_folders() -> set[str]:
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("vecbridge-")}


def pytest_sessionfinish(session, exitstatus):
    import shutil

    shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_leftovers():
    """Fail a test that leaves game processes, workers, run folders or shared memory behind."""
    start = time.time()
    folders_before = run_folders()
    shm_before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    yield
    left = wait_for_no_processes(start)
    for proc in left:
        try:
            proc.kill()
        except psutil.Error:
            pass
    assert not left, f"processes left behind: {[(p.pid, p.info['cmdline']) for p in left]}"
    new_folders = run_folders() - folders_before
    assert not new_folders, f"run folders left in {tempfile.gettempdir()}: {sorted(new_folders)}"
    if os.path.isdir("/dev/shm"):
        new_shm = {n for n in set(os.listdir("/dev/shm")) - shm_before if n.startswith("vecbridge")}
        assert not new_shm, f"shared memory left in /dev/shm: {sorted(new_shm)}"

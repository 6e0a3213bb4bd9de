"""Integration tests: every test must leave no game process, worker, run folder or shared memory behind."""

from __future__ import annotations

import os
import tempfile
import time

import psutil
import pytest

from support.leftovers import run_folders, wait_for_no_processes


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

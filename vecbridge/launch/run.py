"""Per-run resources shared by every launch in a process: the run folder, the token, the reaper."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

from vecbridge.launch.folders import hold, run_folder
from vecbridge.launch.gate_stats import STATS_FOLDER, read_stats, run_tag
from vecbridge.launch.reaper import Reaper


class RunContext:
    """A private run folder (removed on close), the per-run secret token and a reaper.

    Pass ``run_dir`` to keep logs after the run (it is then not deleted; it must be yours:
    see :mod:`vecbridge.launch.folders`; and no other run's: it is locked, unless ``token`` is
    given, as a worker process joining its parent's run does).
    """

    def __init__(self, run_dir: str | Path | None = None, token: str | None = None, reaper: bool = True) -> None:
        self.keep = run_dir is not None
        self._lock: int | None = None
        self.reaper = Reaper() if reaper else None  # first: a kill in its ~50-ms start-up would leave the folder
        try:
            self.run_dir = run_folder(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="vecbridge-"))
            if self.keep and token is None:
                self._lock = hold(self.run_dir)
        except BaseException:
            if self.reaper is not None:
                self.reaper.close()
            raise
        self.token = token or secrets.token_hex(16)
        if self.reaper is not None and not self.keep:
            self.reaper.watch_dir(self.run_dir)

    def connection_stats(self) -> dict[str, int]:
        """Connections the run's gates closed before their hello, by reason (every process of the run)."""
        return read_stats(self.run_dir / STATS_FOLDER, run_tag(self.token))

    @property
    def rejected_connections(self) -> int:
        """How many connections the run's gates closed before their hello (strangers, broken hellos, timeouts)."""
        return sum(self.connection_stats().values())

    def close(self) -> None:
        if self.reaper is not None:
            if not self.keep:
                self.reaper.forget_dir(self.run_dir)
            self.reaper.close()
            self.reaper = None
        if not self.keep:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

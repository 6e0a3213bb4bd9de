"""A watchdog process that cleans up a launcher's games if the launcher dies without closing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


class Reaper:
    """Owns a ``_reaper_main.py`` process; see that file for the protocol."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).with_name("_reaper_main.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )

    def _say(self, line: str) -> None:
        if self._proc.stdin is None or self._proc.stdin.closed:
            return
        try:
            self._proc.stdin.write(line.encode() + b"\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def watch_group(self, pgid: int) -> None:
        self._say(f"add {pgid}")

    def forget_group(self, pgid: int) -> None:
        self._say(f"del {pgid}")

    def watch_dir(self, path: str | os.PathLike) -> None:
        self._say(f"dir {path}")

    def forget_dir(self, path: str | os.PathLike) -> None:
        self._say(f"undir {path}")

    def close(self) -> None:
        """Stop the reaper; it cleans up whatever is still registered (normally nothing)."""
        if self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

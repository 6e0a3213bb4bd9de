"""A watchdog process that cleans up a launcher's games if the launcher dies without closing."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

#: how long close() waits for the reaper to finish its cleanup before killing it
CLOSE_TIMEOUT_S = 5.0


class Reaper:
    """Owns a ``_reaper_main.py`` process; see that file for the protocol.

    The reaper detaches itself (it forks, and the process started here exits at once), so
    that it is not a child of the launcher. Why: Ray kills an actor's child processes with
    the actor (measured: a killed driver's actors lost their direct children, while a
    detached grandchild lived on), and a reaper killed with its launcher cleans nothing.
    """

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).with_name("_reaper_main.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,  # the reaper writes its pid, and holds it open until it exits
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
        # Why wait here: the first process leaves within the interpreter's start-up (~20 ms
        # measured), and a zombie child left until close() trips anyone listing this process's children.
        line = self._proc.stdout.readline()
        self._proc.wait()
        #: the detached reaper's process id (None if it did not start)
        self.pid: int | None = int(line) if line.strip().isdigit() else None

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

    def watch_process(self, pid: int) -> None:
        """A process that cleans up after itself when the launcher dies (a worker): waited
        for, with its descendants, before the folders are removed (killed if it takes too long)."""
        self._say(f"wait {pid}")

    def forget_process(self, pid: int) -> None:
        self._say(f"unwait {pid}")

    def watch_dir(self, path: str | os.PathLike) -> None:
        self._say(f"dir {path}")

    def forget_dir(self, path: str | os.PathLike) -> None:
        self._say(f"undir {path}")

    def close(self) -> None:
        """Stop the reaper; it cleans up whatever is still registered (normally nothing).
        Returns once it has exited (its end of the stdout pipe closes), killing it after
        :data:`CLOSE_TIMEOUT_S`."""
        pid = self.pid
        if self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        out = self._proc.stdout
        if out is not None and not out.closed:
            deadline = time.monotonic() + CLOSE_TIMEOUT_S
            while (left := deadline - time.monotonic()) > 0:
                if select.select([out], [], [], left)[0] and not os.read(out.fileno(), 4096):
                    break  # end of file: the reaper has exited
            else:
                if pid is not None:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            out.close()

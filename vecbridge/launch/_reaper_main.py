"""The reaper: kills a launcher's game process groups when the launcher dies.

Run as ``python -I _reaper_main.py`` with a pipe on stdin, in its own session so
Ctrl-C in a terminal does not reach it. The launcher writes lines ``add PGID``,
``del PGID``, ``dir PATH`` and ``undir PATH``. When stdin reaches end of file, the
launcher is gone (closed cleanly or SIGKILLed): every group still listed gets
SIGTERM, then SIGKILL, and every listed directory is removed. Standard library only,
so it starts in milliseconds and costs a few MiB.
"""

import os
import shutil
import signal
import sys
import time


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    groups: set[int] = set()
    dirs: list[str] = []
    for line in sys.stdin:
        verb, _, arg = line.rstrip("\n").partition(" ")
        if verb == "add":
            groups.add(int(arg))
        elif verb == "del":
            groups.discard(int(arg))
        elif verb == "dir":
            dirs.append(arg)
        elif verb == "undir" and arg in dirs:
            dirs.remove(arg)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in list(groups):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                groups.discard(pgid)
            except PermissionError:
                groups.discard(pgid)
        if groups and sig == signal.SIGTERM:
            time.sleep(0.5)
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()

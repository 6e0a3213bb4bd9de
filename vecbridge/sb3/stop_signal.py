"""SIGTERM stops `vecbridge train` as Ctrl-C does: the model is saved as it is, then it exits.

Why: a run in the background (`nohup vecbridge train ... &` from a script) starts with SIGINT
ignored, so Ctrl-C's path is closed to it, and `kill`, `timeout` and batch schedulers that
pre-empt a job send SIGTERM, which by default ends Python at once and loses every step since
the last checkpoint (found with a 2-hour pixel run, docs/results.md).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Stop:
    """Which signal asked training to stop (``None``: none did)."""

    signum: int | None = None


@contextmanager
def sigterm_as_interrupt() -> Iterator[Stop]:
    """Within the block, SIGTERM raises KeyboardInterrupt in the main thread (once; a second
    SIGTERM ends the process as usual). Outside the main thread it does nothing."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        stop.signum = signum
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM is not ignored while the model saves
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)

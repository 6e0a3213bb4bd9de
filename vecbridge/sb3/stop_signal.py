"""SIGTERM and SIGHUP stop `vecbridge train` as Ctrl-C does: the model is saved as it is, then it exits.

Why: a run in the background (`nohup vecbridge train ... &` from a script) starts with SIGINT
ignored, so Ctrl-C's path is closed to it, and `kill`, `timeout` and batch schedulers that
pre-empt a job send SIGTERM, which by default ends Python at once and loses every step since
the last checkpoint (found with a 2-hour pixel run, docs/results.md). A terminal closed or an
ssh session dropped sends SIGHUP (found by a trial); under `nohup` it stays ignored.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Stop:
    """Which signal asked training to stop (``None``: none did)."""

    signum: int | None = None


#: the signals that stop training as Ctrl-C does
SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextmanager
def sigterm_as_interrupt() -> Iterator[Stop]:
    """Within the block, SIGTERM or SIGHUP raises KeyboardInterrupt in the main thread (once; a
    second one ends the process as usual). A signal ignored on entry (``nohup``) stays ignored.
    Outside the main thread it does nothing."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum, frame):
        stop.signum = signum
        for sig in caught:
            signal.signal(sig, signal.SIG_DFL)  # a second signal is not ignored while the model saves
        raise KeyboardInterrupt

    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    caught = [sig for sig, was in previous.items() if was is not signal.SIG_IGN]
    for sig in caught:
        signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig in caught:
            signal.signal(sig, previous[sig])

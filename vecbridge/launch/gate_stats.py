"""What the gate counts and says: connections refused before their hello, by reason.

Each gate (one per listener: the vector env's own process, each worker) keeps its counters
in a small file of its run folder (``<run>/.gate/<run tag>-<pid>-<n>``, the tag a hash of
the run's token, so that a kept run folder used again counts each run apart), memory-mapped, so that
counting costs a memory write and any process of the run can read the totals
(:func:`read_stats`, behind ``envs.rejected_connections``). Warnings go to the
``vecbridge.launch.gate`` logger, at most a burst of 5 and then one per 10 s per gate, each
saying how many were left out since the last.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import mmap
import os
import struct
import time
from pathlib import Path

from vecbridge.launch.folders import private_folder

#: why a connection was closed before it was welcomed
REASONS = (
    "malformed",  # its first bytes or hello broke the protocol (bad framing, JSON, size) before authentication
    "bad_token",  # its hello carried no token or a wrong one
    "timeout",  # no valid hello within the handshake deadline
    "capacity",  # closed to keep the number of unauthenticated connections under the cap
    "closed",  # it closed the connection before its hello was complete
    "refused",  # authenticated, but not welcome: names no instance awaiting a hello, or says nothing valid
)
_SLOT = struct.Struct("<q")
_SIZE = _SLOT.size * len(REASONS)
_serial = itertools.count()
STATS_FOLDER = ".gate"


class GateStats:
    """Counters of one gate; in a file of ``folder`` when given (shared with the run's other processes)."""

    def __init__(self, folder: Path | None = None, tag: str = "") -> None:
        self._map: mmap.mmap | bytearray
        if folder is None:
            self._map = bytearray(_SIZE)
            return
        private_folder(folder, "connection statistics folder")
        path = folder / f"{tag}-{os.getpid()}-{next(_serial)}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, _SIZE)
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)

    def count(self, reason: str) -> None:
        k = REASONS.index(reason) * _SLOT.size
        _SLOT.pack_into(self._map, k, _SLOT.unpack_from(self._map, k)[0] + 1)

    def snapshot(self) -> dict[str, int]:
        return {r: _SLOT.unpack_from(self._map, k * _SLOT.size)[0] for k, r in enumerate(REASONS)}

    def close(self) -> None:
        if isinstance(self._map, mmap.mmap) and not self._map.closed:
            self._map.close()


def run_tag(token: str) -> str:
    """A name for the run's files that does not reveal its token."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def read_stats(folder: Path, tag: str = "") -> dict[str, int]:
    """The counters of every gate of run ``tag`` whose file is in ``folder``, summed (zeros if none)."""
    total = dict.fromkeys(REASONS, 0)
    try:
        paths = [p for p in folder.iterdir() if p.name.startswith(f"{tag}-")]
    except OSError:
        return total
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for k, reason in enumerate(REASONS):
            if len(data) >= (k + 1) * _SLOT.size:
                total[reason] += _SLOT.unpack_from(data, k * _SLOT.size)[0]
    return total


class WarningLimiter:
    """A token bucket for log lines: ``burst`` at once, then one per ``period`` seconds."""

    def __init__(self, logger: logging.Logger, burst: int = 5, period: float = 10.0) -> None:
        self.logger, self.burst, self.period = logger, burst, period
        self.tokens = float(burst)
        self.last = time.monotonic()
        self.suppressed = 0

    def warn(self, message: str) -> None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) / self.period)
        self.last = now
        if self.tokens < 1:
            self.suppressed += 1
            return
        self.tokens -= 1
        if self.suppressed:
            message += f" ({self.suppressed} similar warning(s) left out since the last)"
            self.suppressed = 0
        self.logger.warning(message)

"""Whose processes are whose: the runner's own (Python) processes against the games.

A benchmark case runs in one process (the "root"). Everything it starts (worker
processes, reapers, forkservers, games) descends from it. Game processes carry
``VECBRIDGE_TOKEN`` in their environment (docs/protocol.md, section 1); so do their
children. Everything else under the root is the runner's own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import psutil


@dataclass
class ProcessSets:
    own: list[psutil.Process] = field(default_factory=list)
    games: list[psutil.Process] = field(default_factory=list)


def _is_game(proc: psutil.Process, root_token: str | None) -> bool:
    try:
        token = proc.environ().get("VECBRIDGE_TOKEN")
    except (psutil.Error, OSError):
        return False
    return token is not None and token != root_token


def classify(root_pid: int | None = None) -> ProcessSets:
    """The root and its descendants, split into the runner's own processes and the games."""
    root = psutil.Process(root_pid or os.getpid())
    try:
        root_token = root.environ().get("VECBRIDGE_TOKEN")
    except (psutil.Error, OSError):
        root_token = None
    try:
        descendants = root.children(recursive=True)
    except psutil.Error:
        descendants = []
    game_pids: set[int] = set()
    for proc in descendants:
        if proc.pid in game_pids:
            continue
        if _is_game(proc, root_token):
            game_pids.add(proc.pid)
            try:
                game_pids.update(c.pid for c in proc.children(recursive=True))
            except psutil.Error:
                pass
    sets = ProcessSets(own=[root])
    for proc in descendants:
        (sets.games if proc.pid in game_pids else sets.own).append(proc)
    return sets


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    """user + system CPU seconds of each process (not of its children), by pid."""
    out: dict[int, float] = {}
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        out[proc.pid] = t.user + t.system
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots (a process that appeared counts in full)."""
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def memory(procs: list[psutil.Process], pss: bool = True) -> tuple[int, int | None]:
    """Summed RSS and (where readable) summed PSS of ``procs``, in bytes.

    RSS counts pages shared between processes (forked or mapped libraries) once per
    process; PSS splits each shared page among the processes that map it.
    """
    rss, pss_total = 0, 0 if pss else None
    for proc in procs:
        try:
            rss += proc.memory_info().rss
        except psutil.Error:
            continue
        if pss_total is not None:
            try:
                pss_total += proc.memory_full_info().pss
            except (psutil.Error, AttributeError, OSError):
                pss_total = None
    return rss, pss_total


def describe(procs: list[psutil.Process]) -> list[str]:
    names = []
    for proc in procs:
        try:
            cmd = proc.cmdline()
        except psutil.Error:
            continue
        names.append(" ".join(cmd)[:120])
    return names

"""The reaper: kills a launcher's game process groups when the launcher dies.

Run as ``python -I _reaper_main.py`` with a pipe on stdin and one on stdout, in its own
session so Ctrl-C in a terminal does not reach it. It forks at once and the first process
exits, so the reaper is no child of the launcher (whoever kills the launcher's children,
as Ray does an actor's, does not kill it); it writes its pid on stdout, and its end of the
stdout pipe closes when it exits. The launcher writes lines ``add PGID``,
``del PGID``, ``wait PID``, ``unwait PID``, ``dir PATH`` and ``undir PATH``. When stdin
reaches end of file, the launcher is gone (closed cleanly or SIGKILLed): every group still
listed gets SIGTERM, then SIGKILL. So do the descendants of each group's leader (the game,
whose pid is its group's id), found in /proc before anything is killed: a game's child
that left the group (``setsid``) would escape a group kill. A ``wait`` process (a worker,
which closes its own games when its launcher dies) is given :data:`WAIT_S` to end with
its descendants, then they are killed. Only once all of them are gone is every listed
directory removed: a game still closing could write into it again (measured: SIGKILLed
with two workers, FCEUX rewrote ``instance-N/home/.fceux`` after the removal). Standard
library only, so it starts in milliseconds and costs a few MiB.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc (empty where there is no /proc)."""
    kids: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return kids
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(b")") + 1 :].split()[1])  # after the name: state, ppid, ...
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(name))
    return kids


def descendants(roots: set[int]) -> set[int]:
    """The processes below ``roots`` (not the roots themselves)."""
    kids, found, todo = _children(), set(), list(roots)
    while todo:
        for child in kids.get(todo.pop(), ()):
            if child not in found and child not in roots:
                found.add(child)
                todo.append(child)
    return found


#: how long a ``wait`` process (a worker closing its games) may take before it is killed
WAIT_S = 10.0


def _started(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), or None once it is gone (or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
    except OSError:
        return None
    return None if fields[0] in (b"Z", b"X") else int(fields[19])


def _alive(procs: dict[int, int | None]) -> dict[int, int | None]:
    """Those of ``procs`` (pid: start time) still running: the same process, not a reused pid."""
    return {pid: t for pid, t in procs.items() if t is not None and _started(pid) == t}


def _wait_gone(procs: dict[int, int | None], seconds: float) -> dict[int, int | None]:
    """Wait up to ``seconds`` for ``procs`` to end; those still running."""
    deadline = time.monotonic() + seconds
    while (procs := _alive(procs)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return procs


def _signal(pid: int, sig: int, group: bool) -> bool:
    """Send ``sig``; False once the process (group) is gone or not ours."""
    try:
        (os.killpg if group else os.kill)(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def detach() -> None:
    """Leave the process that was started (it exits now) and go on in a child of it."""
    if os.fork():
        os._exit(0)
    sys.stdout.write(f"{os.getpid()}\n")
    sys.stdout.flush()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    detach()
    groups: set[int] = set()
    waits: dict[int, int | None] = {}
    dirs: list[str] = []
    for line in sys.stdin:
        verb, _, arg = line.rstrip("\n").partition(" ")
        if verb == "add":
            groups.add(int(arg))
        elif verb == "del":
            groups.discard(int(arg))
        elif verb == "wait":
            waits[int(arg)] = _started(int(arg))
        elif verb == "unwait":
            waits.pop(int(arg), None)
        elif verb == "dir":
            dirs.append(arg)
        elif verb == "undir" and arg in dirs:
            dirs.remove(arg)
    # a worker's games, found before it closes them and exits (they are then re-parented)
    waited = {**waits, **{pid: _started(pid) for pid in descendants(set(waits))}}
    strays: set[int] = set()
    killed = {pgid: _started(pgid) for pgid in groups}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if groups:
            strays |= descendants(groups | strays)  # before the leaders die and their children are re-parented
        killed.update((pid, _started(pid)) for pid in strays if pid not in killed)
        groups = {pgid for pgid in groups if _signal(pgid, sig, group=True)}
        strays = {pid for pid in strays if _signal(pid, sig, group=False)}
        if (groups or strays) and sig == signal.SIGTERM:
            time.sleep(0.5)
    waited = _wait_gone(waited, WAIT_S)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        waited = _wait_gone({pid: t for pid, t in waited.items() if _signal(pid, sig, group=False)}, 2.0)
    _wait_gone(killed, 2.0)  # a process is not gone the moment SIGKILL is sent
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()

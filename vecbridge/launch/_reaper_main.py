"""The reaper: kills a launcher's game process groups when the launcher dies.

Run as ``python -I _reaper_main.py`` with a pipe on stdin and one on stdout, in its own
session so Ctrl-C in a terminal does not reach it. It forks at once and the first process
exits, so the reaper is no child of the launcher (whoever kills the launcher's children,
as Ray does an actor's, does not kill it); it writes its pid on stdout, and its end of the
stdout pipe closes when it exits. The launcher writes lines ``add PGID``,
``del PGID``, ``dir PATH`` and ``undir PATH``. When stdin reaches end of file, the
launcher is gone (closed cleanly or SIGKILLed): every group still listed gets
SIGTERM, then SIGKILL, and every listed directory is removed. So do the descendants of
each group's leader (the game, whose pid is its group's id), found in /proc before
anything is killed: a game's child that left the group (``setsid``) would escape a
group kill. Standard library only, so it starts in milliseconds and costs a few MiB.
"""

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
    strays: set[int] = set()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if groups:
            strays |= descendants(groups | strays)  # before the leaders die and their children are re-parented
        groups = {pgid for pgid in groups if _signal(pgid, sig, group=True)}
        strays = {pid for pid in strays if _signal(pid, sig, group=False)}
        if (groups or strays) and sig == signal.SIGTERM:
            time.sleep(0.5)
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()

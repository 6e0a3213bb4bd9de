"""One game process: spawned in its own process group, logged to a file, killed as a tree."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import psutil

from vecbridge.errors import LaunchError
from vecbridge.launch.folders import append_log, private_folder
from vecbridge.launch.reaper import Reaper

LOG_TAIL_LINES = 25


def describe_log(process: "GameProcess") -> str:
    """Where a process's log is and its last lines, for error messages."""
    tail = process.log_tail()
    where = f"log: {process.log_path}"
    return f"{where}\n--- last lines of the log ---\n{tail}\n---" if tail.strip() else f"{where} (empty)"


def launch_error(stage: str, what: str, *, instance: int | None = None, process: "GameProcess | None" = None) -> LaunchError:
    """The one way to build a :class:`LaunchError`: "instance I <what> (stage: S)", then, when
    the process is known, its command and the tail of its log (also as ``log_path``/``log_tail``)."""
    if process is not None and instance is None:
        instance = process.instance
    who = "a game" if instance is None else f"instance {instance}"
    text = f"{who} {what} (stage: {stage})"
    if process is None:
        return LaunchError(text, instance=instance, stage=stage, log_path="", log_tail="")
    return LaunchError(
        f"{text}.\ncommand: {' '.join(process.argv)}\n{describe_log(process)}",
        instance=instance,
        stage=stage,
        log_path=str(process.log_path),
        log_tail=process.log_tail(),
    )


class GameProcess:
    """A launched game; ``pid`` is also its process-group id."""

    def __init__(
        self,
        instance: int,
        argv: Sequence[str],
        env: Mapping[str, str],
        workdir: Path,
        cwd: str | None = None,
        reaper: Reaper | None = None,
        log_name: str = "game.log",
    ) -> None:
        self.instance = instance
        self.argv = list(argv)
        self.workdir = workdir
        self.log_path = workdir / log_name
        self.reaper = reaper
        for sub in ("home", "tmp"):
            private_folder(workdir / sub)  # tmp is also XDG_RUNTIME_DIR
        with open(append_log(self.log_path), "ab") as log:
            try:
                self.popen = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=dict(env),
                    cwd=cwd or str(workdir),
                    start_new_session=True,  # own process group: killed as one, spared the terminal's Ctrl-C
                    close_fds=True,
                )
            except OSError as exc:
                program = self.argv[0]
                hint = (f" (a relative path is taken from the instance's own folder, {cwd or workdir}: give an absolute "
                        f"one, e.g. \"$PWD/{program.removeprefix('./')}\")"
                        if isinstance(exc, FileNotFoundError) and "/" in program and not os.path.isabs(program) else "")  # fmt: skip
                raise launch_error("spawned", f"could not start {program!r}: {exc}{hint}", process=self) from None
        self.pid = self.popen.pid
        if reaper is not None:
            reaper.watch_group(self.pid)

    def poll(self) -> int | None:
        return self.popen.poll()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 8192))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def fatal_line(self, markers: Iterable[str]) -> str | None:
        """The last line of the log's end holding one of ``markers``, or None."""
        markers = tuple(markers)
        if not markers:
            return None
        for line in reversed(self.log_tail(LOG_TAIL_LINES * 4).splitlines()):
            if any(m in line for m in markers):
                return line.strip()
        return None

    def has_connection_to(self, port: int) -> bool:
        """Whether this process (or a descendant) holds a TCP connection to ``port``."""
        try:
            procs = [psutil.Process(self.pid)]
            procs += procs[0].children(recursive=True)
        except psutil.Error:
            return False
        for proc in procs:
            try:
                for conn in proc.net_connections(kind="tcp"):
                    if conn.raddr and conn.raddr.port == port:
                        return True
            except psutil.Error:
                continue
        return False

    def describe_exit(self) -> str:
        code = self.popen.returncode
        if code is None:
            return "is still running"
        if code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with status {code}"

    def trim_log(self, limit: int) -> None:
        """Keep a log that grew past ``limit`` bytes to its last part, after a line saying so.

        The game appends (O_APPEND), so it goes on writing at the new end; a line written
        while the log is cut may be lost. Why: a game printing every step filled a log at
        7 MB/s here (21 MB in 3 s), which at 8 instances fills a disk in hours.
        """
        try:
            size = os.stat(self.log_path).st_size
        except OSError:
            return
        if not limit or size <= limit:
            return
        keep = min(limit // 2, 1 << 20)
        fd = os.open(self.log_path, os.O_RDWR | os.O_APPEND)
        try:
            tail = os.pread(fd, keep, size - keep)
            os.ftruncate(fd, 0)
            note = f"[vecbridge: {size - keep:,} bytes of this log were dropped at {limit:,} (LaunchSpec.max_log_bytes)]\n"
            os.write(fd, note.encode() + tail)
        finally:
            os.close(fd)

    def family(self) -> list[psutil.Process]:
        """The game's descendants now. Taken before the game is asked to exit: once it has exited,
        a child that left its process group (``setsid``) is no longer found from it."""
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return []

    def kill_tree(self, grace: float = 2.0, family: Iterable[psutil.Process] = ()) -> None:
        """SIGTERM the whole tree (group and descendants, and ``family`` from before), SIGKILL what is
        left after ``grace`` s."""
        kill_trees([(self, family)], grace)

    def _tree(self, family: Iterable[psutil.Process]) -> dict[int, psutil.Process]:
        found: dict[int, psutil.Process] = {}
        roots = [p for p in family if p.is_running()]  # is_running: the same process, not a reused pid
        try:
            roots.insert(0, psutil.Process(self.pid))
        except psutil.Error:
            pass
        for root in roots:
            try:
                found.update((p.pid, p) for p in (root, *root.children(recursive=True)))
            except psutil.Error:
                continue
        return found

    def wait_exit(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the process to exit by itself."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                return True
            time.sleep(0.01)
        return self.popen.poll() is not None

    def _signal_all(self, procs: list[psutil.Process], sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        for proc in procs:
            try:
                proc.send_signal(sig)
            except psutil.Error:
                pass


def kill_trees(targets: Sequence[tuple[GameProcess, Iterable[psutil.Process]]], grace: float) -> None:
    """:meth:`GameProcess.kill_tree` for many games at once: one shared grace period and one wait
    for the killed, not one each (8 games ignoring SIGTERM took 6 s to close, 18 s with children
    that left their group: a trial)."""
    trees = [(game, game._tree(family)) for game, family in targets]
    procs = [p for _, tree in trees for p in tree.values()]
    signalled = [(game, tree) for game, tree in trees if game.popen.poll() is None or tree]
    for game, tree in signalled:
        game._signal_all(list(tree.values()), signal.SIGTERM)
    if signalled:
        _, alive = psutil.wait_procs(procs, timeout=grace) if procs else ([], [])
        left = {p.pid for p in alive}
        for game, tree in signalled:
            if game.popen.poll() is None or left.intersection(tree):
                game._signal_all([p for p in alive if p.pid in tree], signal.SIGKILL)
        psutil.wait_procs(alive, timeout=2.0)
    for game, _ in trees:
        try:
            game.popen.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            pass
        if game.reaper is not None:
            game.reaper.forget_group(game.pid)

"""Where games connect: a TCP socket on 127.0.0.1 and a Unix-domain socket in a private folder.

Both are bound before any game is launched. The TCP socket (a port the OS picks) serves
every client, BizHawk's ``comm``, browsers and remote games included. The Unix-domain
socket lives in a folder of mode 0700 (``<run>/.sockets``, or a private temporary folder
when that path would pass the 107-byte limit of a socket path), so that other users cannot
even connect; clients that can use one (Python, Node, Lua with LuaSocket's ``socket.unix``)
find it in ``VECBRIDGE_SOCKET``. Whatever connects, the :class:`~vecbridge.launch.gate.Gate`
decides who it is: the token is checked on both.
"""

from __future__ import annotations

import itertools
import os
import selectors
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Iterable

from vecbridge.launch.folders import private_folder
from vecbridge.launch.gate import Gate
from vecbridge.launch.gate_stats import STATS_FOLDER, GateStats, run_tag
from vecbridge.launch.instance import Instance
from vecbridge.launch.process import GameProcess, kill_trees
from vecbridge.launch.reaper import Reaper
from vecbridge.launch.spec import LaunchSpec

HOST = "127.0.0.1"
BACKLOG = 256
MAX_UNIX_PATH = 107  # sun_path holds 108 bytes with its terminating NUL
_serial = itertools.count()


class Listener:
    """The listening sockets of one process's instances, and their gate (made on first use)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((HOST, 0))
        self.sock.listen(BACKLOG)
        self.sock.setblocking(False)  # the gate accepts until the backlog is empty
        self.port: int = self.sock.getsockname()[1]
        self.unix_sock: socket.socket | None = None
        self.unix_path: str | None = None
        self._own_dir: str | None = None  # a fallback folder for the Unix socket, removed on close
        self._reaper: Reaper | None = None
        self._gate: Gate | None = None

    @property
    def sockets(self) -> list[socket.socket]:
        return [s for s in (self.sock, self.unix_sock) if s is not None]

    @property
    def gate(self) -> Gate:
        if self._gate is None:
            raise RuntimeError("the listener has no gate before its first launch")
        return self._gate

    def open(self, spec: LaunchSpec, token: str, run_dir: Path, reaper: Reaper | None = None) -> Gate:
        """The gate of this listener; the first call also binds the Unix-domain socket (if ``spec`` wants one)."""
        if self._gate is None:
            if spec.unix_socket:
                self._bind_unix(run_dir, reaper)
            self._gate = Gate(self.sockets, spec, token, GateStats(run_dir / STATS_FOLDER, run_tag(token)))
        return self._gate

    def _bind_unix(self, run_dir: Path, reaper: Reaper | None) -> None:
        name = f"l{os.getpid()}-{next(_serial)}.sock"
        folder = run_dir / ".sockets"
        if len(os.fsencode(folder / name)) > MAX_UNIX_PATH:
            self._own_dir = tempfile.mkdtemp(prefix="vecbridge-sock-")  # mode 0700
            folder = Path(self._own_dir)
            if reaper is not None:
                reaper.watch_dir(folder)
                self._reaper = reaper
        path = str(folder / name)
        if len(os.fsencode(path)) > MAX_UNIX_PATH:
            self._remove_own_dir()
            return  # TCP only: clients fall back to it when VECBRIDGE_SOCKET is not set
        private_folder(folder, "sockets folder")  # also when it existed (a kept run folder): yours, 0700
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            sock.listen(BACKLOG)
        except OSError:
            sock.close()
            self._remove_own_dir()
            return
        sock.setblocking(False)
        self.unix_sock, self.unix_path = sock, path

    def fds(self) -> list[int]:
        return [s.fileno() for s in self.sockets]

    def close(self) -> None:
        if self._gate is not None:
            self._gate.close()
        for sock in self.sockets:
            sock.close()
        if self.unix_path is not None:
            try:
                os.unlink(self.unix_path)
            except OSError:
                pass
        self._remove_own_dir()

    def _remove_own_dir(self) -> None:
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            if self._reaper is not None:
                self._reaper.forget_dir(self._own_dir)
            self._own_dir = None

    def spawn(
        self, spec: LaunchSpec, i: int, token: str, run_dir: Path, reaper: Reaper | None, log_name: str = "game.log"
    ) -> GameProcess:
        """Start instance ``i``'s process, told to connect here (its hello is read elsewhere)."""
        self.open(spec, token, run_dir, reaper)
        workdir = private_folder(run_dir / f"instance-{i}", f"folder of instance {i}")
        values = spec.template_values(
            host=HOST, port=self.port, instance=i, token=token, workdir=workdir, socket=self.unix_path or ""
        )
        return GameProcess(i, spec.argv(values), spec.environment(values, workdir), workdir, spec.cwd, reaper, log_name)

    def launch(
        self,
        spec: LaunchSpec,
        indices: Iterable[int],
        token: str,
        run_dir: Path,
        reaper: Reaper | None,
        log_name: str = "game.log",
    ) -> dict[int, Instance]:
        """Start the instances ``indices`` together and wait for each one's hello.

        Raises :class:`LaunchError` naming the instance and the failed stage, with
        its log tail; every process this call started is gone by then.
        """
        gate = self.open(spec, token, run_dir, reaper)
        processes: dict[int, GameProcess] = {}
        done: dict[int, Instance] = {}
        try:
            for i in indices:
                processes[i] = self.spawn(spec, i, token, run_dir, reaper, log_name)
                gate.expect(i, processes[i])
            self._await_hellos(gate, spec, done)
            return done
        except BaseException:
            for i in processes:
                gate.forget(i)
            for inst in done.values():
                inst.sock.close()
            kill_trees([(proc, ()) for proc in processes.values()], grace=0.5)
            raise

    def _await_hellos(self, gate: Gate, spec: LaunchSpec, done: dict[int, Instance]) -> None:
        deadline = time.monotonic() + spec.startup_timeout
        sel = selectors.DefaultSelector()
        for sock in self.sockets:
            sel.register(sock, selectors.EVENT_READ, "listener")
        gate.attach(lambda fd: sel.register(fd, selectors.EVENT_READ, "handshake"), sel.unregister)
        try:
            while gate.expected:
                now = time.monotonic()
                if now >= deadline:
                    raise gate.timed_out(next(iter(gate.expected)))
                door = gate.next_deadline()
                wait = min(0.05, deadline - now, max(0.0, door - now) if door is not None else 0.05)
                for key, _ in sel.select(timeout=wait):
                    if key.data == "listener":
                        gate.accept()
                    else:
                        inst = gate.read(key.fd)
                        if inst is not None:
                            done[inst.index] = inst
                gate.expire(time.monotonic())
                for proc in list(gate.expected.values()):
                    if proc.poll() is not None:
                        raise gate.died(proc)
                hopeless = gate.hopeless(time.monotonic())
                if hopeless is not None:
                    raise hopeless
        finally:
            gate.attach(lambda fd: None, lambda fd: None)  # the connections still waiting stay with the gate
            sel.close()

"""Launching instances: a listener bound before any launch, staged start-up errors."""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from vecbridge.errors import LaunchError, ProtocolError, SpaceError, VecBridgeError
from vecbridge.launch.process import GameProcess, describe_log, launch_error
from vecbridge.launch.reaper import Reaper
from vecbridge.launch.spec import LaunchSpec
from vecbridge.protocol.connection import Hello, HostConnection
from vecbridge.transport import deadline_after, read_event, send_all

HOST = "127.0.0.1"


@dataclass
class Instance:
    """A running game instance and its connection."""

    index: int
    process: GameProcess
    sock: socket.socket
    conn: HostConnection
    hello: Hello

    def request(self, data: bytes, what: str, timeout: float | None) -> Any:
        """Send one request and block for its reply (at most ``timeout`` seconds)."""
        send_all(self.sock, data)
        return read_event(self.sock, self.conn, deadline_after(timeout), what)

    def close(self, grace: float) -> None:
        """Say close, give the game ``grace`` seconds to exit, then kill its process tree."""
        try:
            self.sock.setblocking(True)
            self.sock.settimeout(0.5)
            send_all(self.sock, self.conn.send_close())
        except (OSError, VecBridgeError):
            pass
        try:
            self.sock.close()
        finally:
            if not self.process.wait_exit(grace):
                self.process.kill_tree(grace=0.5)
            else:
                self.process.kill_tree(grace=0.2)  # its children, if it left any

    def failure_context(self) -> str:
        return describe_log(self.process)


def close_instances(instances: Iterable[Instance], grace: float) -> None:
    """Close many instances at once: say close to all, wait one shared grace period, kill what is left.

    (Closing them one by one would wait up to N grace periods.)
    """
    instances = list(instances)
    for inst in instances:
        try:
            inst.sock.setblocking(True)
            inst.sock.settimeout(0.2)
            inst.sock.sendall(inst.conn.send_close())
        except (OSError, VecBridgeError):
            pass
        inst.sock.close()
    deadline = time.monotonic() + grace
    for inst in instances:
        inst.process.wait_exit(max(0.0, deadline - time.monotonic()))
    for inst in instances:
        inst.process.kill_tree(grace=0.5)


class Listener:
    """A TCP socket on 127.0.0.1, bound (to a port the OS picks) before any game is launched."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((HOST, 0))
        self.sock.listen(256)
        self.port: int = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def spawn(
        self, spec: LaunchSpec, i: int, token: str, run_dir: Path, reaper: Reaper | None, log_name: str = "game.log"
    ) -> GameProcess:
        """Start instance ``i``'s process, told to connect here (its hello is read elsewhere)."""
        workdir = run_dir / f"instance-{i}"
        workdir.mkdir(parents=True, exist_ok=True)
        values = spec.template_values(host=HOST, port=self.port, instance=i, token=token, workdir=workdir)
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
        processes: dict[int, GameProcess] = {}
        done: dict[int, Instance] = {}
        try:
            for i in indices:
                processes[i] = self.spawn(spec, i, token, run_dir, reaper, log_name)
            self._await_hellos(spec, token, processes, done)
            return done
        except BaseException:
            for inst in done.values():
                inst.sock.close()
            for proc in processes.values():
                proc.kill_tree(grace=0.5)
            raise

    def _await_hellos(
        self, spec: LaunchSpec, token: str, processes: dict[int, GameProcess], done: dict[int, Instance]
    ) -> None:
        acceptor = HelloAcceptor(self, spec, token, processes)
        deadline = time.monotonic() + spec.startup_timeout
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        try:
            while acceptor.processes:
                now = time.monotonic()
                if now >= deadline:
                    raise acceptor.timed_out(next(iter(acceptor.processes)))
                for key, _ in sel.select(timeout=min(0.05, deadline - now)):
                    if key.fileobj is self.sock:
                        sel.register(acceptor.accept(), selectors.EVENT_READ)
                        continue
                    sel.unregister(key.fileobj)
                    inst = acceptor.read(key.fileobj)
                    if inst is None and key.fileobj in acceptor.anonymous:
                        sel.register(key.fileobj, selectors.EVENT_READ)
                    elif inst is not None:
                        done[inst.index] = inst
                for proc in acceptor.processes.values():
                    if proc.poll() is not None:
                        raise acceptor.died(proc)
        finally:
            sel.close()
            acceptor.close()


class HelloAcceptor:
    """The handshake, without blocking: accept connections, read hellos, welcome the games ``processes``.

    The caller watches the listener and every socket :meth:`accept` returns, and calls
    :meth:`read` when one is readable. The blocking launcher drives it with its own
    selector; a worker drives it from its event loop, to relaunch an instance while the
    others keep stepping.
    """

    def __init__(self, listener: Listener, spec: LaunchSpec, token: str, processes: dict[int, GameProcess]) -> None:
        self.listener = listener
        self.spec = spec
        self.token = token
        self.processes = processes  # instance -> process, for the instances still owing a hello
        self.anonymous: dict[socket.socket, HostConnection] = {}  # accepted, hello not complete yet

    def accept(self) -> socket.socket:
        sock, _ = self.listener.sock.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # the live dict: a hello must name an instance still owing one, whenever it comes
        self.anonymous[sock] = HostConnection(self.token, self.processes, self.spec.framing, self.spec.max_frame_size)
        return sock

    def read(self, sock: socket.socket) -> Instance | None:
        """Read from an accepted socket; the welcomed Instance once its hello is complete.

        A connection that closes before its hello is dropped (the process check reports the
        game); an invalid hello raises :class:`LaunchError` (stage "handshake").
        """
        conn = self.anonymous[sock]
        try:
            hello = self._read_hello(sock, conn)
        except BaseException:
            self._drop(sock)
            raise
        if hello is None:
            return None
        del self.anonymous[sock]
        proc = self.processes[hello.instance]  # the connection checked that it is one of them
        try:
            send_all(sock, conn.send_welcome(dict(self.spec.config)))
        except OSError as exc:
            sock.close()
            raise self.error(proc, "handshake", f"the connection failed after its hello: {exc}") from None
        del self.processes[hello.instance]
        return Instance(hello.instance, proc, sock, conn, hello)

    def _read_hello(self, sock: socket.socket, conn: HostConnection) -> Hello | None:
        try:
            data = sock.recv(1 << 16)
        except OSError:
            data = b""
        try:
            if not data:
                conn.receive_eof()
                self._drop(sock)
                return None  # closed before its hello; the process check reports it
            conn.receive_data(data)
            event = conn.next_event()
            send_all(sock, conn.data_to_send())
            return event
        except (ProtocolError, SpaceError) as exc:
            instance = getattr(exc, "instance", None)
            proc = self.processes.get(instance) if isinstance(instance, int) else None
            if proc is None:
                raise launch_error("handshake", f"connected with an invalid hello: {type(exc).__name__}: {exc}") from None
            raise self.error(proc, "handshake", f"sent an invalid hello: {type(exc).__name__}: {exc}") from None

    def _drop(self, sock: socket.socket) -> None:
        if self.anonymous.pop(sock, None) is not None:
            sock.close()

    def timed_out(self, i: int) -> LaunchError:
        proc = self.processes[i]
        connected = proc.has_connection_to(self.listener.port)
        stage = "handshake" if connected else "connected"
        what = "connected but sent no valid hello" if connected else "did not connect to vecbridge"
        return self.error(proc, stage, f"{what} within {self.spec.startup_timeout:g} s")

    def died(self, proc: GameProcess) -> LaunchError:
        return self.error(proc, "connected", f"{proc.describe_exit()} before it connected and said hello")

    def close(self) -> None:
        for sock in list(self.anonymous):
            self._drop(sock)

    @staticmethod
    def error(proc: GameProcess, stage: str, what: str) -> LaunchError:
        return launch_error(stage, what, process=proc)

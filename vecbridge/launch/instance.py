"""Launching instances: a listener bound before any launch, staged start-up errors."""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from vecbridge.errors import LaunchError, ProtocolError, SpaceError, VecBridgeError
from vecbridge.launch.process import GameProcess
from vecbridge.launch.reaper import Reaper
from vecbridge.launch.spec import LaunchSpec
from vecbridge.protocol.connection import Hello, HostConnection
from vecbridge.transport import deadline_after, read_event, send_all

HOST = "127.0.0.1"
STAGES = ("spawned", "connected", "handshake", "first observation")


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


def describe_log(process: GameProcess) -> str:
    tail = process.log_tail()
    where = f"log: {process.log_path}"
    return f"{where}\n--- last lines of the log ---\n{tail}\n---" if tail.strip() else f"{where} (empty)"


class Listener:
    """A TCP socket on 127.0.0.1, bound (to a port the OS picks) before any game is launched."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((HOST, 0))
        self.sock.listen(256)
        self.port: int = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

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
                workdir = run_dir / f"instance-{i}"
                workdir.mkdir(parents=True, exist_ok=True)
                values = spec.template_values(host=HOST, port=self.port, instance=i, token=token, workdir=workdir)
                processes[i] = GameProcess(
                    i, spec.argv(values), spec.environment(values, workdir), workdir, spec.cwd, reaper, log_name
                )
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
        pending = dict(processes)
        deadline = time.monotonic() + spec.startup_timeout
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        anonymous: dict[socket.socket, HostConnection] = {}
        try:
            while pending:
                now = time.monotonic()
                if now >= deadline:
                    i, proc = next(iter(pending.items()))
                    connected = proc.has_connection_to(self.port)
                    stage = "handshake" if connected else "connected"
                    what = "connected but sent no valid hello" if connected else "did not connect to vecbridge"
                    raise self._error(proc, stage, f"{what} within {spec.startup_timeout:g} s")
                for key, _ in sel.select(timeout=min(0.05, deadline - now)):
                    if key.fileobj is self.sock:
                        sock, _ = self.sock.accept()
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        anonymous[sock] = HostConnection(token, set(pending), spec.framing, spec.max_frame_size)
                        sel.register(sock, selectors.EVENT_READ)
                        continue
                    sock = key.fileobj
                    hello = self._read_hello(sock, anonymous[sock], processes)
                    if hello is None:
                        continue
                    conn = anonymous.pop(sock)
                    sel.unregister(sock)
                    proc = pending.pop(hello.instance)
                    try:
                        send_all(sock, conn.send_welcome(dict(spec.config)))
                    except OSError as exc:
                        raise self._error(proc, "handshake", f"the connection failed after its hello: {exc}") from None
                    done[hello.instance] = Instance(hello.instance, proc, sock, conn, hello)
                for i, proc in list(pending.items()):
                    if proc.poll() is not None:
                        raise self._error(proc, "connected", f"{proc.describe_exit()} before it connected and said hello")
        finally:
            sel.close()
            for sock in anonymous:
                sock.close()

    def _read_hello(self, sock: socket.socket, conn: HostConnection, processes: dict[int, GameProcess]) -> Hello | None:
        try:
            data = sock.recv(1 << 16)
        except OSError:
            data = b""
        try:
            if not data:
                conn.receive_eof()
                return None  # closed before its hello; the process check reports it
            conn.receive_data(data)
            event = conn.next_event()
            send_all(sock, conn.data_to_send())
            return event
        except (ProtocolError, SpaceError) as exc:
            instance = getattr(exc, "instance", None)
            proc = processes.get(instance) if isinstance(instance, int) else None
            if proc is None:
                raise LaunchError(
                    f"a game connected with an invalid hello (stage: handshake): {type(exc).__name__}: {exc}",
                    instance=None,
                    stage="handshake",
                    log_path="",
                    log_tail="",
                ) from None
            raise self._error(proc, "handshake", f"sent an invalid hello: {type(exc).__name__}: {exc}") from None

    @staticmethod
    def _error(proc: GameProcess, stage: str, what: str) -> LaunchError:
        return LaunchError(
            f"instance {proc.instance} {what} (stage: {stage}).\ncommand: {' '.join(proc.argv)}\n{describe_log(proc)}",
            instance=proc.instance,
            stage=stage,
            log_path=str(proc.log_path),
            log_tail=proc.log_tail(),
        )

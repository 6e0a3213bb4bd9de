"""The gate: who may talk to vecbridge, decided without trusting anything a stranger sends.

Every connection to a run's listeners comes through here. Until its hello carries the
run's token (checked in constant time) a connection is a stranger: the gate reads at most
a small first frame from it (vecbridge.protocol.limits: 256 KiB, and a byte budget for the
framing around it), parses nothing of it but that frame's JSON header (within the nesting
limit), and gives it ``handshake_timeout`` seconds. Only an authenticated hello has its
spaces and arrays decoded. Anything else ends with the connection closed, one WARNING on the
``vecbridge.launch.gate`` logger (peer, reason; rate-limited) and a count by reason
(gate_stats.py). At most ``MAX_UNAUTHENTICATED`` connections (plus one per instance owing a
hello) are held at once, the oldest closed first, so strangers can hold a bounded number of
file descriptors and bytes of memory however many they open.

A game of this run (its token right) whose hello is invalid fails its launch:
``read`` raises ``LaunchError(stage="handshake")`` naming it.

The surface for an event loop (the blocking launcher's selector, an instance group's epoll):
``attach(watch, unwatch)`` (how the gate adds and removes handshake sockets to and from the
loop; the loop itself watches the listening sockets), ``accept()`` when a listening socket
is readable, ``read(fd)`` when a handshake socket is readable (the welcomed
:class:`Instance`, or None), ``next_deadline()`` and ``expire(now)``. ``expect(i, process)``
and ``forget(i)`` say which instances owe a hello.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from vecbridge.errors import BadToken, LaunchError, ProtocolError, SpaceError
from vecbridge.launch.gate_stats import GateStats, WarningLimiter
from vecbridge.launch.instance import Instance
from vecbridge.launch.process import GameProcess, launch_error
from vecbridge.launch.spec import LaunchSpec
from vecbridge.protocol.connection import HostConnection
from vecbridge.protocol.limits import MAX_BYTES_BEFORE_HELLO, MAX_UNAUTHENTICATED

log = logging.getLogger(__name__)

RECV_SIZE = 1 << 16
#: how often the logs of games owing a hello are read for their spec's fatal_log_lines
LOG_CHECK_S = 0.25
# Connections taken from one listening socket per readiness event: a flood is accepted in
# bounded bites, and the event loop gets to the instances' replies in between.
ACCEPT_BURST = 32
_PEERCRED = struct.Struct("3i")  # pid, uid, gid


def _nothing(fd: int) -> None:
    pass


@dataclass
class _Handshake:
    sock: socket.socket
    conn: HostConnection
    deadline: float
    peer: str
    pid: int | None  # the peer's process, for a Unix-domain connection (SO_PEERCRED)
    received: int = 0


class Gate:
    """The door of one listener (its TCP socket and, if any, its Unix-domain socket)."""

    def __init__(self, listening: list[socket.socket], spec: LaunchSpec, token: str, stats: GateStats) -> None:
        self.listening = listening
        self.spec, self.token, self.stats = spec, token, stats
        self.expected: dict[int, GameProcess] = {}  # instance -> its process, while it owes a hello
        self.handshakes: dict[int, _Handshake] = {}  # fd -> connection; in accept order, so oldest first
        self.notes: dict[int, str] = {}  # instance -> the last refusal of a connection that claimed to be it
        self.recent: deque[str] = deque(maxlen=4)  # the last refusals, for launch failure messages
        self.warnings = WarningLimiter(log)
        self._watch: Callable[[int], None] = _nothing
        self._unwatch: Callable[[int], None] = _nothing
        self._next_log_check = 0.0

    # ------------------------------------------------------------ the event loop's side
    def attach(self, watch: Callable[[int], None], unwatch: Callable[[int], None]) -> None:
        """Hand the handshake sockets to another event loop (``watch``/``unwatch`` add and remove an fd)."""
        for fd in self.handshakes:
            self._unwatch(fd)
        self._watch, self._unwatch = watch, unwatch
        for fd in self.handshakes:
            watch(fd)

    def accept(self) -> None:
        """A listening socket is readable: take its waiting connections (a bounded number)."""
        for lsock in self.listening:
            for _ in range(ACCEPT_BURST):
                try:
                    sock, _ = lsock.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:  # out of file descriptors, say: leave the rest in the backlog
                    self.warnings.warn(f"vecbridge could not accept a connection: {exc}")
                    break
                self._admit(sock)

    def read(self, fd: int) -> Instance | None:
        """A handshake socket is readable: the welcomed Instance once its hello is whole and valid."""
        hs = self.handshakes.get(fd)
        if hs is None:
            return None
        try:
            data = hs.sock.recv(min(RECV_SIZE, MAX_BYTES_BEFORE_HELLO - hs.received + 1))
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            self._refuse(hs, "closed", f"the connection failed before its hello: {exc}")
            return None
        if not data:
            self._refuse(hs, "closed", "it closed the connection before its hello was complete")
            return None
        hs.received += len(data)
        if hs.received > MAX_BYTES_BEFORE_HELLO:
            self._refuse(hs, "malformed", f"it sent more than {MAX_BYTES_BEFORE_HELLO} bytes without a valid hello")
            return None
        conn = hs.conn
        try:
            conn.receive_data(data)
            hello = conn.next_event()
            if conn.has_data_to_send():  # the websocket upgrade's answer: small, and the peer is reading
                hs.sock.send(conn.data_to_send())
        except (ProtocolError, SpaceError) as exc:
            claimed = getattr(exc, "instance", None)
            proc = self._sender(hs, claimed) if conn.authenticated else None
            if proc is not None:  # a game of this run with an invalid hello: its launch fails
                self._close(hs)
                raise launch_error("handshake", process=proc, what=f"sent an invalid hello: {type(exc).__name__}: {exc}") from None
            reason = "refused" if conn.authenticated else "bad_token" if isinstance(exc, BadToken) else "malformed"
            self._refuse(hs, reason, f"{type(exc).__name__}: {exc}", claimed)
            return None
        except OSError as exc:
            self._refuse(hs, "closed", f"the connection failed before its hello: {exc}")
            return None
        if hello is None:
            return None
        return self._welcome(hs, hello)

    def next_deadline(self) -> float | None:
        """When the oldest connection's time for its hello runs out (None if none is waiting)."""
        for hs in self.handshakes.values():
            return hs.deadline
        return None

    def expire(self, now: float) -> None:
        """Close the connections whose time for a hello has run out."""
        while self.handshakes:
            hs = next(iter(self.handshakes.values()))
            if hs.deadline > now:
                return
            self._refuse(hs, "timeout", f"no valid hello within {self.spec.handshake_timeout:g} s")

    # ------------------------------------------------------------ the instances owing a hello
    def expect(self, i: int, process: GameProcess) -> None:
        self.expected[i] = process
        self.notes.pop(i, None)

    def forget(self, i: int) -> None:
        self.expected.pop(i, None)

    def timed_out(self, i: int) -> LaunchError:
        proc = self.expected[i]
        note = self.notes.get(i)
        if note is not None:
            return launch_error("handshake", process=proc, what=f"did not say a valid hello within {self.spec.startup_timeout:g} s; "
                                                   f"a connection that claimed to be it ended without a welcome: {note}")  # fmt: skip
        connected = proc.has_connection_to(self.port) or self._unix_peer_of(proc)
        stage = "handshake" if connected else "connected"
        what = "connected but sent no valid hello" if connected else "did not connect to vecbridge"
        hint = f"; {self.spec.startup_hint}" if self.spec.startup_hint and not connected else ""
        return launch_error(stage, process=proc, what=f"{what} within {self.spec.startup_timeout:g} s{hint}{self._meanwhile()}")

    def hopeless(self, now: float) -> LaunchError | None:
        """A launch whose log already says it will never say hello (``spec.fatal_log_lines``);
        looked for at most every :data:`LOG_CHECK_S`."""
        if not self.spec.fatal_log_lines or now < self._next_log_check:
            return None
        self._next_log_check = now + LOG_CHECK_S
        for proc in self.expected.values():
            line = proc.fatal_line(self.spec.fatal_log_lines)
            if line is not None:
                return launch_error("connected", process=proc, what=f"printed {line!r}, so it will not start "
                                                                    f"(one of its LaunchSpec's fatal_log_lines)")  # fmt: skip
        return None

    def died(self, proc: GameProcess) -> LaunchError:
        note = self.notes.get(proc.instance)
        if note is not None:
            return launch_error("handshake", process=proc, what=f"{proc.describe_exit()} after a connection that "
                                                   f"claimed to be it ended without a welcome: {note}")  # fmt: skip
        return launch_error("connected", process=proc, what=f"{proc.describe_exit()} before it connected and said hello{self._meanwhile()}")

    @property
    def port(self) -> int:
        return self.listening[0].getsockname()[1]

    def close(self) -> None:
        """Close every connection still waiting for its hello (quietly: the run is ending)."""
        for hs in list(self.handshakes.values()):
            self._close(hs)
        self.stats.close()

    # ------------------------------------------------------------ inside
    def _admit(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        pid = None
        if sock.family == socket.AF_UNIX:
            try:
                pid, uid, _ = _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
                peer = f"pid {pid} (uid {uid}) on the Unix-domain socket"
            except OSError:
                peer = "a process on the Unix-domain socket"
        else:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                host, port = sock.getpeername()[:2]
                peer = f"{host}:{port}"
            except OSError:
                peer = "a TCP peer"
        while len(self.handshakes) >= MAX_UNAUTHENTICATED + len(self.expected):
            oldest = next(iter(self.handshakes.values()))
            self._refuse(oldest, "capacity", f"more than {MAX_UNAUTHENTICATED} connections waited for their "
                                             f"hello at once; the oldest was closed")  # fmt: skip
        conn = HostConnection(self.token, self.expected, self.spec.framing, self.spec.max_frame_size)
        deadline = time.monotonic() + self.spec.handshake_timeout
        self.handshakes[sock.fileno()] = _Handshake(sock, conn, deadline, peer, pid)
        self._watch(sock.fileno())

    def _welcome(self, hs: _Handshake, hello) -> Instance:
        proc = self.expected.pop(hello.instance)  # the connection checked that it is one of them
        self._close(hs, keep_socket=True)
        sock = hs.sock
        try:
            sock.setblocking(True)
            sock.settimeout(self.spec.handshake_timeout)
            sock.sendall(hs.conn.send_welcome(dict(self.spec.config)))
            sock.settimeout(None)
        except OSError as exc:
            sock.close()
            raise launch_error("handshake", process=proc, what=f"the connection failed after its hello: {exc}") from None
        self.notes.pop(hello.instance, None)
        return Instance(hello.instance, proc, sock, hs.conn, hello)

    def _refuse(self, hs: _Handshake, reason: str, detail: str, claimed: object = None) -> None:
        self._close(hs)
        self.stats.count(reason)
        line = f"{hs.peer}: {detail}"
        self.recent.append(line)
        if isinstance(claimed, int) and claimed in self.expected:
            self.notes[claimed] = line
        for i, proc in self.expected.items():
            if hs.pid is not None and hs.pid == proc.pid:
                self.notes[i] = line
        self.warnings.warn(f"vecbridge closed a connection before its hello ({reason}): {line[:500]}")

    def _close(self, hs: _Handshake, keep_socket: bool = False) -> None:
        fd = hs.sock.fileno()
        if self.handshakes.pop(fd, None) is not None:
            self._unwatch(fd)
        if not keep_socket:
            hs.sock.close()

    def _sender(self, hs: _Handshake, claimed: object) -> GameProcess | None:
        """The expected instance an authenticated hello came from, if it can be told.

        By the instance it names; when it names none usable (``"instance": "0"``), by the
        peer's process id (a Unix socket), else by being the only instance owing a hello.
        Without this such a hello waited out the whole start-up timeout (60 s by default).
        """
        if isinstance(claimed, int):
            return self.expected.get(claimed)  # a number not expected: a second hello, refused
        for proc in self.expected.values():
            if hs.pid is not None and hs.pid == proc.pid:
                return proc
        if len(self.expected) == 1:
            return next(iter(self.expected.values()))
        return None

    def _unix_peer_of(self, proc: GameProcess) -> bool:
        return any(hs.pid == proc.pid for hs in self.handshakes.values() if hs.pid is not None)

    def _meanwhile(self) -> str:
        if not self.recent:
            return ""
        return f" (connections that ended without a welcome lately: {'; '.join(self.recent)})"[:1500]


"""Blocking socket I/O around a sans-I/O connection, with a deadline on every read."""

from __future__ import annotations

import socket
import time
from typing import Any

from vecbridge.errors import ConnectionClosed, InstanceTimeout
from vecbridge.protocol.connection import Endpoint

# 64 KiB: CPython allocates the whole buffer on every recv, so 1 MiB cost ~20 µs per small
# message (measured: +31% steps/s on Echo, benchmarks/recv_size.py). Larger frames take a few reads.
RECV_SIZE = 1 << 16


def send_all(sock: socket.socket, data: bytes) -> None:
    if data:
        sock.sendall(data)


def read_event(sock: socket.socket, conn: Endpoint, deadline: float | None, what: str = "a reply") -> Any:
    """Read until ``conn`` yields an event; raise InstanceTimeout after ``deadline`` (monotonic)."""
    while True:
        event = conn.next_event()
        send_all(sock, conn.data_to_send())  # websocket handshake answers and pongs
        if event is not None:
            return event
        if deadline is None:
            if sock.gettimeout() is not None:  # settimeout costs a syscall even when nothing changes
                sock.settimeout(None)
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InstanceTimeout(f"{what} did not come within the timeout")
            sock.settimeout(remaining)
        try:
            data = sock.recv(RECV_SIZE)
        except socket.timeout:
            raise InstanceTimeout(f"{what} did not come within the timeout") from None
        except OSError as exc:
            raise ConnectionClosed(f"the connection failed while waiting for {what}: {exc}") from None
        if not data:
            conn.receive_eof()
            raise ConnectionClosed(f"the game closed the connection while vecbridge waited for {what}")
        conn.receive_data(data)


def deadline_after(seconds: float | None) -> float | None:
    return None if seconds is None else time.monotonic() + seconds

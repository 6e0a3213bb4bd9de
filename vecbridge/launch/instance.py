"""A launched instance: its process and its welcomed connection."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any, Iterable

from vecbridge.errors import VecBridgeError
from vecbridge.launch.process import GameProcess, describe_log, kill_trees
from vecbridge.protocol.connection import Hello, HostConnection
from vecbridge.transport import deadline_after, read_event, send_all


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
        family = self.process.family()
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
                self.process.kill_tree(grace=0.5, family=family)
            else:
                self.process.kill_tree(grace=0.2, family=family)  # its children, if it left any

    def failure_context(self) -> str:
        return describe_log(self.process)


def close_instances(instances: Iterable[Instance], grace: float) -> None:
    """Close many instances at once: say close to all, wait one shared grace period, kill what is left.

    (Closing them one by one would wait up to N grace periods.)
    """
    instances = list(instances)
    families = [inst.process.family() for inst in instances]
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
    kill_trees([(inst.process, family) for inst, family in zip(instances, families)], grace=0.5)



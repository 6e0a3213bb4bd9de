"""The group's one door for game processes: the listener, start-up, relaunches and their handshakes.

Every listener and handshake event of an instance group goes through one
:class:`Relauncher`: the group watches :meth:`Relauncher.fileno` (an epoll set of its
own over the listener and the connections still owing a hello), calls
:meth:`~Relauncher.on_readable` when it is readable, and calls
:meth:`~Relauncher.expire` once :meth:`~Relauncher.next_deadline` has passed. A relaunch
does not block the group: the new process's handshake is read one readiness event at a
time while the other instances keep stepping. What a relaunch costs and whether it may
happen is the scheduler's business (vecbridge.vector.scheduler); this module only runs
the processes and reports, as :class:`Welcomed` or :class:`RelaunchFailed`, how each ended.
"""

from __future__ import annotations

import select
from dataclasses import dataclass
from typing import Iterable, Union

from vecbridge.errors import LaunchError
from vecbridge.launch.instance import Instance
from vecbridge.launch.listener import Listener
from vecbridge.launch.process import GameProcess
from vecbridge.launch.run import RunContext
from vecbridge.launch.spec import LaunchSpec

# while an instance relaunches, check its new process at least this often (seconds)
RELAUNCH_CHECK_S = 0.1


@dataclass(frozen=True)
class Welcomed:
    """A relaunched instance said a valid hello and was welcomed."""

    instance: Instance


@dataclass(frozen=True)
class RelaunchFailed:
    """The new process of instance ``i`` died or said no valid hello in time (it is ended)."""

    i: int
    reason: str
    process: GameProcess


Arrival = Union[Welcomed, RelaunchFailed]


@dataclass
class _Relaunch:
    process: GameProcess
    deadline: float  # for its hello


class Relauncher:
    """The listener of one instance group, its start-up, and its relaunches in progress."""

    def __init__(self, spec: LaunchSpec, run: RunContext) -> None:
        self.spec, self.run = spec, run
        self.listener = Listener()
        # the gate: who may talk (token first, deadlines and caps before a hello; vecbridge.launch.gate)
        self.gate = self.listener.open(spec, run.token, run.run_dir, run.reaper)
        self._poller = select.epoll()
        self._listening = set(self.listener.fds())  # TCP and, if offered, the Unix-domain socket
        for fd in self._listening:
            self._poller.register(fd, select.EPOLLIN)
        self._relaunches: dict[int, _Relaunch] = {}
        self._next_check = 0.0

    def fileno(self) -> int:
        """Readable when the listener or a connection owing its hello is."""
        return self._poller.fileno()

    def launch(self, ids: Iterable[int]) -> dict[int, Instance]:
        """Start-up: launch ``ids`` together and wait for their hellos (raises ``LaunchError``)."""
        run = self.run
        try:
            return self.listener.launch(self.spec, ids, run.token, run.run_dir, run.reaper)
        finally:  # the gate's handshakes (strangers, late relaunches) are read from this epoll set from now on
            self.gate.attach(self._watch, self._unwatch)

    def spawn(self, i: int, restarts: int, now: float) -> None:
        """Start the ``restarts``-th new process of ``i``; its hello comes through :meth:`on_readable`.
        Raises ``LaunchError`` if it cannot be started."""
        run = self.run
        process = self.listener.spawn(
            self.spec, i, run.token, run.run_dir, run.reaper, log_name=f"game.restart-{restarts}.log"
        )
        self.gate.expect(i, process)
        self._relaunches[i] = _Relaunch(process, now + self.spec.startup_timeout)
        self._next_check = now + RELAUNCH_CHECK_S

    # ------------------------------------------------------------ the event loop's calls
    def next_deadline(self) -> float | None:
        """When :meth:`expire` must run next (None: nothing to watch): the next check of a
        relaunch, or the end of the oldest connection's time for its hello (the gate's)."""
        due = self.gate.next_deadline()
        if self._relaunches and (due is None or self._next_check < due):
            return self._next_check
        return due

    def on_readable(self) -> list[Arrival]:
        """Accept new connections and read hellos; the relaunches that ended meanwhile."""
        arrivals: list[Arrival] = []
        gate = self.gate
        for fd, _ in self._poller.poll(0):
            if fd in self._listening:
                gate.accept()
            elif fd in gate.handshakes:
                self._read_hello(fd, arrivals)
        return arrivals

    def expire(self, now: float) -> list[Arrival]:
        """Fail the relaunches whose process died or whose hello is overdue (hellos that
        arrived meanwhile are read first). Handshakes past their own limits end here too."""
        self.gate.expire(now)
        if not self._relaunches or now < self._next_check:
            return []
        self._next_check = now + RELAUNCH_CHECK_S
        arrivals: list[Arrival] = []
        hopeless = self.gate.hopeless(now)  # at most one a check: the others' turn comes at the next
        for i, relaunch in list(self._relaunches.items()):
            doomed = hopeless is not None and hopeless.instance == i
            if relaunch.process.poll() is None and now < relaunch.deadline and not doomed:
                continue
            arrivals += self._drain()
            if i not in self._relaunches:
                continue
            dead = relaunch.process.poll() is not None
            error = hopeless if doomed else self.gate.died(relaunch.process) if dead else self.gate.timed_out(i)
            arrivals.append(self._failed(i, str(error)))
        return arrivals

    # ------------------------------------------------------------ the handshakes
    def _watch(self, fd: int) -> None:
        self._poller.register(fd, select.EPOLLIN)

    def _unwatch(self, fd: int) -> None:
        try:
            self._poller.unregister(fd)
        except (OSError, ValueError):
            pass  # the socket already closed, which took it out of the epoll set (ValueError: the epoll itself closed)

    def _read_hello(self, fd: int, arrivals: list[Arrival]) -> None:
        """A stranger's connection is the gate's business (closed, logged, counted); an invalid
        hello of a relaunched instance fails that relaunch."""
        try:
            inst = self.gate.read(fd)
        except LaunchError as exc:
            if exc.instance in self._relaunches:
                arrivals.append(self._failed(exc.instance, str(exc)))
            return
        if inst is not None:
            del self._relaunches[inst.index]
            arrivals.append(Welcomed(inst))

    def _drain(self) -> list[Arrival]:
        arrivals: list[Arrival] = []
        while True:
            ready, _, _ = select.select([*self.listener.sockets, *(hs.sock for hs in self.gate.handshakes.values())], [], [], 0)
            if not ready:
                return arrivals
            arrivals += self.on_readable()

    def _failed(self, i: int, reason: str) -> RelaunchFailed:
        relaunch = self._relaunches.pop(i)
        self.gate.forget(i)
        relaunch.process.kill_tree(grace=0.2)
        return RelaunchFailed(i, reason, relaunch.process)

    def close(self) -> None:
        for i, relaunch in self._relaunches.items():
            relaunch.process.kill_tree(grace=0.2)
            self.gate.forget(i)
        self._relaunches.clear()
        try:
            self.listener.close()  # and its gate: the connections still waiting for a hello (it unwatches them)
        finally:
            self._poller.close()  # after: a closed epoll refuses unregister with ValueError, which hid the error

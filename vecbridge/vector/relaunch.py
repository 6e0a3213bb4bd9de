"""Relaunching failed instances without blocking the others (ML-Agents' policy: restart within a budget).

A failed instance gets a new process at once; its handshake (accept, hello, welcome)
is read from the instance group's event loop, one readiness event at a time, while the
other instances keep stepping. A new process that dies or says no valid hello in time
costs another restart; a spent budget raises :class:`RestartBudgetExceeded`.
"""

from __future__ import annotations

import select
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from vecbridge.errors import LaunchError, RestartBudgetExceeded
from vecbridge.launch.instance import Instance
from vecbridge.launch.listener import Listener
from vecbridge.launch.process import GameProcess
from vecbridge.launch.run import RunContext
from vecbridge.launch.spec import LaunchSpec
from vecbridge.vector.budget import RestartBudget, RestartLedger

Info = dict[str, Any]


@dataclass
class Relaunch:
    process: GameProcess
    deadline: float  # for its hello
    stage: str  # how the failure that caused it is described ("" or " before its first observation ...")
    reason: str


class Relauncher:
    """The restart budget and the relaunches in progress of one instance group.

    ``watch(fd)`` / ``unwatch(fd)`` add a handshake socket to the group's event loop and
    take it out again; ``notes`` is the group's dict of infos for instances' next completions.
    """

    def __init__(
        self,
        listener: Listener,
        spec: LaunchSpec,
        run: RunContext,
        budget: RestartBudget,
        indices: Iterable[int],
        watch: Callable[[int], None],
        unwatch: Callable[[int], None],
        notes: dict[int, Info],
    ) -> None:
        self.listener, self.spec, self.run = listener, spec, run
        self.ledgers = {i: RestartLedger(budget) for i in indices}
        self.active: dict[int, Relaunch] = {}
        self.welcomed: dict[int, Relaunch] = {}  # said hello; the group has not adopted them yet
        self._watch, self._unwatch, self.notes = watch, unwatch, notes

    def attach(self) -> None:
        """Watch the listener's handshakes from the group's event loop (after the first launch made its gate)."""
        self.listener.gate.attach(self._watch, self._unwatch)

    def __contains__(self, i: int) -> bool:
        return i in self.active or i in self.welcomed

    def __bool__(self) -> bool:
        return bool(self.active)

    def start(self, i: int, failed: Relaunch, log: str) -> None:
        """Start a new process for ``i`` within its restart budget (the note for its next completion says why)."""
        ledger = self.ledgers[i]
        reason = failed.reason
        while True:
            if not ledger.try_spend():
                raise RestartBudgetExceeded(
                    f"instance {i} failed{failed.stage} and its restart budget is spent ({ledger.describe()}).\n"
                    f"last error: {reason}\n{log}".rstrip(),
                    instance=i,
                    log_path=str(failed.process.log_path),
                    last_error=reason,
                )
            try:
                process = self.listener.spawn(
                    self.spec, i, self.run.token, self.run.run_dir, self.run.reaper,
                    log_name=f"game.restart-{ledger.total}.log",
                )  # fmt: skip
                break
            except LaunchError as exc:
                reason, log = str(exc), ""
        self.listener.gate.expect(i, process)
        self.active[i] = Relaunch(process, time.monotonic() + self.spec.startup_timeout, failed.stage, reason)
        self.notes[i] = {"vecbridge_error": f"instance {i} failed{failed.stage}: {reason}", "vecbridge_restarts": ledger.total}

    def adopted(self, i: int) -> None:
        """The group took the welcomed instance ``i`` back: its relaunch is over."""
        del self.welcomed[i]

    def rejected(self, i: int, reason: str) -> None:
        """The group refused the welcomed instance ``i`` (it declares other spaces): try again."""
        self.active[i] = self.welcomed.pop(i)
        self.failed(i, reason)

    def failed(self, i: int, reason: str) -> None:
        """The new process of ``i`` failed (died, no valid hello in time): try again."""
        relaunch = self.active.pop(i)
        self.listener.gate.forget(i)
        relaunch.process.kill_tree(grace=0.2)
        self.start(i, Relaunch(relaunch.process, 0.0, relaunch.stage, reason), "")

    # ---------------------------------------------------------------- the handshakes
    def on_listener(self) -> None:
        """A listening socket is readable: the gate accepts, and watches the connections for their hellos."""
        self.listener.gate.accept()

    def on_handshake(self, fd: int) -> Instance | None:
        """A connection awaiting its hello is readable: the welcomed instance once its hello is whole.

        A stranger's connection is the gate's business (closed, logged, counted); an invalid hello
        of a relaunched instance costs that instance another restart.
        """
        try:
            inst = self.listener.gate.read(fd)
        except LaunchError as exc:
            if exc.instance in self.active:
                self.failed(exc.instance, str(exc))
            return None
        if inst is not None:
            self.welcomed[inst.index] = self.active.pop(inst.index)
        return inst

    def check(self) -> list[Instance]:
        """Fail relaunches whose process died or whose hello is overdue; the instances welcomed meanwhile.

        Hellos that arrived while nobody polled (the caller was busy elsewhere) are read first.
        """
        welcomed: list[Instance] = []
        now = time.monotonic()
        for i, relaunch in list(self.active.items()):
            if relaunch.process.poll() is None and now < relaunch.deadline:
                continue
            welcomed += self._drain()
            if i not in self.active:
                continue
            dead = relaunch.process.poll() is not None
            gate = self.listener.gate
            error = gate.died(relaunch.process) if dead else gate.timed_out(i)
            self.failed(i, str(error))
        return welcomed

    def _drain(self) -> list[Instance]:
        welcomed = []
        while True:
            gate = self.listener.gate
            ready, _, _ = select.select([*self.listener.sockets, *(hs.sock for hs in gate.handshakes.values())], [], [], 0)
            if not ready:
                return welcomed
            for sock in ready:
                if sock in self.listener.sockets:
                    self.on_listener()
                elif sock.fileno() in gate.handshakes:
                    inst = self.on_handshake(sock.fileno())
                    if inst is not None:
                        welcomed.append(inst)

    def close(self) -> None:
        for i, relaunch in self.active.items():
            relaunch.process.kill_tree(grace=0.2)
            self.listener.gate.forget(i)
        self.active.clear()
        self.welcomed.clear()

"""A group of instances multiplexed by one process: requests out, replies in, restarts.

This is the body of a vecbridge worker. It sends requests to many instances at
once and collects their replies as they arrive (one ``epoll`` over all sockets),
writes results straight into the shared buffers, applies autoreset, and relaunches
an instance that crashes, hangs or breaks the protocol, within its restart budget.
A relaunch does not block the group: the new process's handshake is read from the
same event loop, and the instance's next request waits for it while the others step.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from vecbridge.errors import (
    ConnectionClosed,
    GameError,
    LaunchError,
    ProtocolError,
    SpaceError,
    VecBridgeError,
)
from vecbridge.launch.instance import Instance, Listener, close_instances, describe_log
from vecbridge.launch.run import RunContext
from vecbridge.launch.spec import LaunchSpec
from vecbridge.protocol.connection import GameErrorReply, Hello, ResetResult, StepResult
from vecbridge.protocol.spaces import space_to_json
from vecbridge.transport import RECV_SIZE
from vecbridge.vector.buffers import Buffers
from vecbridge.vector.relaunch import Relaunch, Relauncher
from vecbridge.vector.budget import RestartBudget

Info = dict[str, Any]

# Request kinds: a user step, a user reset, the reset NEXT_STEP autoreset does in
# place of a step, the reset SAME_STEP autoreset does right after a final step, and blocking calls.
STEP, RESET, AUTORESET, AUTORESET_SAME, CALL = "step", "reset", "autoreset", "autoreset_same", "call"

# fd_index values that are not instances: the worker's command pipe, the listener, a connection before its hello
PIPE, LISTENER, HANDSHAKE = None, -2, -3
# while an instance relaunches, check its process at least this often (seconds)
RELAUNCH_CHECK_S = 0.1


@dataclass
class Pending:
    kind: str
    deadline: float
    seed: int | None = None
    options: dict[str, Any] | None = None
    build: Callable[[Any, int], bytes] | None = None  # for CALL: (connection, instance) -> the request
    final: dict[str, Any] | None = None  # AUTORESET_SAME: the final step's results


@dataclass
class GroupStatus:
    completed: list[int] = field(default_factory=list)
    infos: dict[int, Info] = field(default_factory=dict)
    results: dict[int, Any] = field(default_factory=dict)  # CALL results or exceptions


class InstanceGroup:
    """Instances ``indices`` of a run, driven from one process."""

    def __init__(
        self,
        spec: LaunchSpec,
        indices: Iterable[int],
        run: RunContext,
        budget: RestartBudget,
        same_step: bool = False,
    ) -> None:
        self.spec = spec
        self.indices = list(indices)
        self.run = run
        self.same_step = same_step
        self.listener = Listener()
        self.instances: dict[int, Instance] = {}
        self.pending: dict[int, Pending] = {}
        self.needs_reset: set[int] = set()
        self.observed: set[int] = set()  # instances (of their current launch) that produced an observation
        self.notes: dict[int, Info] = {}  # info to attach to an instance's next completion
        self.status = GroupStatus()
        self.buffers: Buffers | None = None
        # epoll over every instance socket and the wake-up pipe: fd -> instance index (None: the pipe)
        self.poller = select.epoll()
        self.fd_index: dict[int, int | None] = {}
        self.hello: Hello | None = None
        self.relauncher = Relauncher(
            self.listener, spec, run, budget, self.indices,
            watch=lambda fd: self._watch(fd, HANDSHAKE), unwatch=self._unwatch_fd, notes=self.notes,
        )  # fmt: skip

    # ------------------------------------------------------------ start / stop
    def start(self) -> dict[str, Any]:
        """Launch every instance; all must declare the same spaces. Returns the hello summary."""
        launched = self.listener.launch(self.spec, self.indices, self.run.token, self.run.run_dir, self.run.reaper)
        for i in self.indices:
            self._adopt(launched[i])
        self._watch(self.listener.sock.fileno(), LISTENER)  # relaunched instances connect here
        first = self.instances[self.indices[0]].hello
        self.hello = first
        return {
            "instance": first.instance,
            "observation_space": space_to_json(first.observation_space),
            "action_space": space_to_json(first.action_space),
            "metadata": first.metadata,
            "name": first.name,
        }

    def _adopt(self, inst: Instance) -> None:
        if self.hello is not None:
            self._check_same_spaces(inst)
        else:
            for other in self.instances.values():
                self._check_same_spaces(inst, other.hello)
        # Blocking sockets, read only when select says so: one request is in flight per
        # instance, so a send never waits on a full buffer.
        inst.sock.setblocking(True)
        self.instances[inst.index] = inst
        self._watch(inst.sock.fileno(), inst.index)

    def _check_same_spaces(self, inst: Instance, ref: Hello | None = None) -> None:
        ref = ref or self.hello
        assert ref is not None
        for what in ("observation_space", "action_space"):
            mine, theirs = getattr(inst.hello, what), getattr(ref, what)
            if space_to_json(mine) != space_to_json(theirs):
                raise LaunchError(
                    f"instance {inst.index} declares {what} {mine} but instance {ref.instance} declared {theirs}; "
                    f"every instance must declare the same spaces (stage: handshake)",
                    instance=inst.index,
                    stage="handshake",
                    log_path=str(inst.process.log_path),
                    log_tail=inst.process.log_tail(),
                )

    def register_wakeup(self, fileobj: Any) -> None:
        """Also wake ``poll`` when ``fileobj`` (the worker's command pipe) is readable."""
        self._watch(fileobj.fileno(), None)

    def _watch(self, fd: int, index: int | None) -> None:
        self.poller.register(fd, select.EPOLLIN)
        self.fd_index[fd] = index

    def _unwatch(self, inst: Instance) -> None:
        self._unwatch_fd(inst.sock.fileno())

    def _unwatch_fd(self, fd: int) -> None:
        if self.fd_index.pop(fd, -1) != -1:
            try:
                self.poller.unregister(fd)
            except OSError:
                pass  # already closed, which took it out of the epoll set

    def close(self) -> None:
        """Close every instance: say close to all, wait one grace period, kill what is left."""
        instances, self.instances = list(self.instances.values()), {}
        for inst in instances:
            self._unwatch(inst)
        self.relauncher.close()
        close_instances(instances, self.spec.close_grace)
        self.listener.close()
        self.poller.close()

    # ------------------------------------------------------------ starting requests
    def begin_step(self, ids: Iterable[int]) -> None:
        # The hot path: one deadline and one Pending for the whole batch (nothing changes a
        # Pending per instance), the action read straight from the shared buffer.
        b = self.buffers
        # Discrete actions as Python ints, all in one call: cheaper than a numpy scalar each
        action_of = b.actions[0].tolist().__getitem__ if b.discrete_actions else b.action_of
        instances, pending, needs_reset = self.instances, self.pending, self.needs_reset
        step = Pending(STEP, time.monotonic() + self.spec.step_timeout)
        for i in ids:
            if i in needs_reset:
                self._send(i, Pending(AUTORESET, 0.0))
                continue
            inst = instances[i]
            pending[i] = step
            try:
                inst.sock.sendall(inst.conn.send_step(action_of(i)))
            except OSError as exc:
                self._fail(i, f"sending step failed: {exc}")

    def begin_reset(self, ids: Iterable[int], seeds: list[int | None], options: dict[str, Any] | None) -> None:
        for i, seed in zip(ids, seeds):
            self.needs_reset.discard(i)
            self._send(i, Pending(RESET, 0.0, seed=seed, options=options))

    def begin_call(self, ids: Iterable[int], build: Callable[[Any, int], bytes]) -> None:
        for i in ids:
            self._send(i, Pending(CALL, 0.0, build=build))

    def _request_bytes(self, i: int, p: Pending) -> bytes:
        conn = self.instances[i].conn
        if p.kind == STEP:
            return conn.send_step(self.buffers.action_of(i))
        if p.kind == CALL:
            return p.build(conn, i)
        return conn.send_reset(p.seed, p.options)

    def _send(self, i: int, p: Pending) -> None:
        # Requests enter ``pending`` in deadline order (same timeout for all), so its first
        # entry always holds the earliest deadline (except while an instance relaunches).
        p.deadline = time.monotonic() + self.spec.step_timeout
        self.pending[i] = p
        if i in self.relauncher:
            return  # sent once the new process has said hello
        inst = self.instances[i]
        try:
            inst.sock.sendall(self._request_bytes(i, p))
        except OSError as exc:
            self._fail(i, f"sending {p.kind} failed: {exc}")

    # ------------------------------------------------------------ the event loop
    def poll(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` s for replies; handle them. True if the wake-up object is readable."""
        woken = False
        pending, relaunching = self.pending, self.relauncher
        if pending:
            first = min(p.deadline for p in pending.values()) if relaunching else next(iter(pending.values())).deadline
            wait = max(0.0, first - time.monotonic())
            timeout = wait if timeout is None else min(timeout, wait)
        if relaunching:
            timeout = RELAUNCH_CHECK_S if timeout is None else min(timeout, RELAUNCH_CHECK_S)
        fd_index, instances = self.fd_index, self.instances
        for fd, _ in self.poller.poll(-1 if timeout is None else timeout):
            i = fd_index.get(fd, HANDSHAKE - 1)
            if i is None:
                woken = True
            elif i >= 0:
                if i in instances:
                    self._receive(i)
            elif i == LISTENER:
                self.relauncher.on_listener()
            elif i == HANDSHAKE:
                inst = self.relauncher.on_handshake(fd)
                if inst is not None:
                    self._relaunched(inst)
        if relaunching:
            for inst in self.relauncher.check():
                self._relaunched(inst)
            for i in [i for i, p in pending.items() if p.deadline <= time.monotonic() and i not in relaunching]:
                if i in pending:  # an earlier failure's relaunch may have settled it
                    self._fail(i, f"no reply to {pending[i].kind} within {self.spec.step_timeout:g} s (hung)")
            return woken
        while pending:
            i, p = next(iter(pending.items()))
            if p.deadline > time.monotonic():
                break
            self._fail(i, f"no reply to {p.kind} within {self.spec.step_timeout:g} s (hung)")
        return woken

    def _receive(self, i: int) -> None:
        inst = self.instances[i]
        target = inst.conn.recv_buffer()  # the rest of a large frame (a screen): read straight into it
        try:
            # MSG_DONTWAIT: a readiness event may belong to a closed socket whose fd number a
            # relaunched instance reuses; never block on it.
            if target is None:
                data = inst.sock.recv(RECV_SIZE, socket.MSG_DONTWAIT)
            else:
                got = inst.sock.recv_into(target, len(target), socket.MSG_DONTWAIT)
                data = b"" if got == 0 else None
        except BlockingIOError:
            return
        except OSError as exc:
            self._fail(i, f"the connection failed: {exc}")
            return
        try:
            if data is not None and not data:
                inst.conn.receive_eof()
                inst.process.wait_exit(0.2)
                raise ConnectionClosed(f"the game closed the connection; it {inst.process.describe_exit()}")
            conn = inst.conn
            if data is None:
                conn.received_into(got)
            else:
                conn.receive_data(data)
            while (event := conn.next_event()) is not None:
                self._on_event(i, event)
            if conn.has_data_to_send():
                inst.sock.sendall(conn.data_to_send())
        except (ProtocolError, SpaceError, ConnectionClosed, OSError) as exc:
            self._fail(i, f"{type(exc).__name__}: {exc}")

    def _complete(self, i: int, info: Info | None) -> None:
        note = self.notes.pop(i, None)
        if note:
            info = {**(info or {}), **note}
        if info:
            self.status.infos[i] = info
        self.status.completed.append(i)

    def _on_event(self, i: int, event: Any) -> None:
        p = self.pending.pop(i)
        b = self.buffers
        if type(event) is StepResult:  # the hot path first
            self.observed.add(i)
            done = event.terminated or event.truncated
            if done and self.same_step:
                final = {"obs": event.observation, "info": event.info, "reward": event.reward,
                         "terminated": event.terminated, "truncated": event.truncated}  # fmt: skip
                self._send(i, Pending(AUTORESET_SAME, 0.0, final=final))
                return
            b.write_obs(i, event.observation)
            b.rewards[i], b.terminations[i], b.truncations[i] = event.reward, event.terminated, event.truncated
            if done:
                self.needs_reset.add(i)
            if event.info or self.notes:
                self._complete(i, event.info)
            else:
                self.status.completed.append(i)
            return
        if isinstance(event, GameErrorReply):
            if p.kind == RESET:
                raise GameError(
                    f"instance {i}: the game failed to reset: {event.message}"
                    + (f"\n--- game traceback ---\n{event.traceback}" if event.traceback else ""),
                    instance=i, request="reset", remote_traceback=event.traceback,
                )  # fmt: skip
            if p.kind == CALL:
                self.status.results[i] = GameError(
                    f"instance {i}: the game failed the call: {event.message}", instance=i, request="call",
                    remote_traceback=event.traceback,
                )  # fmt: skip
                self.status.completed.append(i)
                return
            self.pending[i] = p
            self._fail(i, f"the game answered {p.kind} with an error: {event.message}\n{event.traceback}".rstrip())
            return
        if p.kind == CALL:
            self.status.results[i] = getattr(event, "frame", getattr(event, "value", None))
            self.status.completed.append(i)
            return
        assert isinstance(event, ResetResult)
        self.observed.add(i)
        b.write_obs(i, event.observation)
        if p.kind == RESET:
            self._complete(i, event.info)
            return
        info = dict(event.info)
        if p.kind == AUTORESET_SAME:
            final = p.final
            b.rewards[i], b.terminations[i], b.truncations[i] = final["reward"], final["terminated"], final["truncated"]
            info.update(final_obs=final["obs"], final_info=final["info"])
        else:
            b.rewards[i], b.terminations[i], b.truncations[i] = 0.0, False, False
            self.needs_reset.discard(i)
        self._complete(i, info)

    # ------------------------------------------------------------ failures and restarts
    def _fail(self, i: int, reason: str) -> None:
        """Instance ``i`` crashed, hung or broke the protocol: relaunch it and settle its request."""
        p = self.pending.pop(i, None)
        old = self.instances.pop(i)
        stage = "" if i in self.observed else " before its first observation (stage: first observation)"
        self.observed.discard(i)
        log = describe_log(old.process)
        self._discard(old)
        self.relauncher.start(i, Relaunch(old.process, 0.0, stage, reason), log)
        self._settle_failed(i, p)

    def _relaunched(self, inst: Instance) -> None:
        """A relaunched instance said hello: take it back, and send the request that waited for it."""
        try:
            self._adopt(inst)
        except LaunchError as exc:  # it declares other spaces than the run's
            inst.sock.close()
            self.relauncher.rejected(inst.index, str(exc))
            return
        self.relauncher.adopted(inst.index)
        p = self.pending.pop(inst.index, None)
        if p is not None:
            self._send(inst.index, p)

    def _discard(self, inst: Instance) -> None:
        self._unwatch(inst)
        inst.sock.close()
        inst.process.kill_tree(grace=0.2)

    def _settle_failed(self, i: int, p: Pending | None) -> None:
        b = self.buffers
        if p is None:
            self.needs_reset.add(i)
            return
        if p.kind in (RESET, AUTORESET):
            self._send(i, Pending(p.kind, 0.0, seed=p.seed, options=p.options))
        elif p.kind == CALL:
            self.status.results[i] = VecBridgeError(self.notes.pop(i)["vecbridge_error"], instance=i)
            self.status.completed.append(i)
            self.needs_reset.add(i)
        elif self.same_step:  # STEP or AUTORESET_SAME: the episode ends truncated, a new one starts now
            final = p.final or {"obs": b.read_obs(i), "info": {}}
            final.update(reward=0.0, terminated=False, truncated=True)
            self._send(i, Pending(AUTORESET_SAME, 0.0, final=final))
        else:  # NEXT_STEP: this step ends truncated; the next step resets the new instance
            b.rewards[i], b.terminations[i], b.truncations[i] = 0.0, False, True
            self.needs_reset.add(i)
            self._complete(i, None)

    def take_status(self) -> GroupStatus:
        status, self.status = self.status, GroupStatus()
        return status

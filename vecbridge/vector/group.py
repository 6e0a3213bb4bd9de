"""A group of instances driven from one process: epoll, sockets, and writes to the shared buffers.

The body of a vecbridge worker (and of the in-process driver). It sends requests to many
instances at once and collects their replies as they arrive (one ``epoll`` over every
socket), writes the results straight into the shared buffers, and relaunches an
instance that crashes, hangs or breaks the protocol. What to send, when an instance
counts as failed, autoresets and the restart budget are the scheduler's rules
(vecbridge.vector.scheduler): the group feeds it events and performs its actions.
Listener and handshake events all go through the group's :class:`Relauncher`.
"""

from __future__ import annotations

import enum
import select
import socket
import time
from typing import Any, Iterable

from vecbridge.errors import (
    ConnectionClosed,
    GameError,
    LaunchError,
    ProtocolError,
    RestartBudgetExceeded,
    SpaceError,
    VecBridgeError,
)
from vecbridge.launch.instance import Instance, close_instances
from vecbridge.launch.process import GameProcess, describe_log, launch_error
from vecbridge.launch.run import RunContext
from vecbridge.launch.spec import LaunchSpec
from vecbridge.transforms.pipeline import Pipeline
from vecbridge.transport import RECV_SIZE
from vecbridge.vector.budget import RestartBudget
from vecbridge.vector.buffers import Buffers
from vecbridge.vector.driver import CallRequest, Completion, GameSummary, MethodCall, Render, SetAttr, check_same_spaces
from vecbridge.vector.relaunch import Relauncher, Welcomed
from vecbridge.vector.actions import (
    KEEP,
    STEP,
    Answer,
    BudgetSpent,
    Call,
    Fatal,
    Finish,
    Raise,
    Relaunch,
    Reset,
    Send,
)
from vecbridge.vector.scheduler import Scheduler
from vecbridge.vector.staging import Staging

LOG_CHECK_S = 2.0  # the game logs' sizes, checked this often (a stat() per instance: nothing a step notices)


class Source(enum.Enum):
    """Readable file descriptors of the group's epoll set that are not an instance's socket."""

    WAKEUP = "the owner's wake-up object (a worker's command pipe)"
    ARRIVALS = "the relauncher: the listener and the handshakes"


def summary_of(inst: Instance) -> GameSummary:
    hello = inst.hello
    return GameSummary(hello.observation_space, hello.action_space, hello.name, hello.metadata, hello.instance,
                       hello.mask_size)


class InstanceGroup:
    """Instances ``ids`` of a run, driven from one process."""

    def __init__(
        self,
        spec: LaunchSpec,
        ids: Iterable[int],
        run: RunContext,
        budget: RestartBudget,
        same_step: bool,
        pipeline: Pipeline | None = None,
        max_episode_steps: int | None = None,
    ) -> None:
        self.spec = spec
        self.pipeline = pipeline  # image preprocessing at the batch boundary (vecbridge.vector.staging)
        self._staging: Staging | None = None
        self.ids = list(ids)
        self.scheduler = Scheduler(self.ids, same_step=same_step, step_timeout=spec.step_timeout, budget=budget,
                                   max_episode_steps=max_episode_steps)  # fmt: skip
        self.instances: dict[int, Instance] = {}
        self.summary: GameSummary | None = None
        self.buffers: Buffers | None = None
        self.relauncher = Relauncher(spec, run)
        self._ended: dict[int, GameProcess] = {}  # each instance's last ended process (for error logs)
        self._completion = Completion()
        self._poller = select.epoll()
        self._sources: dict[int, int | Source] = {}  # fd -> instance index, or another source
        self._watch(self.relauncher.fileno(), Source.ARRIVALS)
        self._logs_checked = time.monotonic()  # game logs are trimmed past spec.max_log_bytes every LOG_CHECK_S

    # ------------------------------------------------------------ start / stop
    def start(self) -> GameSummary:
        """Launch every instance; all must declare the same spaces."""
        launched = self.relauncher.launch(self.ids)
        for i in self.ids:
            self._adopt(launched[i])
        self.summary = summary_of(self.instances[self.ids[0]])
        for inst in self.instances.values():
            check_same_spaces(summary_of(inst), self.summary, inst.process)
        return self.summary

    def attach(self, buffers: Buffers) -> None:
        self.buffers = buffers
        # Where an observation row goes as its instance completes: straight into the shared
        # buffer, or, with a preprocessing pipeline, to a staging array that take_completion
        # preprocesses into the shared buffer a batch at a time.
        self._write_obs = buffers.write_obs
        if self.pipeline:
            self._staging = Staging(self.pipeline, self.summary.observation_space, self.ids, buffers.obs[0])

    def watch_wakeup(self, fileobj: Any) -> None:
        """Also end :meth:`poll` when ``fileobj`` (a worker's command pipe) is readable."""
        self._watch(fileobj.fileno(), Source.WAKEUP)

    def _adopt(self, inst: Instance) -> None:
        # Blocking sockets, read only when epoll says so: one request is in flight per
        # instance, so a send never waits on a full buffer.
        inst.sock.setblocking(True)
        self.instances[inst.index] = inst
        self._watch(inst.sock.fileno(), inst.index)

    def _watch(self, fd: int, source: int | Source) -> None:
        self._poller.register(fd, select.EPOLLIN)
        self._sources[fd] = source

    def _discard(self, inst: Instance) -> None:
        fd = inst.sock.fileno()
        if self._sources.pop(fd, None) is not None:
            self._poller.unregister(fd)
        inst.sock.close()
        inst.process.kill_tree(grace=0.2)
        self._ended[inst.index] = inst.process

    def close(self) -> None:
        """Close every instance: say close to all, wait one grace period, kill what is left."""
        if self._poller.closed:
            return
        instances, self.instances = list(self.instances.values()), {}
        self.relauncher.close()
        close_instances(instances, self.spec.close_grace)
        self._poller.close()
        if self.spec.max_log_bytes:  # a kept run folder's logs: trimmed once more, as the games wrote them last
            for process in {*(inst.process for inst in instances), *self._ended.values()}:
                process.trim_log(self.spec.max_log_bytes)

    # ------------------------------------------------------------ requests
    @property
    def busy(self) -> bool:
        """Some request is in flight (or waits for a relaunched instance)."""
        return self.scheduler.busy

    @property
    def has_completed(self) -> bool:
        return bool(self._completion.ids)

    def step(self, ids: list[int]) -> None:
        self._perform(self.scheduler.step(ids, time.monotonic()))

    def reset(self, ids: list[int], seeds: list[int | None], options: dict[str, Any] | None) -> None:
        self._perform(self.scheduler.reset(ids, seeds, options, time.monotonic()))

    def call(self, ids: list[int], request: CallRequest) -> None:
        self._perform(self.scheduler.call(ids, request, time.monotonic()))

    def take_completion(self) -> Completion:
        """The instances completed since the last call; their rows are in the shared buffers.

        The batch boundary of every driver: with a preprocessing pipeline, the batch's raw
        frames become the shared buffer's rows here, in one call (vecbridge.vector.staging).
        """
        completion, self._completion = self._completion, Completion()
        if self._staging is not None:
            self._staging.flush(completion)
        return completion

    # ------------------------------------------------------------ the event loop
    def poll(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` s for replies and handle them. True if the wake-up object is readable."""
        scheduler, relauncher = self.scheduler, self.relauncher
        deadline = scheduler.next_deadline()
        arrivals_due = relauncher.next_deadline()
        if arrivals_due is not None and (deadline is None or arrivals_due < deadline):
            deadline = arrivals_due
        if deadline is not None:
            wait = max(0.0, deadline - time.monotonic())
            timeout = wait if timeout is None or wait < timeout else timeout
        woken = False
        sources, instances = self._sources, self.instances
        events = self._poller.poll(-1 if timeout is None else timeout)
        now = time.monotonic()
        if now - self._logs_checked > LOG_CHECK_S and self.spec.max_log_bytes:
            self._logs_checked = now
            for inst in instances.values():
                inst.process.trim_log(self.spec.max_log_bytes)
        for fd, _ in events:
            source = sources.get(fd)
            if type(source) is int:
                if source in instances:
                    self._receive(source, now)
            elif source is Source.WAKEUP:
                woken = True
            elif source is Source.ARRIVALS:
                self._arrivals(relauncher.on_readable(), now)
        if deadline is not None and deadline <= now:
            due = relauncher.next_deadline()
            if due is not None and due <= now:
                self._arrivals(relauncher.expire(now), now)
            due = scheduler.next_deadline()
            if due is not None and due <= now:
                self._perform(scheduler.expire(now))
        return woken

    def _receive(self, i: int, now: float) -> None:
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
        except OSError as exc:  # e.g. ECONNRESET: the game died with bytes unread; say how it ended
            inst.process.wait_exit(0.2)
            self._fail(i, f"the connection failed: {exc}; the game {inst.process.describe_exit()}")
            return
        conn = inst.conn
        try:
            if data is not None and not data:
                inst.process.wait_exit(0.2)
                ended = inst.process.describe_exit()
                try:
                    conn.receive_eof()
                except ProtocolError as exc:  # mid-frame: say how the game ended too (a kill -9 reads as this)
                    raise ConnectionClosed(f"the game closed the connection inside a frame ({exc}); it {ended}") from exc
                raise ConnectionClosed(f"the game closed the connection; it {ended}")
            if data is None:
                conn.received_into(got)
            else:
                conn.receive_data(data)
            replied, masks = self.scheduler.replied, self.buffers.action_masks
            while (event := conn.next_event()) is not None:
                if masks is not None and getattr(event, "action_mask", None) is not None:
                    masks[i] = event.action_mask  # the actions allowed with this observation (protocol.md)
                other = False
                for action in replied(i, event, now):
                    if type(action) is Finish:  # the hot path
                        self._finish(action)
                    else:
                        other = True
                        self._perform((action,))
                if other and self.instances.get(i) is not inst:
                    return  # it failed meanwhile: the rest of its bytes are void
            if conn.has_data_to_send():
                inst.sock.sendall(conn.data_to_send())
        except (ProtocolError, SpaceError, ConnectionClosed, OSError) as exc:
            self._fail(i, f"{type(exc).__name__}: {exc}")

    def _fail(self, i: int, reason: str) -> None:
        self._perform(self.scheduler.failed(i, reason, time.monotonic()))

    def _arrivals(self, arrivals: list, now: float) -> None:
        for arrival in arrivals:
            if type(arrival) is Welcomed:
                self._welcome(arrival.instance, now)
            else:
                self._ended[arrival.i] = arrival.process
                self._perform(self.scheduler.relaunch_failed(arrival.i, arrival.reason, now))

    def _welcome(self, inst: Instance, now: float) -> None:
        """A relaunched instance said hello: take it back unless it declares other spaces."""
        try:
            check_same_spaces(summary_of(inst), self.summary, inst.process)
        except LaunchError as exc:
            inst.sock.close()
            inst.process.kill_tree(grace=0.2)
            self._ended[inst.index] = inst.process
            self._perform(self.scheduler.relaunch_failed(inst.index, str(exc), now))
            return
        self._adopt(inst)
        self._perform(self.scheduler.relaunched(inst.index, now))

    # ------------------------------------------------------------ performing actions
    def _perform(self, actions: Iterable[Any]) -> None:
        for action in actions:
            kind = type(action)
            if kind is Finish:
                self._finish(action)
            elif kind is Send:
                self._send(action)
            elif kind is Answer:
                self._completion.ids.append(action.i)
                self._completion.results[action.i] = action.result
            elif kind is Relaunch:
                self._relaunch(action)
            elif kind is Raise:
                raise self._error(action.cause)
            else:
                raise TypeError(f"unknown scheduler action {action!r}")

    def _finish(self, action: Finish) -> None:
        b, i = self.buffers, action.i
        if action.info and action.info.get("final_obs", None) is KEEP and self._staging is None:
            action.info["final_obs"] = b.read_obs(i)  # a failed step's: what the step before left (staging: at flush)
        if action.observation is not KEEP:
            if self._staging is None:
                self._write_obs(i, action.observation)
            else:
                self._staging.put(i, action.observation, action.new_episode)
        b.rewards[i], b.terminations[i], b.truncations[i] = action.reward, action.terminated, action.truncated
        self._completion.ids.append(i)
        if action.info:
            self._completion.infos[i] = action.info

    def _send(self, action: Send) -> None:
        request, instances = action.request, self.instances
        if request is STEP:  # the hot path: the action read straight from the shared buffer
            b = self.buffers
            # Discrete actions as Python ints, all in one call: cheaper than a numpy scalar each
            action_of = b.actions[0].tolist().__getitem__ if b.discrete_actions else b.action_of
            for i in action.ids:
                inst = instances[i]
                try:
                    inst.sock.sendall(inst.conn.send_step(action_of(i)))
                except OSError as exc:
                    self._fail(i, f"sending step failed: {exc}")
            return
        if type(request) is Call:
            build = _call_builder(request.request)
        else:  # a user reset, or an autoreset (no seed, no options)
            seed, options = (request.seed, request.options) if type(request) is Reset else (None, None)
            build = lambda conn, i: conn.send_reset(seed, options)  # noqa: E731
        for i in action.ids:
            inst = instances[i]
            try:
                inst.sock.sendall(build(inst.conn, i))
            except OSError as exc:
                self._fail(i, f"sending {request.kind} failed: {exc}")

    def _relaunch(self, action: Relaunch) -> None:
        i = action.i
        old = self.instances.pop(i, None)
        if old is not None:
            self._discard(old)
        now = time.monotonic()
        try:
            self.relauncher.spawn(i, action.restarts, now)
        except LaunchError as exc:
            self._perform(self.scheduler.relaunch_failed(i, str(exc), now))

    def _error(self, cause: Fatal) -> VecBridgeError:
        """The exception that ends the run, with the log of the instance's last process."""
        i = cause.i
        inst = self.instances.get(i)
        process = inst.process if inst is not None else self._ended[i]
        if type(cause) is BudgetSpent:
            stage = " before its first observation (stage: first observation)" if cause.before_first_observation else ""
            log = "" if f"log: {process.log_path}" in cause.reason else f"\n{describe_log(process)}"  # once
            return RestartBudgetExceeded(
                f"instance {i} failed{stage} and its restart budget is spent ({cause.ledger}).\n"
                f"last error: {cause.reason}{log}",
                instance=i, log_path=str(process.log_path), last_error=cause.reason,
            )  # fmt: skip
        return launch_error("first observation", f"failed before its first observation: {cause.reason}", process=process)


def _call_builder(request: CallRequest):
    """(connection, instance) -> the bytes of ``request`` for that instance."""
    if type(request) is MethodCall:
        return lambda conn, i: conn.send_call(request.name, list(request.args), request.kwargs)
    if type(request) is SetAttr:
        return lambda conn, i: conn.send_call("__setattr__", [request.name, request.values[i]], {})
    if type(request) is Render:
        return lambda conn, i: conn.send_render()
    raise TypeError(f"unknown call request {request!r}")

"""What each instance of a group is doing, and every rule about it, without I/O (after h11).

Events come in, one method each: a request from the driver (:meth:`Scheduler.step`,
:meth:`~Scheduler.reset`, :meth:`~Scheduler.call`), a reply of instance ``i`` (the
protocol's ``StepResult``, ``ResetResult``, ``CallResult``, ``RenderResult`` or
``GameErrorReply``), a failure of ``i`` (crash, protocol break, broken connection), a
relaunched ``i`` (its new process said hello and was taken back), a failed relaunch, and
time passing (:meth:`~Scheduler.expire`). Typed actions go out (vecbridge.vector.actions):
``Send`` a request, ``Finish`` an instance (write its rows, report it complete with an
info), ``Answer`` a call, ``Relaunch`` an instance, ``Raise``. The instance group
performs them; the rules all live here:

- NEXT_STEP autoreset: the step after a done is a reset (reward 0, not done).
- An episode step limit (``max_episode_steps``, as Gymnasium's ``TimeLimit``): the step that
  reaches it ends truncated (terminated too if the game said so), and autoresets as any done.
- SAME_STEP autoreset: a done step is followed at once by a reset; the instance completes
  with the reset's observation, the final step's reward and flags, and ``final_obs`` /
  ``final_info`` in its info.
- A failure (crash, hang, protocol break, an error reply to a step) relaunches the
  instance within its restart budget. Its step ends truncated (NEXT_STEP: at once;
  SAME_STEP: with the first observation of the new process); a failed reset is sent
  again to the new process; a failed call answers a ``VecBridgeError``. The next
  completion carries ``info["vecbridge_error"]`` and ``info["vecbridge_restarts"]``.
- An error reply to a call or a user reset answers a ``GameError`` (the vector env raises
  it once every instance of the batch is done; the instance's next step is a reset).
- A spent budget raises. An instance failing before its first observation at start-up
  (on its first process) raises too: like the other start-up stages, it is not retried.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

from vecbridge.errors import GameError, StateError, VecBridgeError
from vecbridge.protocol.connection import GameErrorReply, RenderResult, StepResult
from vecbridge.vector.actions import (
    AUTORESET,
    KEEP,
    STEP,
    Action,
    Answer,
    Autoreset,
    BudgetSpent,
    Call,
    FailedAtStartup,
    Final,
    FinalReset,
    Finish,
    Pending,
    Raise,
    Relaunch,
    Request,
    Reset,
    Send,
)
from vecbridge.vector.budget import RestartBudget, RestartLedger
from vecbridge.vector.driver import CallRequest

Info = dict[str, Any]


@dataclass(frozen=True)
class Failure:
    """Why an instance is being relaunched."""

    reason: str
    before_first_observation: bool

    def describe(self, i: int) -> str:
        stage = " before its first observation (stage: first observation)" if self.before_first_observation else ""
        return f"instance {i} failed{stage}: {self.reason}"


# ---------------------------------------------------------------- the scheduler
class Scheduler:
    """The requests, autoresets, failures and relaunches of the instances ``ids``.

    Every method takes ``now`` (a ``time.monotonic()`` reading, never decreasing) and
    returns the actions to perform, in order.
    """

    def __init__(self, ids: Iterable[int], *, same_step: bool, step_timeout: float, budget: RestartBudget,
                 max_episode_steps: int | None = None) -> None:  # fmt: skip
        ids = list(ids)
        self.same_step = same_step
        self.step_timeout = step_timeout
        self.max_episode_steps = max_episode_steps
        self._elapsed: dict[int, int] = {}  # with a step limit: the steps of each instance's episode
        # Requests sent, in deadline order: every request gets the same timeout, and an
        # entry is always removed before it is set again, so the first holds the earliest.
        self._in_flight: dict[int, Pending] = {}
        self._waiting: dict[int, Request] = {}  # for relaunching instances: sent once they are back
        self._relaunching: dict[int, Failure] = {}
        self._needs_reset: set[int] = set()  # NEXT_STEP: the next step is a reset
        self._observed: set[int] = set()  # produced an observation on their current process
        self._first_process: set[int] = set(ids)  # not relaunched yet: still starting up
        self._notes: dict[int, Info] = {}  # for the next completion (the failure behind a relaunch)
        self._ledgers = {i: RestartLedger(budget) for i in ids}

    # ------------------------------------------------------------ queries
    @property
    def busy(self) -> bool:
        """Some request is in flight or waits for a relaunch."""
        return bool(self._in_flight or self._waiting)

    def next_deadline(self) -> float | None:
        """When the oldest request in flight counts as hung (None: nothing in flight)."""
        for pending in self._in_flight.values():
            return pending.deadline
        return None

    # ------------------------------------------------------------ requests from the driver
    def step(self, ids: list[int], now: float) -> list[Action]:
        in_flight = self._in_flight
        if not (in_flight or self._waiting or self._needs_reset or self._relaunching):
            # The lockstep hot path: one Pending and one Send for the whole batch.
            pending = Pending(STEP, now + self.step_timeout)
            for i in ids:
                in_flight[i] = pending
            return [Send(ids, STEP)]
        actions: list[Action] = []
        plain: list[int] = []
        pending = Pending(STEP, now + self.step_timeout)
        for i in ids:
            self._check_idle(i)
            if i in self._needs_reset:
                actions += self._send(i, AUTORESET, now)
            elif i in self._relaunching:
                self._waiting[i] = STEP
            else:
                in_flight[i] = pending
                plain.append(i)
        return [Send(plain, STEP), *actions] if plain else actions

    def reset(self, ids: list[int], seeds: list[int | None], options: dict[str, Any] | None, now: float) -> list[Action]:
        actions: list[Action] = []
        for i, seed in zip(ids, seeds):
            self._check_idle(i)
            self._needs_reset.discard(i)
            actions += self._send(i, Reset(seed, options), now)
        return actions

    def call(self, ids: list[int], request: CallRequest, now: float) -> list[Action]:
        call, live = Call(request), []
        pending = Pending(call, now + self.step_timeout)
        for i in ids:
            self._check_idle(i)
            if i in self._relaunching:
                self._waiting[i] = call
            else:
                self._in_flight[i] = pending
                live.append(i)
        return [Send(live, call)] if live else []

    def _check_idle(self, i: int) -> None:
        if i not in self._ledgers:
            raise ValueError(f"instance {i} is not one of this group's")
        busy = self._in_flight.get(i)
        request = busy.request if busy is not None else self._waiting.get(i)
        if request is not None:
            raise StateError(f"instance {i} already has a {request.kind} in flight")

    def _send(self, i: int, request: Request, now: float) -> list[Action]:
        if i in self._relaunching:
            self._waiting[i] = request
            return []
        self._in_flight[i] = Pending(request, now + self.step_timeout)
        return [Send([i], request)]

    # ------------------------------------------------------------ replies
    def replied(self, i: int, event: Any, now: float) -> Sequence[Action]:
        """Instance ``i`` answered its request with ``event`` (the connection checked that it fits)."""
        request = self._in_flight.pop(i).request
        if type(event) is StepResult:  # the hot path first
            self._observed.add(i)
            if self.max_episode_steps is not None:
                event = self._count_step(i, event)
            if event.terminated or event.truncated:
                if self.same_step:
                    final = Final(event.observation, event.info, event.reward, event.terminated, event.truncated)
                    return self._send(i, FinalReset(final), now)
                self._needs_reset.add(i)
            if self._notes:
                return [self._finish(i, event.observation, event.reward, event.terminated, event.truncated, event.info)]
            return (Finish(i, event.observation, event.reward, event.terminated, event.truncated, event.info or None),)
        if type(event) is GameErrorReply:
            if type(request) is Reset:  # answered, not raised: the other instances' resets finish first
                self._needs_reset.add(i)  # its episode did not start: a step before the next reset resets it
                tb = f"\n--- game traceback ---\n{event.traceback}" if event.traceback else ""
                error = GameError(
                    f"instance {i}: the game failed to reset: {event.message}{tb}",
                    instance=i, request="reset", remote_traceback=event.traceback,
                )  # fmt: skip
                return [Answer(i, error)]
            if type(request) is Call:
                error = GameError(
                    f"instance {i}: the game failed the call: {event.message}",
                    instance=i, request="call", remote_traceback=event.traceback,
                )  # fmt: skip
                return [Answer(i, error)]
            reason = f"the game answered {request.kind} with an error: {event.message}\n{event.traceback}".rstrip()
            return self._fail(i, request, reason, now)
        if type(request) is Call:
            return [Answer(i, event.frame if type(event) is RenderResult else event.value)]
        # a ResetResult, to a user reset or an autoreset
        self._observed.add(i)
        self._elapsed[i] = 0
        if type(request) is FinalReset:
            final = request.final
            info = {**event.info, "final_obs": final.observation, "final_info": final.info}
            return [self._finish(i, event.observation, final.reward, final.terminated, final.truncated, info, True)]
        self._needs_reset.discard(i)
        return [self._finish(i, event.observation, 0.0, False, False, event.info, True)]

    def _count_step(self, i: int, event: StepResult) -> StepResult:
        elapsed = self._elapsed[i] = self._elapsed.get(i, 0) + 1
        if elapsed >= self.max_episode_steps and not event.truncated:
            return replace(event, truncated=True)
        return event

    def _finish(
        self, i: int, obs: Any, reward: float, terminated: bool, truncated: bool, info: Info | None, new: bool = False
    ) -> Finish:
        if self._notes:
            note = self._notes.pop(i, None)
            if note:
                info = {**info, **note} if info else note
        return Finish(i, obs, reward, terminated, truncated, info or None, new)

    # ------------------------------------------------------------ failures and relaunches
    def failed(self, i: int, reason: str, now: float) -> list[Action]:
        """Instance ``i`` crashed, broke the protocol or lost its connection."""
        pending = self._in_flight.pop(i, None)
        return self._fail(i, None if pending is None else pending.request, reason, now)

    def expire(self, now: float) -> list[Action]:
        """Time passed: requests past their deadline are failures (the instance hung)."""
        actions: list[Action] = []
        in_flight = self._in_flight
        while in_flight:
            i, pending = next(iter(in_flight.items()))
            if pending.deadline > now:
                break
            del in_flight[i]
            reason = f"no reply to {pending.request.kind} within {self.step_timeout:g} s (hung)"
            actions += self._fail(i, pending.request, reason, now)
            if type(actions[-1]) is Raise:
                break
        return actions

    def relaunched(self, i: int, now: float) -> list[Action]:
        """The new process of ``i`` said hello and was taken back: send what waited for it."""
        del self._relaunching[i]
        request = self._waiting.pop(i, None)
        return [] if request is None else self._send(i, request, now)

    def relaunch_failed(self, i: int, reason: str, now: float) -> list[Action]:
        """The new process of ``i`` could not start, died, said no valid hello in time or
        declared other spaces: it costs another restart."""
        failure = self._relaunching.pop(i)
        return self._relaunch(i, replace(failure, reason=reason), now)

    def _fail(self, i: int, request: Request | None, reason: str, now: float) -> list[Action]:
        before_first = i not in self._observed
        if before_first and i in self._first_process:
            return [Raise(FailedAtStartup(i, reason))]
        self._observed.discard(i)
        self._first_process.discard(i)
        actions = self._relaunch(i, Failure(reason, before_first), now)
        if type(actions[-1]) is Raise:
            return actions
        return actions + self._settle(i, request, now)

    def _relaunch(self, i: int, failure: Failure, now: float) -> list[Action]:
        ledger = self._ledgers[i]
        if not ledger.try_spend(now):
            return [Raise(BudgetSpent(i, failure.reason, failure.before_first_observation, ledger.describe()))]
        self._relaunching[i] = failure
        self._notes[i] = {"vecbridge_error": failure.describe(i), "vecbridge_restarts": ledger.total}
        return [Relaunch(i, ledger.total)]

    def _settle(self, i: int, request: Request | None, now: float) -> list[Action]:
        """What becomes of the request a failed instance was serving."""
        kind = type(request)
        if request is None:  # it failed between requests
            self._needs_reset.add(i)
            return []
        if kind is Reset or kind is Autoreset:  # the new process gets it
            return self._send(i, request, now)
        if kind is Call:
            self._needs_reset.add(i)
            return [Answer(i, VecBridgeError(self._notes.pop(i)["vecbridge_error"], instance=i))]
        if self.same_step:  # the episode ends truncated; the new process's reset starts the next one
            if kind is FinalReset:  # the step itself ended the episode: its reward and flags stand
                return self._send(i, request, now)
            # final_obs: the observation the step before left (KEEP: the group reads its row), as NEXT_STEP keeps it
            return self._send(i, FinalReset(Final(KEEP, {}, 0.0, False, True)), now)
        self._needs_reset.add(i)  # NEXT_STEP: this step ends truncated, the next one resets
        return [self._finish(i, KEEP, 0.0, False, True, None)]

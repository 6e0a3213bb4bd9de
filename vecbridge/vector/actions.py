"""The scheduler's vocabulary: the requests an instance serves, and the actions it asks of its group.

A :class:`Pending` request has one of five typed kinds (a user step, a user reset, the
NEXT_STEP autoreset, the SAME_STEP final reset, a call). The scheduler
(vecbridge.vector.scheduler) answers each event with a list of actions, performed by the
instance group in order; :class:`Raise` is always the last.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar, Union

from vecbridge.vector.driver import CallRequest

Info = dict[str, Any]


# ---------------------------------------------------------------- requests
class Step:
    """A user step: the action is in the shared buffer."""

    kind: ClassVar[str] = "step"


@dataclass(frozen=True, slots=True)
class Reset:
    """A user reset."""

    seed: int | None
    options: dict[str, Any] | None
    kind: ClassVar[str] = "reset"


class Autoreset:
    """NEXT_STEP autoreset: the reset sent in place of the step after a done."""

    kind: ClassVar[str] = "autoreset"


@dataclass(frozen=True, slots=True)
class Final:
    """The last step of an episode, kept for SAME_STEP's ``final_obs`` / ``final_info``."""

    observation: Any
    info: Info
    reward: float
    terminated: bool
    truncated: bool


@dataclass(frozen=True, slots=True)
class FinalReset:
    """SAME_STEP autoreset: the reset sent right after a final step (or a failed one)."""

    final: Final
    kind: ClassVar[str] = "autoreset_same"


@dataclass(frozen=True, slots=True)
class Call:
    """A call, a set_attr or a render."""

    request: CallRequest
    kind: ClassVar[str] = "call"


STEP, AUTORESET = Step(), Autoreset()
Request = Union[Step, Reset, Autoreset, FinalReset, Call]


@dataclass(slots=True)
class Pending:
    """A request sent to an instance, and when it counts as hung."""

    request: Request
    deadline: float


# ---------------------------------------------------------------- actions
class Keep(enum.Enum):
    """The observation row of a :class:`Finish` that stays as it is (a NEXT_STEP failure)."""

    ROW = "keep the row"


KEEP = Keep.ROW


@dataclass(slots=True)
class Send:
    """Send ``request`` to each of ``ids`` (a step's action is read from the shared buffer)."""

    ids: list[int]
    request: Request


@dataclass(slots=True)
class Finish:
    """Write instance ``i``'s rows, then report it complete with ``info`` (None: no info)."""

    i: int
    observation: Any  # or KEEP
    reward: float
    terminated: bool
    truncated: bool
    info: Info | None
    new_episode: bool = False  # the observation is a reset's (a preprocessing pipeline restarts its stack)


@dataclass(slots=True)
class Answer:
    """Report instance ``i``'s call (or refused reset) complete with ``result`` (a value or an exception)."""

    i: int
    result: Any


@dataclass(slots=True)
class Relaunch:
    """End instance ``i``'s process (if it still has one) and start its ``restarts``-th new one."""

    i: int
    restarts: int


@dataclass(frozen=True, slots=True)
class FailedAtStartup:
    """Instance ``i`` failed on its first process, before its first observation."""

    i: int
    reason: str


@dataclass(frozen=True, slots=True)
class BudgetSpent:
    """Instance ``i`` failed again and its restart budget is spent."""

    i: int
    reason: str
    before_first_observation: bool
    ledger: str  # the budget's use, in words


Fatal = Union[FailedAtStartup, BudgetSpent]


@dataclass(slots=True)
class Raise:
    """The run cannot go on; always the last action of a list (the group builds the error, with the log)."""

    cause: Fatal


Action = Union[Send, Finish, Answer, Relaunch, Raise]

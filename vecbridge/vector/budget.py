"""The restart budget: how often a failing instance may be relaunched (after ML-Agents)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RestartBudget:
    """Per instance: at most ``max_restarts`` relaunches in the run, and at most
    ``max_per_period`` within any ``period_s`` seconds. ``RestartBudget(0)`` turns
    restarts off: the first failure raises."""

    max_restarts: int = 10
    max_per_period: int = 3
    period_s: float = 60.0


@dataclass
class RestartLedger:
    """Counts one instance's restarts against a :class:`RestartBudget`."""

    budget: RestartBudget
    total: int = 0
    recent: deque = field(default_factory=deque)

    def try_spend(self, now: float | None = None) -> bool:
        """Record a restart if the budget allows one; False when it is spent."""
        now = time.monotonic() if now is None else now
        while self.recent and now - self.recent[0] > self.budget.period_s:
            self.recent.popleft()
        if self.total >= self.budget.max_restarts or len(self.recent) >= self.budget.max_per_period:
            return False
        self.total += 1
        self.recent.append(now)
        return True

    def describe(self) -> str:
        b = self.budget
        return (
            f"{self.total} restart(s) used of {b.max_restarts} per run, "
            f"{len(self.recent)} of {b.max_per_period} per {b.period_s:g} s"
        )

"""Running cases in their own processes: one after another, or interleaved run by run.

Interleaved (the default when few instances are involved): every runner of one
(game, instance count) is launched and warmed up first, one after another; then the
timed runs go round robin, run 1 of each runner, then run 2 of each, and so on. A
shared machine drifts over minutes, so runners measured turn about see the same
conditions and their ratios hold, where runners measured one after another would
each see a different machine. Idle runners cost nothing meanwhile: their games wait
on their sockets.

Sequential: each case runs whole (launch, warm-up, runs, close) before the next one
starts: only one set of games is alive at a time, for large instance counts.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from typing import Any, Callable, Sequence

from vecbridge.bench.measure import CaseConfig, Event, empty_result

#: ``interleave="auto"`` interleaves when the runners of one instance count hold at most this many instances together
AUTO_INTERLEAVE_MAX_INSTANCES = 64


class CaseProcess:
    """One case's process (``python -m vecbridge.bench.case``) and the events it reports.

    With ``gated=True`` the case waits before each timed run until :meth:`go` is called.
    """

    def __init__(self, config: CaseConfig, gated: bool = False) -> None:
        self.config = config
        self.result: dict[str, Any] | None = None
        self.events: list[Event] = []
        self._buf = b""
        self._eof = False
        self._log = tempfile.TemporaryFile()
        r, w = os.pipe()
        gate_r, self._gate = os.pipe() if gated else (None, None)
        args = [json.dumps(asdict(config)), str(w)] + ([str(gate_r)] if gated else [])
        try:
            self.child = subprocess.Popen(
                [sys.executable, "-m", "vecbridge.bench.case", *args],
                pass_fds=(w,) if gate_r is None else (w, gate_r),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
        except BaseException:
            for fd in (r, w, gate_r, self._gate):
                if fd is not None:
                    os.close(fd)
            self._log.close()
            raise
        os.close(w)
        if gate_r is not None:
            os.close(gate_r)
        self._out = r

    # ---------------------------------------------------------------- events
    def _read(self, timeout: float) -> bool:
        """Read what the case reported within ``timeout`` s; False once its pipe ended."""
        if self._eof:
            return False
        with selectors.DefaultSelector() as sel:
            sel.register(self._out, selectors.EVENT_READ)
            if not sel.select(max(0.0, timeout)):
                return True
        chunk = os.read(self._out, 1 << 16)
        if not chunk:
            self._eof = True
        self._buf += chunk
        *lines, self._buf = self._buf.split(b"\n")
        for line in lines:
            if line.strip():
                event = json.loads(line)
                if event.get("event") == "result":
                    self.result = event["result"]
                else:
                    self.events.append(event)
        return not self._eof

    def wait_for(self, done: Callable[[], bool], timeout: float, on_event: Callable[[Event], None]) -> str | None:
        """Read events until ``done()``; None, or why it cannot happen (ended, timed out)."""
        deadline = time.monotonic() + timeout
        seen = len(self.events)
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return f"timed out after {timeout:g} s"
            alive = self._read(min(remaining, 1.0))
            for event in self.events[seen:]:
                on_event(event)
            seen = len(self.events)
            if not alive and not done():
                return "ended"
        return None

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e.get("event") == kind)

    def go(self) -> None:
        """Let a gated case start its next timed run."""
        try:
            os.write(self._gate, b"g")
        except OSError:
            pass  # it has ended: waiting for its run says so

    # ---------------------------------------------------------------- ending
    def finish(self, on_event: Callable[[Event], None], timeout: float, error: str | None = None) -> dict[str, Any]:
        """Wait for the result (the case closes its games), stop the process; the result dict."""
        if self._gate is not None:
            os.close(self._gate)  # a case still waiting for a run stops waiting, closes and reports
            self._gate = None
        if error is None:
            error = self.wait_for(lambda: self.result is not None or self._eof, timeout, on_event)
        self.stop(grace=30.0 if self.result is None else 0.0)
        self._log.seek(0)
        output = self._log.read().decode("utf-8", "replace")
        self._log.close()
        os.close(self._out)
        if self.result is not None:
            return self.result
        code = self.child.returncode
        tail = "\n".join(output.strip().splitlines()[-15:])
        reason = error if error and error != "ended" else f"the case process exited with status {code} without a result"
        return empty_result(self.config, reason + (f"\n{tail}" if tail else ""))

    def stop(self, grace: float) -> None:
        """End the process: wait, SIGINT (it closes its games), then SIGKILL (its reapers clean up)."""
        child = self.child
        if grace == 0.0:
            try:
                child.wait(timeout=60)
                return
            except subprocess.TimeoutExpired:
                grace = 30.0
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                pass
        if child.poll() is None:
            child.kill()
            child.wait()


# ---------------------------------------------------------------- schedules
def run_sequential(
    config: CaseConfig, on_event: Callable[[Event], None] = lambda e: None, timeout: float | None = None
) -> dict[str, Any]:
    """Run one case whole in a fresh process; its result dict (``error`` set if it failed)."""
    case = CaseProcess(config)
    try:
        error = case.wait_for(lambda: case.result is not None, timeout or config.timeout(), on_event)
    except KeyboardInterrupt:
        case.stop(grace=30.0)  # it got the same SIGINT: let it close its games
        raise
    return case.finish(on_event, 60.0, None if error == "ended" else error)


def run_interleaved(
    configs: Sequence[CaseConfig], on_event: Callable[[int, Event], None] = lambda k, e: None
) -> list[dict[str, Any]]:
    """Run cases side by side: launch and warm up each in turn, then their timed runs round robin."""
    cases: list[CaseProcess] = []
    errors: dict[int, str] = {}
    try:
        for k, config in enumerate(configs):
            case = CaseProcess(config, gated=True)
            cases.append(case)
            launch = 120.0 + 3.0 * config.num_envs + 2.0 * config.warmup
            error = case.wait_for(lambda c=case: c.count("warmed") > 0, launch, lambda e, k=k: on_event(k, e))
            if error:
                errors[k] = error
        repeat = max((c.repeat for c in configs), default=0)
        for run in range(repeat):
            for k, case in enumerate(cases):
                if k in errors or run >= case.config.repeat:
                    continue
                case.go()
                error = case.wait_for(
                    lambda c=case, n=run + 1: c.count("run") >= n, 2.0 * case.config.seconds + 60.0,
                    lambda e, k=k: on_event(k, e),
                )  # fmt: skip
                if error:
                    errors[k] = error
    except KeyboardInterrupt:
        for case in cases:
            case.stop(grace=30.0)
        raise
    return [
        case.finish(lambda e, k=k: on_event(k, e), 60.0, errors.get(k) if errors.get(k) != "ended" else None)
        for k, case in enumerate(cases)
    ]


def should_interleave(mode: str, runners: Sequence[str], num_envs: int) -> bool:
    """``mode``: "on", "off", or "auto" (when the runners' instances together stay few)."""
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"interleave must be auto, on or off, got {mode!r}")
    if mode == "auto":
        return len(runners) > 1 and len(runners) * num_envs <= AUTO_INTERLEAVE_MAX_INSTANCES
    return mode == "on"

"""Measuring one case (a runner, a game, an instance count), each in a fresh Python process.

A case runs in its own process (``python -m vecbridge.bench.case``) so that one
runner's imports (torch, for SB3), leftovers and memory never reach the next one,
and so its resident memory is its own. In that process: build the runner (launch and
reset), warm up for ``warmup`` seconds, then ``repeat`` timed runs of ``seconds``
each. For every run it records env steps per second, the CPU seconds (user + system)
of the runner's own processes (the case process and everything it started except
the games) and of the games, and at the end of each run the resident memory of the
runner's own processes. The reported ``steps_per_s`` is the median of the runs.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from vecbridge.bench import procs

Event = dict[str, Any]


@dataclass
class CaseConfig:
    runner: str
    env: str
    num_envs: int
    seconds: float = 5.0
    repeat: int = 3
    warmup: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)
    batch_size: int | None = None
    num_workers: int | None = None
    seed: int = 0
    spec: dict[str, Any] | None = None  # a LaunchSpec's fields, for a game that is no registered id (env: its label)

    def game(self) -> Any:
        """What the runner launches: the registered id, or the LaunchSpec rebuilt from ``spec``."""
        if self.spec is None:
            return self.env
        from vecbridge.launch.spec import LaunchSpec

        return LaunchSpec(**self.spec)

    def timeout(self) -> float:
        """Wall-clock allowance for the whole case (launch, warm-up, runs, close)."""
        return 120.0 + 3.0 * self.num_envs + 2.0 * (self.warmup + self.repeat * self.seconds)


def empty_result(config: CaseConfig, error: str | None = None) -> dict[str, Any]:
    return {
        "env": config.env,
        "runner": config.runner,
        "num_envs": config.num_envs,
        "steps_per_s": None,
        "runs": [],
        "cpu_s_per_step": None,
        "rss_bytes": None,
        "pss_bytes": None,
        "game_cpu_s_per_step": None,
        "game_rss_bytes": None,
        "num_own_processes": None,
        "num_game_processes": None,
        "startup_s": None,
        "seconds": config.seconds,
        "repeat": config.repeat,
        "warmup_s": config.warmup,
        "options": dict(config.options),
        "settings": {},
        "run_details": [],
        "error": error,
    }


# ---------------------------------------------------------------- inside the case process
def run_case(
    config: CaseConfig, emit: Callable[[Event], None] = lambda e: None, gate: Callable[[], bool] | None = None
) -> dict[str, Any]:
    """Measure one case in this process. Returns the result dict (``error`` set on failure).

    ``gate``, if given, is called before each timed run and blocks until the run may start
    (interleaved schedules); it returns False to stop early.
    """
    from vecbridge.bench.runners import RUNNERS, RunnerUnavailable

    result = empty_result(config)
    cls = RUNNERS.get(config.runner)
    if cls is None:
        result["error"] = f"unknown runner {config.runner!r}; known: {', '.join(RUNNERS)}"
        return result
    try:
        cls.check_available()
        if "preprocess" in config.options and not cls.takes_preprocess:
            raise RunnerUnavailable(f"{config.runner} does not preprocess: it would time raw frames (--preprocess "
                                    f"is for the vecbridge, gymnasium-async, ray and raw runners)")  # fmt: skip
    except RunnerUnavailable as exc:
        result["error"] = f"unavailable: {exc}"
        return result
    runner = cls(
        config.game(),
        config.num_envs,
        config.options,
        batch_size=config.batch_size,
        num_workers=config.num_workers,
        seed=config.seed,
    )
    try:
        t0 = time.monotonic()
        runner.start()
        result["startup_s"] = round(time.monotonic() - t0, 3)
        result["settings"] = runner.settings()
        emit({"event": "started", "startup_s": result["startup_s"]})
        _timed(runner, config.warmup)
        emit({"event": "warmed"})
        rates, details, rss_max, pss_max, game_rss = [], [], 0, None, 0
        for k in range(config.repeat):
            if gate is not None and not gate():
                raise RuntimeError(f"stopped by the bench after {k} of {config.repeat} runs")
            sets = procs.classify()
            own0, games0 = procs.cpu_seconds(sets.own), procs.cpu_seconds(sets.games)
            steps, elapsed = _timed(runner, config.seconds)
            sets_after = procs.classify()
            own_cpu = procs.cpu_delta(own0, procs.cpu_seconds(sets_after.own))
            game_cpu = procs.cpu_delta(games0, procs.cpu_seconds(sets_after.games))
            rss, pss = procs.memory(sets_after.own)
            grss, _ = procs.memory(sets_after.games, pss=False)
            rss_max = max(rss_max, rss)
            if pss is not None:
                pss_max = max(pss_max or 0, pss)
            game_rss = max(game_rss, grss)
            rate = steps / elapsed if elapsed > 0 else 0.0
            rates.append(rate)
            details.append({"steps": steps, "seconds": round(elapsed, 4), "cpu_s": round(own_cpu, 4),
                            "game_cpu_s": round(game_cpu, 4), "rss_bytes": rss})  # fmt: skip
            result["num_own_processes"] = len(sets_after.own)
            result["num_game_processes"] = len(sets_after.games)
            emit({"event": "run", "k": k, "steps_per_s": rate})
        total_steps = sum(d["steps"] for d in details)
        result.update(
            steps_per_s=statistics.median(rates),
            runs=rates,
            run_details=details,
            cpu_s_per_step=sum(d["cpu_s"] for d in details) / total_steps if total_steps else None,
            game_cpu_s_per_step=sum(d["game_cpu_s"] for d in details) / total_steps if total_steps else None,
            rss_bytes=rss_max,
            pss_bytes=pss_max,
            game_rss_bytes=game_rss,
        )
    except RunnerUnavailable as exc:  # the runner cannot run this game (the raw runner knows a few)
        result["error"] = f"unavailable: {exc}"
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    finally:
        try:
            runner.close()
        except Exception as exc:
            if result["error"] is None:
                result["error"] = f"close failed: {type(exc).__name__}: {exc}"
    return result


def _timed(runner: Any, seconds: float) -> tuple[int, float]:
    """Step ``runner`` for ``seconds``; (env steps, elapsed seconds)."""
    step, clock = runner.step, time.perf_counter
    steps, t0 = 0, clock()
    while True:
        steps += step()
        elapsed = clock() - t0
        if elapsed >= seconds:
            return steps, elapsed


def case_main(argv: list[str]) -> int:
    """``python -m vecbridge.bench.case CONFIG_JSON FD [GATE_FD]``: run one case, report events as JSON
    lines on FD; with GATE_FD, wait for one byte on it before each timed run (EOF: stop)."""
    config = CaseConfig(**json.loads(argv[0]))
    out = os.fdopen(int(argv[1]), "w", buffering=1)
    gate = None
    if len(argv) > 2:
        gate_fd = int(argv[2])
        gate = lambda: os.read(gate_fd, 1) == b"g"  # noqa: E731
    # The bench process stops a case with SIGINT (and a user may send SIGTERM): both must close the
    # games, even where SIGINT was inherited as ignored (a background job of a non-interactive shell).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)

    def emit(event: Event) -> None:
        out.write(json.dumps(event) + "\n")

    try:
        result = run_case(config, emit, gate)
    except KeyboardInterrupt:
        result = empty_result(config, "interrupted")
    emit({"event": "result", "result": result})
    out.close()
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# ---------------------------------------------------------------- the machine
def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    import psutil

    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores_logical": psutil.cpu_count(logical=True),
        "cores_physical": psutil.cpu_count(logical=False),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_bytes": psutil.virtual_memory().total,
        "load_average_at_start": list(load) if load else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            name: _version(name)
            for name in ("vecbridge", "gymnasium", "numpy", "psutil", "stable-baselines3", "torch", "pufferlib", "matplotlib")
        },
    }

"""Worker processes, each multiplexing a contiguous slice of the instances (the parent's side).

Workers are plain ``python -m vecbridge.vector.worker`` processes, not multiprocessing
children: no fork of a threaded trainer, and no ``if __name__ == "__main__"`` guard
needed. Their commands and answers are in vecbridge.vector.worker.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection, wait
from typing import Any

import numpy as np

from vecbridge.errors import InstanceTimeout, VecBridgeError, WorkerError
from vecbridge.vector.buffers import Buffers
from vecbridge.vector.driver import CallRequest, Completion, Driver, DriverSettings, GameSummary, check_same_spaces

# how often a wait checks that the workers it waits for are alive (seconds)
LIVENESS_CHECK_S = 0.5


class WorkerDriver(Driver):
    """``num_workers`` worker processes; worker ``w`` drives the instances ``owned[w]``."""

    def __init__(self, settings: DriverSettings, num_workers: int) -> None:
        self.settings = settings
        self.num_envs = settings.num_envs
        chunks = np.array_split(np.arange(self.num_envs), max(1, min(num_workers, self.num_envs)))
        self.owned: list[list[int]] = [chunk.tolist() for chunk in chunks]
        self._owner = [w for w, chunk in enumerate(self.owned) for _ in chunk]
        self._procs: list[subprocess.Popen] = []
        self._pipes: list[Connection] = []
        self._outstanding = [0] * len(self.owned)  # requests in flight, per worker
        self._lockstep = [("step", ids, True) for ids in self.owned]
        self._closed = False

    def worker_pids(self) -> list[int]:
        """The worker processes' ids (each holds its instances' listener and connections)."""
        return [proc.pid for proc in self._procs]

    # ------------------------------------------------------------ start-up
    def start(self) -> GameSummary:
        s = self.settings
        run = s.run
        for ids in self.owned:
            parent_sock, child_sock = socket.socketpair()
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "vecbridge.vector.worker", str(child_sock.fileno())],
                    pass_fds=[child_sock.fileno()],
                    stdin=subprocess.DEVNULL,
                )
            finally:
                child_sock.close()
            pipe = Connection(parent_sock.detach())
            if run.reaper is not None:  # if this process dies, the run folder goes only once the worker has closed its games
                run.reaper.watch_process(proc.pid)
            self._procs.append(proc)
            self._pipes.append(pipe)
            pipe.send((s.spec, ids, str(run.run_dir), run.token, s.budget, s.same_step, s.preprocess, s.max_episode_steps))
        startup = s.spec.startup_timeout * (1 + max(len(ids) for ids in self.owned) / 8) + 30
        summaries = [self._expect(w, "hello", startup) for w in range(len(self._pipes))]
        for summary in summaries[1:]:
            check_same_spaces(summary, summaries[0])
        return summaries[0]

    def attach(self, buffers: Buffers) -> None:
        for w in range(len(self._pipes)):
            self._send(w, ("attach", buffers.obs_paths, buffers.act_paths, buffers.layout))
        for w in range(len(self._pipes)):
            self._expect(w, "attached", 60)

    # ------------------------------------------------------------ requests
    def _by_worker(self, ids: list[int]) -> dict[int, list[int]]:
        by_worker: dict[int, list[int]] = {}
        owner = self._owner
        for i in ids:
            by_worker.setdefault(owner[i], []).append(i)
        return by_worker

    def step(self, ids: list[int], together: bool) -> None:
        if together and len(ids) == self.num_envs:  # lockstep: the commands are made once
            for w in range(len(self._pipes)):
                self._send(w, self._lockstep[w])
                self._outstanding[w] += len(self.owned[w])
            return
        for w, wids in self._by_worker(ids).items():
            self._send(w, ("step", wids, together))
            self._outstanding[w] += len(wids)

    def reset(self, ids: list[int], seeds: list[int | None], options: dict[str, Any] | None) -> None:
        seed_of = dict(zip(ids, seeds))
        for w, wids in self._by_worker(ids).items():
            self._send(w, ("reset", wids, [seed_of[i] for i in wids], options))
            self._outstanding[w] += len(wids)

    def call(self, ids: list[int], request: CallRequest) -> None:
        for w, wids in self._by_worker(ids).items():
            self._send(w, ("call", wids, request))
            self._outstanding[w] += len(wids)

    def wait(self, timeout: float | None) -> Completion:
        busy = [w for w, n in enumerate(self._outstanding) if n]
        completion = Completion()
        if not busy:
            return completion
        deadline = None if timeout is None else time.monotonic() + timeout
        pipes = [self._pipes[w] for w in busy]
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = wait(pipes, LIVENESS_CHECK_S if remaining is None else min(LIVENESS_CHECK_S, remaining))
            if ready:
                break
            for w in busy:
                self._check_alive(w, "the instances' replies")
            if remaining is not None and remaining <= LIVENESS_CHECK_S:
                return completion
        for pipe in ready:
            w = self._pipes.index(pipe)
            _, ids, infos, results = self._expect_message(w, "done", "the instances' replies")
            self._outstanding[w] -= len(ids)
            completion.ids += ids
            completion.infos.update(infos)
            completion.results.update(results)
        return completion

    # ------------------------------------------------------------ the pipes
    def _send(self, w: int, command: tuple) -> None:
        try:
            self._pipes[w].send(command)
        except OSError:  # a broken pipe: the worker is gone
            try:
                self._procs[w].wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            raise WorkerError(
                f"worker {w} (instances {self.owned[w]}) died with exit code {self._procs[w].returncode} "
                f"before vecbridge could send it {command[0]!r}"
            ) from None

    def _expect(self, w: int, kind: str, timeout: float) -> Any:
        """One message of ``kind`` from worker ``w`` within ``timeout`` s; its payload."""
        what = f"the worker's {kind!r}"
        pipe, deadline = self._pipes[w], time.monotonic() + timeout
        while not pipe.poll(max(0.0, min(LIVENESS_CHECK_S, deadline - time.monotonic()))):
            self._check_alive(w, what)
            if time.monotonic() >= deadline:
                raise InstanceTimeout(f"worker {w} (instances {self.owned[w]}) did not deliver {what} within {timeout:g} s")
        msg = self._expect_message(w, kind, what)
        return msg[1] if len(msg) == 2 else msg[1:]

    def _expect_message(self, w: int, kind: str, what: str) -> tuple:
        try:
            msg = self._pipes[w].recv()
        except EOFError:
            raise WorkerError(f"worker {w} (instances {self.owned[w]}) closed its pipe while vecbridge waited for {what}") from None
        if msg[0] == "fatal":
            exc, tb = msg[1], msg[2]
            if isinstance(exc, VecBridgeError):
                exc.remote_traceback = tb
                raise exc
            raise WorkerError(f"worker {w} failed: {type(exc).__name__}: {exc}\n--- worker traceback ---\n{tb}")
        if msg[0] != kind:
            raise WorkerError(f"worker {w} sent {msg[0]!r} where {kind!r} was expected")
        return msg

    def _check_alive(self, w: int, what: str) -> None:
        proc = self._procs[w]
        if proc.poll() is not None and not self._pipes[w].poll():
            raise WorkerError(
                f"worker {w} (instances {self.owned[w]}) died with exit code {proc.returncode} "
                f"while vecbridge waited for {what}"
            )

    # ------------------------------------------------------------ close
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for pipe in self._pipes:
            try:
                pipe.send(("close",))
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + self.settings.spec.close_grace + 5.0
        for proc in self._procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:  # a stuck worker: SIGTERM makes it close its games
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for pipe in self._pipes:
            pipe.close()
        if self.settings.run.reaper is not None:
            for proc in self._procs:
                self.settings.run.reaper.forget_process(proc.pid)

    def __repr__(self) -> str:
        return f"WorkerDriver(workers={len(self.owned)})"

"""The worker process: one InstanceGroup, driven by commands from the vector env over a pipe.

Commands (parent -> worker) and answers (worker -> parent), all small tuples:

    ("attach", obs_paths, act_paths, layout)   -> ("attached",)
    ("step", ids, batch)                       -> ("ready", ids, infos) once (batch) or per select round
    ("reset", ids, seeds, options)             -> ("reset_done", ids, infos)
    ("call", ids, name, args, kwargs)          -> ("results", {id: value or exception})
    ("setattr", ids, name, {id: value})        -> ("results", {id: None or exception})
    ("render", ids)                            -> ("results", {id: frame})
    ("close",)                                 -> ("closed",)

At start the worker sends ("hello", summary) or ("fatal", exception, traceback).
Any exception later is sent as ("fatal", ...) and ends the worker. Only infos and
call results travel by pipe; observations, actions, rewards and flags live in
shared memory. When the pipe ends (the parent died), the worker closes its
games and exits; its reaper covers the case where the worker itself is killed.
"""

from __future__ import annotations

import signal
import sys
import traceback
from multiprocessing.connection import Connection
from typing import Any

from vecbridge.launch.run import RunContext
from vecbridge.launch.spec import LaunchSpec
from vecbridge.vector.buffers import Buffers
from vecbridge.vector.group import InstanceGroup
from vecbridge.vector.budget import RestartBudget


class _Terminated(BaseException):
    pass


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


def worker_main(
    pipe: Connection,
    spec: LaunchSpec,
    indices: list[int],
    run_dir: str,
    token: str,
    budget: RestartBudget,
    same_step: bool,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it closes us
    signal.signal(signal.SIGTERM, _on_sigterm)
    run = RunContext(run_dir=run_dir, token=token)
    group: InstanceGroup | None = None
    try:
        group = InstanceGroup(spec, indices, run, budget, same_step)
        pipe.send(("hello", group.start()))
        group.register_wakeup(pipe)
        _serve(pipe, group)
    except (EOFError, BrokenPipeError, _Terminated):
        pass  # the parent is gone or asked us to stop: clean up below
    except BaseException as exc:  # report, then clean up
        try:
            pipe.send(("fatal", exc, traceback.format_exc()))
        except Exception:
            pass
    finally:
        try:
            if group is not None:
                group.close()
        finally:
            run.close()


class WorkerCore:
    """What a worker does with a command, apart from where commands come from.

    A worker process feeds it from its pipe (:func:`_serve`); with ``num_workers=0`` the
    vector env feeds it in its own process (:class:`vecbridge.vector.local.LocalWorker`).
    """

    def __init__(self, group: InstanceGroup) -> None:
        self.group = group
        self.lockstep: set[int] = set()  # ids of a lockstep step: reported together, in one message

    def handle(self, cmd: tuple) -> list[tuple]:
        """Carry out one command; the answers to send now (a step answers later, via :meth:`ready`)."""
        group, op = self.group, cmd[0]
        if op == "step":
            if cmd[2]:
                self.lockstep.update(cmd[1])
            group.begin_step(cmd[1])
            return []
        if op == "reset":
            _run_to_completion(group, lambda: group.begin_reset(cmd[1], cmd[2], cmd[3]))
            status = group.take_status()
            return [("reset_done", status.completed, status.infos)]
        if op == "call":
            name, args, kwargs = cmd[2], cmd[3], cmd[4]
            _run_to_completion(group, lambda: group.begin_call(cmd[1], lambda conn, i: conn.send_call(name, args, kwargs)))
            return [("results", group.take_status().results)]
        if op == "setattr":  # one value per instance, every instance at once
            name, values = cmd[2], cmd[3]
            build = lambda conn, i: conn.send_call("__setattr__", [name, values[i]], {})  # noqa: E731
            _run_to_completion(group, lambda: group.begin_call(cmd[1], build))
            return [("results", group.take_status().results)]
        if op == "render":
            _run_to_completion(group, lambda: group.begin_call(cmd[1], lambda conn, i: conn.send_render()))
            return [("results", group.take_status().results)]
        if op == "attach":
            group.buffers = Buffers.attach(cmd[1], cmd[2], cmd[3])
            return [("attached",)]
        if op == "close":
            group.close()
            return [("closed",)]
        raise ValueError(f"unknown worker command {op!r}")

    def ready(self) -> tuple | None:
        """A ("ready", ids, infos) answer if steps completed (a lockstep batch only once whole)."""
        group = self.group
        status = group.status
        if status.completed and not (self.lockstep and group.pending.keys() & self.lockstep):
            self.lockstep.clear()
            group.take_status()
            return ("ready", status.completed, status.infos)
        return None


def _serve(pipe: Connection, group: InstanceGroup) -> None:
    core = WorkerCore(group)
    while True:
        woken = group.poll(None)  # wakes on a reply, a request deadline, or a command from the parent
        while woken and pipe.poll():
            cmd = pipe.recv()
            for answer in core.handle(cmd):
                pipe.send(answer)
            if cmd[0] == "close":
                return
        answer = core.ready()
        if answer is not None:
            pipe.send(answer)


def _run_to_completion(group: InstanceGroup, begin) -> None:
    begin()
    while group.pending:
        group.poll(None)


def main(argv: list[str]) -> None:
    """``python -m vecbridge.vector.worker FD``: FD is this worker's end of a socketpair."""
    pipe = Connection(int(argv[1]))
    try:
        args = pipe.recv()
    except EOFError:
        return
    worker_main(pipe, *args)


if __name__ == "__main__":
    main(sys.argv)

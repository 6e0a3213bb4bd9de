"""The worker process: one InstanceGroup, driven by commands from the vector env over a pipe.

Commands (parent -> worker) and answers (worker -> parent), all small tuples:

    ("attach", obs_paths, act_paths, layout)   -> ("attached",)
    ("step", ids, together)                    \\
    ("reset", ids, seeds, options)              > ("done", ids, infos, results) as instances complete
    ("call", ids, request)                     /  (together, resets and calls: once all are done)
    ("close",)                                 -> the worker closes its games and exits

At start the worker sends ("hello", GameSummary) or ("fatal", exception, traceback).
Any exception later is sent as ("fatal", ...) and ends the worker. Only infos and
call results travel by pipe; observations, actions, rewards and flags live in
shared memory. When the pipe ends (the parent died), the worker closes its
games and exits; its reaper covers the case where the worker itself is killed.
The parent's side is vecbridge.vector.workers.
"""

from __future__ import annotations

import signal
import sys
import traceback
from multiprocessing.connection import Connection
from typing import Any

from vecbridge.launch.run import RunContext
from vecbridge.launch.spec import LaunchSpec
from vecbridge.transforms.pipeline import Pipeline
from vecbridge.vector.budget import RestartBudget
from vecbridge.vector.buffers import Buffers
from vecbridge.vector.group import InstanceGroup


class _Terminated(BaseException):
    pass


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


def worker_main(
    pipe: Connection,
    spec: LaunchSpec,
    ids: list[int],
    run_dir: str,
    token: str,
    budget: RestartBudget,
    same_step: bool,
    pipeline: Pipeline | None = None,
    max_episode_steps: int | None = None,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it closes us
    signal.signal(signal.SIGTERM, _on_sigterm)
    run = RunContext(run_dir=run_dir, token=token)
    group: InstanceGroup | None = None
    try:
        group = InstanceGroup(spec, ids, run, budget, same_step, pipeline, max_episode_steps)
        pipe.send(("hello", group.start()))
        group.watch_wakeup(pipe)
        serve(pipe, group)
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


def serve(pipe: Connection, group: InstanceGroup) -> None:
    """Carry out commands until ``close``; report completions (a batch only once it is whole)."""
    together = False
    while True:
        woken = group.poll(None)  # wakes on a reply, a deadline, or a command from the parent
        while woken and pipe.poll():
            cmd = pipe.recv()
            op = cmd[0]
            if op == "step":
                group.step(cmd[1])
                together = cmd[2]
            elif op == "reset":
                group.reset(cmd[1], cmd[2], cmd[3])
                together = True
            elif op == "call":
                group.call(cmd[1], cmd[2])
                together = True
            elif op == "attach":
                group.attach(Buffers.attach(cmd[1], cmd[2], cmd[3]))
                pipe.send(("attached",))
            elif op == "close":
                return
            else:
                raise ValueError(f"unknown worker command {op!r}")
        if group.has_completed and not (together and group.busy):
            together = False
            done = group.take_completion()
            pipe.send(("done", done.ids, done.infos, done.results))


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

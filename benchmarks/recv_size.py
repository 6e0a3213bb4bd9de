"""Experiment: the receive buffer size of ``vecbridge.transport.RECV_SIZE`` (1 MiB) against 64 KiB.

    python benchmarks/recv_size.py                   # N=8 Echo, 4 alternating rounds of 3 s
    python benchmarks/recv_size.py --num-envs 16 --size 131072

Runs two vecbridge envs side by side: one stock, one whose games and worker read with
``--size`` bytes (patched in those processes only, at start: vecbridge's code is not
changed), and steps them in alternation so that a shared machine's drift hits both.
Prints env steps/s and CPU µs per env step of vecbridge's processes and of the games.

The patch relies on the worker being started as ``python -m vecbridge.vector.worker``
and on ``vecbridge.vector.group`` importing ``RECV_SIZE`` by name; if either changes,
the "patched" env silently runs stock code, so compare with care.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np

import vecbridge
from vecbridge.bench import procs
from vecbridge.launch.spec import LaunchSpec

WORKER = "vecbridge.vector.worker"


def _patched_game(size: int) -> LaunchSpec:
    code = (
        f"import runpy, sys, vecbridge.transport as t; t.RECV_SIZE = {size}; "
        "sys.argv = ['vecbridge.game', sys.argv[1]]; "
        "runpy.run_module('vecbridge.game', run_name='__main__', alter_sys=True)"
    )
    return LaunchSpec(command=["{python}", "-c", code, "vecbridge.games.echo:EchoEnv"], name="Echo")


class _PatchedWorker:
    def __init__(self, real, size: int) -> None:
        self.real, self.size = real, size

    def __call__(self, args, *a, **kw):
        if isinstance(args, list) and WORKER in args and args[args.index(WORKER) - 1] == "-m":
            k = args.index(WORKER)
            code = (
                f"import runpy, sys, vecbridge.transport as t, vecbridge.vector.group as g; "
                f"t.RECV_SIZE = g.RECV_SIZE = {self.size}; sys.argv = ['{WORKER}', *sys.argv[1:]]; "
                f"runpy.run_module('{WORKER}', run_name='__main__', alter_sys=True)"
            )
            args = [args[0], "-c", code, *args[k + 1 :]]
        return self.real(args, *a, **kw)


def _make(spec, num_envs: int, size: int | None):
    real = subprocess.Popen
    if size:
        subprocess.Popen = _PatchedWorker(real, size)
    try:
        envs = vecbridge.make(spec, num_envs=num_envs)
    finally:
        subprocess.Popen = real
    envs.reset(seed=0)
    return envs


def _measure(envs, seconds: float) -> tuple[float, float, float]:
    actions = np.zeros(envs.num_envs, dtype=np.int64)
    for _ in range(100):
        envs.step(actions)
    sets = procs.classify()
    own0, games0 = procs.cpu_seconds(sets.own), procs.cpu_seconds(sets.games)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        envs.step(actions)
        steps += envs.num_envs
    wall = time.perf_counter() - t0
    own = procs.cpu_delta(own0, procs.cpu_seconds(sets.own)) / steps * 1e6
    games = procs.cpu_delta(games0, procs.cpu_seconds(sets.games)) / steps * 1e6
    return steps / wall, own, games


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--size", type=int, default=1 << 16)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    from vecbridge.transport import RECV_SIZE

    envs = {
        f"stock ({RECV_SIZE} B)": _make("vecbridge/Echo-v0", args.num_envs, None),
        f"games + worker read {args.size} B": _make(_patched_game(args.size), args.num_envs, args.size),
    }
    results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in envs}
    try:
        for _ in range(args.rounds):
            for name, env in envs.items():
                results[name].append(_measure(env, args.seconds))
    finally:
        for env in envs.values():
            env.close()
    print(f"N={args.num_envs}, median of {args.rounds} alternating runs of {args.seconds:g} s\n")
    print("| variant | env steps/s | vecbridge CPU µs/step | games' CPU µs/step |")
    print("|---|---:|---:|---:|")
    for name, rows in results.items():
        med = [statistics.median(r[k] for r in rows) for k in range(3)]
        print(f"| {name} | {med[0]:,.0f} | {med[1]:.1f} | {med[2]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

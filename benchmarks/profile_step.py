"""Where the microseconds of one vecbridge lockstep step go (default: 8 Echo instances).

    python benchmarks/profile_step.py                 # about a minute
    python benchmarks/profile_step.py --num-envs 16 --seconds 5 --py-spy

1. CPU per step of each process, unprofiled: the parent (the caller of ``step()``), the
   worker(s), vecbridge's helpers, and the games; and the wall time of one ``step()``.
2. cProfile of the parent and of the worker over the same loop (the worker's profiler is
   switched on and off by signals, so launch and close are not in it), self time grouped
   by what it is: socket I/O, select, pipe, wire protocol, shared buffers, the rest.
   cProfile adds a fixed cost per Python call, so read its split as shares, and the
   unprofiled figures of part 1 as the totals.
3. With ``--py-spy`` (``pip install py-spy``): sampled self time of the parent and worker,
   which does not slow Python calls down.
4. Reference points: a multiprocessing pipe round trip between two processes, the
   protocol's encode/decode work for one step without I/O, and the floor runner (one
   process, N sockets) at N=1 and N.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

PROFILE_DIR_VAR = "VECBRIDGE_BENCH_PROFILE_DIR"


# ---------------------------------------------------------------- the worker, profiled on signal
WORKER_MODULE = "vecbridge.vector.worker"
AS_WORKER = "--as-vecbridge-worker"


def _install_signal_profiler() -> None:
    """A cProfile that SIGUSR1 starts and SIGUSR2 stops and saves (launch and close stay out of it)."""
    prof = cProfile.Profile()
    out = os.path.join(os.environ[PROFILE_DIR_VAR], f"worker-{os.getpid()}.prof")

    def start(signum, frame):
        prof.enable()

    def stop(signum, frame):
        prof.disable()
        prof.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)


def run_as_worker(argv: list[str]) -> None:
    """``profile_step.py --as-vecbridge-worker ARGS``: vecbridge's worker program, with the signal profiler."""
    import runpy

    _install_signal_profiler()
    sys.argv = [WORKER_MODULE, *argv]
    runpy.run_module(WORKER_MODULE, run_name="__main__", alter_sys=True)


class _WorkerShim:
    """Popen that starts ``python -m vecbridge.vector.worker ...`` as this file's profiled wrapper instead."""

    def __init__(self, real):
        self.real = real

    def __call__(self, args, *a, **kw):
        args = list(args) if isinstance(args, (list, tuple)) else args
        if isinstance(args, list) and WORKER_MODULE in args:
            k = args.index(WORKER_MODULE)
            if k >= 1 and args[k - 1] == "-m":
                args = [args[0], os.path.abspath(__file__), AS_WORKER, *args[k + 1 :]]
        return self.real(args, *a, **kw)


# ---------------------------------------------------------------- grouping profile entries
def category(filename: str, func: str) -> str:
    f = filename.replace("\\", "/")
    if func in ("<method 'sendall' of '_socket.socket' objects>", "<method 'send' of '_socket.socket' objects>"):
        return "socket send (syscall)"
    if func in ("<method 'recv' of '_socket.socket' objects>", "<method 'recv_into' of '_socket.socket' objects>"):
        return "socket recv (syscall)"
    if "poll' of 'select" in func or "select.epoll" in func or func.startswith("<built-in method select.") or "'poll' of 'select.epoll'" in func:
        return "select/epoll wait"
    if func in ("<built-in method posix.write>", "<built-in method posix.read>") or "multiprocessing/connection" in f:
        return "pipe (multiprocessing.Connection)"
    if "_pickle" in func or "pickle" in f:
        return "pipe (multiprocessing.Connection)"
    if "/vecbridge/protocol/" in f:
        return "wire protocol (vecbridge.protocol)"
    if "/json/" in f or "json" in func:
        return "wire protocol: json"
    if "/vecbridge/vector/buffers" in f:
        return "shared buffers"
    if "/vecbridge/vector/group" in f:
        return "worker: instance group logic"
    if "/vecbridge/vector/worker" in f:
        return "worker: command loop"
    if "/vecbridge/vector/vector_env" in f:
        return "parent: vector env logic"
    if "selectors.py" in f:
        return "select/epoll wait"
    if "/gymnasium/" in f:
        return "gymnasium"
    if "numpy" in f or "numpy" in func:
        return "numpy"
    if "/vecbridge/bench/" in f or "profile_step" in f:
        return "benchmark loop"
    return "other Python/builtins"


def summarize(stats: pstats.Stats, steps: int, top: int = 14) -> tuple[dict[str, float], list]:
    cats: dict[str, float] = collections.defaultdict(float)
    funcs: list[tuple[float, int, str]] = []
    for (filename, line, func), (cc, nc, tt, ct, callers) in stats.stats.items():
        cats[category(filename, func)] += tt
        name = func if filename == "~" else f"{os.path.basename(filename)}:{line}({func})"
        funcs.append((tt, nc, name))
    funcs.sort(reverse=True)
    return {k: v / steps * 1e6 for k, v in cats.items()}, [(t / steps * 1e6, c / steps, n) for t, c, n in funcs[:top]]


def print_split(title: str, cats: dict[str, float], funcs: list) -> None:
    total = sum(cats.values())
    print(f"\n### {title}: {total:,.1f} µs of profiled self time per step()\n")
    print("| where | µs per step() | share |")
    print("|---|---:|---:|")
    for k, v in sorted(cats.items(), key=lambda kv: -kv[1]):
        if v >= 0.05 * 1:
            print(f"| {k} | {v:,.1f} | {v / total * 100:.0f}% |")
    print("\ntop functions by self time:\n")
    print("    µs/step()  calls/step()  µs/call  function")
    for t, calls, name in funcs:
        print(f"    {t:9.1f}  {calls:12.1f}  {t / calls if calls else 0:7.1f}  {name}")


# ---------------------------------------------------------------- processes
def roles() -> dict[str, list]:
    from vecbridge.bench import procs

    sets = procs.classify()
    out: dict[str, list] = collections.defaultdict(list)
    for p in sets.own:
        try:
            cmd = " ".join(p.cmdline())
        except Exception:
            cmd = ""
        if p.pid == os.getpid():
            out["parent (caller of step())"].append(p)
        elif "_reaper_main" in cmd:
            out["reaper(s)"].append(p)
        elif "resource_tracker" in cmd:
            out["resource tracker"].append(p)
        elif WORKER_MODULE in cmd or AS_WORKER in cmd or "spawn_main" in cmd or "forkserver" in cmd:
            out["worker(s)"].append(p)
        else:
            out["other own"].append(p)
    out["games"] = sets.games
    return out


def _user_sys(plist) -> dict[int, tuple[float, float]]:
    out = {}
    for p in plist:
        try:
            t = p.cpu_times()
        except Exception:
            continue
        out[p.pid] = (t.user, t.system)
    return out


def cpu_by_role(run, seconds: float):
    """(steps, wall seconds, {role: (user CPU s, system CPU s)}) over ``seconds`` of ``run()``."""
    r = roles()
    before = {k: _user_sys(v) for k, v in r.items()}
    t0, steps = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        run()
        steps += 1
    wall = time.perf_counter() - t0
    after = {k: _user_sys(v) for k, v in r.items()}
    cpu = {}
    for k in r:
        u = sum(a[0] - before[k].get(pid, (0.0, 0.0))[0] for pid, a in after[k].items())
        s_ = sum(a[1] - before[k].get(pid, (0.0, 0.0))[1] for pid, a in after[k].items())
        cpu[k] = (u, s_)
    return steps, wall, cpu


# ---------------------------------------------------------------- reference points
def _pipe_echo(conn) -> None:
    while True:
        msg = conn.recv()
        if msg is None:
            return
        conn.send(msg)


def pipe_round_trip(seconds: float = 2.0) -> float:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    a, b = ctx.Pipe()
    p = ctx.Process(target=_pipe_echo, args=(b,), daemon=True)
    p.start()
    msg = ("ready", [0, 1, 2, 3, 4, 5, 6, 7], {})
    for _ in range(200):
        a.send(msg)
        a.recv()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a.send(msg)
        a.recv()
        n += 1
    us = (time.perf_counter() - t0) / n * 1e6
    a.send(None)
    p.join(5)
    return us


def protocol_cost(reps: int = 20000) -> float:
    """CPU µs to encode a step request, decode it, encode a step_result and decode it (no I/O)."""
    from gymnasium import spaces

    from vecbridge.protocol.connection import GameConnection, HostConnection
    from vecbridge.protocol.values import encode_value

    obs_space, act_space = spaces.Box(-1.0, 1e6, (4,), np.float32), spaces.Discrete(2)
    game, host = GameConnection("binary"), HostConnection("tok", None, "auto")
    host.receive_data(game.send_hello(0, "tok", obs_space, act_space, "Echo", {}))
    host.next_event()
    game.receive_data(host.send_welcome({}))
    game.next_event()
    obs = np.zeros(4, np.float32)
    t0 = time.perf_counter()
    for _ in range(reps):
        game.receive_data(host.send_step(1))
        game.next_event()
        host.receive_data(game.send_step_result(encode_value(obs_space, obs), 1.0, False, False, {}))
        host.next_event()
    return (time.perf_counter() - t0) / reps * 1e6


def floor_wall(num_envs: int, seconds: float) -> tuple[float, float]:
    """(wall µs per round of N, (user, sys) CPU µs per env step of the floor process, and of the games)."""
    from vecbridge.bench import procs
    from vecbridge.bench.runners import FloorRunner

    r = FloorRunner("vecbridge/Echo-v0", num_envs, {})
    r.start()
    try:
        for _ in range(200):
            r.step()
        sets = procs.classify()
        c0, g0 = _user_sys(sets.own), _user_sys(sets.games)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            r.step()
            n += 1
        wall = time.perf_counter() - t0
        c1, g1 = _user_sys(sets.own), _user_sys(sets.games)
    finally:
        r.close()
    steps = n * num_envs

    def per_step(a, b):
        u = sum(v[0] - a.get(pid, (0.0, 0.0))[0] for pid, v in b.items())
        s_ = sum(v[1] - a.get(pid, (0.0, 0.0))[1] for pid, v in b.items())
        return u / steps * 1e6, s_ / steps * 1e6

    return wall / n * 1e6, per_step(c0, c1), per_step(g0, g1)


# ---------------------------------------------------------------- py-spy
def py_spy(pids: dict[str, int], seconds: float, run, rate: int = 200) -> dict[str, list[tuple[int, str]]]:
    with tempfile.TemporaryDirectory(prefix="vb-pyspy-") as tmp:
        return _py_spy(pids, seconds, run, rate, tmp)


def _py_spy(pids: dict[str, int], seconds: float, run, rate: int, tmp: str) -> dict[str, list[tuple[int, str]]]:
    spies = {}
    for name, pid in pids.items():
        out = os.path.join(tmp, f"{name}.txt")
        spies[name] = (out, subprocess.Popen(
            ["py-spy", "record", "--pid", str(pid), "--rate", str(rate), "--duration", str(int(seconds)),
             "--format", "raw", "--nonblocking", "--output", out],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
    time.sleep(0.5)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds + 1:
        run()
    leaf: dict[str, list[tuple[int, str]]] = {}
    for name, (out, proc) in spies.items():
        proc.wait(timeout=60)
        counts: collections.Counter = collections.Counter()
        try:
            with open(out) as f:
                for line in f:
                    stack, _, n = line.rstrip().rpartition(" ")
                    frames = stack.split(";")
                    counts[frames[-1]] += int(n)
        except OSError:
            pass
        leaf[name] = counts.most_common(12)
    return leaf


# ---------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--num-workers", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--py-spy", action="store_true", help="also sample with py-spy")
    args = parser.parse_args(argv)
    n = args.num_envs

    import vecbridge

    prof_dir = tempfile.mkdtemp(prefix="vb-prof-")
    os.environ[PROFILE_DIR_VAR] = prof_dir
    kwargs = {"num_workers": args.num_workers} if args.num_workers else {}
    real_popen = subprocess.Popen
    subprocess.Popen = _WorkerShim(real_popen)  # the workers start as this file's profiled wrapper
    try:
        envs = vecbridge.make("vecbridge/Echo-v0", num_envs=n, **kwargs)
    finally:
        subprocess.Popen = real_popen
    try:
        envs.reset(seed=0)
        space = envs.action_space
        space.seed(0)
        pool = [space.sample() for _ in range(32)]
        k = [0]

        def step():
            k[0] = (k[0] + 1) % 32
            envs.step(pool[k[0]])

        for _ in range(300):
            step()
        print(f"# vecbridge lockstep step(), {n} Echo instances, {envs.num_workers} worker(s)\n")
        print(f"load average before: {os.getloadavg()}")

        # 1. unprofiled CPU split
        steps, wall, cpu = cpu_by_role(step, args.seconds)
        print(f"\n### 1. unprofiled: {steps} steps in {wall:.2f} s = {wall / steps * 1e6:,.0f} µs wall per step() "
              f"= {steps * n / wall:,.0f} env steps/s\n")  # fmt: skip
        print("| process | CPU µs per step() | CPU µs per env step | of which user | of which system (kernel) |")
        print("|---|---:|---:|---:|---:|")
        for role, (u, sy) in cpu.items():
            c = u + sy
            print(f"| {role} | {c / steps * 1e6:,.1f} | {c / steps / n * 1e6:,.1f} | "
                  f"{u / steps / n * 1e6:,.1f} | {sy / steps / n * 1e6:,.1f} |")  # fmt: skip
        total = sum(u + sy for u, sy in cpu.values())
        print(f"| all | {total / steps * 1e6:,.1f} | {total / steps / n * 1e6:,.1f} | | |")
        print(f"\nCPU busy: {total / wall * 100:.0f}% of one core of {os.cpu_count()} "
              f"(the rest of the wall time every process waits for another)")  # fmt: skip

        # 2. cProfile, parent and workers
        workers = [p.pid for p in roles().get("worker(s)", [])]
        if not workers:
            print("(no worker process found to profile)")
        for pid in workers:
            os.kill(pid, signal.SIGUSR1)
        time.sleep(0.2)
        prof = cProfile.Profile()
        prof.enable()
        t0, psteps = time.perf_counter(), 0
        while time.perf_counter() - t0 < args.seconds:
            step()
            psteps += 1
        prof.disable()
        pwall = time.perf_counter() - t0
        for pid in workers:
            os.kill(pid, signal.SIGUSR2)
        time.sleep(1.0)
        print(f"\n### 2. cProfile: {psteps} steps, {pwall / psteps * 1e6:,.0f} µs wall per step() while profiled")
        cats, funcs = summarize(pstats.Stats(prof), psteps)
        print_split("parent", cats, funcs)
        for pid in workers:
            path = os.path.join(prof_dir, f"worker-{pid}.prof")
            if os.path.exists(path):
                cats, funcs = summarize(pstats.Stats(path), psteps)
                print_split(f"worker {pid}", cats, funcs)

        # 3. py-spy
        if args.py_spy:
            # py-spy attaches with ptrace: root, or kernel.yama.ptrace_scope = 0, is needed
            pids = {"parent": os.getpid(), **{f"worker-{i}": pid for i, pid in enumerate(workers)}}
            leaf = py_spy(pids, args.seconds, step)
            for name, rows in leaf.items():
                total_samples = sum(c for _, c in rows) or 1
                print(f"\n### 3. py-spy, {name}: top leaf frames (samples, share of the top 12)\n")
                for frame, c in rows:
                    print(f"    {c:6d}  {c / total_samples * 100:4.0f}%  {frame}")
    finally:
        envs.close()
        shutil.rmtree(prof_dir, ignore_errors=True)

    # 4. reference points
    print("\n### 4. reference points\n")
    print(f"- multiprocessing Pipe round trip between two processes (small tuple): {pipe_round_trip():,.1f} µs")
    print(f"- wire protocol, one step request + one step_result, encode and decode, no I/O: {protocol_cost():,.1f} µs CPU")
    for m in sorted({1, n}):
        w, (u, sy), (gu, gs) = floor_wall(m, min(args.seconds, 3.0))
        print(f"- floor, N={m}: {w:,.0f} µs wall per round of {m} ({m / w * 1e6:,.0f} env steps/s); CPU per env step: "
              f"floor process {u + sy:,.1f} µs (user {u:,.1f}, system {sy:,.1f}), games {gu + gs:,.1f} µs "
              f"(user {gu:,.1f}, system {gs:,.1f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == AS_WORKER:
        run_as_worker(sys.argv[2:])
    else:
        sys.exit(main())

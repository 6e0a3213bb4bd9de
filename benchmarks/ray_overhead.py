"""What Ray adds per call: backend="ray" against plain vecbridge, one actor per node, interleaved.

    python benchmarks/ray_overhead.py                       # nodes 1,2; 1, 8, 32 instances per actor
    python benchmarks/ray_overhead.py --nodes 2 --per-actor 8 --seconds 2 --repeat 3

For each cluster size (1 and 2 local Ray nodes, vecbridge.ray_local.LocalCluster) and
each number of Echo instances per actor, it builds two vector envs over the same
number of instances: ``backend="ray"`` with one actor per node, and plain vecbridge
driving the instances from this process (``num_workers=0``). Their timed runs alternate
(run k of one, then run k of the other), and it records per lockstep ``step()``:

* wall milliseconds per call, and the difference between the two (what Ray adds);
* CPU milliseconds of *this* process per call (``time.process_time``): the driver's
  cost, the resource that stays on the learner's machine however many nodes there are;
* the bare Ray round trip: an actor method that does nothing, called and waited for.

Writes benchmarks/results/ray-overhead.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def timed_steps(envs, actions, seconds: float) -> tuple[float, float, int]:
    """(wall s per call, this process's CPU s per call, calls) of lockstep steps for ``seconds``."""
    calls, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - wall0 < seconds:
        envs.step(actions[calls % len(actions)])
        calls += 1
    return (time.perf_counter() - wall0) / calls, (time.process_time() - cpu0) / calls, calls


def bare_round_trip(seconds: float) -> tuple[float, float]:
    """Wall and driver-CPU seconds of one call to an actor method that does nothing."""
    import ray

    @ray.remote(num_cpus=0)
    class Nothing:
        def ping(self, rows):
            return rows

    actor = Nothing.remote()
    rows = np.zeros((8, 4), dtype=np.float32)
    ray.get(actor.ping.remote(rows))
    calls, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - wall0 < seconds:
        ray.get(actor.ping.remote(rows))
        calls += 1
    out = ((time.perf_counter() - wall0) / calls, (time.process_time() - cpu0) / calls)
    ray.kill(actor)
    return out


def measure(nodes: int, per_actor: list[int], seconds: float, repeat: int) -> list[dict]:
    import vecbridge
    from vecbridge.ray_local import LocalCluster

    cpus = max(1, (os.cpu_count() or 1) // nodes)
    rows = []
    with LocalCluster(nodes=nodes, cpus_per_node=cpus) as cluster:
        print(f"{nodes} local node(s) up in {cluster.start_s:.1f} s", file=sys.stderr, flush=True)
        bare = [bare_round_trip(seconds) for _ in range(repeat)]
        rows.append({"nodes": nodes, "what": "bare actor call", "wall_ms": 1e3 * statistics.median(b[0] for b in bare),
                     "driver_cpu_ms": 1e3 * statistics.median(b[1] for b in bare)})  # fmt: skip
        for k in per_actor:
            n = k * nodes
            ray_env = vecbridge.make("vecbridge/Echo-v0", num_envs=n, backend="ray", num_actors=nodes)
            plain = vecbridge.make("vecbridge/Echo-v0", num_envs=n, num_workers=0)
            try:
                results: dict[str, list[tuple[float, float, int]]] = {"ray": [], "plain": []}
                for env in (ray_env, plain):
                    env.reset(seed=0)
                actions = [np.random.default_rng(s).integers(0, 2, size=n) for s in range(16)]
                for env in (ray_env, plain):  # warm-up
                    timed_steps(env, actions, min(1.0, seconds))
                for _ in range(repeat):
                    results["ray"].append(timed_steps(ray_env, actions, seconds))
                    results["plain"].append(timed_steps(plain, actions, seconds))
            finally:
                ray_env.close()
                plain.close()
            med = {name: (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
                   for name, runs in results.items()}  # fmt: skip
            added = [r[0] - p[0] for r, p in zip(results["ray"], results["plain"])]
            rows.append({
                "nodes": nodes, "what": f"{k} Echo per actor, {n} in all", "instances": n,
                "ray_wall_ms": 1e3 * med["ray"][0], "plain_wall_ms": 1e3 * med["plain"][0],
                "added_wall_ms": 1e3 * statistics.median(added),
                "ray_driver_cpu_ms": 1e3 * med["ray"][1], "plain_driver_cpu_ms": 1e3 * med["plain"][1],
                "ray_steps_per_s": n / med["ray"][0], "plain_steps_per_s": n / med["plain"][0],
                "runs": {name: [list(r) for r in runs] for name, runs in results.items()},
            })  # fmt: skip
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "runs"}), file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", default="1,2")
    parser.add_argument("--per-actor", default="1,8,32", help="Echo instances per actor (one actor per node)")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "ray-overhead.json"))
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    rows = []
    for nodes in [int(x) for x in args.nodes.split(",")]:
        rows += measure(nodes, [int(x) for x in args.per_actor.split(",")], args.seconds, args.repeat)
    import platform

    import ray

    machine = {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "cores": os.cpu_count(), "python": platform.python_version(),
               "ray": ray.__version__, "load_before": load_before, "load_after": os.getloadavg()}  # fmt: skip
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"machine": machine, "config": vars(args), "results": rows}, f, indent=2)
    print(f"| nodes | case | Ray wall ms/call | plain wall ms/call | added ms/call | driver CPU ms/call (Ray / plain) | steps/s (Ray / plain) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        if r["what"] == "bare actor call":
            print(f"| {r['nodes']} | {r['what']} | {r['wall_ms']:.2f} | — | — | {r['driver_cpu_ms']:.2f} | — |")
        else:
            print(f"| {r['nodes']} | {r['what']} | {r['ray_wall_ms']:.2f} | {r['plain_wall_ms']:.2f} | "
                  f"{r['added_wall_ms']:.2f} | {r['ray_driver_cpu_ms']:.2f} / {r['plain_driver_cpu_ms']:.2f} | "
                  f"{r['ray_steps_per_s']:,.0f} / {r['plain_steps_per_s']:,.0f} |")  # fmt: skip
    print(f"load averages before {load_before}, after {machine['load_after']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

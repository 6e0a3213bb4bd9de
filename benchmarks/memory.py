"""Memory: vecbridge's own resident memory (its Python processes, not the games) from 1 to 64 instances.

    python benchmarks/memory.py                                   # vecbridge and gymnasium-async, N = 1..64
    python benchmarks/memory.py --runners vecbridge --counts 1,8,64

For each N: launch N Echo instances (default num_workers), step them for a short run,
then sum the RSS and PSS of the runner's own processes (the process holding the env,
its worker processes and reaper; never the games) and count them. vecbridge's
processes must not grow by one per instance; gymnasium-async (one process per
instance) is there for contrast. PSS splits pages shared between processes, so it is
the fairer sum for forked workers. Writes benchmarks/results/memory.json and .png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from vecbridge.bench import run_bench

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,2,4,8,16,32,64")
    parser.add_argument("--runners", default="vecbridge,gymnasium-async")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.counts.split(",")]
    runners = args.runners.split(",")
    os.makedirs(args.out, exist_ok=True)
    json_path = os.path.join(args.out, "memory.json")
    report = run_bench(
        "vecbridge/Echo-v0", counts, runners, seconds=args.seconds, repeat=1, warmup=0.5, json_path=json_path,
        plot_path=os.path.join(args.out, "memory-throughput.png"), markdown=True, extra={"benchmark": "memory"},
    )  # fmt: skip
    results = report["results"]
    print("\n## own memory against instance count\n")
    print("| runner | N | own processes | own RSS MiB | own PSS MiB | RSS MiB per instance | games' RSS MiB | steps/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        if r.get("error"):
            print(f"| {r['runner']} | {r['num_envs']} | — | — | — | — | — | {r['error'].splitlines()[0]} |")
            continue
        pss = "—" if r.get("pss_bytes") is None else f"{r['pss_bytes'] / MIB:,.0f}"
        print(
            f"| {r['runner']} | {r['num_envs']} | {r['num_own_processes']} | {r['rss_bytes'] / MIB:,.0f} | {pss} | "
            f"{r['rss_bytes'] / MIB / r['num_envs']:,.1f} | {r['game_rss_bytes'] / MIB:,.0f} | {r['steps_per_s']:,.0f} |"
        )
    _plot(results, os.path.join(args.out, "memory.png"))
    vb = sorted((r["num_envs"], r) for r in results if r["runner"] == "vecbridge" and not r.get("error"))
    if len(vb) >= 2:
        (n0, r0), (n1, r1) = vb[0], vb[-1]
        grew = r1["num_own_processes"] - r0["num_own_processes"]
        slope = (r1["rss_bytes"] - r0["rss_bytes"]) / (n1 - n0) / MIB
        print(f"\nvecbridge from N={n0} to N={n1}: {grew:+d} own processes, {slope:+.2f} MiB of own RSS per added instance")
        with open(json_path) as f:
            data = json.load(f)
        data["summary"] = {"from": n0, "to": n1, "own_processes_added": grew, "own_rss_mib_per_instance": slope}
        with open(json_path, "w") as f:
            json.dump(data, f, indent=2)
    return 0


def _plot(results: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, (ax, axp) = plt.subplots(1, 2, figsize=(12, 4.5))
    for runner in dict.fromkeys(r["runner"] for r in results):
        pts = sorted((r["num_envs"], r) for r in results if r["runner"] == runner and not r.get("error"))
        if not pts:
            continue
        xs = [n for n, _ in pts]
        ax.plot(xs, [r["rss_bytes"] / MIB for _, r in pts], marker="o", label=f"{runner} RSS")
        if all(r.get("pss_bytes") is not None for _, r in pts):
            ax.plot(xs, [r["pss_bytes"] / MIB for _, r in pts], marker="x", linestyle="--", label=f"{runner} PSS")
        axp.plot(xs, [r["num_own_processes"] for _, r in pts], marker="o", label=runner)
    counts = sorted({r["num_envs"] for r in results})
    for a in (ax, axp):
        a.set_xscale("log", base=2)
        a.set_xticks(counts, [str(c) for c in counts])
        a.set_xlabel("instances")
        a.grid(True, alpha=0.3)
        a.legend(fontsize=8)
    ax.set_ylabel("MiB, runner's own processes (not the games)")
    ax.set_title("own resident memory")
    axp.set_ylabel("own processes")
    axp.set_title("own processes (parent + workers + reapers)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

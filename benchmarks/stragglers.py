"""Stragglers: one instance 10x slower than the rest; lockstep step() against send/recv with batch_size = N/2.

    python benchmarks/stragglers.py                  # N = 2,4,8,16; 3 runs of 3 s per case
    python benchmarks/stragglers.py --delay 0.001 --factor 20 --counts 4,8

Two scenarios over vecbridge/Echo-v0, each instance sleeping ``delay`` s per step:
``uniform`` (all alike) and ``straggler`` (instance 0 sleeps ``factor`` times longer:
game options ``slow_instances=[0]``, ``slow_factor``, ``delay_s``). The same can be run
by hand:

    vecbridge bench --env vecbridge/Echo-v0 -o delay_s=0.0005 -o slow_instances=[0] -o slow_factor=10 \
        --runners vecbridge,vecbridge-async --batch-size 0.5 --num-envs 2,4,8,16

Lockstep waits for the slowest instance every step, so it cannot beat N / (delay * factor)
steps/s; the async batch API returns the first N/2 ready instances and keeps the fast
ones busy. Writes benchmarks/results/stragglers-<scenario>-<delay>ms.json and .png.
"""

from __future__ import annotations

import argparse
import os
import sys

from vecbridge.bench import run_bench

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="2,4,8,16")
    parser.add_argument("--delay", type=float, default=0.0005, help="seconds every instance sleeps per step")
    parser.add_argument("--factor", type=float, default=10.0, help="the straggler sleeps this many times longer")
    parser.add_argument("--runners", default="vecbridge,vecbridge-async,floor")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.counts.split(",")]
    runners = args.runners.split(",")
    os.makedirs(args.out, exist_ok=True)
    scenarios = {
        "uniform": {"delay_s": args.delay},
        "straggler": {"delay_s": args.delay, "slow_instances": [0], "slow_factor": args.factor},
    }
    rates: dict[tuple[str, str, int], float | None] = {}
    for name, options in scenarios.items():
        print(f"\n## {name}: {options}\n", flush=True)
        report = run_bench(
            "vecbridge/Echo-v0", counts, runners, seconds=args.seconds, repeat=args.repeat, options=options,
            batch_size=0.5, markdown=True, extra={"scenario": name},
            json_path=os.path.join(args.out, f"stragglers-{name}-{args.delay * 1e3:g}ms.json"),
            plot_path=os.path.join(args.out, f"stragglers-{name}-{args.delay * 1e3:g}ms.png"),
            title=f"Echo, {name}: " + ", ".join(f"{k}={v}" for k, v in options.items()),
        )  # fmt: skip
        for r in report["results"]:
            rates[(name, r["runner"], r["num_envs"])] = r["steps_per_s"]

    def cell(v: float | None) -> str:
        return "—" if v is None else f"{v:,.0f}"

    print("\n## summary: env steps/s (median)\n")
    head = ["N", "lockstep bound N/(delay*factor)"]
    for name in scenarios:
        head += [f"{r} ({name})" for r in runners]
    have_ratio = {"vecbridge", "vecbridge-async"} <= set(runners)
    if have_ratio:
        head.append("async / lockstep, straggler")
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 1))
    for n in counts:
        row = [str(n), f"{n / (args.delay * args.factor):,.0f}"]
        for name in scenarios:
            row += [cell(rates.get((name, r, n))) for r in runners]
        if have_ratio:
            a, s = rates.get(("straggler", "vecbridge-async", n)), rates.get(("straggler", "vecbridge", n))
            row.append(f"{a / s:.1f}x" if a and s else "—")
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

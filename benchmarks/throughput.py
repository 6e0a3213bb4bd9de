"""Throughput: env steps/s of every runner across instance counts (the sweep behind `vecbridge bench`).

    python benchmarks/throughput.py                       # Echo 1..16 + EchoImage at 8, 3 x 3 s each
    python benchmarks/throughput.py --seconds 5 --repeat 5
    python benchmarks/throughput.py --only echo           # or: image

Writes benchmarks/results/throughput-<game>.json and .png and prints Markdown tables.
The same as, for the Echo sweep:

    vecbridge bench --env vecbridge/Echo-v0 --num-envs 1,2,4,8,16 \
        --runners vecbridge,vecbridge-async,gymnasium-async,gymnasium-sync,sb3-subproc,floor \
        --seconds 3 --repeat 3 --json out.json --plot out.png
"""

from __future__ import annotations

import argparse
import os
import sys

from vecbridge.bench import run_bench

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNERS = ["vecbridge", "vecbridge-async", "gymnasium-async", "gymnasium-sync", "sb3-subproc", "floor"]
SWEEPS = {
    "echo": ("vecbridge/Echo-v0", [1, 2, 4, 8, 16]),
    "image": ("vecbridge/EchoImage-v0", [8]),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runners", default=",".join(RUNNERS))
    parser.add_argument("--only", choices=sorted(SWEEPS), action="append")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--interleave", choices=("auto", "on", "off"), default="on",
                        help="runs of the runners turn about (default on: this sweep holds at most 96 instances)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    failed = False
    for key in args.only or list(SWEEPS):
        env, counts = SWEEPS[key]
        print(f"\n## {env}, N = {counts}\n", flush=True)
        report = run_bench(
            env, counts, args.runners.split(","), seconds=args.seconds, repeat=args.repeat, markdown=True,
            interleave=args.interleave, json_path=os.path.join(args.out, f"throughput-{key}.json"),
            plot_path=os.path.join(args.out, f"throughput-{key}.png"),
        )  # fmt: skip
        failed |= any(r.get("error") and not r["error"].startswith("unavailable") for r in report["results"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

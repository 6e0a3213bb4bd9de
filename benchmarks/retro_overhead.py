"""stable-retro through vecbridge against what its users do today, and against one emulator alone.

    python benchmarks/retro_overhead.py                       # N = 1, 2, 4; about 6 minutes on 2 cores
    python benchmarks/retro_overhead.py --num-envs 1,2 --seconds 2 --repeat 3 --json out.json

For each instance count N, four cases run side by side, each in its own process
(``vecbridge.bench``'s cases), launched and warmed up one after another, then their timed
runs taken turn about, round after round (``vecbridge.bench.schedule.run_interleaved``),
so that every round's ratios see the same machine:

* ``retro-alone``: one stable-retro emulator stepped in a loop in the case's process
  (``retro.make``, random buttons, reset at game over): the raw limit. Always N=1:
  stable-retro allows one emulator per process;
* ``vecbridge``: ``vecbridge.make("vecbridge/Airstriker-Genesis-v0", num_envs=N)``, lockstep ``step()``;
* ``retro-sb3-subproc``: SB3's ``SubprocVecEnv`` over N ``retro.make`` (what stable-retro's own
  PPO example does);
* ``retro-gymnasium-async``: Gymnasium's ``AsyncVectorEnv(shared_memory=True)`` over N ``retro.make``.

Every case steps the same env (``vecbridge.games.retro_game.make_env``: ``retro.make`` with
the same options), by default exactly ``retro.make("Airstriker-Genesis-v0")``: one frame per
step, the 224x320x3 screen as observation, MultiBinary(12) buttons. Reported: env steps/s
(median of the runs), the median per-round ratios, and CPU per step of all processes
(the runner's and the games': each env step costs an emulator frame wherever it runs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from vecbridge.bench.measure import CaseConfig, machine_info
from vecbridge.bench.schedule import run_interleaved

GAME = "vecbridge/Airstriker-Genesis-v0"
RUNNERS = ["retro-alone", "vecbridge", "retro-sb3-subproc", "retro-gymnasium-async"]


def paired(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """Median over rounds of a's steps/s divided by b's in the same round."""
    if a.get("error") or b.get("error") or not a["runs"] or len(a["runs"]) != len(b["runs"]):
        return None
    return statistics.median(x / y for x, y in zip(a["runs"], b["runs"]))


def cpu_us(r: dict[str, Any]) -> float | None:
    if r.get("error") or r["cpu_s_per_step"] is None:
        return None
    return (r["cpu_s_per_step"] + (r["game_cpu_s_per_step"] or 0.0)) * 1e6


def measure(n: int, options: dict[str, Any], seconds: float, repeat: int, warmup: float) -> dict[str, dict[str, Any]]:
    configs = [
        CaseConfig(runner=r, env=GAME, num_envs=1 if r == "retro-alone" else n, seconds=seconds, repeat=repeat,
                   warmup=warmup, options=options)  # fmt: skip
        for r in RUNNERS
    ]

    def progress(k: int, event: dict[str, Any]) -> None:
        if event["event"] == "run":
            print(f"  N={n} {RUNNERS[k]:22s} run {event['k'] + 1}: {event['steps_per_s']:8.0f} steps/s", flush=True)

    return {c.runner: r for c, r in zip(configs, run_interleaved(configs, progress))}


def table(rows: dict[int, dict[str, dict[str, Any]]]) -> str:
    def fmt(x: float | None, spec: str) -> str:
        return "failed" if x is None else format(x, spec)

    lines = [
        "| N | one emulator alone | vecbridge | SB3 SubprocVecEnv | Gymnasium AsyncVectorEnv "
        "| vecbridge / alone | vecbridge / SB3 | vecbridge / Async | CPU µs/step: alone, vecbridge, SB3, Async |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n, res in rows.items():
        rates = [fmt(res[r]["steps_per_s"], ",.0f") if not res[r].get("error") else "failed" for r in RUNNERS]
        ratios = [fmt(paired(res["vecbridge"], res[r]), ".2f") for r in RUNNERS if r != "vecbridge"]
        cpus = ", ".join(fmt(cpu_us(res[r]), ",.0f") for r in RUNNERS)
        lines.append(f"| {n} | " + " | ".join(rates + ratios) + f" | {cpus} |")
    return "\n".join(lines)


def vecbridge_split(rows: dict[int, dict[str, dict[str, Any]]]) -> str:
    """Where vecbridge's CPU per step goes: the caller's process against the game processes."""
    parts = []
    for n, res in rows.items():
        r = res["vecbridge"]
        if not r.get("error"):
            parts.append(f"N={n}: {r['cpu_s_per_step'] * 1e6:,.0f} in the caller, {r['game_cpu_s_per_step'] * 1e6:,.0f} "
                         f"in the games")  # fmt: skip
    return "vecbridge's CPU µs per step: " + "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", default="1,2,4", help="instance counts, comma-separated (default 1,2,4)")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one timed run (default 3)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of timed runs (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--frameskip", type=int, default=1, help="frames per env step (default 1, as retro.make)")
    parser.add_argument("--obs-type", default="image", choices=("image", "ram"))
    parser.add_argument("--json", type=Path, help="write every result here")
    args = parser.parse_args(argv)

    options = {"frameskip": args.frameskip, "sticky_action_prob": 0.0, "obs_type": args.obs_type}
    info = machine_info()
    print(f"load average before: {info['load_average_at_start']}; options {options}", flush=True)
    rows: dict[int, dict[str, dict[str, Any]]] = {}
    for n in (int(x) for x in args.num_envs.split(",")):
        rows[n] = measure(n, options, args.seconds, args.repeat, args.warmup)
        for name, r in rows[n].items():
            if r.get("error"):
                print(f"  N={n} {name}: {r['error'].splitlines()[0]}", file=sys.stderr)
    info["load_average_at_end"] = list(os.getloadavg())
    print(f"\nenv steps/s, total over N instances (median of {args.repeat} interleaved runs of {args.seconds:g} s); "
          f"ratios: medians of the per-round ratios")  # fmt: skip
    print(table(rows))
    print(vecbridge_split(rows))
    print(f"\nload average before {info['load_average_at_start']}, after {info['load_average_at_end']}; "
          f"{info['cores_logical']} cores")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "options": options, "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Two versions of vecbridge side by side: ``vecbridge bench`` on each, interleaved, as ratios.

    python benchmarks/compare_checkouts.py                       # 6424948 (before the core refactor) vs HEAD
    python benchmarks/compare_checkouts.py --old REV --new REV --rounds 6 --json out.json

Each git revision is exported (``git archive``) into a temporary folder and run from there
(``PYTHONPATH``), games included, so each side uses its own protocol code and clients. Per
round and game, the two sides run ``vecbridge bench --runners vecbridge`` one after the other
in alternating order (ABBA); the ratio new/old is taken per round (paired in time) and the
median over rounds is reported, with the range and the machine's load at each start. The
default pair is the core issue's question: the vector env before and after the refactor
(drivers, scheduler), on Echo and EchoImage at N = 8.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def export(rev: str, into: Path) -> Path:
    """The tree of ``rev`` as a folder importable with PYTHONPATH (vecbridge.launchers linked in)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "vecbridge" / "launchers").symlink_to("../launchers")
    return into


def bench(tree: Path, env: str, num_envs: int, repeat: int, seconds: float, out: Path) -> dict:
    cmd = [sys.executable, "-c", "import sys; from vecbridge.cli import main; sys.exit(main())", "bench",
           "--env", env, "--num-envs", str(num_envs), "--runners", "vecbridge", "--repeat", str(repeat),
           "--seconds", str(seconds), "--json", str(out), "--no-progress"]  # fmt: skip
    environ = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run(cmd, env=environ, cwd=tempfile.gettempdir(), check=True, stdout=subprocess.DEVNULL, timeout=900)
    data = json.loads(out.read_text())
    res = data["results"][0]
    return {"steps": res["steps_per_s"], "cpu_us": res["cpu_s_per_step"] * 1e6,
            "game_cpu_us": res["game_cpu_s_per_step"] * 1e6, "load": data["machine"]["load_average_at_start"][0]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--old", default="6424948", help="git revision of the baseline (default: before the core refactor)")
    p.add_argument("--new", default="HEAD", help="git revision to compare (default HEAD)")
    p.add_argument("--env", default="vecbridge/Echo-v0,vecbridge/EchoImage-v0")
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--repeat", type=int, default=3, help="timed runs inside each bench (their median is its figure)")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--json", help="write every measurement and the summary here")
    args = p.parse_args()
    envs = args.env.split(",")
    work = Path(tempfile.mkdtemp(prefix="vecbridge-ab-"))
    try:
        trees = {"old": export(args.old, work / "old"), "new": export(args.new, work / "new")}
        rows = []
        for r in range(args.rounds):
            for k, env in enumerate(envs):
                order = ["old", "new"] if (r + k) % 2 == 0 else ["new", "old"]
                for side in order:
                    row = bench(trees[side], env, args.num_envs, args.repeat, args.seconds, work / f"{side}-{r}-{k}.json")
                    rows.append({"round": r, "env": env, "side": side, **row})
                    print(json.dumps(rows[-1]), flush=True)
        summary = {}
        for env in envs:
            sel = {s: [x for x in rows if x["env"] == env and x["side"] == s] for s in ("old", "new")}
            ratios = [n["steps"] / o["steps"] for o, n in zip(sel["old"], sel["new"])]
            summary[env] = {
                "old_steps": statistics.median(x["steps"] for x in sel["old"]),
                "new_steps": statistics.median(x["steps"] for x in sel["new"]),
                "old_cpu_us": statistics.median(x["cpu_us"] for x in sel["old"]),
                "new_cpu_us": statistics.median(x["cpu_us"] for x in sel["new"]),
                "new_over_old": statistics.median(ratios), "range": [min(ratios), max(ratios)],
            }
            s = summary[env]
            print(f"{env} N={args.num_envs}: old {s['old_steps']:.0f} steps/s ({s['old_cpu_us']:.0f} us CPU/step), "
                  f"new {s['new_steps']:.0f} ({s['new_cpu_us']:.0f} us); new/old paired median {s['new_over_old']:.3f} "
                  f"[{s['range'][0]:.3f}..{s['range'][1]:.3f}]")
        loads = [round(x["load"], 1) for x in rows]
        print(f"1-minute load at each start: min {min(loads)}, median {statistics.median(loads)}, max {max(loads)}")
        if args.json:
            Path(args.json).write_text(json.dumps({"old": args.old, "new": args.new, "rows": rows, "summary": summary}, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

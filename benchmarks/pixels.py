"""Emulator screens at emulator speed: vecbridge against the emulator's own loop (the ``raw`` runner).

    python benchmarks/pixels.py                      # ~10 min on a quiet 2-core machine
    python benchmarks/pixels.py --seconds 2 --repeat 3 --counts 1

For FCEUX (``vecbridge/EscapeFromPong-v0``) and jsnes under Node
(``vecbridge/EscapeFromPongJS-v0``), with the screen (uint8 240x256x3, sent in the
emulator's own pixel format), the screen preprocessed to 84x84 grayscale by vecbridge, and the
RAM (uint8 2048) as observation, at 1 and 2
instances: ``vecbridge bench`` with the ``vecbridge`` and ``raw`` runners, interleaved run
by run, medians. The ratio vecbridge / raw is the share of the emulator's own speed that
reaches the caller of ``step()``. Writes benchmarks/results/pixels.json (with the load
average before and after) and prints one table.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

from vecbridge.bench import run_bench

ENVS = {"FCEUX": "vecbridge/EscapeFromPong-v0", "jsnes": "vecbridge/EscapeFromPongJS-v0"}
OBSERVATIONS = ("image", "ram", "gray84")
# what each observation asks of the game and of vecbridge; raw takes the same screenshot for gray84,
# and vecbridge's 84x84 grayscale (OpenCV, in the instance group) is timed against it
OPTIONS = {
    "image": {"observation_type": "image"},
    "ram": {"observation_type": "ram"},
    "gray84": {"observation_type": "image", "preprocess": "gray,resize=84x84"},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--counts", default="1,2")
    parser.add_argument("--backends", default=",".join(ENVS), help=f"comma-separated: {', '.join(ENVS)}")
    parser.add_argument("--observations", default=",".join(OBSERVATIONS))
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "pixels.json")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    backends = args.backends.split(",")
    unknown = [b for b in backends if b not in ENVS]
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(ENVS)}")
    rows, reports = [], []
    for backend in backends:
        for obs in args.observations.split(","):
            report = run_bench(
                ENVS[backend], counts, ["vecbridge", "raw"], seconds=args.seconds, repeat=args.repeat,
                options=OPTIONS[obs], progress=False, interleave="on", out=io.StringIO(),
            )  # fmt: skip
            reports.append({"backend": backend, "observation": obs, **report})
            by = {(r["runner"], r["num_envs"]): r for r in report["results"]}
            for n in counts:
                vb, raw = by.get(("vecbridge", n)), by.get(("raw", n))
                paired = _paired_ratio(vb, raw)
                rows.append((backend, obs, n, vb and vb["steps_per_s"], raw and raw["steps_per_s"], paired,
                             vb and vb["cpu_s_per_step"], vb and vb["game_cpu_s_per_step"], raw and raw["game_cpu_s_per_step"]))  # fmt: skip
                print(_row(rows[-1]), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": [list(r) for r in rows], "reports": reports}, indent=1, default=str))
    print(
        "\n| backend | observation | N | vecbridge steps/s | raw steps/s | vecbridge / raw (pairs: lowest–highest) | Python µs/step | "
        "game CPU µs/step (vecbridge) | game CPU µs/step (raw) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(_row(r))
    load = [rep["machine"].get("load_average_at_start") for rep in reports]
    print(f"\nload average at the start of each sweep: {load}; at the end: {os.getloadavg()}")
    return 0


def _paired_ratio(vb: dict | None, raw: dict | None) -> tuple[float, float, float] | None:
    """Median, lowest and highest of the run-by-run ratios (the runs were interleaved, so run k
    of each saw the same machine); the range shows how much one ratio is worth here."""
    if not vb or not raw or not vb["runs"] or not raw["runs"]:
        return None
    pairs = sorted(a / b for a, b in zip(vb["runs"], raw["runs"]) if b)
    return (pairs[len(pairs) // 2], pairs[0], pairs[-1]) if pairs else None


def _row(r: tuple) -> str:
    def num(v, scale=1.0, fmt="{:,.0f}"):
        return "–" if v is None else fmt.format(v * scale)

    backend, obs, n, vb, raw, ratio, py, game_vb, game_raw = r
    ratio_text = "–" if ratio is None else f"{ratio[0]:.2f}x ({ratio[1]:.2f}–{ratio[2]:.2f})"
    return (
        f"| {backend} | {obs} | {n} | {num(vb)} | {num(raw)} | {ratio_text} | {num(py, 1e6)} | "
        f"{num(game_vb, 1e6)} | {num(game_raw, 1e6)} |"
    )


if __name__ == "__main__":
    sys.exit(main())

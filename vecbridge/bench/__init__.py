"""Benchmarks: env steps per second of vecbridge against the alternatives, over the same game processes.

``vecbridge bench`` (or ``python -m vecbridge.bench``) runs a sweep; in Python::

    from vecbridge.bench import run_bench
    report = run_bench("vecbridge/Echo-v0", counts=[1, 2, 4, 8], runners=["vecbridge", "floor"], seconds=3)

See ``benchmarks/README.md`` for what each runner is and how to read the numbers.
"""

from vecbridge.bench import ray_runners, retro_runners  # noqa: F401  (add the Ray and stable-retro runners to RUNNERS)
from vecbridge.bench.cli import add_parser, cmd_bench, main, run_bench

__all__ = ["add_parser", "cmd_bench", "main", "run_bench"]

"""``vecbridge bench``: env steps per second for a game, across runners and instance counts.

Wire it into the ``vecbridge`` command with ``add_parser(subparsers)``; run it alone
with ``python -m vecbridge.bench``. In Python: :func:`run_bench`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Sequence, TextIO

from vecbridge.keyvalue import nonnegative_int, parse_pairs, positive_float, positive_int

DEFAULT_COUNTS = "1,2,4,8,16"


def _counts(text: str) -> list[int]:
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated instance counts like 1,2,4,8, got {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"instance counts must be at least 1, got {text!r}")
    return counts


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _batch_size(text: str) -> float:
    """An absolute batch size (``4``) or a fraction of the instance count (``0.5``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--batch-size takes an integer or a fraction of num_envs, got {text!r}") from None
    if value <= 0 or ("." not in text and value != int(value)):
        raise argparse.ArgumentTypeError(f"--batch-size must be positive, got {text!r}")
    return int(value) if "." not in text else value


def resolve_batch_size(spec: float | int | None, num_envs: int) -> int | None:
    if spec is None:
        return None
    if isinstance(spec, float):
        return max(1, min(num_envs, int(round(spec * num_envs))))
    return max(1, min(num_envs, int(spec)))


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from vecbridge.bench.runners import DEFAULT_RUNNERS, RUNNERS

    parser.add_argument("--env", default=None, type=_names,
                        help="game(s), comma-separated: registered ids, MODULE:ENV_ID or MODULE:ATTRIBUTE (default: "
                             "vecbridge/Echo-v0, unless the game's command follows --)")
    parser.add_argument("--num-envs", "-n", default=_counts(DEFAULT_COUNTS), type=_counts,
                        help=f"instance counts to sweep, comma-separated (default: {DEFAULT_COUNTS})")
    parser.add_argument("--runners", "-r", default=list(DEFAULT_RUNNERS), type=_names,
                        help=f"comma-separated, from: {', '.join(RUNNERS)} (default: {','.join(DEFAULT_RUNNERS)})")
    parser.add_argument("--seconds", type=positive_float, default=5.0, help="length of one timed run (default 5)")
    parser.add_argument("--repeat", type=positive_int, default=3,
                        help="timed runs per case; the median is reported (default 3)")
    parser.add_argument("--warmup", type=float, default=None, help="untimed seconds before the runs (default: min(1, --seconds))")
    parser.add_argument("--batch-size", type=_batch_size, default=None,
                        help="recv() batch of vecbridge-async (and pufferlib): an integer, or a fraction of N "
                             "(default: N/2 for vecbridge-async, N for pufferlib); one larger than N is taken as N")
    parser.add_argument("--num-workers", type=nonnegative_int, default=None,
                        help="worker processes for vecbridge (and pufferlib)")
    parser.add_argument("--preprocess", metavar="SPEC", default=None,
                        help="image preprocessing (e.g. gray,resize=84x84,stack=4) for the runners that do it "
                             "(vecbridge*, gymnasium-async, ray); raw runs on raw frames, the limit it is timed "
                             "against; the others are reported unavailable")
    parser.add_argument("--option", "-o", action="append", metavar="KEY=VALUE",
                        help="a game option (JSON value), repeatable, e.g. -o slow_instances=[0] -o delay_s=0.0005")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", help="write the results here (JSON)")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG plot of steps/s against instance count here")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--interleave", choices=("auto", "on", "off"), default="auto",
                        help="measure the runners of one instance count turn about, run by run, so that a drifting "
                             "machine affects them alike (auto: when they hold at most "
                             "64 instances together; off: each case whole, one after another)")
    parser.add_argument("--case-timeout", type=positive_float, default=None,
                        help="seconds one case may take in all (default: generous, from N and the run lengths)")
    parser.add_argument("--title", default=None, help="plot title")
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``bench`` to the ``vecbridge`` command's subparsers; it runs :func:`cmd_bench`."""
    parser = subparsers.add_parser(
        "bench",
        help="measure env steps/s across runners (vecbridge, Gymnasium, SB3, the no-framework floor) and instance counts",
        description=__doc__.splitlines()[0],
    )
    configure(parser)
    parser.set_defaults(func=cmd_bench)
    return parser


def cmd_bench(args: argparse.Namespace) -> int:
    from vecbridge.bench.runners import RUNNERS
    from vecbridge.game_ref import UnknownGame, command_game, resolve_game

    unknown = [r for r in args.runners if r not in RUNNERS]
    if unknown:
        print(f"unknown runner(s) {unknown}; known: {', '.join(RUNNERS)}", file=sys.stderr)
        return 2
    command = getattr(args, "command", [])
    games: list[Any] = [command_game(command)] if command else []
    for text in args.env if args.env is not None else ([] if command else ["vecbridge/Echo-v0"]):
        try:
            game = resolve_game(text)
        except UnknownGame as exc:
            print(f"vecbridge bench: {exc}", file=sys.stderr)
            return 2
        if isinstance(game, str) and game != text:  # MODULE:ENV_ID: its module registered it here, not in the runners
            from vecbridge.registry import resolve_spec

            game = resolve_spec(game)
        games.append(game if isinstance(game, str) else (text, game))  # a spec keeps the name it was given
    args.env = games
    if args.repeat < 1 or args.seconds <= 0:
        print("--repeat must be at least 1 and --seconds positive", file=sys.stderr)
        return 2
    try:
        report = _run_from_args(args)
    except KeyboardInterrupt:
        return 130
    failed = [r for r in report["results"] if r.get("error") and not str(r["error"]).startswith("unavailable")]
    return 1 if failed else 0


def _run_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return run_bench(
        envs=args.env,
        counts=args.num_envs,
        runners=args.runners,
        seconds=args.seconds,
        repeat=args.repeat,
        warmup=args.warmup,
        options={**parse_pairs(args.option, "--option"), **({"preprocess": args.preprocess} if args.preprocess else {})},
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        seed=args.seed,
        json_path=args.json,
        plot_path=args.plot,
        progress=not args.no_progress,
        markdown=args.markdown,
        case_timeout=args.case_timeout,
        title=args.title,
        interleave=args.interleave,
    )


def run_bench(
    envs: Sequence[Any] | str = "vecbridge/Echo-v0",
    counts: Sequence[int] = (1, 2, 4, 8, 16),
    runners: Sequence[str] | None = None,
    *,
    seconds: float = 5.0,
    repeat: int = 3,
    warmup: float | None = None,
    options: dict[str, Any] | None = None,
    batch_size: float | int | None = None,
    num_workers: int | None = None,
    seed: int = 0,
    json_path: str | None = None,
    plot_path: str | None = None,
    progress: bool = True,
    markdown: bool = False,
    case_timeout: float | None = None,
    title: str | None = None,
    out: TextIO | None = None,
    extra: dict[str, Any] | None = None,
    interleave: str = "auto",
) -> dict[str, Any]:
    """Run every (game, instance count, runner) case, each in a fresh process; the report dict.

    ``envs``: games, each a registered id, a text form of :func:`vecbridge.game_ref.resolve_game`
    (``"my_games:maze_spec"``), a :class:`~vecbridge.LaunchSpec` (``vecbridge.python_game(...)``
    included) or a ``(label, LaunchSpec)`` pair. A spec travels to each case's process as JSON.

    Cases run instance count by instance count, every runner at one count before the
    next count. Within one count the runners' timed runs are interleaved (see
    :mod:`vecbridge.bench.schedule`), so that slow drift of a shared machine affects them
    alike. The JSON file (if any) is rewritten after every count, so an interrupted run
    keeps its results.
    """
    from vecbridge.bench.measure import CaseConfig, machine_info
    from vecbridge.bench.report import Progress, format_tables, plot, ratio_rows, write_json
    from vecbridge.bench.runners import DEFAULT_RUNNERS
    from vecbridge.bench.schedule import run_interleaved, run_sequential, should_interleave

    out = out or sys.stdout
    games = [_labelled(game) for game in ([envs] if isinstance(envs, str) else list(envs))]
    envs = [label for label, _ in games]
    runners = list(runners or DEFAULT_RUNNERS)
    warmup = min(1.0, seconds) if warmup is None else warmup
    options = dict(options or {})
    report: dict[str, Any] = {
        "machine": machine_info(),
        "config": {
            "envs": envs, "num_envs": list(counts), "runners": runners, "seconds": seconds, "repeat": repeat,
            "warmup": warmup, "options": options, "batch_size": batch_size, "num_workers": num_workers, "seed": seed,
            "interleave": interleave, **(extra or {}),
        },  # fmt: skip
        "results": [],
    }
    groups = [
        [
            CaseConfig(runner=r, env=e, num_envs=n, seconds=seconds, repeat=repeat, warmup=warmup, options=options,
                       batch_size=resolve_batch_size(batch_size, n), num_workers=num_workers, seed=seed,
                       spec=spec)  # fmt: skip
            for r in runners
        ]
        for e, spec in games
        for n in counts
    ]
    total = sum(len(g) for g in groups)
    per_case = 2 + repeat  # started, warmed, one per run
    bar = Progress(total * per_case, enabled=progress)
    restore = _stop_on_sigterm()
    interrupted = False
    first = 0  # index of the group's first case among all cases
    try:
        for group in groups:
            handlers = [_progress_handler(bar, first + k, total, per_case, case) for k, case in enumerate(group)]
            interleaved = should_interleave(interleave, runners, group[0].num_envs)
            if interleaved:
                results = run_interleaved(group, lambda k, event: handlers[k](event))
            else:
                results = [run_sequential(case, handlers[k], timeout=case_timeout) for k, case in enumerate(group)]
            for k, (case, result) in enumerate(zip(group, results)):
                result["interleaved"] = interleaved
                report["results"].append(result)
                bar.set((first + k + 1) * per_case)
                bar.message(_summary(case, result))
            first += len(group)
            report["ratios"] = ratio_rows(report["results"])
            if json_path:
                write_json(json_path, report)
    except KeyboardInterrupt:
        interrupted = True
        report["interrupted"] = True
        bar.message(f"interrupted after {len(report['results'])} of {total} cases")
    finally:
        restore()
        bar.close()
        try:
            report["machine"]["load_average_at_end"] = list(os.getloadavg())
        except OSError:
            pass
        if json_path:
            write_json(json_path, report)
    out.write("\n" + format_tables(report["results"], markdown=markdown, spread=markdown))
    out.flush()
    if plot_path and report["results"]:
        plot(report["results"], plot_path, title)
    if interrupted:
        raise KeyboardInterrupt
    return report


def _labelled(game: Any) -> tuple[str, dict[str, Any] | None]:
    """(label, the spec as JSON or None for a registered id) of one entry of ``envs``."""
    import dataclasses

    from vecbridge.game_ref import game_label, resolve_game
    from vecbridge.launch.spec import LaunchSpec

    label = None
    if isinstance(game, tuple):
        label, game = game
    elif isinstance(game, str):
        label, game = game, resolve_game(game)
    if isinstance(game, str):
        return game, None
    if not isinstance(game, LaunchSpec):
        raise TypeError(f"run_bench: a game is a registered id, a name resolve_game knows or a LaunchSpec, got {game!r}")
    return label or game_label(game), dataclasses.asdict(game)


def _progress_handler(bar: Any, index: int, total: int, per_case: int, case: Any):
    label = f"{case.runner} N={case.num_envs} ({index + 1}/{total})"
    base = index * per_case

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "started":
            bar.set(base + 1, f"{label}: warm-up")
        elif event["event"] == "warmed":
            bar.set(base + 2, f"{label}: warmed up")
        elif event["event"] == "run":
            done = event["k"] + 1
            bar.set(base + 2 + done, f"{label}: run {done}/{case.repeat} ({event['steps_per_s']:,.0f} steps/s)")

    return on_event


def _summary(case: Any, result: dict[str, Any]) -> str:
    if result.get("error"):
        first = str(result["error"]).strip().splitlines()[0]
        return f"{case.env} {case.runner:16s} N={case.num_envs:<4d} {first}"
    return (
        f"{case.env} {case.runner:16s} N={case.num_envs:<4d} {result['steps_per_s']:>10,.0f} steps/s"
        f"  cpu {result['cpu_s_per_step'] * 1e6:7.1f} µs/step  rss {result['rss_bytes'] / 2**20:7.0f} MiB"
    )


def _stop_on_sigterm():
    """While the sweep runs, SIGTERM stops it like Ctrl-C: the running case closes its games first."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = configure(argparse.ArgumentParser(prog="python -m vecbridge.bench", description=__doc__.splitlines()[0]))
    return cmd_bench(parser.parse_args(argv))

"""The ``vecbridge`` command: list, run, check."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from typing import Any, Sequence

import numpy as np

from vecbridge.errors import UsageError
from vecbridge.keyvalue import nonnegative_int, parse_pairs, positive_float, positive_int


def _spec_from(args: argparse.Namespace):
    """The game the arguments name (vecbridge.game_ref): a registered id or a LaunchSpec; one line if none."""
    from dataclasses import replace

    from vecbridge.game_ref import game_argument, resolve_or_exit
    from vecbridge.registry import resolve_spec

    spec = resolve_or_exit(args.cmd, game_argument(args.cmd, args.game, args.command, args.framing))
    if args.step_timeout is not None:
        spec = replace(resolve_spec(spec), step_timeout=args.step_timeout)
    return spec


def cmd_list(args: argparse.Namespace) -> int:
    from vecbridge.registry import registered_ids, resolve_spec

    for game_id in registered_ids():
        try:
            spec = resolve_spec(game_id)
            command = shlex.join(spec.shown_argv())  # as a shell would take it; {name}: a per-instance value
        except Exception as exc:  # e.g. an emulator that is not installed: say so, list the rest
            command = f"(unavailable here: {exc})"
        print(f"{game_id:34s} {command}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Random-policy rollout across N instances: throughput and episode returns."""
    import vecbridge
    from vecbridge.game_ref import game_label

    spec = _spec_from(args)
    started = time.monotonic()
    envs = vecbridge.make(spec, num_envs=args.num_envs, num_workers=args.num_workers, preprocess=args.preprocess,
                          run_dir=args.run_dir, **parse_pairs(args.option, "--option"))  # fmt: skip
    try:
        workers = "driven from this process" if envs.num_workers == 0 else f"{envs.num_workers} worker process(es)"
        print(f"launched {envs.num_envs} instance(s) of {envs.game_name or game_label(spec)} in {time.monotonic() - started:.2f} s "
              f"({workers})")  # fmt: skip
        print(f"observation {envs.single_observation_space}, action {envs.single_action_space}")
        envs.reset(seed=args.seed)
        envs.action_space.seed(args.seed)
        returns, running = [], np.zeros(envs.num_envs)
        steps, failures, t0 = 0, 0, time.monotonic()
        while time.monotonic() - t0 < args.seconds:
            _, rew, term, trunc, info = envs.step(envs.action_space.sample())
            running += rew
            done = term | trunc
            failed = info.get("_vecbridge_error", np.zeros(envs.num_envs, dtype=bool))
            # an episode an instance failure cut short (truncated, its instance relaunched) is no return
            returns.extend(running[done & ~failed].tolist())
            running[done | failed] = 0
            steps += envs.num_envs
            for i in np.flatnonzero(failed):
                failures += 1
                print(f"warning: {info['vecbridge_error'][i]}", file=sys.stderr)
        elapsed = time.monotonic() - t0
        print(f"{steps} steps in {elapsed:.1f} s: {steps / elapsed:,.0f} steps/s across {envs.num_envs} instances")
        if returns:
            print(f"{len(returns)} episodes, random-policy return {np.mean(returns):.2f} ± {np.std(returns):.2f}")
        if failures:
            print(f"{failures} instance failure(s): their episodes were cut short and are not counted (warnings above)")
            return 1
    finally:
        envs.close()
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    import vecbridge
    from vecbridge.testing import check_game, check_vector_env

    spec = _spec_from(args)
    options = parse_pairs(args.option, "--option")
    # with --run-dir: the single instance's folder in DIR/single, the vector env's in DIR/vector
    where = (lambda part: None) if args.run_dir is None else (lambda part: os.path.join(args.run_dir, part))
    report = check_game(spec, steps=args.steps, seed=args.seed, deterministic=not args.nondeterministic,
                        run_dir=where("single"), **options)  # fmt: skip
    print(report.format())
    if not report.ok:
        return 1
    envs = vecbridge.make(spec, num_envs=args.num_envs, run_dir=where("vector"), **options)
    try:
        vreport = check_vector_env(envs, steps=args.steps // 2, seed=args.seed, subject=f"{args.num_envs} instances as a vector env")
    finally:
        envs.close()
    print(vreport.format())
    return 0 if vreport.ok else 1


GAME_HELP = ("a registered id (vecbridge/Catch-v0), MODULE:ENV_ID (a module that registers ENV_ID), MODULE:ATTRIBUTE "
             "(a LaunchSpec, a function returning one, or a gymnasium.Env class); or, after '--', the command that "
             "launches one instance (placeholders: {python} {port} {instance} {token} ...)")


class _Parser(argparse.ArgumentParser):
    """No abbreviations: ``--timestep 100`` is refused, not read as ``--timesteps`` (its subcommands too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vecbridge", description="Step many instances of an external game as one Gymnasium vector env.")
    sub = parser.add_subparsers(dest="cmd", required=True)

    sub.add_parser("list", help="list the registered games").set_defaults(func=cmd_list)

    def game_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("game", nargs="?", help=GAME_HELP)
        p.add_argument("--option", "-o", action="append", metavar="KEY=VALUE", help="a game option (JSON value), repeatable")
        p.add_argument("--framing", default="auto", choices=["auto", "binary", "comm", "websocket"],
                       help="the wire framing of a game given after -- (default auto: read from its first bytes)")
        p.add_argument("--seed", type=int, default=0, help="seed of instance 0; instance i gets seed + i (default 0)")
        p.add_argument("--step-timeout", type=positive_float, metavar="S",
                       help="seconds an instance may take to answer one request before it counts as hung "
                            "(default: the game's, 30-60 s)")
        p.add_argument("--run-dir", metavar="DIR",
                       help="keep the instances' folders and logs here (default: a temporary folder, removed on exit)")

    run = sub.add_parser("run", help="run N instances with random actions; print throughput and returns")
    game_args(run)
    run.add_argument("--num-envs", "-n", type=positive_int, default=8)
    run.add_argument("--num-workers", type=nonnegative_int, default=None,
                     help="worker processes (0: none, the sockets are driven from this process)")
    run.add_argument("--seconds", type=positive_float, default=10.0, help="how long to step (default 10)")
    run.add_argument("--preprocess", metavar="SPEC", help="image preprocessing, e.g. gray,resize=84x84,maxpool,stack=4")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="check a game against the protocol and the vector env contract")
    game_args(check)
    check.add_argument("--steps", type=positive_int, default=100, help="steps of each stepping check (default 100)")
    check.add_argument("--num-envs", "-n", type=positive_int, default=2)
    check.add_argument("--nondeterministic", action="store_true", help="skip the same-seed check")
    check.set_defaults(func=cmd_check)

    # Training needs the sb3 extra; these imports stay light until a command runs.
    from vecbridge.sb3.evaluate import add_parser as add_eval_parser
    from vecbridge.sb3.train import add_parser as add_train_parser

    add_train_parser(sub)
    add_eval_parser(sub)

    from vecbridge.bench import add_parser as add_bench_parser

    add_bench_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in argv:  # everything after -- is the game's own command line
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1 :]
    args = build_parser().parse_args(argv)
    args.command = command
    try:
        return args.func(args)
    except KeyboardInterrupt:  # Ctrl-C: every game is closed on the way out; a line, not a traceback
        print(f"\nvecbridge {args.cmd}: interrupted", file=sys.stderr)
        return 130
    except UsageError as exc:  # a setting of the user's: its one line says which and the fix
        if _traceback_wanted():
            raise
        print(exc, file=sys.stderr)
        return 1
    except Exception as exc:
        if not _is_user_facing(exc) or _traceback_wanted():
            raise
        # vecbridge's own errors already say which instance, what was expected and what came,
        # and where the log is: the message is the answer, a traceback through vecbridge is noise
        print(f"vecbridge {args.cmd}: {type(exc).__name__}: {exc}", file=sys.stderr)
        log = getattr(exc, "log_path", None)
        if log and not os.path.exists(log):  # the run folder was a temporary one, removed on exit
            print("(that log was in a temporary run folder, removed on exit: to keep the games' folders and logs, run "
                  "the game with `vecbridge run GAME --run-dir DIR` or `vecbridge.make(..., run_dir=DIR)`"
                  + ("; train's own --run-dir is the training run's folder)" if args.cmd == "train" else ")"),
                  file=sys.stderr)  # fmt: skip
        print("(VECBRIDGE_TRACEBACK=1 shows where it was raised)", file=sys.stderr)
        return 1


def _traceback_wanted() -> bool:
    return os.environ.get("VECBRIDGE_TRACEBACK", "").strip().lower() not in ("", "0", "no", "false", "off")


def _is_user_facing(exc: BaseException) -> bool:
    """An error vecbridge raised on purpose (a game that failed, a bad spec), not a bug; or the
    operating system's about a path or a limit of the user's (a read-only folder, too many open files)."""
    from vecbridge.errors import VecBridgeError
    from vecbridge.transforms.base import PreprocessError

    return isinstance(exc, (VecBridgeError, PreprocessError, OSError))


if __name__ == "__main__":
    sys.exit(main())

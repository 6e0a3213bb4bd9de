"""``vecbridge train``: stable-baselines3 PPO across N instances of a game.

    vecbridge train vecbridge/Catch-v0 --num-envs 8 --timesteps 50000
    vecbridge train vecbridge/Catch-v0 --ppo learning_rate=1e-3 --ppo n_steps=64 --config ppo.json
    vecbridge train vecbridge/Catch-v0 --timesteps 100000 --resume runs/Catch-v0-.../checkpoints/rl_model_40000_steps.zip

A run writes ``<runs-dir>/<game>-<timestamp>/``: ``config.json``, ``progress.csv`` (one row
per episode), ``tensorboard/``, ``checkpoints/``, ``model.zip`` (and ``vecnormalize.pkl``
with ``--normalize`` or ``--normalize-reward``) and ``learning_curve.png``.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from vecbridge.errors import UsageError
from vecbridge.launch.folders import hold
from vecbridge.keyvalue import nonnegative_int, parse_pairs, positive_int
from vecbridge.sb3.algos import ALGOS, algo_class, algo_of
from vecbridge.sb3.run_config import check_run_dir, current_torch_threads, saved_config, write_config
from vecbridge.sb3.common import (  # fmt: skip
    VECNORMALIZE_FILE, check_backend, check_ppo_keys, describe_limit, episode_limit, find_vecnormalize,
    frame_stack_for, frame_stack_of, load_config, new_run_dir, normalize_of, policy_for, refused_settings,
    remove_if_empty, require_sb3, run_dir_of, saved_hyperparameters, saved_model, vecnormalize_for,
)

#: PPO hyperparameters that differ from stable-baselines3's defaults, per policy.
#: Vector observations: SB3's defaults, with n_steps scaled so that a rollout holds about
#: 2048 steps whatever the number of instances. Images: SB3 zoo's Atari settings.
IMAGE_DEFAULTS = {"n_steps": 128, "n_epochs": 4, "batch_size": 256, "learning_rate": 2.5e-4,
                  "clip_range": 0.1, "vf_coef": 0.5, "ent_coef": 0.01}  # fmt: skip

_ACTIVATIONS = {"tanh": "Tanh", "relu": "ReLU", "elu": "ELU", "leaky_relu": "LeakyReLU", "gelu": "GELU", "silu": "SiLU"}


def default_ppo_kwargs(policy: str, num_envs: int) -> dict[str, Any]:
    if policy == "CnnPolicy":
        return dict(IMAGE_DEFAULTS)
    return {"n_steps": max(16, 2048 // num_envs)}


def _resolve(kwargs: dict[str, Any]) -> dict[str, Any]:
    """JSON-friendly PPO kwargs to real ones (activation names to torch classes)."""
    out = dict(kwargs)
    pk = out.get("policy_kwargs")
    if isinstance(pk, dict) and isinstance(pk.get("activation_fn"), str):
        import torch.nn as nn

        name = pk["activation_fn"]
        cls = getattr(nn, _ACTIVATIONS.get(name.lower(), name), None)
        if cls is None:
            raise UsageError(f"unknown activation_fn {name!r}; use one of {sorted(_ACTIVATIONS)} or a torch.nn class name")
        pk = {**pk, "activation_fn": cls}
    if isinstance(pk, dict) and isinstance(pk.get("features_extractor_class"), str):
        from vecbridge.sb3.cnn import extractor_class

        pk = {**pk, "features_extractor_class": extractor_class(pk["features_extractor_class"])}
    if pk is not None:
        out["policy_kwargs"] = pk
    return out


@dataclass
class TrainResult:
    run_dir: Path
    model_path: Path
    num_timesteps: int
    policy: str
    episodes: int
    recent_return: float
    files: dict[str, Path] = field(default_factory=dict)
    interrupted: bool = False
    steps_per_second: float = 0.0  # this session's training steps over its wall time (games, inference, updates)
    comparison: Any = None  # vecbridge.sb3.compare.Comparison, with eval_episodes


def train(
    game: Any,
    *,
    num_envs: int = 8,
    timesteps: int = 200_000,
    seed: int | None = 0,
    ppo: dict[str, Any] | None = None,
    config: str | Path | None = None,
    runs_dir: str | Path = "runs",
    run_dir: str | Path | None = None,
    resume: str | Path | None = None,
    checkpoint_freq: int = 50_000,
    frame_stack: int | None = None,
    normalize: bool | str = False,
    max_episode_steps: int | None = None,
    preprocess: Any = None,
    game_options: dict[str, Any] | None = None,
    num_workers: int | None = None,
    device: str | None = None,
    torch_threads: int | None = None,
    backend: str = "vecbridge",
    ray_address: str | None = None,
    progress: bool = True,
    tensorboard: bool = True,
    eval_episodes: int = 0,
    algo: str = "ppo",
    out: Any = None,
) -> TrainResult:
    """Train PPO on ``num_envs`` instances of ``game`` until ``timesteps`` steps in total.

    ``ppo`` (then ``config``, a JSON/YAML file) override the default hyperparameters.
    ``resume`` continues from a checkpoint or saved model: its step count carries over
    (``timesteps`` is the total to reach), as do its hyperparameters (``ppo`` entries are
    applied on top when loading), its frame stack and its VecNormalize statistics; the run
    continues in the checkpoint's run folder unless ``run_dir`` is given.

    ``normalize``: True, VecNormalize the observations and the rewards (vector observations);
    ``"reward"``, the rewards alone.

    ``max_episode_steps``: the episode step limit (0: none; None: the game's registered one, or
    the resumed run's). ``preprocess``: image preprocessing (a spec such as
    ``"gray,resize=84x84,maxpool,stack=4"``; a resumed run keeps its own). ``frame_stack``:
    frames SB3's ``VecFrameStack`` stacks for an image policy (default 4, or 1 with
    ``preprocess``: stack there with ``stack=N``).

    ``eval_episodes``: after training, evaluate the random policy and the trained one
    (deterministic and stochastic) on that many episodes each, the same way
    (:mod:`vecbridge.sb3.compare`); the table is printed and written to ``eval.json``.
    ``algo``: ``"ppo"``, or ``"maskable-ppo"`` (sb3-contrib) for a game that sends action masks.
    """
    require_sb3("vecbridge train")
    check_backend(backend, ray_address, num_workers)
    if resume is not None and algo == "ppo":
        algo = algo_of(resume)  # a resumed run keeps its algorithm
    PPO = algo_class(algo)  # noqa: N806 (the algorithm's class: PPO or MaskablePPO)
    from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback

    import stable_baselines3
    import vecbridge
    from vecbridge.sb3.adapter import make_sb3_env
    from vecbridge.sb3.common import wrap
    from vecbridge.sb3.progress import ProgressCallback, plot_learning_curve, rewind
    from vecbridge.transforms import Pipeline

    out = out or sys.stdout
    overrides = {**(load_config(config) if config else {}), **(ppo or {})}
    check_ppo_keys(overrides)
    from vecbridge.game_ref import game_label, resolve_or_exit

    label = game_label(game)  # how config.json (and eval) name the game: as it was given
    resolved = resolve_or_exit("train", game)  # an unknown game fails here, before a run folder is made
    if resume is not None:
        resume = saved_model(resume, "vecbridge train: --resume")
    resumed_run = run_dir_of(resume) if resume is not None else None
    before = saved_config(resumed_run / "config.json") if resumed_run is not None else {}
    limit, limit_source = episode_limit(resolved, max_episode_steps, before)
    pipeline = Pipeline.of(preprocess if preprocess is not None else before.get("preprocess"))  # a bad spec fails here
    frame_stack = frame_stack_for(pipeline, frame_stack)
    if run_dir is not None:
        check_run_dir(run := Path(run_dir), resumed_run)
        made = [p for p in (run, *run.parents) if not p.exists()]  # removed again (if empty) when nothing starts
        run.mkdir(parents=True, exist_ok=True)
    elif resumed_run is not None:
        run, made = resumed_run, []
    else:
        made = [] if Path(runs_dir).exists() else [Path(runs_dir)]
        run = new_run_dir(runs_dir, game)
        made.insert(0, run)
    lock = hold(run)  # two trainings at once in one folder would mix their progress rows and models (a trial did)
    unmake = functools.partial(remove_if_empty, *made)  # the folders this run made, removed while still empty
    files = {
        "config": run / "config.json",
        "progress": run / "progress.csv",
        "checkpoints": run / "checkpoints",
        "tensorboard": run / "tensorboard",
        "model": run / "model.zip",
        "learning_curve": run / "learning_curve.png",
    }
    tb_dir: str | None = None
    if tensorboard:
        try:
            import tensorboard as _tb  # noqa: F401

            tb_dir = str(files["tensorboard"])
        except ImportError:
            print("warning: tensorboard is not installed; no TensorBoard logs (pip install tensorboard)", file=sys.stderr)

    print(describe_limit(limit, limit_source), file=out)
    if pipeline:
        print(f"preprocessing: {pipeline}", file=out)
    where = {"backend": backend, **({"ray_address": ray_address} if ray_address else {})}  # the Ray backend: instances in actors
    try:
        venv = make_sb3_env(resolved, num_envs, max_episode_steps=limit, num_workers=num_workers,
                            preprocess=pipeline or None, **where, **(game_options or {}))  # fmt: skip
    except BaseException:
        os.close(lock)
        unmake()  # still empty: the game did not start, no run happened
        raise
    env: Any = venv
    try:
        policy = policy_for(venv.observation_space)
        if device is None:
            device = "auto" if policy == "CnnPolicy" else "cpu"  # small MLPs are faster on the CPU
        if torch_threads is None and policy != "CnnPolicy" and device == "cpu":
            # A small MLP gains nothing from threads, and the games need the cores: measured
            # 4-5x faster PPO updates with 1 thread than torch's default on 2 busy cores.
            torch_threads = 1
        if torch_threads:
            import torch

            torch.set_num_threads(torch_threads)
        if resume is not None:
            from stable_baselines3.common.save_util import load_from_zip_file

            saved, _, _ = load_from_zip_file(str(resume), device="cpu")
            stats = vecnormalize_for(resume)
            with refused_settings(f"vecbridge train: --resume {resume} does not fit this game or its settings", unmake,
                                  fix="resume with the game, game options and preprocessing it was trained with"
                                  + (f" ({resumed_run / 'config.json'})" if resumed_run else "")):  # fmt: skip
                stack = frame_stack_of(saved["observation_space"], venv.observation_space)
                env = wrap(venv, frame_stack=stack, normalize=stats or False)  # (VecNormalize asserts on other spaces)
                model = PPO.load(str(resume), env=env, device=device, custom_objects=_resolve(overrides) or None,
                                 tensorboard_log=tb_dir)  # fmt: skip
            if normalize and normalize != normalize_of(find_vecnormalize(env)):
                print("note: --normalize/--normalize-reward do not apply to a resumed run; it keeps its own "
                      f"({normalize_of(find_vecnormalize(env)) or 'no normalization'})", file=out)  # fmt: skip
            if seed is not None:
                model.set_random_seed(seed + model.num_timesteps)  # a resumed run must not replay its first episodes
            normalize, frame_stack = normalize_of(find_vecnormalize(env)), stack
            ppo_kwargs = saved_hyperparameters(model)
        else:
            env = wrap(venv, frame_stack=frame_stack, normalize=normalize)
            ppo_kwargs = {**default_ppo_kwargs(policy, num_envs), **overrides}
            with refused_settings("vecbridge train: PPO refused its settings (--ppo, --config)", unmake):
                model = PPO(policy, env, seed=seed, device=device, tensorboard_log=tb_dir, verbose=0, **_resolve(ppo_kwargs))
        done_before = model.num_timesteps
        remaining = max(0, int(timesteps) - done_before)
        if remaining > 0 or not files["config"].exists():  # a resume with nothing to do keeps the run's config
            write_config(files["config"], game=label, num_envs=num_envs, timesteps=timesteps, seed=seed, policy=policy,
                         ppo=ppo_kwargs, frame_stack=frame_stack if policy == "CnnPolicy" else None, normalize=normalize,
                         max_episode_steps=limit, preprocess=str(pipeline), game_options=game_options or {}, resume=resume,
                         device=str(model.device), torch_threads=current_torch_threads(), backend=backend, algo=algo,
                         versions={"vecbridge": vecbridge.__version__,
                                   "stable_baselines3": stable_baselines3.__version__})  # fmt: skip
        print(f"run folder {run}", file=out)
        print(f"{policy} on {num_envs} instance(s) of {getattr(venv.venv, 'game_name', '') or game}: "
              f"observation {venv.observation_space}, action {venv.action_space}", file=out)  # fmt: skip
        if resume is not None:
            print(f"resuming from {resume} at {done_before} steps", file=out)
            for note in rewind(run, done_before):
                print(note, file=out)
        tracker = ProgressCallback(files["progress"], show=progress)
        callbacks = [tracker]
        if checkpoint_freq and checkpoint_freq > 0:
            callbacks.append(CheckpointCallback(save_freq=max(1, checkpoint_freq // num_envs), save_path=str(files["checkpoints"]),
                                                name_prefix="rl_model", save_vecnormalize=True))  # fmt: skip
        if tb_dir is None:
            # Without a log folder SB3 would create an empty /tmp/SB3-<time> folder: give it a logger that writes nothing.
            from stable_baselines3.common.logger import Logger

            model.set_logger(Logger(folder=None, output_formats=[]))
        started = time.monotonic()
        interrupted = False
        if remaining > 0:
            try:
                model.learn(remaining, callback=CallbackList(callbacks), reset_num_timesteps=resume is None,
                            tb_log_name="PPO", progress_bar=False)  # fmt: skip
            except KeyboardInterrupt:
                interrupted = True
                tracker.close()
                print("\ninterrupted: saving the model as it is", file=out)
        else:
            print(f"nothing to do: the model has {done_before} steps, --timesteps is {timesteps} (the total to reach)", file=out)
        elapsed = time.monotonic() - started
        model.save(str(files["model"]))
        vn = find_vecnormalize(env)
        if vn is not None:
            vn.save(str(run / VECNORMALIZE_FILE))
            files["vecnormalize"] = run / VECNORMALIZE_FILE
        plot_learning_curve(files["progress"], files["learning_curve"], title=f"PPO on {game} ({num_envs} instances)")
        steps = model.num_timesteps - done_before
        rate = steps / elapsed if elapsed > 0 else 0.0
        print(f"{steps} steps in {elapsed:.1f} s ({rate:,.0f} steps/s), {model.num_timesteps} in total; "
              f"{tracker.summary()}{' (interrupted)' if interrupted else ''}", file=out)  # fmt: skip
        result = TrainResult(run, files["model"], model.num_timesteps, policy, tracker.episodes, tracker.mean_return(),
                             files, interrupted, rate)  # fmt: skip
    finally:
        env.close()  # before any evaluation: its instances need the cores
        os.close(lock)
    from vecbridge.sb3.compare import compare_with_random, print_where

    if eval_episodes > 0 and not interrupted:
        result.comparison = compare_with_random(resolved, files["model"], episodes=eval_episodes, num_envs=num_envs,
                                                seed=seed, num_workers=num_workers, out=out)  # fmt: skip
    print_where(result, out)
    return result


# ---------------------------------------------------------------- command line
def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``train`` to ``vecbridge``'s subcommands."""
    p = subparsers.add_parser("train", help="train stable-baselines3 PPO across N instances of a game",
                              description=__doc__.replace("``", ""), formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("game", nargs="?", help="a registered id (vecbridge/Catch-v0), MODULE:ENV_ID, MODULE:ATTRIBUTE "
                   "(a LaunchSpec, a function returning one, or a gymnasium.Env class); or the game's command after --")
    p.add_argument("--num-envs", "-n", type=positive_int, default=8, help="game instances (default 8)")
    p.add_argument("--timesteps", "-t", type=positive_int, default=200_000, help="total steps to train to (default 200000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ppo", action="append", metavar="KEY=VALUE", help="a PPO hyperparameter (JSON value), repeatable; "
                   "overrides --config, e.g. --ppo learning_rate=1e-3 --ppo 'policy_kwargs={\"net_arch\": [64, 64]}'")
    p.add_argument("--config", metavar="FILE", help="PPO hyperparameters as a JSON (or YAML) mapping; a run's config.json works too")
    p.add_argument("--runs-dir", default="runs", help="where run folders are created (default runs/)")
    p.add_argument("--run-dir", help="use exactly this run folder (default: <runs-dir>/<game>-<timestamp>, or the "
                   "checkpoint's run folder with --resume)")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue from a checkpoint or model.zip (--timesteps stays the total)")
    p.add_argument("--checkpoint-freq", type=nonnegative_int, default=50_000, help="save a checkpoint every N steps (default 50000; 0: never)")
    p.add_argument("--frame-stack", type=positive_int, help="frames SB3's VecFrameStack gives an image policy (default 4; "
                   "1 with --preprocess, whose stack=N does it)")
    p.add_argument("--preprocess", metavar="SPEC", help="image preprocessing, e.g. gray,resize=84x84,maxpool,stack=4 "
                   "(steps: gray, crop=WxH+X+Y, resize=WxH, maxpool, stack=N)")
    norm = p.add_mutually_exclusive_group()
    norm.add_argument("--normalize", action="store_true", help="VecNormalize observations and rewards (vector observations)")
    norm.add_argument("--normalize-reward", action="store_true", help="VecNormalize the rewards alone (any observation, "
                   "images and one-hot boards included)")
    p.add_argument("--max-episode-steps", type=nonnegative_int, help="end episodes truncated after this many steps; 0: no limit "
                   "(default: the game's registered limit)")
    p.add_argument("--option", "-o", action="append", metavar="KEY=VALUE", help="a game option (JSON value), repeatable")
    p.add_argument("--num-workers", type=nonnegative_int, help="vecbridge worker processes (default: none up to 4 cores, else one per 4)")
    p.add_argument("--backend", choices=["vecbridge", "ray"], default="vecbridge",
                   help="where the instances run: this machine (default), or Ray actors across a cluster's nodes")
    p.add_argument("--ray-address", help="with --backend ray: the cluster to join (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--algo", choices=sorted(ALGOS), default="ppo",
                   help="ppo, or maskable-ppo (sb3-contrib) for a game that sends action masks (2048, a processor's getInvalidActions)")
    p.add_argument("--device", help="torch device (default: cpu for vector observations, auto for images)")
    p.add_argument("--torch-threads", type=positive_int,
                   help="torch CPU threads (default: 1 for an MLP policy on the CPU, whose games need the cores; "
                        "torch's choice otherwise)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-tensorboard", action="store_true", help="no TensorBoard logs")
    p.add_argument("--eval-episodes", type=nonnegative_int, default=0, metavar="K",
                   help="after training, evaluate the random policy and the trained one (deterministic and stochastic) "
                        "on K episodes each, the same way, and print the table (default 0: none)")
    p.set_defaults(func=run_cli)
    return p


def run_cli(args: argparse.Namespace) -> int:
    from vecbridge.game_ref import game_argument
    from vecbridge.sb3.stop_signal import sigterm_as_interrupt

    with sigterm_as_interrupt() as stop:  # `kill`/`timeout`/a scheduler's SIGTERM saves the model as Ctrl-C does
        result = train(
            game_argument("train", args.game, getattr(args, "command", [])),
            num_envs=args.num_envs,
            timesteps=args.timesteps,
            seed=args.seed,
            ppo=parse_pairs(args.ppo, "--ppo"),
            config=args.config,
            runs_dir=args.runs_dir,
            run_dir=args.run_dir,
            resume=args.resume,
            checkpoint_freq=args.checkpoint_freq,
            frame_stack=args.frame_stack,
            normalize=True if args.normalize else ("reward" if args.normalize_reward else False),
            max_episode_steps=args.max_episode_steps,
            preprocess=args.preprocess,
            game_options=parse_pairs(args.option, "--option"),
            num_workers=args.num_workers,
            device=args.device,
            torch_threads=args.torch_threads,
            backend=args.backend,
            ray_address=args.ray_address,
            progress=not args.no_progress,
            tensorboard=not args.no_tensorboard,
            eval_episodes=args.eval_episodes,
            algo=args.algo,
        )
    return 128 + stop.signum if stop.signum else (130 if result.interrupted else 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vecbridge")
    add_parser(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(["train", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

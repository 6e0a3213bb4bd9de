"""``vecbridge eval``: K episodes of a trained model (or a random policy); mean and standard deviation of the return.

    vecbridge eval vecbridge/Catch-v0 --model runs/Catch-v0-.../model.zip --episodes 20 --deterministic
    vecbridge eval vecbridge/Catch-v0 --random --episodes 20                  # the random-policy baseline
    vecbridge eval vecbridge/Catch-v0 --model model.zip --frames frames/     # PNGs of one episode
    vecbridge eval vecbridge/Catch-v0 --model model.zip --video episode.mp4  # .mp4 (imageio-ffmpeg) or .gif
    vecbridge eval GAME --model model.zip --policy-view seen.png             # a grid of what the policy sees

Episodes are spread over the instances as stable-baselines3's ``evaluate_policy`` does
(instance i plays ``(K + i) // N`` of them), so short episodes are not over-counted.
Every episode ends: the step limit comes from ``--max-episode-steps``, else the training
run's ``config.json``, else the game's registration; it is printed first, and each
episode is reported as it ends. The model's preprocessing, frame stack and VecNormalize
statistics (``vecnormalize.pkl`` beside ``model.zip``, or the checkpoint's own) are
applied as in training.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from vecbridge.errors import UsageError
from vecbridge.keyvalue import nonnegative_int, parse_pairs, positive_int
from vecbridge.sb3.algos import acting, algo_class, algo_of
from vecbridge.sb3.run_config import has_run_config, run_config_for
from vecbridge.sb3.common import (
    describe_limit,
    episode_limit,
    find_vecnormalize,
    frame_stack_of,
    saved_model,
    summarize,
    vecnormalize_for,
)

Policy = Callable[[Any], np.ndarray]


class EpisodeDone(NamedTuple):
    """One counted episode, as ``run_episodes`` reports it."""

    number: int  # 1-based, in the order episodes ended
    total: int
    instance: int
    ret: float
    length: int
    truncated: bool  # ended by a time limit (``TimeLimit.truncated``), not by the game


@dataclass
class EvalResult:
    returns: list[float]
    lengths: list[int]
    deterministic: bool
    frames: list[np.ndarray] = field(default_factory=list, repr=False)
    saved: list[Path] = field(default_factory=list)
    max_episode_steps: int | None = None
    limit_source: str = ""
    truncated: int = 0  # episodes ended by the step limit
    frames_recorded: int = 0  # the game's frames written (--video, --frames)
    vecnormalize: Path | None = None  # the VecNormalize statistics the observations were normalized with

    @property
    def mean(self) -> float:
        return summarize(self.returns)[0]

    @property
    def std(self) -> float:
        return summarize(self.returns)[1]

    def format(self, what: str = "policy") -> str:
        if not self.returns:
            return f"no episode finished ({what})"
        cut = f"; {self.truncated} cut by the {self.max_episode_steps}-step limit" if self.truncated else ""
        n = len(self.returns)
        return (f"{n} episode{'s' if n != 1 else ''}, {what}: return mean {self.mean:.3f} ± std {self.std:.3f} "
                f"(min {min(self.returns):.3g}, max {max(self.returns):.3g}, mean length {np.mean(self.lengths):.1f}{cut})")  # fmt: skip


def random_policy(action_space: Any, num_envs: int, seed: int | None = None) -> Policy:
    """Uniformly random actions for every instance (``action_space`` is one instance's)."""
    space = action_space
    space.seed(seed)

    def act(obs: Any) -> np.ndarray:
        return np.stack([np.asarray(space.sample()) for _ in range(num_envs)])

    return act


def model_policy(model: Any, deterministic: bool, env: Any = None) -> Policy:
    """``model``'s actions (a MaskablePPO model's within the masks ``env``'s game sends)."""
    return acting(model, env, deterministic)


def run_episodes(env: Any, policy: Policy, episodes: int, *, record: bool = False, max_steps: int | None = None,
                 recorder: Any = None, frame: Callable[[], Any] | None = None,
                 on_episode: Callable[[EpisodeDone], None] | None = None) -> tuple[list[float], list[int], list[np.ndarray]]:  # fmt: skip
    """Play ``episodes`` episodes on an SB3 ``VecEnv``; the returns, lengths and (``record``) frames of instance 0's first episode.

    Returns come from ``info["episode"]`` when a ``VecMonitor`` is in the stack (the game's
    own rewards, even under ``VecNormalize``), else from the rewards ``step`` returns.
    Instance ``i`` plays ``(episodes + i) // num_envs`` episodes, as in SB3's ``evaluate_policy``.
    ``record`` frames come from ``env.get_images()`` (``render_mode="rgb_array"``); with SB3's
    same-step reset the last frame shown is the one before the final step. ``recorder``
    (an :class:`~vecbridge.sb3.recording.EpisodeRecorder`) gets, at each step of that episode,
    ``frame()`` and the observation the policy acts on. ``on_episode`` hears of each episode
    as it ends. ``max_steps`` stops after that many vector steps, whatever is unfinished.
    """
    n = env.num_envs
    targets = np.array([(episodes + i) // n for i in range(n)], dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    running = np.zeros(n, dtype=np.float64)
    lengths_now = np.zeros(n, dtype=np.int64)
    returns: list[float] = []
    lengths: list[int] = []
    frames: list[np.ndarray] = []
    recording = record or recorder is not None
    obs = env.reset()
    steps = 0
    while (counts < targets).any():
        if recording:
            if record:
                image = env.get_images()[0]
                if image is None:
                    record = False
                else:
                    frames.append(np.asarray(image).copy())
            if recorder is not None:
                recorder.add(frame() if frame is not None else None, _first(obs))
        obs, rewards, dones, infos = env.step(policy(obs))
        running += rewards
        lengths_now += 1
        steps += 1
        for i in np.flatnonzero(dones).tolist():
            if counts[i] < targets[i]:
                episode = infos[i].get("episode")
                returns.append(float(episode["r"]) if episode else float(running[i]))
                lengths.append(int(episode["l"]) if episode else int(lengths_now[i]))
                counts[i] += 1
                if on_episode is not None:
                    on_episode(EpisodeDone(len(returns), episodes, i, returns[-1], lengths[-1],
                                           bool(infos[i].get("TimeLimit.truncated", False))))  # fmt: skip
            if i == 0:
                recording = False
            running[i] = 0.0
            lengths_now[i] = 0
        if max_steps is not None and steps >= max_steps:
            break
    return returns, lengths, frames


def _first(obs: Any) -> Any:
    return obs[0] if isinstance(obs, np.ndarray) else None


def evaluate(
    game: Any,
    *,
    model: Any = None,
    random: bool = False,
    episodes: int = 20,
    deterministic: bool = False,
    num_envs: int = 4,
    seed: int | None = 0,
    frames_dir: str | Path | None = None,
    video: str | Path | None = None,
    policy_view: str | Path | None = None,
    max_episode_steps: int | None = None,
    preprocess: Any = None,
    game_options: dict[str, Any] | None = None,
    run_config: dict[str, Any] | None = None,
    num_workers: int | None = None,
    device: str = "cpu",
    progress: bool = False,
    out: Any = None,
) -> EvalResult:
    """Play ``episodes`` episodes of ``game`` with ``model`` (a path or a loaded SB3 model) or, with
    ``random=True``, uniformly random actions.

    ``run_config``: the training run's settings (None: the ``config.json`` beside a model given
    by path, if it was trained on this game). ``max_episode_steps``: the episode step limit (0:
    none; None: the training run's, else the game's registered one). ``preprocess``: the image
    preprocessing (a spec such as ``"gray,resize=84x84,stack=4"``; None: the training run's).
    ``game_options``: None: the training run's. With ``progress``, the limit and each
    finished episode are printed to ``out`` (stderr).
    """
    from vecbridge.game_ref import game_label, resolve_or_exit
    from vecbridge.sb3.adapter import make_sb3_env
    from vecbridge.sb3.common import channels_first, is_image, wrap
    from vecbridge.sb3.recording import EpisodeRecorder, ObservationTap, game_frame
    from vecbridge.transforms import Pipeline

    out = out or sys.stderr
    if run_config is None:
        named = isinstance(game, str) or hasattr(game, "command")  # an id or a LaunchSpec: what config.json names
        run_config = run_config_for(model, game_label(game), out) if named and isinstance(model, (str, Path)) else {}
    game = resolve_or_exit("eval", game)
    if (model is None) == (not random):
        which = "not both" if random else "one of them"
        raise UsageError(f"vecbridge eval: give a model (--model PATH) or ask for the random policy (--random), {which}")
    if episodes < 1:
        raise UsageError(f"--episodes must be at least 1, got {episodes}")
    config = run_config or {}
    if game_options is None:
        game_options = config.get("game_options") or {}
    limit, source = episode_limit(game, max_episode_steps, config)
    pipeline = Pipeline.of(preprocess if preprocess is not None else config.get("preprocess"))
    num_envs = max(1, min(num_envs, episodes))
    render = frames_dir is not None or video is not None
    if progress:
        print(describe_limit(limit, source), file=out)
        if pipeline:
            print(f"preprocessing: {pipeline}", file=out)
    venv = make_sb3_env(game, num_envs, max_episode_steps=limit, num_workers=num_workers,
                        render_mode="rgb_array" if render else None, preprocess=pipeline or None,
                        **(game_options or {}))  # fmt: skip
    env: Any = venv
    stats = None
    try:
        tap = ObservationTap(venv)
        if random:
            env = wrap(tap, frame_stack=1)
            policy = random_policy(venv.action_space, num_envs, seed)
        else:
            model_file = model if isinstance(model, (str, Path)) else None
            if model_file is not None:
                stats = vecnormalize_for(model)
                model = algo_class(algo_of(model)).load(str(model), device=device)
            other_game = not config and has_run_config(model_file)
            hint = "" if config else (" (its run trained on another game: see the note above)" if other_game else
                                      " (no config.json of its run beside the model: give the run's --preprocess)")
            try:
                stack = frame_stack_of(model.observation_space, venv.observation_space)
            except ValueError as exc:
                raise UsageError(f"vecbridge eval: {exc}{hint}") from None
            try:
                env = wrap(tap, frame_stack=stack, normalize=stats or False, training=False)
            except (AssertionError, ValueError) as exc:  # VecNormalize statistics of other spaces (SB3 asserts)
                raise UsageError(f"vecbridge eval: the model expects observations {model.observation_space}, the game "
                                 f"gives {venv.observation_space} ({exc})") from None
            if stats is not None and not find_vecnormalize(env).norm_obs:
                stats = None  # the run normalized its rewards alone: observations go to the policy as they are
            if env.observation_space != model.observation_space:
                raise UsageError(f"vecbridge eval: the model expects observations {model.observation_space}, "
                                 f"the game gives {env.observation_space} after wrapping{hint}")  # fmt: skip
            policy = model_policy(model, deterministic, env)
        recorder = None
        if render or policy_view is not None:
            if policy_view is not None and not is_image(env.observation_space):
                raise UsageError(f"--policy-view needs image observations; the policy sees {env.observation_space}")
            first = policy_view is not None and channels_first(env.observation_space)
            recorder = EpisodeRecorder(video=video, frames_dir=frames_dir, policy_view=policy_view,
                                       frame_channels=_frame_channels(venv.observation_space, pipeline),
                                       channels_first=first, fps=float(venv.metadata.get("render_fps", 30) or 30))  # fmt: skip
        if seed is not None:
            env.seed(seed)

        def report(done: EpisodeDone) -> None:
            cut = " (cut by the step limit)" if done.truncated and limit and done.length >= limit else ""
            print(f"episode {done.number}/{done.total} (instance {done.instance}): return {done.ret:.4g}, "
                  f"{done.length} steps{cut}", file=out, flush=True)  # fmt: skip

        truncated = [0]

        def on_episode(done: EpisodeDone) -> None:
            truncated[0] += bool(done.truncated and limit and done.length >= limit)
            if progress:
                report(done)

        try:
            returns, lengths, _ = run_episodes(env, policy, episodes, recorder=recorder, on_episode=on_episode,
                                               frame=lambda: game_frame(env, tap, render))  # fmt: skip
        except KeyboardInterrupt:
            if recorder is not None and recorder.frame_count:  # a whole file of what was recorded, not a broken one
                saved = recorder.close()
                print(f"\ninterrupted: the frames recorded so far are in {' and '.join(map(str, saved))}", file=out)
            raise
        result = EvalResult(returns, lengths, deterministic and not random, max_episode_steps=limit,
                            limit_source=source, truncated=truncated[0], vecnormalize=stats)  # fmt: skip
        if recorder is not None:
            result.saved += recorder.close()
            result.frames_recorded = recorder.frame_count
        return result
    finally:
        env.close()


def _frame_channels(space: Any, pipeline: Any) -> int:
    """Channels of one frame in what the policy sees: the game's frames, or the pipeline's before its stack."""
    from vecbridge.sb3.common import channels_first, is_image

    if not is_image(space):
        return 1
    channels = space.shape[0] if channels_first(space) else space.shape[-1]
    return max(1, channels // pipeline.stack_size) if pipeline else channels


# ---------------------------------------------------------------- command line
def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``eval`` to ``vecbridge``'s subcommands."""
    p = subparsers.add_parser("eval", help="evaluate a trained model: mean and std of the episode return",
                              description=__doc__.replace("``", ""), formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("game", nargs="?", help="a registered id (vecbridge/Catch-v0), MODULE:ENV_ID, MODULE:ATTRIBUTE "
                   "(a LaunchSpec, a function returning one, or a gymnasium.Env class); or the game's command after --")
    p.add_argument("--model", "-m", help="a model.zip or checkpoint from vecbridge train")
    p.add_argument("--random", action="store_true", help="evaluate uniformly random actions instead (a baseline)")
    p.add_argument("--episodes", "-k", type=positive_int, default=20, help="episodes to play (default 20)")
    p.add_argument("--deterministic", action="store_true", help="take the most likely action (default: sample)")
    p.add_argument("--num-envs", "-n", type=positive_int, default=4, help="instances playing in parallel (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", metavar="DIR", help="save instance 0's first episode as PNG frames (the game's own)")
    p.add_argument("--video", metavar="FILE", help="save that episode as a video: .mp4 (imageio-ffmpeg) or .gif")
    p.add_argument("--policy-view", metavar="PNG", help="save a grid of what the policy sees in that episode "
                   "(rows: moments of the episode; columns: its stacked frames, oldest first)")
    p.add_argument("--max-episode-steps", type=nonnegative_int, help="end episodes truncated after this many steps; 0: no limit "
                   "(default: the training run's, from its config.json, else the game's registered limit)")
    p.add_argument("--preprocess", metavar="SPEC", help="image preprocessing, e.g. gray,resize=84x84,stack=4 "
                   "(default: the training run's)")
    p.add_argument("--option", "-o", action="append", metavar="KEY=VALUE", help="a game option (JSON value), repeatable; "
                   "the training run's game options (config.json) apply unless overridden")
    p.add_argument("--quiet", "-q", action="store_true", help="no line per episode")
    p.add_argument("--num-workers", type=nonnegative_int, help="vecbridge worker processes (default: none up to 4 cores, else one per 4)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(func=run_cli)
    return p


VIDEO_SUFFIXES = (".gif", ".mp4", ".mkv", ".webm", ".avi", ".mov")


def run_cli(args: argparse.Namespace) -> int:
    from vecbridge.game_ref import game_argument, game_label

    game = game_argument("eval", args.game, getattr(args, "command", []))
    if args.model:
        saved_model(args.model, "vecbridge eval: --model")  # before any game starts
    if args.video and Path(args.video).suffix.lower() not in VIDEO_SUFFIXES:
        raise UsageError(f"vecbridge eval: --video: {args.video} is no video file name; end it in "
                         f"{', '.join(VIDEO_SUFFIXES)} (.mp4 and the others need imageio-ffmpeg)")  # fmt: skip
    config = run_config_for(args.model, game_label(game), sys.stderr)
    options = {**(config.get("game_options") or {}), **parse_pairs(args.option, "--option")}
    result = evaluate(
        game,
        model=args.model,
        random=args.random,
        episodes=args.episodes,
        deterministic=args.deterministic,
        num_envs=args.num_envs,
        seed=args.seed,
        frames_dir=args.frames,
        video=args.video,
        policy_view=args.policy_view,
        max_episode_steps=args.max_episode_steps,
        preprocess=args.preprocess,
        game_options=options,
        run_config=config,
        num_workers=args.num_workers,
        device=args.device,
        progress=not args.quiet,
    )
    kind = "deterministic" if args.deterministic else "stochastic"
    if result.vecnormalize is not None:
        print(f"observations normalized with the statistics in {result.vecnormalize}")
    print(result.format("random policy" if args.random else f"{kind} policy {args.model}"))
    if args.frames:
        print(f"{result.frames_recorded} frames in {args.frames}")
    if args.video:
        print(f"video {args.video}")
    if args.policy_view:
        print(f"policy view {args.policy_view}")
    return 0 if result.returns else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vecbridge")
    add_parser(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(["eval", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""``vecbridge eval``: K episodes of a trained model (or a random policy); mean and standard deviation of the return.

    vecbridge eval vecbridge/Catch-v0 --model runs/Catch-v0-.../model.zip --episodes 20 --deterministic
    vecbridge eval vecbridge/Catch-v0 --random --episodes 20                  # the random-policy baseline
    vecbridge eval vecbridge/Catch-v0 --model model.zip --frames frames/     # PNGs of one episode
    vecbridge eval vecbridge/Catch-v0 --model model.zip --video episode.gif  # .gif with Pillow; .mp4 needs imageio[ffmpeg]

Episodes are spread over the instances as stable-baselines3's ``evaluate_policy`` does
(instance i plays ``(K + i) // N`` of them), so short episodes are not over-counted.
The model's frame stack and VecNormalize statistics (``vecnormalize.pkl`` beside
``model.zip``, or the checkpoint's own) are applied as in training.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from vecbridge.keyvalue import parse_pairs
from vecbridge.sb3.common import frame_stack_of, summarize, vecnormalize_for

Policy = Callable[[Any], np.ndarray]


@dataclass
class EvalResult:
    returns: list[float]
    lengths: list[int]
    deterministic: bool
    frames: list[np.ndarray] = field(default_factory=list, repr=False)
    saved: list[Path] = field(default_factory=list)
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
        return (f"{len(self.returns)} episodes, {what}: return mean {self.mean:.3f} ± std {self.std:.3f} "
                f"(min {min(self.returns):.3g}, max {max(self.returns):.3g}, mean length {np.mean(self.lengths):.1f})")  # fmt: skip


def random_policy(action_space: Any, num_envs: int, seed: int | None = None) -> Policy:
    """Uniformly random actions for every instance (``action_space`` is one instance's)."""
    space = action_space
    space.seed(seed)

    def act(obs: Any) -> np.ndarray:
        return np.stack([np.asarray(space.sample()) for _ in range(num_envs)])

    return act


def model_policy(model: Any, deterministic: bool) -> Policy:
    def act(obs: Any) -> np.ndarray:
        return model.predict(obs, deterministic=deterministic)[0]

    return act


def run_episodes(env: Any, policy: Policy, episodes: int, *, record: bool = False, max_steps: int | None = None) -> tuple[list[float], list[int], list[np.ndarray]]:
    """Play ``episodes`` episodes on an SB3 ``VecEnv``; the returns, lengths and (``record``) frames of instance 0's first episode.

    Returns come from ``info["episode"]`` when a ``VecMonitor`` is in the stack (the game's
    own rewards, even under ``VecNormalize``), else from the rewards ``step`` returns.
    Instance ``i`` plays ``(episodes + i) // num_envs`` episodes, as in SB3's ``evaluate_policy``.
    Frames come from ``env.get_images()`` (``render_mode="rgb_array"``); with SB3's
    same-step reset the last frame shown is the one before the final step.
    """
    n = env.num_envs
    targets = np.array([(episodes + i) // n for i in range(n)], dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    running = np.zeros(n, dtype=np.float64)
    lengths_now = np.zeros(n, dtype=np.int64)
    returns: list[float] = []
    lengths: list[int] = []
    frames: list[np.ndarray] = []
    recording = record
    obs = env.reset()
    steps = 0
    while (counts < targets).any():
        if recording:
            image = env.get_images()[0]
            if image is None:
                recording = False
            else:
                frames.append(np.asarray(image).copy())
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
            if i == 0:
                recording = False
            running[i] = 0.0
            lengths_now[i] = 0
        if max_steps is not None and steps >= max_steps:
            break
    return returns, lengths, frames


def save_frames(frames: Sequence[np.ndarray], folder: str | Path) -> list[Path]:
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, frame in enumerate(frames):
        path = folder / f"frame_{k:05d}.png"
        Image.fromarray(_rgb(frame)).save(path)
        paths.append(path)
    return paths


def save_video(frames: Sequence[np.ndarray], path: str | Path, fps: float = 30) -> Path:
    """A .gif (Pillow) or, where imageio is installed, any format imageio writes (.mp4 needs imageio-ffmpeg)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not frames:
        raise SystemExit("no frames to write (does the game render? it needs render_mode='rgb_array')")
    if path.suffix.lower() == ".gif":
        from PIL import Image

        images = [Image.fromarray(_rgb(f)) for f in frames]
        images[0].save(path, save_all=True, append_images=images[1:], duration=max(1, int(1000 / fps)), loop=0)
        return path
    try:
        import imageio.v2 as imageio
    except ImportError:
        raise SystemExit(f"writing {path.suffix} needs imageio (pip install imageio imageio-ffmpeg); "
                         f"use a .gif name or --frames DIR instead") from None  # fmt: skip
    imageio.mimsave(str(path), [_rgb(f) for f in frames], fps=fps)
    return path


def _rgb(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    if frame.ndim == 3 and frame.shape[-1] == 1:
        frame = frame[..., 0]
    return frame


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
    max_episode_steps: int | None = None,
    game_options: dict[str, Any] | None = None,
    num_workers: int | None = None,
    device: str = "cpu",
) -> EvalResult:
    """Play ``episodes`` episodes of ``game`` with ``model`` (a path or a loaded SB3 model) or, with
    ``random=True``, uniformly random actions."""
    from vecbridge.game_ref import resolve_or_exit
    from vecbridge.sb3.adapter import make_sb3_env
    from vecbridge.sb3.common import wrap

    game = resolve_or_exit("eval", game)
    if (model is None) == (not random):
        raise SystemExit("give a model (--model PATH) or ask for the random policy (--random), not both")
    if episodes < 1:
        raise SystemExit(f"--episodes must be at least 1, got {episodes}")
    num_envs = max(1, min(num_envs, episodes))
    record = frames_dir is not None or video is not None
    venv = make_sb3_env(game, num_envs, max_episode_steps=max_episode_steps, num_workers=num_workers,
                        render_mode="rgb_array" if record else None, **(game_options or {}))  # fmt: skip
    env: Any = venv
    stats = None
    try:
        if random:
            env = wrap(venv, frame_stack=1)
            policy = random_policy(venv.action_space, num_envs, seed)
        else:
            if isinstance(model, (str, Path)):
                from stable_baselines3 import PPO

                stats = vecnormalize_for(model)
                model = PPO.load(str(model), device=device)
            env = wrap(venv, frame_stack=frame_stack_of(model.observation_space, venv.observation_space),
                       normalize=stats or False, training=False)  # fmt: skip
            if env.observation_space != model.observation_space:
                raise SystemExit(f"the model expects observations {model.observation_space}, the game gives "
                                 f"{env.observation_space} after wrapping")  # fmt: skip
            policy = model_policy(model, deterministic)
        if seed is not None:
            env.seed(seed)
        returns, lengths, frames = run_episodes(env, policy, episodes, record=record)
        result = EvalResult(returns, lengths, deterministic and not random, frames, vecnormalize=stats)
        fps = float(venv.metadata.get("render_fps", 30) or 30)
        if frames_dir is not None:
            result.saved += save_frames(frames, frames_dir)
        if video is not None:
            result.saved.append(save_video(frames, video, fps=fps))
        return result
    finally:
        env.close()


# ---------------------------------------------------------------- command line
def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``eval`` to ``vecbridge``'s subcommands."""
    p = subparsers.add_parser("eval", help="evaluate a trained model: mean and std of the episode return",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("game", nargs="?", help="a registered id (vecbridge/Catch-v0), MODULE:ENV_ID, MODULE:ATTRIBUTE "
                   "(a LaunchSpec, a function returning one, or a gymnasium.Env class); or the game's command after --")
    p.add_argument("--model", "-m", help="a model.zip or checkpoint from vecbridge train")
    p.add_argument("--random", action="store_true", help="evaluate uniformly random actions instead (a baseline)")
    p.add_argument("--episodes", "-k", type=int, default=20)
    p.add_argument("--deterministic", action="store_true", help="take the most likely action (default: sample)")
    p.add_argument("--num-envs", "-n", type=int, default=4, help="instances playing in parallel (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", metavar="DIR", help="save instance 0's first episode as PNG frames")
    p.add_argument("--video", metavar="FILE", help="save that episode as a video (.gif; .mp4 with imageio-ffmpeg)")
    p.add_argument("--max-episode-steps", type=int, help="end episodes truncated after this many steps "
                   "(default: the training run's, from its config.json)")
    p.add_argument("--option", "-o", action="append", metavar="KEY=VALUE", help="a game option (JSON value), repeatable; "
                   "the training run's game options (config.json) apply unless overridden")
    p.add_argument("--num-workers", type=int, help="vecbridge worker processes")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(func=run_cli)
    return p


def _run_config(model: str | None) -> dict[str, Any]:
    """The config.json of the run a model belongs to (game options, time limit), if any."""
    import json

    from vecbridge.sb3.common import run_dir_of

    folder = run_dir_of(model) if model else None
    if folder is None:
        return {}
    try:
        return json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def run_cli(args: argparse.Namespace) -> int:
    from vecbridge.game_ref import game_argument, game_label

    game = game_argument("eval", args.game, getattr(args, "command", []))
    config = _run_config(args.model)
    if config and config.get("game") != game_label(game):
        print(f"note: the model was trained on {config.get('game')}, evaluating on {game_label(game)} "
              f"(without the training run's game options)", file=sys.stderr)  # fmt: skip
        config = {}
    options = {**(config.get("game_options") or {}), **parse_pairs(args.option, "--option")}
    max_steps = args.max_episode_steps if args.max_episode_steps is not None else config.get("max_episode_steps")
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
        max_episode_steps=max_steps,
        game_options=options,
        num_workers=args.num_workers,
        device=args.device,
    )
    kind = "deterministic" if args.deterministic else "stochastic"
    if result.vecnormalize is not None:
        print(f"observations normalized with the statistics in {result.vecnormalize}")
    print(result.format("random policy" if args.random else f"{kind} policy {args.model}"))
    if args.frames:
        print(f"{len(result.frames)} frames in {args.frames}")
    if args.video:
        print(f"video {args.video}")
    return 0 if result.returns else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vecbridge")
    add_parser(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(["eval", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

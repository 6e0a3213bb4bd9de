"""Pieces shared by ``vecbridge train`` and ``vecbridge eval``: wrappers, policies, option parsing, run folders.

Nothing here imports stable-baselines3 or torch at module level, so the command line
can build its parsers without them.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from gymnasium import spaces

from vecbridge.errors import UsageError

#: how many frames an image policy sees (SB3's Atari default)
DEFAULT_FRAME_STACK = 4
VECNORMALIZE_FILE = "vecnormalize.pkl"


def require_sb3(command: str) -> None:
    """Exit with an install hint if stable-baselines3 (and torch) are missing."""
    try:
        import stable_baselines3  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"{command} needs stable-baselines3 and torch ({exc}); install the extra: "
                         f"pip install 'vecbridge[sb3]' (with torch pinned, e.g. torch==2.13.0)") from None  # fmt: skip


def load_config(path: str | Path) -> dict[str, Any]:
    """PPO keyword arguments from a JSON file (or YAML, if the name ends in .yaml/.yml and PyYAML is installed).

    The file is a mapping of PPO keyword arguments, or a mapping with a ``"ppo"`` mapping in it
    (so a run's own ``config.json`` can be reused).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"vecbridge train: --config: cannot read {path}: {exc.strerror or exc}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise UsageError(f"{path}: reading YAML needs PyYAML (pip install pyyaml), or write the config as JSON") from None
        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: not valid JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of PPO keyword arguments, got {type(data).__name__}")
    if isinstance(data.get("ppo"), dict):  # a run's config.json: reuse its hyperparameters
        data = data["ppo"]
    return dict(data)


#: PPO arguments ``vecbridge train`` sets itself, and the flag that sets each
SET_BY_TRAIN = {"seed": "--seed", "device": "--device", "tensorboard_log": "the run folder (--no-tensorboard: none)",
                "verbose": "the progress bar (--no-progress)"}


def check_ppo_keys(kwargs: dict[str, Any]) -> None:
    """UsageError naming what is wrong if ``kwargs`` (from --ppo and --config) holds a key PPO cannot take here."""
    require_sb3("vecbridge train")
    import inspect

    from stable_baselines3 import PPO

    allowed = set(inspect.signature(PPO.__init__).parameters) - {"self", "policy", "env", "_init_setup_model", *SET_BY_TRAIN}
    ours = sorted(set(kwargs) & set(SET_BY_TRAIN))
    if ours:
        raise UsageError(f"vecbridge train: --ppo/--config: {', '.join(ours)} cannot be set there; it sets "
                         + "; ".join(f"{k} from {SET_BY_TRAIN[k]}" for k in ours))  # fmt: skip
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise UsageError(f"unknown PPO hyperparameter(s) {unknown}; PPO takes: {', '.join(sorted(allowed))}")


def check_backend(backend: str, ray_address: str | None, num_workers: int | None) -> None:
    """UsageError naming the flag when --ray-address / --num-workers do not fit ``backend``."""
    if ray_address and backend != "ray":
        raise UsageError(f"vecbridge train: --ray-address is for --backend ray (the backend is {backend!r}): "
                         f"add --backend ray")  # fmt: skip
    if num_workers is not None and backend == "ray":
        raise UsageError("vecbridge train: --num-workers is for the default backend; with --backend ray each Ray "
                         "actor drives its instances from its own process (leave --num-workers out)")


@contextlib.contextmanager
def refused_settings(what: str, cleanup: Any = None, fix: str = "") -> Iterator[None]:
    """PPO's (SB3's) errors about its settings or a saved model, as one line: UsageError starting with ``what``
    and ending with ``fix`` (what to do instead), if given."""
    try:
        yield
    except (TypeError, ValueError, AssertionError, KeyError) as exc:
        if cleanup is not None:
            cleanup()
        raise UsageError(f"{what}: {type(exc).__name__}: {exc}" + (f"; {fix}" if fix else "")) from None


def remove_if_empty(*folders: Path) -> None:
    """Remove each folder, innermost first, if it is empty (a run that never started leaves nothing)."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def is_image(space: spaces.Space) -> bool:
    """An image observation for SB3's CNN: Box uint8, 3 dimensions, values 0..255."""
    from stable_baselines3.common.preprocessing import is_image_space

    return is_image_space(space, check_channels=False)


def channels_first(space: spaces.Space) -> bool:
    from stable_baselines3.common.preprocessing import is_image_space_channels_first

    return is_image_space_channels_first(space)


def policy_for(space: spaces.Space) -> str:
    if isinstance(space, spaces.Dict):
        return "MultiInputPolicy"
    if isinstance(space, spaces.Tuple):
        raise UsageError("stable-baselines3 has no policy for Tuple observations; use a Dict or Box observation space")
    return "CnnPolicy" if is_image(space) else "MlpPolicy"


def frame_stack_for(pipeline: Any, frame_stack: int | None) -> int:
    """SB3's VecFrameStack depth: 1 when the preprocessing pipeline stacks (default 4 without one);
    both stacking is refused (``stack=4`` and ``--frame-stack 4`` gave a 16-frame stack)."""
    if frame_stack is None:
        return 1 if pipeline else DEFAULT_FRAME_STACK
    if pipeline and pipeline.stack_size > 1 and frame_stack > 1:
        raise UsageError(f"vecbridge train: --frame-stack {frame_stack} with --preprocess {pipeline} would stack twice "
                         f"({frame_stack * pipeline.stack_size} frames); stack in the pipeline (stack=N) or with "
                         "--frame-stack, not both")  # fmt: skip
    return frame_stack


def wrap(venv: Any, *, frame_stack: int = DEFAULT_FRAME_STACK, normalize: Any = None, training: bool = True) -> Any:
    """The wrapper stack of a run: ``VecMonitor`` (raw episode returns) -> ``VecNormalize`` (if
    ``normalize`` is True: observations and rewards, vector observations only; ``"reward"``: the
    rewards only, any observation; a path: saved statistics) -> ``VecFrameStack`` +
    ``VecTransposeImage`` (images)."""
    from stable_baselines3.common.vec_env import VecFrameStack, VecMonitor, VecNormalize, VecTransposeImage

    env = VecMonitor(venv)
    space = venv.observation_space
    if normalize:
        if normalize is True or normalize == "reward":
            if normalize is True and is_image(space):
                raise UsageError("--normalize is for vector observations (image observations are scaled by the CNN "
                                 "policy); --normalize-reward normalizes the rewards alone")  # fmt: skip
            env = VecNormalize(env, norm_obs=normalize is True)
        else:
            env = VecNormalize.load(str(normalize), env)
        env.training = training
        if not training:
            env.norm_reward = False
    if is_image(space):
        first = channels_first(space)
        if frame_stack > 1:
            env = VecFrameStack(env, frame_stack, channels_order="first" if first else "last")
        if not first:
            env = VecTransposeImage(env)
    return env


def frame_stack_of(model_space: spaces.Space, env_space: spaces.Space) -> int:
    """How many frames a saved model stacks, from its observation space and the game's (ValueError if none)."""
    if not (is_image(env_space) and isinstance(model_space, spaces.Box)):
        return 1
    env_channels = env_space.shape[0] if channels_first(env_space) else env_space.shape[-1]
    model_channels = model_space.shape[0]  # image models see channels first (VecTransposeImage)
    if model_channels % env_channels:
        raise ValueError(f"the model expects observations of shape {model_space.shape}, which is no stack of "
                         f"the game's {env_space.shape} frames")  # fmt: skip
    return model_channels // env_channels


def vecnormalize_for(model_path: str | Path) -> Path | None:
    """The VecNormalize statistics saved with a model: ``vecnormalize.pkl`` beside ``model.zip``, or a
    checkpoint's ``rl_model_vecnormalize_<N>_steps.pkl``."""
    path = Path(model_path)
    m = re.fullmatch(r"(.*)_(\d+)_steps(\.zip)?", path.name)
    if m:
        candidate = path.with_name(f"{m.group(1)}_vecnormalize_{m.group(2)}_steps.pkl")
        if candidate.exists():
            return candidate
    candidate = path.parent / VECNORMALIZE_FILE
    return candidate if candidate.exists() else None


def game_slug(game: Any) -> str:
    name = game if isinstance(game, str) else (getattr(game, "name", "") or "game")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(name).split("/")[-1]).strip("-") or "game"


def new_run_dir(runs_dir: str | Path, game: Any) -> Path:
    """``runs_dir/<game>-<YYYYmmdd-HHMMSS>``, made unique, created."""
    base = Path(runs_dir) / f"{game_slug(game)}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    path.mkdir(parents=True)
    return path


def run_dir_of(checkpoint: str | Path) -> Path | None:
    """The run folder a checkpoint (``<run>/checkpoints/x.zip``) or final model (``<run>/model.zip``) belongs to."""
    path = Path(checkpoint).resolve()
    for folder in (path.parent.parent, path.parent) if path.parent.name == "checkpoints" else (path.parent,):
        if (folder / "config.json").exists():
            return folder
    return None


def episode_limit(game: Any, requested: int | None, config: dict[str, Any] | None = None) -> tuple[int | None, str]:
    """The episode step limit of a run and where it comes from.

    ``requested`` (the command line; 0: no limit) wins, then the training run's
    ``config.json``, then the game's registration (``max_episode_steps`` in
    ``vecbridge/builtin_games.py``, or ``vecbridge.register``).
    """
    if requested is not None:
        if requested < 0:
            raise UsageError(f"--max-episode-steps must be 0 (no limit) or more, got {requested}")
        return (requested or None), "--max-episode-steps"
    if config and config.get("max_episode_steps"):
        return int(config["max_episode_steps"]), "the training run's config.json"
    if isinstance(game, str):
        from vecbridge.registry import max_episode_steps

        limit = max_episode_steps(game)
        if limit:
            return int(limit), f"the registration of {game}"
    return None, "no limit is registered for the game"


def describe_limit(limit: int | None, source: str) -> str:
    if limit is None:
        return f"episode step limit: none ({source}; --max-episode-steps N sets one)"
    return f"episode step limit: {limit} steps (from {source})"


def summarize(returns: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(returns, dtype=np.float64)
    return (float(arr.mean()), float(arr.std())) if arr.size else (float("nan"), float("nan"))


def find_vecnormalize(env: Any) -> Any:
    """The VecNormalize wrapper in an SB3 wrapper stack, or None."""
    from stable_baselines3.common.vec_env import VecEnvWrapper, VecNormalize

    while isinstance(env, VecEnvWrapper):
        if isinstance(env, VecNormalize):
            return env
        env = env.venv
    return None


def saved_model(path: str | Path, what: str) -> Path:
    """The file SB3 loads for ``path`` (it adds ``.zip`` to a name without it); UsageError, naming
    ``what`` (``"vecbridge eval: --model"``), when there is none."""
    path = Path(path)
    for candidate in (path, Path(f"{path}.zip")):
        if candidate.is_file():
            return candidate
    raise UsageError(f"{what}: no such file {path}")


def normalize_of(vecnormalize: Any) -> bool | str:
    """What a run's ``normalize`` was, from its VecNormalize wrapper (None: False)."""
    if vecnormalize is None:
        return False
    return True if vecnormalize.norm_obs else "reward"


def saved_hyperparameters(model: Any) -> dict[str, Any]:
    """The PPO hyperparameters a loaded model carries (what a resumed run records)."""
    names = ("n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda", "ent_coef", "vf_coef", "max_grad_norm")
    out = {k: getattr(model, k) for k in names if hasattr(model, k)}
    lr = getattr(model, "learning_rate", None)
    if isinstance(lr, (int, float)):
        out["learning_rate"] = lr
    return out

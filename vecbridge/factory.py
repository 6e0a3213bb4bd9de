"""``vecbridge.make``: a registered game (or a LaunchSpec) as a vector env; Gymnasium's entry points."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from vecbridge.launch.spec import LaunchSpec
from vecbridge.registry import resolve_spec

#: make() options of backend="ray" beyond the vector env's own
RAY_OPTIONS = {"ray_address", "num_actors", "ray_actor_options"}
#: LaunchSpec fields make() takes as keywords (they were sent to the game as game options)
SPEC_TIMEOUTS = ("step_timeout", "startup_timeout")


def _vector_options() -> set[str]:
    from vecbridge.vector.vector_env import BridgeVectorEnv

    return {p for p in inspect.signature(BridgeVectorEnv.__init__).parameters if p not in ("self", "spec", "num_envs")}


def make(spec: LaunchSpec | str, num_envs: int = 1, *, backend: str = "vecbridge", preprocess: Any = None, **kwargs: Any):
    """``num_envs`` instances of a game as a ``gymnasium.vector.VectorEnv``.

    ``spec`` is a registered id (``"vecbridge/Echo-v0"``) or a :class:`LaunchSpec`.
    Keyword arguments that :class:`~vecbridge.vector.BridgeVectorEnv` accepts
    (``num_workers``, ``autoreset_mode``, ``restart_budget``, ``timeout``,
    ``batch_size``, ``render_mode``, ``run_dir``, ...) configure the vector env;
    ``step_timeout=`` and ``startup_timeout=`` (seconds) replace the spec's, as ``--step-timeout``
    does on the command line; all others are game options, sent to every instance.

    ``backend="gymnasium"`` builds a plain ``gymnasium.vector.AsyncVectorEnv``
    (shared memory) over single-instance :class:`~vecbridge.GameEnv` s instead.

    ``preprocess`` preprocesses image observations: a spec such as
    ``"gray,resize=84x84,maxpool,stack=4"``, or a list of steps (:mod:`vecbridge.transforms`);
    the observation spaces declare the result.

    ``backend="ray"`` puts the instances in Ray actors spread over a Ray cluster's nodes
    (:mod:`vecbridge.vector.ray_driver`; ``ray_address``, ``num_actors``, ``ray_actor_options``).
    """
    stray = sorted(RAY_OPTIONS & kwargs.keys()) if backend != "ray" else []
    if stray:  # else they would go to the game as game options, which crashes it
        raise ValueError(f"{', '.join(stray)} is an option of backend='ray': add backend='ray' (backend is {backend!r})")
    timeouts = {k: kwargs.pop(k) for k in SPEC_TIMEOUTS if k in kwargs}  # the spec's, even for a registered id
    options = _vector_options() | (RAY_OPTIONS if backend == "ray" else set())
    vector_kwargs = {k: v for k, v in kwargs.items() if k in options}
    config = {k: v for k, v in kwargs.items() if k not in options}
    launch = resolve_spec(spec, config)
    if timeouts:
        launch = dataclasses.replace(launch, **timeouts)
    if backend == "vecbridge":
        from vecbridge.vector.vector_env import BridgeVectorEnv

        return BridgeVectorEnv(launch, num_envs, preprocess=preprocess, **vector_kwargs)  # preprocessed by the groups
    if backend == "gymnasium":
        envs = _gymnasium_async(launch, num_envs, vector_kwargs)
        return _preprocessed(envs, preprocess) if preprocess is not None else envs
    if backend == "ray":
        from vecbridge.vector.ray_driver import ray_driver
        from vecbridge.vector.vector_env import BridgeVectorEnv

        if vector_kwargs.pop("num_workers", None) is not None:  # each actor drives its slice from its own process
            raise ValueError("backend='ray' takes num_actors (Ray actors, each driving its instances), not num_workers")
        ray = {k: vector_kwargs.pop(k) for k in RAY_OPTIONS if k in vector_kwargs}
        return BridgeVectorEnv(launch, num_envs, driver=ray_driver(**ray), preprocess=preprocess, **vector_kwargs)
    raise ValueError(f"unknown backend {backend!r}; expected 'vecbridge', 'gymnasium' or 'ray'")


def _preprocessed(envs: Any, preprocess: Any) -> Any:
    """A Gymnasium vector env's observations preprocessed in this process (vecbridge's own run
    the pipeline in their instance groups, worker processes or Ray actors)."""
    from vecbridge.transforms import Pipeline, PreprocessObservations

    pipeline = Pipeline.of(preprocess)
    if not pipeline:
        return envs
    try:
        return PreprocessObservations(envs, pipeline)
    except BaseException:
        envs.close()
        raise


def _gymnasium_async(launch: LaunchSpec, num_envs: int, vector_kwargs: dict[str, Any]):
    import gymnasium as gym

    from vecbridge.game_env import GameEnv

    render_mode = vector_kwargs.pop("render_mode", None)
    autoreset = vector_kwargs.pop("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
    limit = vector_kwargs.pop("max_episode_steps", None)
    unsupported = set(vector_kwargs) - {"copy"}
    if unsupported:
        raise ValueError(f"backend='gymnasium' does not take {sorted(unsupported)}")

    def factory(i: int):
        if limit is not None:
            return lambda: gym.wrappers.TimeLimit(GameEnv(launch, render_mode=render_mode, instance=i), limit)
        return lambda: GameEnv(launch, render_mode=render_mode, instance=i)

    # Gymnasium's AsyncVectorEnv builds one extra instance in the parent to read the spaces.
    return gym.vector.AsyncVectorEnv(
        [factory(i) for i in range(num_envs)],
        shared_memory=True,
        autoreset_mode=autoreset,
        **vector_kwargs,
    )


def make_single(game_id: str, render_mode: str | None = None, **config: Any):
    """Gymnasium ``entry_point`` (``gymnasium.make``): one instance as a GameEnv."""
    from vecbridge.game_env import GameEnv

    if "preprocess" in config:  # it would go to the game as a game option, which no game takes
        raise TypeError(f"preprocess=... is for vecbridge's vector env, not one instance (gymnasium.make) nor Gymnasium's "
                        f"own vector envs (make_vec with vectorization_mode='sync'/'async', which make single envs): use "
                        f"gymnasium.make_vec({game_id!r}, n, preprocess=...) with the default vectorization_mode, or "
                        f"vecbridge.make(..., preprocess=...)")  # fmt: skip
    return GameEnv(game_id, render_mode=render_mode, **config)


def make_vector(num_envs: int = 1, game_id: str = "", **kwargs: Any):
    """Gymnasium ``vector_entry_point`` (``gymnasium.make_vec``): vecbridge options and game options in one kwargs dict.
    ``max_episode_steps`` (the registered limit, or the caller's; -1 or None: none) is applied by the vector env."""
    if kwargs.get("max_episode_steps") == -1:  # gymnasium.make's way to ask for no TimeLimit
        kwargs["max_episode_steps"] = None
    return make(game_id, num_envs=num_envs, **kwargs)

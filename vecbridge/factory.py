"""``vecbridge.make``: a registered game (or a LaunchSpec) as a vector env."""

from __future__ import annotations

import inspect
from typing import Any

from vecbridge.launch.spec import LaunchSpec
from vecbridge.registry import resolve_spec

#: make() options of backend="ray" beyond the vector env's own
RAY_OPTIONS = {"ray_address", "num_actors", "ray_actor_options"}


def _vector_options() -> set[str]:
    from vecbridge.vector.env import BridgeVectorEnv

    return {p for p in inspect.signature(BridgeVectorEnv.__init__).parameters if p not in ("self", "spec", "num_envs")}


def make(spec: LaunchSpec | str, num_envs: int = 1, *, backend: str = "vecbridge", **kwargs: Any):
    """``num_envs`` instances of a game as a ``gymnasium.vector.VectorEnv``.

    ``spec`` is a registered id (``"vecbridge/Echo-v0"``) or a :class:`LaunchSpec`.
    Keyword arguments that :class:`~vecbridge.vector.BridgeVectorEnv` accepts
    (``num_workers``, ``autoreset_mode``, ``restart_budget``, ``timeout``,
    ``batch_size``, ``render_mode``, ``run_dir``, ...) configure the vector env;
    all others are game options, sent to every instance.

    ``backend="gymnasium"`` builds a plain ``gymnasium.vector.AsyncVectorEnv``
    (shared memory) over single-instance :class:`~vecbridge.GameEnv` s instead.

    ``backend="ray"`` puts the instances in Ray actors spread over a Ray cluster's nodes
    (:mod:`vecbridge.vector.ray_driver`; ``ray_address``, ``num_actors``, ``ray_actor_options``).
    """
    options = _vector_options() | (RAY_OPTIONS if backend == "ray" else set())
    vector_kwargs = {k: v for k, v in kwargs.items() if k in options}
    config = {k: v for k, v in kwargs.items() if k not in options}
    launch = resolve_spec(spec, config)
    if backend == "vecbridge":
        from vecbridge.vector.env import BridgeVectorEnv

        return BridgeVectorEnv(launch, num_envs, **vector_kwargs)
    if backend == "gymnasium":
        return _gymnasium_async(launch, num_envs, vector_kwargs)
    if backend == "ray":
        from vecbridge.vector.ray_env import make_ray_env

        return make_ray_env(launch, num_envs, **vector_kwargs)
    raise ValueError(f"unknown backend {backend!r}; expected 'vecbridge', 'gymnasium' or 'ray'")


def _gymnasium_async(launch: LaunchSpec, num_envs: int, vector_kwargs: dict[str, Any]):
    import gymnasium as gym

    from vecbridge.env import GameEnv

    render_mode = vector_kwargs.pop("render_mode", None)
    autoreset = vector_kwargs.pop("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
    unsupported = set(vector_kwargs) - {"copy"}
    if unsupported:
        raise ValueError(f"backend='gymnasium' does not take {sorted(unsupported)}")

    def factory(i: int):
        return lambda: GameEnv(launch, render_mode=render_mode, instance=i)

    # Gymnasium's AsyncVectorEnv builds one extra instance in the parent to read the spaces.
    return gym.vector.AsyncVectorEnv(
        [factory(i) for i in range(num_envs)],
        shared_memory=True,
        autoreset_mode=autoreset,
        **vector_kwargs,
    )

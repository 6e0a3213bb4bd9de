"""Registered games: vecbridge ids, mirrored into Gymnasium's registry.

``register`` records a :class:`LaunchSpec` under an id and registers the same id
with Gymnasium, with an ``entry_point`` (a single :class:`~vecbridge.env.GameEnv`)
and a ``vector_entry_point`` (vecbridge's vector env), so ``gymnasium.make`` and
``gymnasium.make_vec`` both work after ``import vecbridge``.
"""

from __future__ import annotations

from typing import Any, Mapping

import gymnasium as gym

from vecbridge.launch.spec import LaunchSpec, python_game

_SPECS: dict[str, LaunchSpec] = {}


def register(id: str, spec: LaunchSpec, *, max_episode_steps: int | None = None, **gym_kwargs: Any) -> None:
    """Register a game under ``id`` for ``vecbridge.make`` and ``gymnasium.make(_vec)``."""
    _SPECS[id] = spec
    if id in gym.registry:
        del gym.registry[id]
    gym.register(
        id=id,
        entry_point="vecbridge.registry:make_single",
        vector_entry_point="vecbridge.registry:make_vector",
        kwargs={"game_id": id},
        max_episode_steps=max_episode_steps,
        disable_env_checker=True,  # the game's spaces are only known once it runs; vecbridge checks the wire itself
        **gym_kwargs,
    )


def registered() -> dict[str, LaunchSpec]:
    return dict(_SPECS)


def resolve_spec(spec: LaunchSpec | str, config: Mapping[str, Any] | None = None) -> LaunchSpec:
    """A LaunchSpec from a spec or a registered id, with ``config`` merged into its game options."""
    if isinstance(spec, str):
        try:
            spec = _SPECS[spec]
        except KeyError:
            known = ", ".join(sorted(_SPECS)) or "none"
            raise gym.error.UnregisteredEnv(
                f"no vecbridge game is registered as {spec!r}; registered: {known} "
                f"(or pass a vecbridge.LaunchSpec)"
            ) from None
    if not isinstance(spec, LaunchSpec):
        raise TypeError(f"expected a vecbridge.LaunchSpec or a registered id, got {type(spec).__name__}")
    return spec.with_config(**config) if config else spec


def make_single(game_id: str, render_mode: str | None = None, **config: Any):
    """Gymnasium ``entry_point``: one instance as a GameEnv."""
    from vecbridge.env import GameEnv

    return GameEnv(game_id, render_mode=render_mode, **config)


def make_vector(num_envs: int = 1, game_id: str = "", **kwargs: Any):
    """Gymnasium ``vector_entry_point``: vecbridge options and game options in one kwargs dict."""
    from vecbridge.factory import make

    kwargs.pop("max_episode_steps", None)
    return make(game_id, num_envs=num_envs, **kwargs)


def _register_builtins() -> None:
    register("vecbridge/Echo-v0", python_game("vecbridge.games.echo:EchoEnv", name="Echo"))
    register("vecbridge/EchoImage-v0", python_game("vecbridge.games.echo:EchoImageEnv", name="EchoImage"))
    register("vecbridge/Catch-v0", python_game("vecbridge.games.catch:CatchEnv", name="Catch"))

    from vecbridge.backends.browser import register_games as register_browser_games
    from vecbridge.backends.fceux import register_games as register_fceux_games
    from vecbridge.backends.node import register_games as register_node_games

    register_browser_games(register)
    register_fceux_games()
    register_node_games(register)


_register_builtins()

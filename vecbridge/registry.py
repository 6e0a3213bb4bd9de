"""Registered games: vecbridge ids, mirrored into Gymnasium's registry.

``register`` records how to build a game's :class:`LaunchSpec` under an id, and
registers the same id with Gymnasium, with an ``entry_point`` (one instance as a
:class:`~vecbridge.game_env.GameEnv`) and a ``vector_entry_point`` (vecbridge's vector
env), both in :mod:`vecbridge.factory`, so ``gymnasium.make`` and ``gymnasium.make_vec``
work after ``import vecbridge``.

A registration may be lazy: ``"package.module:function"`` names a function returning the
spec, imported only when the game is made (the built-in games are registered this way in
:mod:`vecbridge.builtin_games`, so ``import vecbridge`` imports no backend). This module
imports nothing of vecbridge but the launch spec: backends never import it back.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping, Union

import gymnasium as gym

from vecbridge.launch.spec import LaunchSpec

SpecSource = Union[LaunchSpec, str, Callable[[], LaunchSpec]]

_SOURCES: dict[str, SpecSource] = {}


def register(id: str, spec: SpecSource, *, max_episode_steps: int | None = None, **gym_kwargs: Any) -> None:
    """Register a game under ``id`` for ``vecbridge.make`` and ``gymnasium.make(_vec)``.

    ``spec`` is a :class:`LaunchSpec`, a function returning one, or ``"module:function"``
    (imported on first use). ``max_episode_steps`` is the episode step limit Gymnasium's
    ``TimeLimit`` (``gymnasium.make``), ``gymnasium.make_vec`` and ``vecbridge train``/``eval`` apply.
    """
    if not isinstance(spec, (LaunchSpec, str)) and not callable(spec):
        raise TypeError(f"register({id!r}, ...) needs a LaunchSpec, a function returning one or 'module:function', got {spec!r}")
    if isinstance(spec, str) and ":" not in spec:
        raise ValueError(f"register({id!r}, {spec!r}): a lazy spec is written 'package.module:function'")
    _SOURCES[id] = spec
    if id in gym.registry:
        del gym.registry[id]
    gym.register(
        id=id,
        entry_point="vecbridge.factory:make_single",
        vector_entry_point="vecbridge.factory:make_vector",
        kwargs={"game_id": id},
        max_episode_steps=max_episode_steps,
        disable_env_checker=True,  # the game's spaces are only known once it runs; vecbridge checks the wire itself
        **gym_kwargs,
    )


def registered_ids() -> list[str]:
    """The registered ids, sorted (builds no spec)."""
    return sorted(_SOURCES)


class _Registered(Mapping):
    """A read-only view of the registry: ids iterate at once; a spec is built when looked up."""

    def __getitem__(self, game_id: str) -> LaunchSpec:
        if game_id not in _SOURCES:
            raise KeyError(game_id)
        return _build(game_id)

    def __iter__(self):
        return iter(sorted(_SOURCES))

    def __len__(self) -> int:
        return len(_SOURCES)

    def __contains__(self, game_id: object) -> bool:
        return game_id in _SOURCES


def registered() -> Mapping[str, LaunchSpec]:
    """Every registered id and its LaunchSpec; a lazy registration is built when looked up
    (so a game whose emulator is missing here fails only when asked for)."""
    return _Registered()


def max_episode_steps(game_id: str) -> int | None:
    """The episode step limit registered for ``game_id`` (None: none, or not registered)."""
    entry = gym.registry.get(game_id)
    return None if entry is None else entry.max_episode_steps


def _build(game_id: str) -> LaunchSpec:
    source = _SOURCES[game_id]
    if isinstance(source, LaunchSpec):
        return source
    if isinstance(source, str):
        module_name, _, attr = source.partition(":")
        source = getattr(importlib.import_module(module_name), attr)
    spec = source()
    if not isinstance(spec, LaunchSpec):
        raise TypeError(f"the registration of {game_id!r} returned {type(spec).__name__}, not a vecbridge.LaunchSpec")
    return spec


def resolve_spec(spec: LaunchSpec | str, config: Mapping[str, Any] | None = None) -> LaunchSpec:
    """A LaunchSpec from a spec or a registered id, with ``config`` merged into its game options."""
    if isinstance(spec, str):
        if spec not in _SOURCES:
            known = ", ".join(sorted(_SOURCES)) or "none"
            raise gym.error.UnregisteredEnv(
                f"no vecbridge game is registered as {spec!r}; registered: {known} "
                f"(or pass a vecbridge.LaunchSpec)"
            )
        spec = _build(spec)
    if not isinstance(spec, LaunchSpec):
        raise TypeError(f"expected a vecbridge.LaunchSpec or a registered id, got {type(spec).__name__}")
    return spec.with_config(**config) if config else spec

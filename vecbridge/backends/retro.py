"""stable-retro games (Genesis, NES, SNES, Game Boy, Atari 2600, ... through libretro cores).

    import vecbridge
    envs = vecbridge.make("vecbridge/Airstriker-Genesis-v0", num_envs=4)     # the ROM the wheel ships

    from vecbridge.backends.retro import retro_spec                         # any game you imported
    envs = vecbridge.make(retro_spec("SonicTheHedgehog-Genesis-v0", state="GreenHillZone.Act1"), num_envs=8)

Each instance is one Python process serving ``vecbridge.games.retro_game:make_env`` with
the Python game client: ``retro.make(game, state, ...)`` from the game options (see that
module for all of them). stable-retro allows one emulator per process, so vecbridge's
one process per instance is its natural shape. The spec builders here only describe the
launch: they import neither stable-retro nor the registry. See docs/backends/retro.md.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from vecbridge.launch.spec import LaunchSpec, declared_python_game

__all__ = ["AIRSTRIKER", "retro_spec", "airstriker_spec"]

AIRSTRIKER = "Airstriker-Genesis-v0"  # the one ROM stable-retro's wheel ships (a non-commercial homebrew game)


def _absolute(value: str | os.PathLike | None, suffix: str) -> str | None:
    """A file option as an absolute path (instances run in their own folders); a plain name as it is.

    retro.make reads a scenario or info ending in ``.json`` as a path, and a state as a
    name in the game's integration folder unless it is a file's path.
    """
    if value is None:
        return None
    text = os.fspath(value)
    if text.endswith(suffix) and (suffix == ".json" or os.sep in text or Path(text).exists()):
        return str(Path(text).resolve())
    return text


def retro_spec(
    game: str,
    state: str | os.PathLike | None = None,
    *,
    scenario: str | os.PathLike | None = None,
    info: str | os.PathLike | None = None,
    integration_paths: tuple[str | os.PathLike, ...] | list[str | os.PathLike] = (),
    name: str = "",
    startup_timeout: float = 60.0,
    step_timeout: float = 30.0,
    close_grace: float = 2.0,
    **options: Any,
) -> LaunchSpec:
    """A LaunchSpec for the stable-retro game ``game`` (an integration name, e.g. ``"Airstriker-Genesis-v0"``).

    ``state``: None (the game's default state), ``"none"`` (power-on), a state name, or a
    ``.state`` file. ``scenario``/``info``: names or ``.json`` files. ``integration_paths``:
    folders of your own integrations. Relative file paths are resolved here, in your
    directory. Other keyword arguments are game options: ``players``,
    ``use_restricted_actions`` (``"filtered"``: MultiBinary buttons, the default of
    ``retro.make``; ``"discrete"``, ``"multi_discrete"``, ``"all"``), ``obs_type``
    (``"image"`` or ``"ram"``), ``inttype``, ``frameskip``, ``sticky_action_prob``.
    """
    if importlib.util.find_spec("stable_retro") is None:
        raise ImportError("stable-retro is not installed: pip install 'vecbridge[retro]' (or pip install stable-retro)")
    config: dict[str, Any] = {"game": game, "state": _absolute(state, ".state"), **options}
    if scenario is not None:
        config["scenario"] = _absolute(scenario, ".json")
    if info is not None:
        config["info"] = _absolute(info, ".json")
    if integration_paths:
        config["integration_paths"] = [str(Path(p).resolve()) for p in integration_paths]
    return declared_python_game(  # make_env's parameters are the options: a misspelt one fails here
        "vecbridge.games.retro_game:make_env",
        config=config,
        name=name or game,
        startup_timeout=startup_timeout,
        step_timeout=step_timeout,
        close_grace=close_grace,
    )


def airstriker_spec(**options: Any) -> LaunchSpec:
    """``vecbridge/Airstriker-Genesis-v0``: stable-retro's Airstriker with the conventions of ALE's v5 ids.

    4 frames per step and sticky actions (0.25), as stable-retro's own PPO example
    (``StochasticFrameSkip(env, n=4, stickprob=0.25)``); the screen (uint8 224x320x3) as
    observation, MultiBinary(12) Genesis buttons as action. ``frameskip=1,
    sticky_action_prob=0`` gives exactly ``retro.make("Airstriker-Genesis-v0")``.
    """
    return retro_spec(AIRSTRIKER, **{"frameskip": 4, "sticky_action_prob": 0.25, **options})

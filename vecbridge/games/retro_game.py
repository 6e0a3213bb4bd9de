"""A stable-retro game as one vecbridge instance: ``retro.make`` built from the game options.

Served by the Python game client in its own process (stable-retro allows one emulator
per process, so one instance is exactly one emulator)::

    python -m vecbridge.game vecbridge.games.retro_game:make_env      # VECBRIDGE_CONFIG holds the options

``make_env(**options)`` is also what the benchmark runs in-process and under SB3's
SubprocVecEnv and Gymnasium's AsyncVectorEnv, so every runner steps the same env.

Options (JSON values; ``vecbridge.make(spec, game=..., ...)``), named as in ``retro.make``:

``game``                   an integration name, e.g. ``"Airstriker-Genesis-v0"`` (``stable_retro.data.list_games()``)
``state``                  None: the game's default state; ``"none"``: power-on; else a state name or a ``.state`` path
``scenario``, ``info``     names or ``.json`` paths, as ``retro.make`` takes them (None: the game's own)
``players``                1 (more: actions for every player in one array, rewards summed)
``use_restricted_actions`` ``"filtered"`` (default: MultiBinary buttons), ``"all"``, ``"discrete"``,
                           ``"multi_discrete"``
``obs_type``               ``"image"`` (uint8 HxWx3 screen, default) or ``"ram"`` (uint8 bytes of the game's RAM)
``inttype``                integrations searched: ``"stable"`` (default), ``"experimental"``, ``"contrib"``, ``"all"``
``integration_paths``      folders of custom integrations (``Integrations.add_custom_path``); adds ``custom``
``frameskip``              frames per step, the action held, rewards summed (default 1, as ``retro.make``)
``sticky_action_prob``     stable-retro's ``StochasticFrameSkip`` (examples/ppo.py): a step's first frame keeps
                           the previous action with this probability, drawn from the seeded ``np_random``
"""

from __future__ import annotations

import difflib
import os
import sys
from typing import Any, Sequence

import gymnasium as gym

ACTIONS = ("filtered", "all", "discrete", "multi_discrete")
OBS_TYPES = ("image", "ram")
INTTYPES = ("stable", "experimental", "contrib", "custom", "all")


def _choice(option: str, value: Any, names: Sequence[str]) -> str:
    text = str(value).lower().rsplit(".", 1)[-1]  # "Actions.DISCRETE" and "discrete" alike
    if text not in names:
        raise ValueError(f"retro game option {option}={value!r}: expected one of {', '.join(map(repr, names))}")
    return text


def _integrations(retro: Any, inttype: str, integration_paths: Sequence[str]) -> Any:
    Integrations = retro.data.Integrations
    for path in integration_paths:
        Integrations.add_custom_path(str(path))
    flags = Integrations[_choice("inttype", inttype, INTTYPES).upper()]
    return flags | Integrations.CUSTOM_ONLY if integration_paths else flags


def _check_game(retro: Any, game: str, state: str | None, flags: Any) -> None:
    """Fail before the emulator starts, saying what exists (retro's own errors name a path or nothing)."""
    data = retro.data
    if not isinstance(game, str) or not game:
        raise ValueError(f"the retro game option 'game' must be an integration name such as "
                         f"'Airstriker-Genesis-v0', got {game!r}")  # fmt: skip
    if data.get_file_path(game, "rom.sha", flags) is None:
        close = difflib.get_close_matches(game, data.list_games(flags), n=5, cutoff=0.5)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        where = (flags.name or str(flags.value)).lower()
        raise ValueError(f"stable-retro has no integration named {game!r} in the {where} integrations{hint}")
    try:
        data.get_romfile_path(game, flags)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"stable-retro knows {game!r} but has no ROM for it: import yours with "
            f"`{sys.executable} -m stable_retro.import /path/to/your/roms`"
        ) from None
    if state is None:
        return
    if os.path.isabs(state):
        if not os.path.isfile(state):
            raise FileNotFoundError(f"the retro game option state={state!r} names no file")
        return
    states = data.list_states(game, flags)
    if state.removesuffix(".state") not in states:
        raise ValueError(f"{game} has no state {state!r}; its states: {', '.join(states) or 'none'} "
                         f"(or None: the default one; 'none': power-on; or a .state file's absolute path)")


def _check_json(retro: Any, game: str, option: str, value: str | None, flags: Any) -> None:
    """A scenario or info that retro.make would not find fails here: retro.make itself goes on
    without it, and the game then has no reward and never ends."""
    if value is None:
        return
    if not isinstance(value, str) or not value:
        raise ValueError(f"the retro game option {option} must be a name or a .json file's path, got {value!r}")
    if value.endswith(".json"):
        if not os.path.isfile(value):
            raise FileNotFoundError(f"the retro game option {option}={value!r} names no file")
        return
    if retro.data.get_file_path(game, value + ".json", flags) is not None:
        return
    folder = os.path.dirname(retro.data.get_file_path(game, "rom.sha", flags))
    names = sorted(n[:-5] for n in os.listdir(folder) if n.endswith(".json"))
    raise ValueError(f"{game} has no {option} {value!r}; its JSON files: {', '.join(names) or 'none'} "
                     f"(or a .json file's absolute path)")  # fmt: skip


def _number(option: str, value: Any, kind: type) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"the retro game option {option} must be {'an integer' if kind is int else 'a number'}, "
                         f"got {value!r}") from None


def make_env(
    game: str,
    state: str | None = None,
    scenario: str | None = None,
    info: str | None = None,
    players: int = 1,
    use_restricted_actions: str = "filtered",
    obs_type: str = "image",
    inttype: str = "stable",
    integration_paths: Sequence[str] = (),
    frameskip: int = 1,
    sticky_action_prob: float = 0.0,
) -> gym.Env:
    """``retro.make(game, state, ...)``, ``render_mode="rgb_array"``; wrapped for frameskip or sticky actions only."""
    import stable_retro as retro

    frameskip, sticky_action_prob = _number("frameskip", frameskip, int), _number("sticky_action_prob", sticky_action_prob, float)
    players = _number("players", players, int)
    if frameskip < 1 or not 0.0 <= sticky_action_prob < 1.0:
        raise ValueError(f"retro game options: frameskip must be >= 1 and sticky_action_prob in [0, 1), "
                         f"got frameskip={frameskip!r}, sticky_action_prob={sticky_action_prob!r}")  # fmt: skip
    flags = _integrations(retro, inttype, integration_paths)
    special = {None: retro.State.DEFAULT, "none": retro.State.NONE}
    _check_game(retro, game, None if state in (None, "none") else state, flags)
    _check_json(retro, game, "scenario", scenario, flags)
    _check_json(retro, game, "info", info, flags)
    actions = retro.Actions[_choice("use_restricted_actions", use_restricted_actions, ACTIONS).upper()]
    env = retro.make(
        game,
        state=special.get(state, state),
        scenario=scenario,
        info=info,
        players=players,
        use_restricted_actions=actions,
        obs_type=retro.Observations[_choice("obs_type", obs_type, OBS_TYPES).upper()],
        inttype=flags,
        render_mode="rgb_array",  # retro.make's default "human" opens a window; this one costs nothing per step
    )
    fps = env.metadata.get("video.frames_per_second", 60.0)
    env.metadata = {**env.metadata, "render_fps": fps}
    try:  # the name the instance gives in its hello (logs, `vecbridge check`, train's summary)
        env.spec = gym.envs.registration.EnvSpec(game, entry_point=f"{__name__}:make_env")
    except gym.error.Error:
        pass  # a custom integration's name that is no valid Gymnasium id: the class name then
    if frameskip == 1 and not sticky_action_prob:
        return env
    return StochasticFrameSkip(env, frameskip, sticky_action_prob)


class StochasticFrameSkip(gym.Wrapper):
    """``frameskip`` frames per step with the action held, rewards summed, stopping at the episode's end.

    The first frame of a step keeps the previous step's action with probability
    ``sticky_action_prob`` (as ``StochasticFrameSkip`` in stable-retro's examples/ppo.py,
    the wrapper its users train with), drawn from ``np_random``, which ``reset(seed=...)``
    seeds: the same seed and actions give the same frames.
    """

    def __init__(self, env: gym.Env, frameskip: int, sticky_action_prob: float) -> None:
        super().__init__(env)
        self.frameskip, self.sticky_action_prob = frameskip, sticky_action_prob
        self.metadata = {**env.metadata, "render_fps": env.metadata["render_fps"] / frameskip}
        self._previous: Any = None

    def __getattr__(self, name: str) -> Any:
        # the game's own methods (get_action_meaning, get_ram, buttons, ...) stay reachable with envs.call
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.env, name)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._previous = None
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any):
        total = 0.0
        first = action
        if self._previous is not None and self.sticky_action_prob and self.np_random.random() < self.sticky_action_prob:
            first = self._previous
        self._previous = action
        for frame in range(self.frameskip):
            obs, reward, terminated, truncated, info = self.env.step(first if frame == 0 else action)
            total += reward
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info

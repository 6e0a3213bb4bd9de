"""Runners that step a stable-retro game the way its users do today, for ``vecbridge bench``.

=========================  ==========================================================================
``retro-alone``            one emulator in the case's own process, stepped in a loop: the raw limit (N=1)
``retro-sb3-subproc``      Stable-Baselines3's SubprocVecEnv, one subprocess per ``retro.make``
``retro-gymnasium-async``  Gymnasium's AsyncVectorEnv(shared_memory=True) over ``retro.make``
=========================  ==========================================================================

Each builds the env that vecbridge's instances serve, from the same game options:
``vecbridge.games.retro_game.make_env`` (``retro.make`` itself, wrapped only for
``frameskip``/``sticky_action_prob``), so only the way of stepping differs. The env is
a registered retro game (``vecbridge/Airstriker-Genesis-v0``) or any id whose spec
serves ``make_env``. Importing this module adds the runners to ``RUNNERS``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from vecbridge.bench.runners import RUNNERS, ActionPool, LockstepRunner, Runner, RunnerUnavailable, SB3SubprocRunner

GAME_TARGET = "vecbridge.games.retro_game:make_env"


def retro_factory(env_id: str, options: dict[str, Any]) -> Callable[[], Any]:
    """A picklable ``make_env`` call with the game options of ``env_id`` (plus ``options``)."""
    from vecbridge.games.retro_game import make_env
    from vecbridge.registry import resolve_spec

    spec = resolve_spec(env_id, options)
    command = spec.command if isinstance(spec.command, str) else " ".join(spec.command)
    if GAME_TARGET not in command:
        raise ValueError(f"{env_id} is not a stable-retro game (its instances do not serve {GAME_TARGET})")
    return functools.partial(make_env, **spec.config)


class _RetroRunner(Runner):
    @classmethod
    def check_available(cls) -> None:
        import importlib.util

        if importlib.util.find_spec("stable_retro") is None:
            raise RunnerUnavailable("stable-retro is not installed; pip install 'vecbridge[retro]'")
        super().check_available()  # and what the runner it builds on needs (SB3)


class RetroAloneRunner(_RetroRunner):
    name = "retro-alone"
    description = "one stable-retro emulator stepped in this process (the raw limit; N=1)"

    def start(self) -> None:
        if self.num_envs != 1:
            raise RunnerUnavailable("retro-alone steps one emulator (stable-retro allows one per process): N=1 only")
        self.env = retro_factory(self.env_id, self.options)()
        self.env.reset(seed=self.seed)
        self.actions = ActionPool(self.env.action_space, 1, self.seed)

    def step(self) -> int:
        _, _, terminated, truncated, _ = self.env.step(self.actions.next_rows()[0])
        if terminated or truncated:
            self.env.reset()
        return 1

    def close(self) -> None:
        env, self.env = getattr(self, "env", None), None
        if env is not None:
            env.close()


class RetroSB3SubprocRunner(_RetroRunner, SB3SubprocRunner):
    name = "retro-sb3-subproc"
    description = "stable_baselines3 SubprocVecEnv over retro.make"

    def start(self) -> None:
        from stable_baselines3.common.vec_env import SubprocVecEnv

        self.envs = SubprocVecEnv([retro_factory(self.env_id, self.options)] * self.num_envs)
        self.envs.seed(self.seed)
        self.envs.reset()
        self.actions = ActionPool(self.envs.action_space, self.num_envs, self.seed)


class RetroGymnasiumAsyncRunner(_RetroRunner, LockstepRunner):
    name = "retro-gymnasium-async"
    description = "gymnasium.vector.AsyncVectorEnv(shared_memory=True) over retro.make"

    def start(self) -> None:
        import gymnasium as gym

        factory = retro_factory(self.env_id, self.options)
        self.envs = gym.vector.AsyncVectorEnv([factory] * self.num_envs, shared_memory=True)
        self.envs.reset(seed=self.seed)
        self.actions = ActionPool(self.envs.single_action_space, self.num_envs, self.seed)


RETRO_RUNNERS = {r.name: r for r in (RetroAloneRunner, RetroSB3SubprocRunner, RetroGymnasiumAsyncRunner)}
RUNNERS.update(RETRO_RUNNERS)

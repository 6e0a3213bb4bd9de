"""stable-baselines3 on vecbridge: the ``VecEnv`` adapter, ``vecbridge train`` and ``vecbridge eval``.

    from vecbridge.sb3 import make_sb3_env
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    env = VecMonitor(make_sb3_env("vecbridge/Catch-v0", num_envs=8, seed=0))
    PPO("MlpPolicy", env).learn(50_000)
    env.close()

Needs the ``sb3`` extra (``pip install vecbridge[sb3]``). Importing this package is
cheap; stable-baselines3 (and torch) load when an attribute below is first used, so
the command line can register ``train``/``eval`` without importing them.

Modules: ``vecbridge.sb3.adapter`` (the VecEnv), ``vecbridge.sb3.train`` (``train()``,
``vecbridge train``), ``vecbridge.sb3.evaluate`` (``evaluate()``, ``vecbridge eval``),
``vecbridge.sb3.progress`` (progress bar, CSV, learning curve), ``vecbridge.sb3.recording``
(``vecbridge eval``'s videos and policy view), ``vecbridge.sb3.common``.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "VecBridgeSB3": "vecbridge.sb3.adapter",
    "make_sb3_env": "vecbridge.sb3.adapter",
    "split_infos": "vecbridge.sb3.adapter",
    "run_episodes": "vecbridge.sb3.evaluate",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vecbridge.sb3' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = sorted(_EXPORTS)

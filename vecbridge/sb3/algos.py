"""The algorithm of a run: stable-baselines3's PPO, or sb3-contrib's MaskablePPO for a game that sends action masks.

``vecbridge train --algo maskable-ppo`` trains with the masks the game sends beside its
observations (``envs.action_masks()``, docs/protocol.md "Action masks"): the policy never
picks an action the game does not allow. The run's ``config.json`` names its algorithm,
so ``vecbridge eval`` and the comparison after training load the model with the right
class and let a maskable model see the masks when it acts.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any, Callable

from vecbridge.errors import UsageError

#: --algo name -> (module, class)
ALGOS = {"ppo": ("stable_baselines3", "PPO"), "maskable-ppo": ("sb3_contrib", "MaskablePPO")}


def algo_class(name: str) -> Any:
    if name not in ALGOS:
        raise UsageError(f"unknown algorithm {name!r}; choose one of {', '.join(ALGOS)}")
    module, cls = ALGOS[name]
    try:
        return getattr(importlib.import_module(module), cls)
    except ImportError as exc:
        raise UsageError(f"--algo {name} needs {module} (pip install 'vecbridge[sb3]'): {exc}") from None


def algo_of(model_path: str | Path) -> str:
    """The algorithm that trained ``model_path``: its run's config.json (beside it, or one folder up for a checkpoint)."""
    model_path = Path(model_path)
    for folder in (model_path.parent, model_path.parent.parent):
        config = folder / "config.json"
        if config.is_file():
            try:
                return json.loads(config.read_text()).get("algo", "ppo")
            except (OSError, ValueError):
                break
    return "ppo"


def acting(model: Any, env: Any, deterministic: bool) -> Callable[[Any], Any]:
    """``obs -> actions`` for ``model`` on the SB3 ``env``; a MaskablePPO model sees the game's masks."""
    if type(model).__name__ == "MaskablePPO":
        from sb3_contrib.common.maskable.utils import get_action_masks

        return lambda obs: model.predict(obs, deterministic=deterministic, action_masks=get_action_masks(env))[0]
    return lambda obs: model.predict(obs, deterministic=deterministic)[0]

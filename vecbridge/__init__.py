"""vecbridge: many instances of an external game, stepped together as one Gymnasium vector env.

    import vecbridge
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=8)
    obs, info = envs.reset(seed=0)
    obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
    envs.close()
"""

from vecbridge import builtin_games, errors  # noqa: F401  (builtin_games registers the built-in games)
from vecbridge.game_env import GameEnv
from vecbridge.factory import make
from vecbridge.errors import (
    GameError,
    FolderInUse,
    GameOptionError,
    InstanceTimeout,
    InvalidAction,
    LaunchError,
    ProtocolError,
    RestartBudgetExceeded,
    StateError,
    UnsafeFolder,
    UsageError,
    VecBridgeError,
)
from vecbridge.launch.spec import LaunchSpec, launchers_dir, python_game
from vecbridge.registry import register, registered

__version__ = "0.1.0"


def __getattr__(name: str):
    # The vector env pulls in multiprocessing machinery; game processes never need it.
    if name in ("BridgeVectorEnv", "RestartBudget"):
        from vecbridge import vector

        return getattr(vector, name)
    if name == "testing":  # vecbridge.testing.check_game(spec), as the README writes it, without its own import
        import importlib

        return importlib.import_module("vecbridge.testing")
    raise AttributeError(f"module 'vecbridge' has no attribute {name!r}")


__all__ = [
    "BridgeVectorEnv",
    "GameEnv",
    "GameError",
    "FolderInUse",
    "GameOptionError",
    "InstanceTimeout",
    "InvalidAction",
    "LaunchError",
    "LaunchSpec",
    "ProtocolError",
    "RestartBudget",
    "RestartBudgetExceeded",
    "StateError",
    "UnsafeFolder",
    "UsageError",
    "VecBridgeError",
    "errors",
    "launchers_dir",
    "make",
    "python_game",
    "register",
    "registered",
]

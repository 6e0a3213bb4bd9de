"""The Python game client (shipped in ``launchers/python``): ``from vecbridge.game import serve``."""

from vecbridge.launchers.python.vecbridge_game import game_config, serve

__all__ = ["game_config", "serve"]

if __name__ == "__main__":  # python -m vecbridge.game package.module:GameEnv
    import importlib
    import sys

    if len(sys.argv) != 2 or ":" not in sys.argv[1]:
        raise SystemExit("usage: python -m vecbridge.game package.module:EnvClassOrFactory")
    module_name, _, attr_name = sys.argv[1].partition(":")
    serve(getattr(importlib.import_module(module_name), attr_name))

"""The Python game client (shipped in ``launchers/python``): ``from vecbridge.game import serve``.

Run as a game process: ``python -m vecbridge.game package.module:EnvClass`` serves an
importable env class or factory; ``python -m vecbridge.game --pickled`` serves the
constructor that ``vecbridge.python_game(callable)`` shipped with cloudpickle
(see :mod:`vecbridge.pickled_game`).
"""

from vecbridge.launchers.python.vecbridge_game import game_config, serve

__all__ = ["game_config", "serve"]

if __name__ == "__main__":
    import importlib
    import sys

    if sys.argv[1:] == ["--pickled"]:
        from vecbridge.pickled_game import load

        serve(load())
    elif len(sys.argv) == 2 and ":" in sys.argv[1]:
        module_name, _, attr_name = sys.argv[1].partition(":")
        serve(getattr(importlib.import_module(module_name), attr_name))
    else:
        raise SystemExit("usage: python -m vecbridge.game package.module:EnvClassOrFactory | --pickled")

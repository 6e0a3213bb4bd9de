"""Any Gymnasium env constructor as a vecbridge game: shipped to each game process with cloudpickle.

    spec = vecbridge.python_game(lambda: gymnasium.make("CartPole-v1"))
    envs = vecbridge.make(spec, num_envs=8)

``python_game(callable)`` pickles the constructor (a class, a function, a lambda or a
closure) once, with cloudpickle, into the spec's environment: ``VECBRIDGE_PYTHON_GAME``
(base64) beside ``VECBRIDGE_PYTHON_PATH`` (this process's ``sys.path``). Each game process
(``python -m vecbridge.game --pickled``) puts the missing ``sys.path`` entries back, so that
whatever cloudpickle pickled by reference (functions and classes of importable modules, a
module in your working folder included) imports there as it does here, unpickles the
constructor and serves ``constructor(**game_options)`` with the Python client. Relaunches
run the same command with the same environment.

Why the environment, not a file: the spec stays one self-contained value (it travels to
worker processes, Ray actors and benchmark cases as it is, and a relaunch needs nothing
that a run folder must keep), and nothing is left on disk. The cost is a size limit: Linux
takes at most 128 KiB in one environment variable, so a constructor that captures large
data (an array, a dataset) is refused here with advice: load such data inside the
constructor instead.
"""

from __future__ import annotations

import base64
import os
import sys
from typing import Any, Callable

GAME_VARIABLE = "VECBRIDGE_PYTHON_GAME"
PATH_VARIABLE = "VECBRIDGE_PYTHON_PATH"
# MAX_ARG_STRLEN (32 pages of 4 KiB) bounds one "NAME=value" string; leave room for the name.
MAX_ENCODED = 128 * 1024 - 64


def environment(constructor: Callable[..., Any]) -> dict[str, str]:
    """The environment variables that carry ``constructor`` to a game process."""
    import cloudpickle

    if not callable(constructor):
        raise TypeError(f"python_game: expected 'module:EnvClass' or a callable returning a gymnasium.Env, "
                        f"got {type(constructor).__name__}")  # fmt: skip
    try:
        data = cloudpickle.dumps(constructor)
    except Exception as exc:
        raise TypeError(f"python_game: cloudpickle cannot pickle {constructor!r}: {type(exc).__name__}: {exc} "
                        "(does it capture a lock, a socket, an open file or a live env?)") from exc  # fmt: skip
    encoded = base64.b64encode(data).decode("ascii")
    if len(encoded) > MAX_ENCODED:
        raise ValueError(
            f"python_game: {constructor!r} pickles to {len(data) // 1024} KiB, more than an environment "
            f"variable can carry ({MAX_ENCODED * 3 // 4 // 1024} KiB): it captures large data; load that inside "
            "the constructor instead (from a file, say)"
        )
    # '' in sys.path is the working folder of this process, which a game process does not share
    path = [os.path.abspath(p) if p in ("", ".") else p for p in sys.path]
    return {GAME_VARIABLE: encoded, PATH_VARIABLE: os.pathsep.join(path)}


def load(environ: Any = None) -> Callable[..., Any]:
    """In the game process: the constructor that :func:`environment` packed."""
    env = os.environ if environ is None else environ
    encoded = env.get(GAME_VARIABLE)
    if not encoded:
        raise SystemExit(f"{GAME_VARIABLE} is not set: `python -m vecbridge.game --pickled` is started by "
                         "vecbridge.python_game(callable)")  # fmt: skip
    for entry in (env.get(PATH_VARIABLE) or "").split(os.pathsep):
        if entry and entry not in sys.path:
            sys.path.append(entry)  # after this process's own entries: they win
    import cloudpickle

    try:
        return cloudpickle.loads(base64.b64decode(encoded))
    except Exception as exc:
        raise SystemExit(
            f"vecbridge.game: cannot unpickle the game constructor: {type(exc).__name__}: {exc}\n"
            "(cloudpickle ships functions and classes of importable modules by reference: their module "
            "must import in the game process too, with this interpreter and the sys.path of the process "
            "that built the spec)"
        ) from exc

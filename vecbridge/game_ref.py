"""A game named in text, as every ``vecbridge`` command takes it: what it means, or one line saying why not.

    resolve_game("vecbridge/Catch-v0")          # a registered id: itself
    resolve_game("my_games:Maze-v0")            # Gymnasium's form: import my_games (it registers Maze-v0)
    resolve_game("my_games:maze_spec")          # a LaunchSpec, or a function returning one
    resolve_game("my_games:MazeEnv")            # a gymnasium.Env class (or a function returning an env)
    resolve_game("CartPole-v1")                 # an id only Gymnasium knows: served as a Python game

The result is a registered vecbridge id (a ``str``) or a :class:`LaunchSpec`, which
``vecbridge.make`` and everything built on it take. A launch command (what follows ``--``
on the command line) becomes ``LaunchSpec(command=...)`` with :func:`command_game`.
Anything else raises :class:`UnknownGame`, whose one-line message names the forms.

A Python env (a class, a factory, or an id only Gymnasium's registry has) is served with
``python_game``: each instance is its own process (cloudpickle ships the constructor, see
:mod:`vecbridge.pickled_game`). The working folder is put on ``sys.path`` (at the end), as
``python -m`` would, since the ``vecbridge`` script's own folder is ``.venv/bin``.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import os
import sys
import traceback
from typing import Any, Sequence

import gymnasium as gym

from vecbridge.errors import UsageError
from vecbridge.launch.spec import LaunchSpec, python_game
from vecbridge.protocol.values import with_article
from vecbridge.registry import registered_ids

__all__ = ["FORMS", "UnknownGame", "resolve_game", "command_game", "game_label", "game_argument", "resolve_or_exit",
           "make_gymnasium_env"]

FORMS = (
    "a registered id (see `vecbridge list`), MODULE:ENV_ID (a module that registers ENV_ID), "
    "MODULE:ATTRIBUTE (a LaunchSpec, a function returning one, or a gymnasium.Env class), "
    "or the command that launches one instance after --"
)


class UnknownGame(LookupError):
    """The text names no game; the message is one line, for a command line to print as it is."""


def make_gymnasium_env(module: str | None, env_id: str, **options: Any) -> gym.Env:
    """In a game process: ``gymnasium.make(env_id, **options)`` after importing the module that registers it."""
    if module:
        importlib.import_module(module)
    return gym.make(env_id, **options)


def _gymnasium_game(module: str | None, env_id: str) -> LaunchSpec:
    return python_game(functools.partial(make_gymnasium_env, module, env_id), name=env_id)


def _import(module_name: str, text: str) -> Any:
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.append(cwd)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name) and module_name[len(exc.name):][:1] in ("", "."):
            raise UnknownGame(f"no game {text!r}: there is no module {module_name!r} (looked on sys.path and in "
                              f"{cwd}); a game is {FORMS}") from None  # fmt: skip
        raise UnknownGame(_failure(f"importing {module_name!r} for {text!r}", exc)) from None
    except Exception as exc:
        raise UnknownGame(_failure(f"importing {module_name!r} for {text!r}", exc)) from None


def _failure(what: str, exc: BaseException) -> str:
    """``what failed at FILE:LINE: Type: message`` on one line: the innermost frame of the user's
    own code (not vecbridge's, the standard library's or an installed package's), else the innermost."""
    frames = traceback.extract_tb(exc.__traceback__)
    library = tuple({os.path.dirname(os.path.dirname(__file__)), sys.prefix, sys.base_prefix, sys.exec_prefix})
    own = [f for f in frames if not f.filename.startswith(library) and not f.filename.startswith("<")]
    frame = (own or frames or [None])[-1]
    where = f" at {frame.filename}:{frame.lineno}" if frame else ""
    message = " ".join(str(exc).split())
    return f"{what} failed{where}: {type(exc).__name__}: {message}"


def _from_attribute(text: str, module_name: str, name: str, value: Any) -> str | LaunchSpec:
    if isinstance(value, LaunchSpec):
        return value
    if isinstance(value, type) and issubclass(value, gym.Env):
        return python_game(value, name=name)
    if callable(value):
        try:
            made = value()
        except Exception as exc:
            raise UnknownGame(_failure(f"{text}()", exc)) from None
        if isinstance(made, LaunchSpec):
            return made
        if isinstance(made, gym.Env):  # an env factory: serve the factory itself, an instance per process
            made.close()
            return python_game(value, name=name)
        raise UnknownGame(f"{text}() returned {type(made).__name__}, not a vecbridge.LaunchSpec or a gymnasium.Env")
    raise UnknownGame(f"{text} is {with_article(type(value).__name__)}, not a LaunchSpec, a function returning one, "
                      f"or a gymnasium.Env class")  # fmt: skip


def resolve_game(text: str) -> str | LaunchSpec:
    """A registered id, or the LaunchSpec that ``text`` names; :class:`UnknownGame` if it names none."""
    text = str(text).strip()
    if text in registered_ids():
        return text
    if ":" in text:
        module_name, _, name = text.partition(":")
        if not module_name or not name:
            raise UnknownGame(f"no game {text!r}: a game is {FORMS}")
        module = _import(module_name, text)
        if name in registered_ids():  # the module registered it with vecbridge.register
            return name
        if name in gym.registry:  # ... or with gymnasium.register: a Python env
            return _gymnasium_game(module_name, name)
        if not hasattr(module, name):
            raise UnknownGame(f"no game {text!r}: {module_name} registers no id {name!r} and has no attribute "
                              f"{name!r}; a game is {FORMS}")  # fmt: skip
        return _from_attribute(text, module_name, name, getattr(module, name))
    if text in gym.registry:
        return _gymnasium_game(None, text)
    raise UnknownGame(f"no game {text!r}{_did_you_mean(text)}: a game is {FORMS}")


def _did_you_mean(text: str) -> str:
    """`` (did you mean vecbridge/Catch-v0?)`` for a registered id that ``text`` nearly is."""
    ids = sorted(registered_ids())
    same = [i for i in ids if i.rpartition("/")[2].lower() == text.rpartition("/")[2].lower()]
    close = same or difflib.get_close_matches(text, ids, n=1, cutoff=0.8)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def command_game(command: Sequence[str], framing: str = "auto") -> LaunchSpec:
    """The game that ``command`` launches (one instance; placeholders as in LaunchSpec).

    ``NODE_PATH`` leads with the JavaScript client's folder, as ``node_spec`` sets it, so that
    ``vecbridge check -- node game.js`` finds ``require("vecbridge")`` (launchers/js/README.md),
    and ``LUA_PATH`` with the Lua client's, so that ``vecbridge check -- lua5.4 game.lua`` finds
    ``require("vecbridge")`` (launchers/lua/README.md); what you set yourself follows.
    """
    node = _inherited("NODE_PATH")
    lua = _inherited("LUA_PATH")
    return LaunchSpec(command=list(command), framing=framing, env={
        "NODE_PATH": "{launchers}/js" + (os.pathsep + node if node else ""),
        "LUA_PATH": "{launchers}/lua/?.lua;" + (lua or ";"),  # ";;" at the end: Lua's default path
    })  # fmt: skip


def _inherited(name: str) -> str:
    """The variable as you set it, its braces escaped for LaunchSpec's placeholders."""
    return os.environ.get(name, "").replace("{", "{{").replace("}", "}}")


def game_label(game: str | LaunchSpec) -> str:
    """How a run names its game (config.json, tables): the id, the spec's name, else its command."""
    if isinstance(game, str):
        return game
    if game.name:
        return game.name
    return game.command if isinstance(game.command, str) else " ".join(game.command)


def game_argument(who: str, game: str | None, command: Sequence[str] = (), framing: str = "auto") -> str | LaunchSpec:
    """What a command's game arguments name, not yet resolved: the text, or a command after ``--``
    as a LaunchSpec. One line (``UsageError``) when both or neither are given."""
    if game and command:
        raise UsageError(f"vecbridge {who}: name a game or give its command after --, not both")
    if command:
        return command_game(command, framing)
    if not game:
        raise UsageError(f"vecbridge {who}: name a game: {FORMS}")
    return game


def resolve_or_exit(who: str, game: str | LaunchSpec) -> str | LaunchSpec:
    """:func:`resolve_game` for a command: ``UsageError`` with the one-line reason instead of a traceback."""
    if isinstance(game, LaunchSpec):
        return game
    try:
        return resolve_game(game)
    except UnknownGame as exc:
        raise UsageError(f"vecbridge {who}: {exc}") from None

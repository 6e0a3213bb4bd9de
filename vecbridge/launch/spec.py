"""How to start one game instance: a command template and its settings."""

from __future__ import annotations

import importlib
import json
import os
import reprlib
import shlex
import sys
import urllib.parse
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

from vecbridge.launch.options import check_options, keyword_options
from vecbridge.protocol.limits import DEFAULT_MAX_FRAME, HANDSHAKE_TIMEOUT

Command = Sequence[str] | str
# Game options travel as JSON in one environment variable (VECBRIDGE_CONFIG) and may fill a
# command-line argument ({config_json}); Linux holds at most 128 KiB in either (MAX_ARG_STRLEN).
MAX_CONFIG_JSON = 128 * 1024 - 64
# the placeholders of a command (LaunchSpec.template_values' keys)
PLACEHOLDERS = ("python", "launchers", "host", "port", "instance", "token", "workdir", "socket", "config_json", "config_url")


def launchers_dir() -> Path:
    """The installed ``launchers/`` folder (Lua and JavaScript clients), found with importlib.resources."""
    return Path(str(resources.files("vecbridge.launchers")))


@dataclass(frozen=True)
class LaunchSpec:
    """A game instance's command line and settings.

    ``command`` is a list of arguments (or one shell-like string) in which these
    placeholders are replaced per instance: ``{python}`` (this interpreter),
    ``{launchers}`` (the installed launchers folder), ``{host}``, ``{port}``,
    ``{instance}``, ``{token}``, ``{workdir}`` (the instance's private folder),
    ``{socket}`` (the Unix-domain socket's path, or empty), ``{config_json}`` and
    ``{config_url}`` (the same JSON, URL-encoded for a query string). A placeholder may sit
    inside a larger argument (``--port={port}``). Literal braces are doubled (``{{`` and
    ``}}``). The same values reach the game as ``VECBRIDGE_*`` environment variables
    (docs/protocol.md, section 1).
    """

    command: Command
    env: Mapping[str, str] = field(default_factory=dict)
    framing: str = "auto"  # what the host accepts: auto-detect, or one of binary / comm / websocket
    config: Mapping[str, Any] = field(default_factory=dict)  # game options: VECBRIDGE_CONFIG and the welcome
    cwd: str | None = None
    name: str = ""
    startup_timeout: float = 60.0  # launch to hello
    step_timeout: float = 60.0  # one request to its reply; past it the instance counts as hung
    close_grace: float = 2.0  # after 'close', how long before the process tree is killed
    max_frame_size: int = DEFAULT_MAX_FRAME  # after the hello; the hello itself is at most 256 KiB
    handshake_timeout: float = HANDSHAKE_TIMEOUT  # from connecting to a complete hello; past it the connection is closed
    unix_socket: bool = True  # offer a Unix-domain socket (VECBRIDGE_SOCKET) to clients that can use one
    max_log_bytes: int = 64 * 1024 * 1024  # a game log past this keeps its last part (0: no limit)
    # Lines that, in the game's log before its hello, mean it will never say one (FCEUX's
    # "Unknown ROM file format."): the launch fails at once, not after startup_timeout.
    fatal_log_lines: tuple[str, ...] = ()
    # Appended to the error of a launch that did not connect in time: what usually causes it.
    startup_hint: str = ""
    # The game options the game reads (name -> the least whole value it takes, or None for any
    # value); options besides these are refused. Empty: not declared, every option is sent.
    known_options: Mapping[str, int | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_config(self.config)
        if self.known_options:
            check_options(self.name or "this game", self.config, self.known_options)
        if self.max_log_bytes < 0:
            raise ValueError(f"max_log_bytes must be 0 (no limit) or more, got {self.max_log_bytes}")

    def with_config(self, **config: Any) -> "LaunchSpec":
        return replace(self, config={**self.config, **config})

    def argv(self, values: Mapping[str, Any]) -> list[str]:
        parts = shlex.split(self.command) if isinstance(self.command, str) else list(self.command)
        return [part.format(**values) for part in parts]

    def shown_argv(self) -> list[str]:
        """The command with each placeholder shown by its name (``{port}``): what ``vecbridge list``
        and check reports print."""
        return self.argv({name: "{" + name + "}" for name in PLACEHOLDERS})

    def template_values(
        self, *, host: str, port: int, instance: int, token: str, workdir: Path, socket: str = ""
    ) -> dict[str, Any]:
        return {
            "python": sys.executable,
            "launchers": str(launchers_dir()),
            "host": host,
            "port": port,
            "instance": instance,
            "token": token,
            "workdir": str(workdir),
            "socket": socket,
            "config_json": json.dumps(dict(self.config)),
            "config_url": urllib.parse.quote(json.dumps(dict(self.config)), safe=""),
        }

    def environment(self, values: Mapping[str, Any], workdir: Path) -> dict[str, str]:
        """The environment of one instance: ours, VECBRIDGE_*, a private HOME/TMPDIR/XDG_*, then ``env``."""
        home, tmp = workdir / "home", workdir / "tmp"
        env = dict(os.environ)
        env.update(
            VECBRIDGE_HOST=str(values["host"]),
            VECBRIDGE_PORT=str(values["port"]),
            VECBRIDGE_INSTANCE=str(values["instance"]),
            VECBRIDGE_TOKEN=str(values["token"]),
            VECBRIDGE_CONFIG=values["config_json"],
            VECBRIDGE_FRAMING=self.framing if self.framing != "auto" else "binary",
            VECBRIDGE_LAUNCHERS=values["launchers"],
            VECBRIDGE_WORKDIR=str(workdir),
            HOME=str(home),
            TMPDIR=str(tmp),
            XDG_RUNTIME_DIR=str(tmp),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_CACHE_HOME=str(home / ".cache"),
            XDG_DATA_HOME=str(home / ".local" / "share"),
            PYTHONUNBUFFERED="1",
        )
        if values.get("socket"):
            env["VECBRIDGE_SOCKET"] = str(values["socket"])
        else:
            env.pop("VECBRIDGE_SOCKET", None)  # not inherited from a vecbridge game that launches games
        for key, value in self.env.items():
            env[key] = str(value).format(**values)
        return env


def check_config(config: Mapping[str, Any]) -> None:
    """Game options that can reach a game: JSON (no NaN or infinity), named by strings, under the size limit."""
    for key, value in config.items():
        if not isinstance(key, str):
            raise TypeError(f"game option names must be strings, got {key!r}")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"game option {key}={reprlib.repr(value)} cannot reach the game: options travel as JSON "
                            f"(None, bool, int, finite float, str, and lists and dicts of them): {exc}") from None
    size = len(json.dumps(dict(config)).encode())
    if size > MAX_CONFIG_JSON:
        raise ValueError(f"the game options are {size:,} bytes of JSON, more than the {MAX_CONFIG_JSON:,} an environment "
                         "variable holds (they travel in VECBRIDGE_CONFIG): put large data in a file and pass its path")


def python_game(target: Any, **settings: Any) -> LaunchSpec:
    """A spec that serves a gymnasium.Env with the Python client, game options as keyword arguments.

    ``target``: ``"package.module:EnvClass"`` (imported in each game process), or any callable
    returning an env (a class, a function, a lambda, a closure), shipped to each game process
    with cloudpickle (:mod:`vecbridge.pickled_game`).
    """
    if isinstance(target, str):
        return LaunchSpec(command=["{python}", "-m", "vecbridge.game", target], **settings)
    from vecbridge.pickled_game import environment

    settings.setdefault("name", getattr(target, "__qualname__", "") or type(target).__name__)
    settings["env"] = {**environment(target), **settings.get("env", {})}
    return LaunchSpec(command=["{python}", "-m", "vecbridge.game", "--pickled"], **settings)


def declared_python_game(target: str, **settings: Any) -> LaunchSpec:
    """:func:`python_game` for an importable ``"package.module:EnvClass"`` whose options are declared:
    its constructor's keyword parameters become the spec's ``known_options``, so a misspelt option is
    a ``GameOptionError`` here, before any launch (not a failed launch with the cause in its log).

    It imports ``target`` in this process (the built-in games; a user's module may be importable only
    where the game runs). A constructor taking ``**kwargs`` declares nothing: every option is sent."""
    module, _, attr = target.partition(":")
    names = keyword_options(getattr(importlib.import_module(module), attr))
    return python_game(target, known_options=dict.fromkeys(names or ()), **settings)

"""JavaScript games run by Node, over TCP; npm packages fetched once, verified.

    import vecbridge
    envs = vecbridge.make("vecbridge/EscapeFromPongJS-v0", num_envs=4)       # efp.nes in jsnes
    envs = vecbridge.make("vecbridge/EscapeFromPongJS-v0", num_envs=4, observation_type="value")

    from vecbridge.backends.node import node_spec                           # your own game
    spec = node_spec("/path/to/game.mjs", npm_packages=[("jsnes", "3.0.0", "sha512-...")])
    envs = vecbridge.make(spec, num_envs=8, speed=2)                        # options reach the game

Each instance is one Node process running the game script, which serves itself with
``launchers/js/vecbridge.js`` (binary framing over TCP; ``NODE_PATH={launchers}/js``, so
``require("vecbridge")`` finds it). A game that needs npm packages names them with their
integrity strings: the instance's command then starts with this file run as a plain
script (standard library only, like ``browser_launcher.py``), which fetches each package
once into the per-user cache with ``npm.fetch_package`` (``npm pack``, integrity checked,
see ``npm.py``), puts each package's folder in ``VECBRIDGE_NPM_<NAME>`` (upper case,
non-alphanumerics as ``_``: ``VECBRIDGE_NPM_JSNES``) and then ``exec``s Node: no extra
process stays. See docs/backends/node.md.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vecbridge.backends.instance import npm
from vecbridge.backends.instance.npm import env_name

if TYPE_CHECKING:
    from vecbridge.launch.spec import LaunchSpec

__all__ = [
    "JSNES",
    "WS",
    "EFP_ROM",
    "GAMES_DIR",
    "find_node",
    "env_name",
    "node_spec",
    "fetch_jsnes",
    "fetch_ws",
    "escape_from_pong_js_spec",
]

LAUNCHER = Path(__file__).resolve().parent / "instance" / "node_launcher.py"
GAMES_DIR = "{launchers}/js/games"  # the shipped games, as a command placeholder
EFP_ROM = Path("/usr/share/nes/efp.nes")  # Debian package `efp` (BSD-3-Clause)

# npm package jsnes 3.0.0 (Apache-2.0, Ben Firshman); `npm view jsnes@3.0.0 dist.integrity`
JSNES = {
    "name": "jsnes",
    "version": "3.0.0",
    "integrity": "sha512-zKDhtiDpPs/XF/9Ycw5pe1hw+dSVjnY3ov30sniEk2qfaA2SwCPQkHGCreRIi4mH8jhfmXM0KN2RH1Q7sf9O7g==",
}

# npm package ws 8.23.0 (MIT): the WebSocket client vecbridge.js uses in a Node without a global
# WebSocket (Node 18; Node 20 without --experimental-websocket); `npm view ws@8.23.0 dist.integrity`
WS = {
    "name": "ws",
    "version": "8.23.0",
    "integrity": "sha512-wCkmX8QMOrKjgO8HW2WyDbTSGeqkocxgDzS9iR79rEAexty6/2qzilx3Ag8Tqf9ykop3irLKle0MtVn5qjVnoQ==",
}

NpmPackage = tuple[str, str, str]  # (name, version, integrity)


def _literal(text: str | os.PathLike) -> str:
    """Text that survives LaunchSpec's str.format of command parts."""
    return str(text).replace("{", "{{").replace("}", "}}")


def find_node() -> str:
    """The Node executable: ``$VECBRIDGE_NODE``, else ``node`` (or Debian's ``nodejs``) on PATH."""
    return os.environ.get("VECBRIDGE_NODE") or shutil.which("node") or shutil.which("nodejs") or "node"


def node_spec(
    script: str | os.PathLike,
    *,
    npm_packages: Iterable[NpmPackage | Mapping[str, str]] = (),
    npm_cache: str | os.PathLike | None = None,
    node: str | None = None,
    node_args: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    framing: str = "binary",
    name: str = "",
    startup_timeout: float = 60.0,
    step_timeout: float = 30.0,
    close_grace: float = 3.0,
    **config: Any,
) -> "LaunchSpec":
    """A LaunchSpec running ``script`` with Node; keyword arguments beyond these are game options.

    ``script``: a .js/.mjs file, or the name of one in ``launchers/js/games/``
    (``"escape_from_pong.mjs"``). ``npm_packages``: ``(name, version, integrity)`` tuples
    (or dicts with those keys) fetched before Node starts, into ``npm_cache`` (default:
    ``$VECBRIDGE_NPM_CACHE``, else ``$XDG_CACHE_HOME/vecbridge/npm``, resolved here in the
    user's process since each instance gets a private ``HOME``); the game finds each in
    ``$VECBRIDGE_NPM_<NAME>``. ``node``: the executable (default :func:`find_node`).
    ``node_args``: Node flags before the script. ``env``: more environment variables
    (placeholders such as ``{launchers}`` allowed). ``framing``: ``"binary"`` (TCP) or
    ``"websocket"``: then the ``ws`` package (:data:`WS`) is fetched too, which vecbridge.js
    uses where Node has no global WebSocket (before Node 22). ``startup_timeout`` covers a
    first ``npm pack`` too.
    """
    from vecbridge.launch.spec import LaunchSpec

    script = str(script)
    if os.sep in script or "/" in script:
        script_arg = _literal(Path(script).resolve())
    else:
        script_arg = f"{GAMES_DIR}/{_literal(script)}"
    node_command = [_literal(node or find_node()), *[_literal(a) for a in node_args], script_arg]
    if framing not in ("binary", "websocket"):
        raise ValueError(f"node_spec: framing is 'binary' or 'websocket', got {framing!r}")
    packages = [_package(p) for p in npm_packages]
    if framing == "websocket" and not any(p[0] == WS["name"] for p in packages):
        packages.append((WS["name"], WS["version"], WS["integrity"]))
    if packages:
        root = npm.absolute(npm_cache) if npm_cache is not None else npm.cache_root()
        command = ["{python}", _literal(LAUNCHER), "--npm-cache", _literal(root)]
        for pkg_name, version, integrity in packages:
            command += ["--npm", _literal(f"{pkg_name}@{version}"), "--integrity", _literal(integrity)]
        command += ["--", *node_command]
    else:
        command = node_command
    return LaunchSpec(
        command=command,
        env={"NODE_PATH": "{launchers}/js", **dict(env or {})},
        framing=framing,
        config=dict(config),
        name=name or Path(script).stem,
        startup_timeout=startup_timeout,
        step_timeout=step_timeout,
        close_grace=close_grace,
        startup_hint="a Node game connects when its script calls serve(...) of launchers/js/vecbridge.js: does it?",
    )


def _package(p: NpmPackage | Mapping[str, str]) -> NpmPackage:
    if isinstance(p, Mapping):
        p = (p["name"], p["version"], p["integrity"])
    pkg_name, version, integrity = p
    if not integrity:
        raise ValueError(f"node_spec: the npm package {pkg_name}@{version} needs its integrity string "
                         "(npm view NAME@VERSION dist.integrity)")
    return str(pkg_name), str(version), str(integrity)


def fetch_jsnes(npm_cache: str | os.PathLike | None = None) -> Path:
    """The unpacked jsnes package (fetched with ``npm pack`` and verified on first use)."""
    return npm.fetch_package(JSNES["name"], JSNES["version"], JSNES["integrity"], root=npm_cache)


def fetch_ws(npm_cache: str | os.PathLike | None = None) -> Path:
    """The unpacked ws package (for the WebSocket framing in a Node without a global WebSocket)."""
    return npm.fetch_package(WS["name"], WS["version"], WS["integrity"], root=npm_cache)


def escape_from_pong_js_spec(
    rom: str | os.PathLike = EFP_ROM, npm_cache: str | os.PathLike | None = None, **config: Any
) -> "LaunchSpec":
    """``vecbridge/EscapeFromPongJS-v0``: efp.nes in jsnes 3.0.0 under Node
    (``launchers/js/games/escape_from_pong.mjs``), the twin of FCEUX's ``vecbridge/EscapeFromPong-v0``.

    The same spaces, rules, options and defaults: the screen as observation (uint8
    240x256x3; ``observation_type="value"``, ``"ram"`` or ``"both"``), 4 frames per step,
    0..30 idle frames after each reset picked by the seed, 3 lives per episode. See
    docs/games/escape-from-pong.md ("The Node/jsnes twin").
    """
    options = {"observation_type": "image", "frameskip": 4, "noop_max": 30, "lives": 3, **config}
    known = {"rom": None, "jsnes": None, "observation_type": None, "frameskip": 1, "noop_max": 0, "reset_state": None,
             "lives": 1, "max_steps": 0, "check_hash": None, "setup_str": None}  # fmt: skip
    spec = node_spec(
        "escape_from_pong.mjs",
        npm_packages=[(JSNES["name"], JSNES["version"], JSNES["integrity"])],
        npm_cache=npm_cache,
        name="EscapeFromPongJS",
        rom=str(Path(rom).resolve()),
        **options,
    )
    return replace(spec, known_options=known)  # what escape_from_pong.mjs reads: anything else is refused

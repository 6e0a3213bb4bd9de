"""Chrome DevTools Protocol (CDP) commands over the ``websockets`` library's sync client.

The browser launcher (``browser_launcher.py``) runs this as a plain script's neighbour,
without importing vecbridge: each instance pays for a bare Python and ``websockets``
(both small) rather than for ``import vecbridge`` with Gymnasium and NumPy (0.3-0.8 s,
~26 MiB). The WebSocket itself is ``websockets.sync.client`` (the ``browser`` extra);
this module only adds DevTools' JSON commands, replies and events on top.

    port, _ = read_active_port(profile_dir, timeout=30)
    with DevTools(page_websocket_url(port, timeout=10)) as cdp:
        cdp.call("Page.navigate", {"url": "https://example.org"})
        event = cdp.next_event(timeout=1.0)       # {"method": ..., "params": ...} or None

Why not Playwright's ``connect_over_cdp``: it runs a Node driver per connection, measured
+0.8 s start-up and +126 MiB per instance on top of Chromium, for nothing this needs.
"""

from __future__ import annotations

import collections
import json
import os
import time
import types
from pathlib import Path
from typing import Any

__all__ = ["CDPError", "DevToolsClosed", "DevTools", "load", "read_active_port", "page_websocket_url"]

_library: types.SimpleNamespace | None = None


def load() -> types.SimpleNamespace:
    """Import ``websockets`` (once). Its import costs the launcher more than the rest of its
    start-up together (measured 0.35 s -> 0.70 s for the launcher's imports on a loaded 2-core
    machine), so the launcher calls this right after starting Chromium: the import then
    overlaps the browser's own start-up instead of preceding it."""
    global _library
    if _library is None:
        try:
            from websockets import exceptions
            from websockets.sync.client import connect
        except ImportError as missing:  # the launcher runs in the user's interpreter: say what to install
            raise SystemExit(
                f"vecbridge browser launcher: the browser backend needs the `websockets` package ({missing}); "
                "install the extra: pip install 'vecbridge[browser]'"
            ) from None
        _library = types.SimpleNamespace(
            connect=connect,
            ConnectionClosed=exceptions.ConnectionClosed,
            open_errors=(OSError, TimeoutError, exceptions.InvalidHandshake, exceptions.InvalidURI),
        )
    return _library

# A screenshot comes back as one base64 message (a 734x540 PNG: ~100 KiB); websockets' own
# limit is 1 MiB, too small for a large viewport.
MAX_MESSAGE = 256 * 1024 * 1024


class CDPError(Exception):
    """A DevTools command failed, or DevTools could not be reached."""


class DevToolsClosed(CDPError):
    """The DevTools connection ended (usually: the browser exited)."""


class DevTools:
    """JSON commands over one DevTools WebSocket (a page's or the browser's).

    ``call`` sends a command and waits for its reply; events that arrive meanwhile are
    queued for ``next_event``. ``session_id`` addresses a target attached with
    ``Target.attachToTarget(flatten=True)`` over a browser connection.
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        lib = load()
        self._closed_error = lib.ConnectionClosed
        try:
            # No compression (screenshots are base64 PNGs already; deflate would only cost CPU),
            # no keepalive pings (a page busy in a long step must not look dead), no proxy from
            # the environment (this is 127.0.0.1), no Origin header (Chromium refuses foreign
            # origins without --remote-allow-origins).
            self.ws = lib.connect(url, open_timeout=timeout, max_size=MAX_MESSAGE, compression=None, proxy=None,
                              ping_interval=None, close_timeout=2)  # fmt: skip
        except lib.open_errors as exc:
            raise CDPError(f"cannot open the DevTools WebSocket {url}: {exc}") from None
        self._next_id = 0
        self.events: collections.deque[dict[str, Any]] = collections.deque()

    def __enter__(self) -> "DevTools":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, method: str, params: dict[str, Any] | None = None, session_id: str | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        try:
            self.ws.send(json.dumps(message, separators=(",", ":")))
        except self._closed_error as exc:
            raise DevToolsClosed(f"{self.url}: the connection is closed ({exc})") from None
        return self._next_id

    def _receive(self, timeout: float | None) -> dict[str, Any] | None:
        """The next message, or None if ``timeout`` seconds pass first."""
        try:
            raw = self.ws.recv(timeout)
        except TimeoutError:
            return None
        except self._closed_error as exc:
            raise DevToolsClosed(f"{self.url}: the connection closed ({exc})") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise CDPError(f"{self.url}: DevTools sent a message that is not JSON: {raw[:200]!r}") from None

    def call(
        self, method: str, params: dict[str, Any] | None = None, session_id: str | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        want = self.send(method, params, session_id)
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(max(0.0, deadline - time.monotonic()))
            if message is None:
                raise CDPError(f"DevTools: no reply to {method} within {timeout} s")
            if message.get("id") == want:
                if "error" in message:
                    err = message["error"]
                    raise CDPError(f"DevTools {method} failed: {err.get('message')} {err.get('data', '')}".rstrip())
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def next_event(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next event ({"method", "params", maybe "sessionId"}); None if ``timeout`` s pass first."""
        if self.events:
            return self.events.popleft()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            message = self._receive(left)
            if message is None:
                return None
            if "method" in message:
                return message

    def close(self) -> None:
        self.ws.close()


def read_active_port(user_data_dir: str | os.PathLike, timeout: float = 30.0, alive=None) -> tuple[int, str]:
    """The DevTools port and browser path that Chromium writes to ``<user-data-dir>/DevToolsActivePort``
    when started with ``--remote-debugging-port=0``. ``alive()`` (optional) says whether to keep waiting."""
    path = Path(user_data_dir) / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while True:
        try:
            lines = path.read_text().split("\n")
            if len(lines) >= 2 and lines[0].strip().isdigit():
                return int(lines[0]), lines[1].strip()
        except OSError:
            pass
        if alive is not None and not alive():
            raise CDPError(f"the browser exited before it wrote {path}")
        if time.monotonic() > deadline:
            raise CDPError(f"the browser wrote no {path} within {timeout} s")
        time.sleep(0.02)


def _http_json(port: int, path: str, timeout: float) -> Any:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise CDPError(f"DevTools http://127.0.0.1:{port}{path} answered {response.status}")
        return json.loads(body)
    finally:
        conn.close()


def page_websocket_url(port: int, timeout: float = 10.0) -> str:
    """The WebSocket URL of the browser's first page target (from ``/json/list``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            for target in _http_json(port, "/json/list", timeout):
                if target.get("type") == "page" and target.get("webSocketDebuggerUrl"):
                    return target["webSocketDebuggerUrl"]
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise CDPError(f"DevTools on port {port} listed no page within {timeout} s")
        time.sleep(0.05)

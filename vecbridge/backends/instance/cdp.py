"""A small Chrome DevTools Protocol (CDP) client: a WebSocket client and JSON commands.

Standard library only, and it imports nothing from vecbridge: the per-instance browser
launcher (``browser_launcher.py``) runs it as a plain script, so that each instance pays
for a bare Python (about 14 MiB, 0.05 s) rather than for ``import vecbridge`` with
Gymnasium and NumPy (about 40 MiB, 0.3-0.8 s). For the same reason the few lines of
RFC 6455 client framing live here instead of coming from ``vecbridge.protocol.framing``.

    port, _ = read_active_port(profile_dir, timeout=30)
    with DevTools(page_websocket_url(port, timeout=10)) as cdp:
        cdp.call("Page.navigate", {"url": "https://example.org"})
        event = cdp.next_event(timeout=1.0)       # {"method": ..., "params": ...} or None

Why not Playwright: ``playwright`` (PyPI) drives ``/usr/bin/chromium`` fine with
``launch(executable_path=...)``, but it runs a Node driver per connection, which costs
about 125 MiB and 0.8 s per instance on top of Chromium; this client costs neither.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import os
import select
import socket
import struct
import time
import urllib.parse
from pathlib import Path
from typing import Any

__all__ = ["CDPError", "DevToolsClosed", "WebSocket", "DevTools", "read_active_port", "page_websocket_url"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_OP_CONT, _OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0, 1, 2, 8, 9, 10
_MAX_MESSAGE = 256 * 1024 * 1024


class CDPError(Exception):
    """A DevTools command failed, or DevTools could not be reached."""


class DevToolsClosed(CDPError):
    """The DevTools connection ended (usually: the browser exited)."""


def _xor(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    if not n:
        return data
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked, final frame (RFC 6455 5.2: a client masks every frame)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    return head + mask + _xor(payload, mask)


class WebSocket:
    """A blocking RFC 6455 client for ``ws://host:port/path`` (no TLS, no extensions)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "ws" or not parts.hostname:
            raise CDPError(f"expected a ws:// URL, got {url!r}")
        self.url = url
        self._buf = bytearray()
        self._fragments: bytearray | None = None
        self._fragment_op = 0
        self.closed = False
        try:
            self.sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
        except OSError as exc:
            raise CDPError(f"cannot connect to {url}: {exc}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16))
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        try:
            self.sock.sendall(request.encode("latin-1"))
            while b"\r\n\r\n" not in self._buf:
                chunk = self.sock.recv(65536)
                if not chunk or len(self._buf) > 65536:
                    raise CDPError(f"{url}: the WebSocket upgrade got no complete answer")
                self._buf += chunk
        except OSError as exc:
            self.sock.close()
            raise CDPError(f"{url}: WebSocket upgrade failed: {exc}") from None
        end = self._buf.index(b"\r\n\r\n")
        head = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest()).decode()
        if " 101 " not in head[0] + " " or headers.get("sec-websocket-accept") != accept:
            self.sock.close()
            raise CDPError(f"{url}: the server refused the WebSocket upgrade: {head[0]!r}")
        self.sock.settimeout(None)

    def send_text(self, text: str) -> None:
        self._send(_OP_TEXT, text.encode("utf-8"))

    def _send(self, opcode: int, payload: bytes) -> None:
        try:
            self.sock.sendall(_client_frame(opcode, payload))
        except OSError as exc:
            self.closed = True
            raise DevToolsClosed(f"{self.url}: send failed: {exc}") from None

    def _frame(self) -> tuple[bool, int, bytes] | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        n, pos = b1 & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                return None
            (n,) = struct.unpack_from("!H", buf, 2)
            pos = 4
        elif n == 127:
            if len(buf) < 10:
                return None
            (n,) = struct.unpack_from("!Q", buf, 2)
            pos = 10
        if n > _MAX_MESSAGE:
            raise CDPError(f"{self.url}: a frame of {n} bytes")
        mask = b""
        if b1 & 0x80:  # servers do not mask, but accept it
            mask, pos = bytes(buf[pos : pos + 4]), pos + 4
        if len(buf) < pos + n:
            return None
        data = bytes(buf[pos : pos + n])
        del buf[: pos + n]
        return bool(b0 & 0x80), b0 & 0x0F, _xor(data, mask) if mask else data

    def pending(self) -> bool:
        """Whether a whole message may already be buffered (then recv() does not block on the socket)."""
        return len(self._buf) >= 2

    def recv(self, timeout: float | None = None) -> bytes | None:
        """The next text or binary message; None if ``timeout`` s pass first. Raises DevToolsClosed at the end."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            frame = self._frame()
            if frame is None:
                if self.closed:
                    raise DevToolsClosed(f"{self.url}: the connection is closed")
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                        return None
                try:
                    chunk = self.sock.recv(1 << 20)
                except OSError as exc:
                    chunk = b""
                    if isinstance(exc, (socket.timeout, BlockingIOError)):
                        continue
                if not chunk:
                    self.closed = True
                    raise DevToolsClosed(f"{self.url}: the connection ended (the browser exited?)")
                self._buf += chunk
                continue
            fin, op, data = frame
            if op == _OP_PING:
                self._send(_OP_PONG, data)
            elif op == _OP_CLOSE:
                try:
                    self._send(_OP_CLOSE, data[:2])
                except DevToolsClosed:
                    pass
                self.closed = True
                raise DevToolsClosed(f"{self.url}: the server closed the connection")
            elif op in (_OP_TEXT, _OP_BINARY):
                if fin:
                    return data
                self._fragments, self._fragment_op = bytearray(data), op
            elif op == _OP_CONT and self._fragments is not None:
                self._fragments += data
                if fin:
                    data, self._fragments = bytes(self._fragments), None
                    return data
            elif op != _OP_PONG:
                raise CDPError(f"{self.url}: unexpected WebSocket opcode {op:#x}")

    def close(self) -> None:
        if not self.closed:
            try:
                self.sock.sendall(_client_frame(_OP_CLOSE, struct.pack("!H", 1000)))
            except OSError:
                pass
            self.closed = True
        self.sock.close()


class DevTools:
    """JSON commands over one DevTools WebSocket (a page's or the browser's).

    ``call`` sends a command and waits for its reply; events that arrive meanwhile are
    queued for ``next_event``. ``session_id`` addresses a target attached with
    ``Target.attachToTarget(flatten=True)`` over a browser connection.
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.ws = WebSocket(url, timeout)
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
        self.ws.send_text(json.dumps(message, separators=(",", ":")))
        return self._next_id

    def call(
        self, method: str, params: dict[str, Any] | None = None, session_id: str | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        want = self.send(method, params, session_id)
        deadline = time.monotonic() + timeout
        while True:
            raw = self.ws.recv(max(0.0, deadline - time.monotonic()))
            if raw is None:
                raise CDPError(f"DevTools: no reply to {method} within {timeout} s")
            message = json.loads(raw)
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
            raw = self.ws.recv(left)
            if raw is None:
                return None
            message = json.loads(raw)
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

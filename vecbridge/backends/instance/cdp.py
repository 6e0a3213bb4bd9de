"""Chrome DevTools Protocol (CDP) over Chromium's ``--remote-debugging-pipe``.

The browser launcher (``browser_launcher.py``) runs this as a plain script's neighbour,
without importing vecbridge (a bare Python with the standard library: ``import vecbridge``
with Gymnasium and NumPy would cost each instance 0.3-0.8 s and ~26 MiB).

    proc, cdp = launch(["chromium", "--headless", ..., "about:blank"])
    cdp.attach_page()                                  # commands now go to the first page
    cdp.call("Page.navigate", {"url": "https://example.org"})
    event = cdp.next_event(timeout=1.0)                # {"method": ..., "params": ...} or None
    cdp.call("Browser.close", browser=True)

Why a pipe and not ``--remote-debugging-port``: a DevTools port is a TCP port on
127.0.0.1 that every local user can connect to, without a password; through it a stranger
read the run's token from the page, opened ``file:///etc/shadow`` with the launcher's
rights and took over an instance (a review, 2026-12-01). The pipe is two file descriptors
that only this process holds: fd 3 carries commands to Chromium, fd 4 its replies and
events, each a JSON text ending in a NUL byte (what Puppeteer and Playwright use too).

Why not Playwright: it runs a Node driver per connection, measured +0.8 s start-up and
+126 MiB per instance on top of Chromium, for nothing this needs.
"""

from __future__ import annotations

import collections
import json
import os
import select
import subprocess
import time
from typing import Any, Callable, Sequence

__all__ = ["CDPError", "DevToolsClosed", "DevTools", "launch"]

# A screenshot comes back as one base64 message (a 734x540 PNG: ~100 KiB); a larger viewport
# makes a larger one. Past this size the launcher stops rather than buffer without end.
MAX_MESSAGE = 256 * 1024 * 1024
_CHILD_READS, _CHILD_WRITES = 3, 4  # the descriptors Chromium's --remote-debugging-pipe uses


class CDPError(Exception):
    """A DevTools command failed, or DevTools could not be reached."""


class DevToolsClosed(CDPError):
    """The DevTools connection ended (usually: the browser exited)."""


class DevTools:
    """JSON commands over the browser's DevTools pipe.

    ``call`` sends a command and waits for its reply; events that arrive meanwhile are
    queued for ``next_event``. After :meth:`attach_page`, commands go to that page (its
    flat session) unless ``browser=True``.
    """

    def __init__(self, reads: int, writes: int, name: str = "Chromium") -> None:
        self.reads, self.writes, self.name = reads, writes, name
        self.session_id: str | None = None
        self._next_id = 0
        self._buffer = bytearray()
        self._messages: collections.deque[bytes] = collections.deque()
        self.events: collections.deque[dict[str, Any]] = collections.deque()

    def __enter__(self) -> "DevTools":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(
        self, method: str, params: dict[str, Any] | None = None, session_id: str | None = None, browser: bool = False
    ) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        session = None if browser else (session_id or self.session_id)
        if session:
            message["sessionId"] = session
        data = memoryview(json.dumps(message, separators=(",", ":")).encode() + b"\0")
        try:
            while data:
                data = data[os.write(self.writes, data) :]
        except OSError as exc:  # EPIPE: the browser is gone
            raise DevToolsClosed(f"{self.name}: the DevTools pipe is closed ({exc})") from None
        return self._next_id

    def _receive(self, timeout: float | None) -> dict[str, Any] | None:
        """The next message, or None if ``timeout`` seconds pass first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._messages:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                ready, _, _ = select.select([self.reads], [], [], left)
            except InterruptedError:
                continue
            if not ready:
                return None
            try:
                chunk = os.read(self.reads, 1 << 20)
            except OSError as exc:
                raise DevToolsClosed(f"{self.name}: the DevTools pipe failed ({exc})") from None
            if not chunk:
                raise DevToolsClosed(f"{self.name}: the DevTools pipe closed (the browser exited)")
            self._buffer += chunk
            *whole, rest = self._buffer.split(b"\0")
            if len(rest) > MAX_MESSAGE:
                raise CDPError(f"{self.name}: a DevTools message of over {MAX_MESSAGE} bytes")
            self._messages.extend(whole)
            self._buffer = bytearray(rest)
        raw = self._messages.popleft()
        try:
            return json.loads(raw)
        except ValueError:
            raise CDPError(f"{self.name}: DevTools sent a message that is not JSON: {bytes(raw[:200])!r}") from None

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session_id: str | None = None,
        timeout: float = 30.0,
        browser: bool = False,
    ) -> dict[str, Any]:
        want = self.send(method, params, session_id, browser)
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

    def attach_page(self, timeout: float = 30.0) -> str:
        """Attach to the browser's first page (waiting for it to exist); later commands go to it."""
        deadline = time.monotonic() + timeout
        while True:
            targets = self.call("Target.getTargets", browser=True, timeout=max(1.0, deadline - time.monotonic()))
            pages = [t for t in targets.get("targetInfos", []) if t.get("type") == "page"]
            if pages:
                break
            if time.monotonic() > deadline:
                raise CDPError(f"{self.name} opened no page within {timeout} s")
            time.sleep(0.02)
        attached = self.call("Target.attachToTarget", {"targetId": pages[0]["targetId"], "flatten": True}, browser=True)
        self.session_id = attached["sessionId"]
        return self.session_id

    def close(self) -> None:
        for fd in (self.reads, self.writes):
            try:
                os.close(fd)
            except OSError:
                pass
        self.reads = self.writes = -1


def launch(
    command: Sequence[str], preexec: Callable[[], None] | None = None, **popen: Any
) -> tuple[subprocess.Popen, DevTools]:
    """Start ``command`` (a Chromium command line) with ``--remote-debugging-pipe``; the process
    and its DevTools. ``preexec`` runs in the child before exec (e.g. a parent-death signal)."""
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    # the child's ends, above the descriptors it needs (3, 4), so that moving them there clobbers nothing
    child_reads = _dup_above(to_child_r, 10)
    child_writes = _dup_above(from_child_w, 10)
    for fd in (to_child_r, from_child_w):
        os.close(fd)
    # while Popen runs, 3 and 4 must be taken here: else its own error pipe may be given one of them
    placeholders = [os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC) for _ in range(2)]

    def child() -> None:
        os.dup2(child_reads, _CHILD_READS)
        os.dup2(child_writes, _CHILD_WRITES)
        if preexec is not None:
            preexec()

    try:
        proc = subprocess.Popen([*command, "--remote-debugging-pipe"], preexec_fn=child,
                                pass_fds=(_CHILD_READS, _CHILD_WRITES), **popen)  # fmt: skip
    except BaseException:
        for fd in (to_child_w, from_child_r):
            os.close(fd)
        raise
    finally:
        for fd in (*placeholders, child_reads, child_writes):
            os.close(fd)
    return proc, DevTools(from_child_r, to_child_w, name=f"Chromium pid {proc.pid}")


def _dup_above(fd: int, low: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low)

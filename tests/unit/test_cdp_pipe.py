"""The DevTools pipe (``cdp.launch``): fds 3 and 4 of the child, NUL-terminated JSON, sessions.

The child here is a small Python stand-in for Chromium's ``--remote-debugging-pipe`` end (a
real process over real pipes): it answers ``Target.getTargets`` (no page at first, then
one), ``Target.attachToTarget``, echoes other commands with their session, sends an event
between a command and its reply, and exits on ``Browser.close``. The real browser is in
tests/integration/test_browser.py.
"""

from __future__ import annotations

import sys
import textwrap

import pytest

from vecbridge.backends.instance import cdp

FAKE_BROWSER = textwrap.dedent(
    r"""
    import json, os, sys
    assert sys.argv[-1] == "--remote-debugging-pipe", sys.argv
    reads, writes = 3, 4
    asked = 0
    def send(message):
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(writes, data):]
    buffer = b""
    while True:
        chunk = os.read(reads, 65536)
        if not chunk:
            break
        buffer += chunk
        *whole, buffer = buffer.split(b"\0")
        for raw in whole:
            m = json.loads(raw)
            if m["method"] == "Target.getTargets":
                asked += 1
                pages = [{"type": "page", "targetId": "T1"}] if asked > 2 else []
                send({"id": m["id"], "result": {"targetInfos": [{"type": "browser", "targetId": "B"}] + pages}})
            elif m["method"] == "Target.attachToTarget":
                send({"id": m["id"], "result": {"sessionId": "S-" + m["params"]["targetId"]}})
            elif m["method"] == "Browser.close":
                send({"id": m["id"], "result": {}})
                sys.exit(0)
            elif m["method"] == "Fail":
                send({"id": m["id"], "error": {"message": "no such method", "data": "Fail"}})
            else:
                send({"method": "Runtime.consoleAPICalled", "params": {"n": m["id"]}, "sessionId": m.get("sessionId")})
                send({"id": m["id"], "result": {"echo": m["params"], "session": m.get("sessionId"),
                                                "fds": sorted(int(f) for f in os.listdir("/proc/self/fd"))}})
    """
)


def test_commands_events_sessions_and_the_end_over_the_pipe(tmp_path):
    script = tmp_path / "fake_browser.py"
    script.write_text(FAKE_BROWSER)
    proc, devtools = cdp.launch([sys.executable, str(script)])
    try:
        assert devtools.attach_page(timeout=10) == "S-T1"  # waited for the page to exist
        got = devtools.call("Page.navigate", {"url": "about:blank", "pad": "x" * 300_000})  # larger than a pipe holds
        assert got["echo"]["url"] == "about:blank" and got["session"] == "S-T1"
        assert got["fds"][:5] == [0, 1, 2, 3, 4]  # the pipe's ends are 3 and 4 in the child ...
        assert len(got["fds"]) <= 6  # ... and nothing else of this process leaked into it (6: listdir's own fd)
        event = devtools.next_event(timeout=5)  # the event sent before the reply, kept for later
        assert event["method"] == "Runtime.consoleAPICalled" and event["sessionId"] == "S-T1"
        assert devtools.call("Target.getTargets", browser=True)["targetInfos"][0]["type"] == "browser"
        with pytest.raises(cdp.CDPError, match="DevTools Fail failed: no such method Fail"):
            devtools.call("Fail")
        assert devtools.next_event(timeout=0.2) is None  # an error reply is no event
        devtools.call("Browser.close", browser=True)
        assert proc.wait(10) == 0
        with pytest.raises(cdp.DevToolsClosed, match="the browser exited"):
            devtools.next_event(timeout=5)
    finally:
        devtools.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_command_to_a_browser_that_is_gone_says_so(tmp_path):
    proc, devtools = cdp.launch([sys.executable, "-c", "import sys; sys.exit(3)"])
    try:
        assert proc.wait(10) == 3
        with pytest.raises(cdp.DevToolsClosed):
            devtools.call("Target.getTargets", browser=True, timeout=5)
    finally:
        devtools.close()


def test_no_reply_within_the_timeout(tmp_path):
    proc, devtools = cdp.launch([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(cdp.CDPError, match="no reply to Page.enable within 0.3 s"):
            devtools.call("Page.enable", timeout=0.3)
    finally:
        devtools.close()
        proc.kill()
        proc.wait()

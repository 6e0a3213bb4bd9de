"""Settings for the whole suite: a private TMPDIR and a mark on every process it starts.

The tiers: ``tests/unit`` (sans-I/O: no processes, no sockets to other programs) and
``tests/integration`` (real processes over real sockets; its conftest fails a test that
leaves a process, a run folder or a /dev/shm file behind). Shared test helpers live in
``tests/support``, test games in ``tests/games``.
"""

from __future__ import annotations

import os
import tempfile
import uuid



# Every process this test session starts inherits this marker, so leftovers are found
# even after they were re-parented, and processes of other sessions are never blamed.
SESSION_MARK = uuid.uuid4().hex
os.environ["VECBRIDGE_TEST_SESSION"] = SESSION_MARK
# Run folders go to a private temporary directory, checked after each test.
_TMP = tempfile.mkdtemp(prefix="vbt-")  # short: Chromium fails if its socket path under TMPDIR passes 107 bytes
os.environ["TMPDIR"] = _TMP
tempfile.tempdir = _TMP


def pytest_sessionfinish(session, exitstatus):
    import shutil

    shutil.rmtree(_TMP, ignore_errors=True)

"""The shared buffers' memory is reserved when they are made: no room is an error at make(), not a SIGBUS."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# A file size limit stands in for a full /dev/shm (which needs root to shrink): posix_fallocate
# fails the same way, and the sparse ftruncate it replaced did not fail at all (the first write
# past the room there was a SIGBUS: a trial, with a 64-KiB /dev/shm).
SCRIPT = textwrap.dedent(
    """
    import os, resource, signal
    from gymnasium import spaces
    from vecbridge.errors import VecBridgeError
    from vecbridge.vector.buffers import Buffers, _shm_dir
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    tag = "room-test"
    try:
        Buffers.create(spaces.Box(0, 255, (64, 64, 3), "uint8"), spaces.Discrete(2), 2, tag)
    except VecBridgeError as exc:
        print(exc)
    left = [n for n in os.listdir(_shm_dir()) if n.startswith(f"vecbridge-{os.getpid()}-{tag}")]
    print("left:", left)
    """
)


def test_no_room_for_the_shared_buffers_is_a_clear_error_and_leaves_no_file():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    said, left = out.stdout.splitlines()
    assert said.startswith("no room for vecbridge's shared buffers in ") and "one needs 24,576 bytes" in said, said
    assert "File too large" in said and "docker run --shm-size=1g" in said, said
    assert left == "left: []"

"""Runs inside a BizHawk instance's process: write its config.ini, then become EmuHawk.

    python -m vecbridge.backends.instance.bizhawk_launcher --write-config PATH --settings JSON \
        [--base-config PATH] -- EmuHawk ...

vecbridge.backends.bizhawk builds this command for each instance: BizHawk reads its settings
(single-instance mode off, sound and throttling off, no dialogs) only from a config file,
so each instance gets its own before EmuHawk starts (``exec``, so the process vecbridge
tracks is EmuHawk itself).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence


def write_config(path: str | os.PathLike, settings: Mapping[str, Any], base_config: str | os.PathLike | None = None) -> dict:
    """Write a BizHawk config.ini (JSON): ``base_config`` if given, with ``settings`` over it."""
    data: dict[str, Any] = {}
    if base_config is not None:
        data = json.loads(Path(base_config).read_text(encoding="utf-8-sig"))
    data.update(settings)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2), encoding="utf-8")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m vecbridge.backends.instance.bizhawk_launcher --write-config PATH --settings JSON [--base-config PATH] -- CMD...``:
    write the instance's config.ini, then replace this process with CMD (EmuHawk)."""
    import argparse

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        print("usage: python -m vecbridge.backends.instance.bizhawk_launcher --write-config PATH --settings JSON -- EmuHawk ...",
              file=sys.stderr)
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m vecbridge.backends.instance.bizhawk_launcher")
    parser.add_argument("--write-config", required=True)
    parser.add_argument("--settings", default="{}")
    parser.add_argument("--base-config")
    opts = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    write_config(opts.write_config, json.loads(opts.settings), opts.base_config)
    if not command:
        return 0
    sys.stdout.flush()
    sys.stderr.flush()
    if sys.platform == "win32":  # no real exec on Windows: wait, so vecbridge keeps tracking the process tree
        return subprocess.call(command)
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"vecbridge bizhawk_launcher: cannot start {command[0]!r}: {exc}", file=sys.stderr)
        return 127
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())

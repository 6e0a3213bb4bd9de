"""One Node game instance's launcher: fetch its npm packages, then exec Node.

vecbridge runs this file as the instance's command (``{python} .../node_launcher.py
--npm NAME@VERSION --integrity SRI ... [--npm-cache DIR] -- node script.mjs ...``; see
``vecbridge.backends.node.node_spec``). Standard library only, run as a plain script:
importing the vecbridge package would cost each instance a few hundred ms.
"""

from __future__ import annotations

import os
import shutil
import sys

# Run as a plain script (never imported): its folder, with npm.py, is sys.path[0].
import npm
from npm import env_name

def _launch(argv: list[str]) -> None:
    """``node_launcher.py --npm NAME@VERSION --integrity SRI ... [--npm-cache DIR] -- NODE ARGS...``:
    fetch the packages, then exec Node with ``VECBRIDGE_NPM_<NAME>`` set."""
    import argparse

    if "--" not in argv:
        raise SystemExit("vecbridge node launcher: expected `-- node script.js ...` after the options")
    split = argv.index("--")
    own, command = argv[:split], argv[split + 1:]
    parser = argparse.ArgumentParser(prog="vecbridge node launcher")
    parser.add_argument("--npm", action="append", default=[], help="NAME@VERSION of an npm package")
    parser.add_argument("--integrity", action="append", default=[], help="its integrity string, in the same order")
    parser.add_argument("--npm-cache", default=None, help="the package cache folder (default: per-user cache)")
    args = parser.parse_args(own)
    if len(args.npm) != len(args.integrity):
        raise SystemExit("vecbridge node launcher: give one --integrity per --npm")
    if not command:
        raise SystemExit("vecbridge node launcher: no command after --")
    env = dict(os.environ)
    for spec, integrity in zip(args.npm, args.integrity):
        pkg_name, _, version = spec.rpartition("@")
        if not pkg_name or not version:
            raise SystemExit(f"vecbridge node launcher: --npm wants NAME@VERSION, got {spec!r}")
        folder = npm.package_dir(pkg_name, version, args.npm_cache)
        if not (folder / npm.MARKER).is_file():
            print(f"vecbridge node launcher: fetching {spec} with npm pack into {folder.parent} (once)",
                  file=sys.stderr, flush=True)
        try:
            folder = npm.fetch_package(pkg_name, version, integrity, root=args.npm_cache)
        except npm.NpmError as exc:
            raise SystemExit(f"vecbridge node launcher: {exc}") from None
        env[env_name(pkg_name)] = str(folder)
    executable = shutil.which(command[0], path=env.get("PATH")) or command[0]
    try:
        os.execve(executable, command, env)  # Node takes this process's place: same pid, same process group
    except OSError as exc:
        raise SystemExit(f"vecbridge node launcher: cannot run {command[0]!r}: {exc}") from None


if __name__ == "__main__":
    _launch(sys.argv[1:])

"""A plain, non-editable install finds its Lua and JavaScript files and runs a game."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import vecbridge
root = vecbridge.launchers_dir()
names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix in (".lua", ".js", ".mjs"))
assert any(n.startswith("lua/") for n in names), names
assert any(n.startswith("js/") for n in names), names
for shipped in ("lua/vecbridge.lua", "lua/processor.lua", "lua/processors/escape_from_pong.lua",
                "js/vecbridge.js", "js/adapters/2048.js", "js/games/escape_from_pong.mjs"):
    assert shipped in names, (shipped, names)
envs = vecbridge.make("vecbridge/Echo-v0", num_envs=2)
obs, _ = envs.reset(seed=0)
envs.close()
print(vecbridge.__file__)
print(root)
"""


def test_non_editable_install_ships_the_launchers(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(ROOT)],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    module_file, launchers = out.stdout.split()
    assert module_file.startswith(str(target)) and launchers.startswith(str(target))


def test_import_vecbridge_imports_no_backend():
    code = "import sys, vecbridge; print(sorted(m for m in sys.modules if m.startswith('vecbridge.backends')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

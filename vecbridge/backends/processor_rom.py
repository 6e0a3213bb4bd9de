"""The ROM a gym-bizhawk processor names, for launches that were given none.

gym-bizhawk's processors carry their ROM (``this.ROM = bizhawk.getenv_safe("SMB_PATH")``) and
its Lua side opens it in EmuHawk. FCEUX needs the ROM on its command line before any Lua runs
(its ``emu.loadrom`` crashes FCEUX 2.6.5 and a script without a game never gets a frame), so
vecbridge reads the processor's ROM here, before launching: ``launchers/lua/probe_processor.lua``
runs the processor file in a plain Lua interpreter (with stand-ins for the emulator's Lua
tables) up to the construction of the processor, in this process's environment, and reports
``ROM``, ``NAME``, ``HASH`` and the environment variables it read that are not set.

A relative ROM path is relative to the processor file's folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["ProcessorInfo", "probe_processor", "processor_file", "processor_rom"]

# Lua 5.4 first (BizHawk 2.9+ processors); LuaJIT and 5.1 read 5.1 code that 5.4 rejects.
_INTERPRETERS = ("lua5.4", "lua", "luajit", "lua5.1")


class ProcessorInfo(dict):
    """What the probe reported: ``rom``, ``name``, ``hash``, ``unset``, ``error``."""


def processor_file(processor: str | os.PathLike) -> Path:
    """The processor's file: a path, or a name in ``launchers/lua/processors/``."""
    text = str(processor)
    if os.sep in text or "/" in text or text.endswith(".lua"):
        return Path(text).resolve()
    from vecbridge import launchers_dir

    return Path(launchers_dir()) / "lua" / "processors" / f"{text}.lua"


def probe_processor(processor: str | os.PathLike, *, timeout: float = 20.0) -> ProcessorInfo:
    """Run ``probe_processor.lua`` on the processor file; raises ``ValueError`` when it cannot be read."""
    from vecbridge import launchers_dir

    path = processor_file(processor)
    if not path.is_file():
        raise FileNotFoundError(f"the processor file {path} does not exist")
    probe = Path(launchers_dir()) / "lua" / "probe_processor.lua"
    found = [exe for exe in (shutil.which(name) for name in _INTERPRETERS) if exe]
    if not found:
        raise RuntimeError("no Lua interpreter (lua5.4, luajit or lua5.1) to read the processor's ROM: run scripts/setup.sh")
    info = None
    for exe in found:
        done = subprocess.run([exe, str(probe), str(path)], capture_output=True, text=True, timeout=timeout,
                              cwd=str(path.parent))
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            info = ProcessorInfo(error=(done.stderr.strip() or done.stdout.strip() or f"{exe} exited {done.returncode}"))
            continue
        info = ProcessorInfo(json.loads(lines[-1]))
        if not info.get("error") or "cannot load the processor" not in str(info["error"]):
            break  # a syntax error may be another Lua version's syntax: try the next interpreter
    assert info is not None
    return info


def processor_rom(processor: str | os.PathLike) -> Path:
    """The processor's ROM file, resolved; a clear error when it names none or a missing file."""
    path = processor_file(processor)
    info = probe_processor(path)
    rom = info.get("rom")
    unset = [name for name in info.get("unset") or [] if name]
    if not rom and info.get("error") and "cannot load the processor" in str(info["error"]):
        raise ValueError(f"the processor {path} does not load (vecbridge reads its ROM from it when no rom= is "
                         f"given): {info['error']}")  # a syntax error: the fix is in the file, not in rom=
    if not rom:
        why = f" (it reads the environment variable{'s' if len(unset) > 1 else ''} {', '.join(unset)}, not set here)" \
            if unset else ""
        error = f"; reading it failed: {info['error']}" if info.get("error") else ""
        raise ValueError(f"no ROM given, and the processor {path} names none{why}{error}: pass rom=... "
                         f"or set the variable its ROM comes from")
    rom_path = Path(rom)
    if not rom_path.is_absolute():
        rom_path = path.parent / rom_path
    rom_path = Path(os.path.normpath(rom_path))  # symlinks kept: the user's name for the file
    if not rom_path.is_file():
        raise FileNotFoundError(f"the processor {path} names the ROM {rom!r}, and {rom_path} does not exist")
    return rom_path

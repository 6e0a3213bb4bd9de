"""Games in BizHawk (EmuHawk), driven by gym-bizhawk-style Lua processors.

    from vecbridge.backends.bizhawk import bizhawk_spec
    spec = bizhawk_spec("/path/to/smb.lua", rom="/path/to/smb.nes", emuhawk="/opt/BizHawk")
    envs = vecbridge.make(spec, num_envs=4, frameskip=4)

Each instance is one EmuHawk started as

    EmuHawk.exe --config=<workdir>/config.ini --socket_ip=127.0.0.1 --socket_port=<port>
                --lua=<launchers>/lua/processor.lua
                --userdata=vecbridge_instance:<i>;vecbridge_token:<token> --chromeless <rom>

(``mono EmuHawk.exe`` under ``xvfb-run -a`` on Linux). EmuHawk connects to vecbridge
itself (its ``comm`` socket client; ``framing="comm"``), and the Lua runtime
(``processor.lua`` -> ``bizhawk.lua`` -> ``vecbridge.lua``) serves the processor. A small
launcher (``python -m vecbridge.backends.instance.bizhawk_launcher``) first writes the per-instance
``config.ini``: BizHawk's single-instance mode (``SingleInstanceMode``, which forwards a
second launch to the first window) off, sound and throttling off, no first-boot or
update dialogs. It then execs EmuHawk.

BizHawk cannot be installed on the machines vecbridge is tested on: the command lines are
unit-tested, and the Lua side runs end to end under lua5.4 through
``launchers/lua/bizhawk_standin.lua`` with a fake emulator. See docs/backends/bizhawk.md.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from vecbridge.launch.spec import LaunchSpec

__all__ = ["bizhawk_spec", "emuhawk_command", "instance_config", "find_emuhawk"]

# Settings written into every instance's config.ini (BizHawk's Config class, JSON).
INSTANCE_CONFIG: dict[str, Any] = {
    "SingleInstanceMode": False,  # else a second EmuHawk hands its arguments to the first and exits
    "FirstBoot": False,
    "UpdateAutoCheckEnabled": False,
    "SkipOutdatedOsCheck": True,
    "SkipSuperuserPrivsCheck": True,
    "SuppressAskSave": True,
    "RunInBackground": True,
    "PauseWhenMenuActivated": False,
    "StartPaused": False,
    "ClockThrottle": False,  # unthrottled: as fast as the core runs
    "Unthrottled": True,
    "SoundEnabled": False,
    "SoundEnabledNormal": False,
    "DisplayMessages": False,  # no on-screen messages in screenshots
    "AutoLoadLastSaveSlot": False,
}
# Linux under Xvfb: GDI+ display (no OpenGL there), the dummy sound output.
LINUX_CONFIG: dict[str, Any] = {"DispMethod": 1, "SoundOutputMethod": 3}

# EmuHawk's flags that 2.9 (hand-written ArgParser: case-insensitive prefixes, an unknown flag
# is taken as the ROM path) and 2.10 (System.CommandLine: case-sensitive, an unknown flag or a
# second positional is an error shown in a modal dialog) both read the same way. vecbridge
# passes --config, --socket_ip, --socket_port, --lua, --userdata and --chromeless itself: 2.10
# refuses a single-value option given twice, so extra_args may not repeat those.
EXTRA_FLAGS = ("--load-slot=", "--load-state=", "--movie=", "--dump-type=", "--dump-frames=", "--dump-name=",
               "--dump-length=", "--dump-close", "--fullscreen", "--luaconsole", "--socket_udp", "--mmf=",
               "--url_get=", "--url_post=", "--audiosync=", "--open-ext-tool-dll=")
OWN_FLAGS = ("--config", "--socket_ip", "--socket_port", "--lua=", "--userdata", "--chromeless")


def _literal(text: str | os.PathLike) -> str:
    """Text that survives LaunchSpec's str.format of command parts."""
    return str(text).replace("{", "{{").replace("}", "}}")


def find_emuhawk(emuhawk: str | os.PathLike | None = None) -> Path:
    """EmuHawk.exe: ``emuhawk`` (the file or its folder), else ``$BIZHAWK_DIR/EmuHawk.exe``."""
    if emuhawk is None:
        folder = os.environ.get("BIZHAWK_DIR")
        if not folder:
            raise FileNotFoundError(
                "BizHawk not found: pass emuhawk='/path/to/BizHawk' (the folder or EmuHawk.exe) or set BIZHAWK_DIR"
            )
        emuhawk = folder
    path = Path(emuhawk)
    if path.is_dir() or path.suffix.lower() != ".exe":
        path = path / "EmuHawk.exe"
    return path


def instance_config(windows: bool, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings vecbridge writes into each instance's config.ini."""
    config = dict(INSTANCE_CONFIG)
    if not windows:
        config.update(LINUX_CONFIG)
    config.update(overrides or {})
    return config


def emuhawk_command(
    emuhawk: str | os.PathLike,
    rom: str | os.PathLike | None,
    *,
    windows: bool | None = None,
    xvfb: bool = True,
    mono: str = "mono",
    lua_script: str = "{launchers}/lua/processor.lua",
    extra_args: Sequence[str] = (),
) -> list[str]:
    """EmuHawk's argv as a LaunchSpec command template (``{port}``, ``{workdir}``, ... placeholders).

    The flags are the ones BizHawk 2.9 and 2.10 read alike (``--name=value``, lower case, the
    ROM last); ``extra_args`` must be among ``EXTRA_FLAGS``.
    """
    windows = sys.platform == "win32" if windows is None else windows
    for arg in extra_args:
        if arg.startswith(OWN_FLAGS):
            raise ValueError(f"extra_args: {arg!r} is set by vecbridge itself (BizHawk 2.10 refuses an option given twice)")
        if not arg.startswith(EXTRA_FLAGS):
            raise ValueError(f"extra_args: {arg!r} is not an EmuHawk flag that BizHawk 2.9 and 2.10 both read "
                             f"(2.9 would open it as the ROM, 2.10 stops with a dialog); use one of {', '.join(EXTRA_FLAGS)}")
    exe = _literal(emuhawk)
    prefix = [exe] if windows else ([*(["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24"] if xvfb else []), mono, exe])
    args = [
        "--config={workdir}/config.ini",
        "--socket_ip={host}",
        "--socket_port={port}",
        f"--lua={lua_script}",
        "--userdata=vecbridge_instance:{instance};vecbridge_token:{token}",
        "--chromeless",
        *[_literal(a) for a in extra_args],
    ]
    if rom is not None:
        args.append(_literal(Path(rom)))
    return prefix + args


def bizhawk_spec(
    processor: str | os.PathLike,
    rom: str | os.PathLike | None = None,
    *,
    emuhawk: str | os.PathLike | None = None,
    windows: bool | None = None,
    xvfb: bool = True,
    mono: str = "mono",
    base_config: str | os.PathLike | None = None,
    config_overrides: Mapping[str, Any] | None = None,
    extra_args: Sequence[str] = (),
    name: str = "",
    startup_timeout: float = 120.0,
    step_timeout: float = 60.0,
    close_grace: float = 5.0,
    **config: Any,
) -> LaunchSpec:
    """A LaunchSpec running ``processor`` (a gym-bizhawk-style processor file, or the name of
    one in launchers/lua/processors/) on ``rom`` in EmuHawk.

    ``base_config``: an existing config.ini to start from (your key bindings, cores, paths);
    vecbridge's settings (``INSTANCE_CONFIG``, then ``config_overrides``) are applied over it.
    Other keyword arguments become game options (see launchers/lua/bizhawk.lua).
    """
    windows = sys.platform == "win32" if windows is None else windows
    exe = find_emuhawk(emuhawk)
    processor = str(processor)
    if os.sep in processor or "/" in processor or processor.endswith(".lua"):
        processor = str(Path(processor).resolve())
    rom_path = str(Path(rom).resolve()) if rom is not None and str(rom) != "" else None  # "": the processor's ROM
    settings = instance_config(windows, config_overrides)
    launcher = [
        "{python}", "-m", "vecbridge.backends.instance.bizhawk_launcher",
        "--write-config", "{workdir}/config.ini",
        "--settings", _literal(json.dumps(settings, separators=(",", ":"))),
    ]
    if base_config is not None:
        launcher += ["--base-config", _literal(Path(base_config).resolve())]
    command = launcher + ["--"] + emuhawk_command(exe, rom_path, windows=windows, xvfb=xvfb, mono=mono,
                                                   extra_args=extra_args)
    env = {"VECBRIDGE_PROCESSOR": _literal(processor)}
    if not windows:
        folder = _literal(exe.parent)
        env["LD_LIBRARY_PATH"] = f"{folder}/dll:{folder}:" + _literal(os.environ.get("LD_LIBRARY_PATH", ""))
        env["MONO_WINFORMS_XIM_STYLE"] = "disabled"  # as EmuHawkMono.sh does (2.9 and 2.10)
        env["MONO_CRASH_NOFILE"] = "1"  # EmuHawkMono.sh too: no crash dump files in the instance folder
    game_options: dict[str, Any] = {"processor": processor, **config}
    if rom_path is not None:
        game_options.setdefault("rom", rom_path)
    return LaunchSpec(
        command=command,
        env=env,
        framing="comm",
        config=game_options,
        name=name or Path(processor).stem,
        startup_timeout=startup_timeout,
        # EmuHawk connects as it starts, and says hello only once its Lua script runs (after mono,
        # the core and the ROM have loaded): its connection waits for the hello that long.
        handshake_timeout=startup_timeout,
        step_timeout=step_timeout,
        close_grace=close_grace,
    )


def escape_from_pong_bizhawk_spec(**options: Any) -> LaunchSpec:
    """Escape from Pong (Debian's ``efp.nes``) in EmuHawk, with the same processor as the
    FCEUX build (``vecbridge/EscapeFromPong-v0``): registered as ``vecbridge/EscapeFromPongBizHawk-v0``.
    EmuHawk comes from ``emuhawk=`` or ``$BIZHAWK_DIR`` (``scripts/install-bizhawk.sh``)."""
    settings = {"observation_type": "image", "frameskip": 4, "noop_max": 30, "lives": 3, **options}
    return bizhawk_spec("escape_from_pong", settings.pop("rom", "/usr/share/nes/efp.nes"),
                        name="EscapeFromPongBizHawk", **settings)

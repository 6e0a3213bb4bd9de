"""NES games in FCEUX, headless, driven by gym-bizhawk-style Lua processors.

    import vecbridge
    envs = vecbridge.make("vecbridge/EscapeFromPong-v0", num_envs=4)            # screen: uint8 240x256x3
    envs = vecbridge.make("vecbridge/EscapeFromPong-v0", num_envs=4, observation_type="value")

    from vecbridge.backends.fceux import fceux_spec                             # your own processor
    spec = fceux_spec("/path/to/my_processor.lua", rom="/path/to/game.nes")
    envs = vecbridge.make(spec, num_envs=8, frameskip=4)

Each instance is one FCEUX process (``/usr/games/fceux`` on Debian) started with
``--no-config 1 --videoDriver 1 --sound 0 --loadlua launchers/lua/processor.lua ROM``
(after a ``/bin/sh`` check that the ROM exists) under ``QT_QPA_PLATFORM=offscreen`` and
``SDL_AUDIODRIVER=dummy``: no X server, no sound, the instance's private
``HOME``/``XDG_*`` from vecbridge. The Lua runtime
(``processor.lua`` -> ``bizhawk.lua`` -> ``vecbridge.lua``, FCEUX's Lua 5.1 with
LuaSocket) sets the emulator to maximum speed, loads the processor named by the game
option ``processor`` and serves it. Game options: see ``launchers/lua/bizhawk.lua`` and
docs/backends/fceux.md.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from vecbridge.backends.processor_rom import processor_rom
from vecbridge.launch.spec import LaunchSpec

__all__ = ["EFP_ROM", "find_fceux", "fceux_spec", "escape_from_pong_spec"]

EFP_ROM = Path("/usr/share/nes/efp.nes")  # Debian package `efp` (BSD-3-Clause)

# FCEUX 2.6.5's Qt build opens its message log at this compiled-in path, fopen("w+"), as
# whoever runs it. Where the kernel follows other users' symbolic links in /tmp
# (fs.protected_symlinks = 0), a stranger's link there would make FCEUX overwrite any file
# of yours (a review showed it, 2026-12-01): the log must then be a file of your own, which
# the prelude creates if it is missing (no one else can replace it in /tmp, which is sticky).
FCEUX_LOG = "/tmp/fceux.log"

# Before FCEUX: $1 the ROM, $2 FCEUX's log; then exec the rest. FCEUX without its ROM file
# never runs the script, so that fails here at once, with a clear message.
PRELUDE = (
    '[ -f "$1" ] || { echo "vecbridge: the ROM file $1 does not exist" >&2; exit 66; }; '
    'if [ "$(cat /proc/sys/fs/protected_symlinks 2>/dev/null)" != 1 ]; then '
    '[ -e "$2" ] || [ -L "$2" ] || (set -C; umask 077; : > "$2") 2>/dev/null; '
    'if [ -L "$2" ] || [ ! -O "$2" ]; then '
    'if [ -L "$2" ]; then what="a symbolic link"; else what="user $(stat -c %U "$2" 2>/dev/null)\'s file"; fi; '
    'echo "vecbridge: refusing to start FCEUX: it writes its log to $2 (a path compiled into it), which is $what, '
    'and this kernel follows other users\' links in /tmp (fs.protected_symlinks = 0); its owner or root can remove '
    '$2 (you cannot, in the sticky /tmp), or root can set fs.protected_symlinks = 1" >&2; exit 77; fi; '
    'fi; shift 2; exec "$@"'
)


def _literal(text: str | os.PathLike) -> str:
    """Text that survives LaunchSpec's str.format of command parts."""
    return str(text).replace("{", "{{").replace("}", "}}")


def find_fceux() -> str:
    """The FCEUX executable: ``$VECBRIDGE_FCEUX``, ``fceux`` on PATH, else Debian's /usr/games/fceux."""
    explicit = os.environ.get("VECBRIDGE_FCEUX")
    if explicit:
        return explicit
    return shutil.which("fceux") or shutil.which("fceux", path="/usr/games") or "/usr/games/fceux"


#: the game options launchers/lua/processor_game.lua reads for every processor (each processor
#: may read more of its own)
#: (``known_options``: None for any value, else the least whole value)
PROCESSOR_OPTIONS = {"processor": None, "rom": None, "observation_type": None, "spaces": None, "frameskip": 1,
                     "noop_max": 0, "reset_state": None, "setup_str": None, "setup_str_for_lua": None,
                     "lua_init_str": None, "mode": None, "check_hash": None}  # fmt: skip

#: what FCEUX prints when it cannot load the ROM: it then runs on without the game (and without
#: the Lua script), so the launch would otherwise wait out its whole startup_timeout
FATAL_LOG_LINES = ("Unknown ROM file format.",)


def fceux_spec(
    processor: str | os.PathLike,
    rom: str | os.PathLike | None = None,
    *,
    fceux: str | None = None,
    name: str = "",
    startup_timeout: float = 30.0,
    step_timeout: float = 30.0,
    close_grace: float = 5.0,
    extra_args: tuple[str, ...] = (),
    **config: Any,
) -> LaunchSpec:
    """A LaunchSpec running ``processor`` (a gym-bizhawk-style processor file, or the name of
    one in launchers/lua/processors/) on ``rom`` in headless FCEUX.

    Without ``rom`` (``None`` or ``""``) the ROM is the processor's own ``ROM`` (an absolute
    path, a path relative to the processor file, or what it reads from an environment
    variable), read now by ``processor_rom`` (``ValueError`` when it names none).
    Keyword arguments beyond these become game options (``frameskip``, ``observation_type``,
    ``spaces``, ``noop_max``, ``reset_state``, ``setup_str``, ``check_hash``, ...; see
    docs/backends/fceux.md).
    """
    processor = str(processor)
    if os.sep in processor or processor.endswith(".lua"):
        processor = str(Path(processor).resolve())
    rom_path = processor_rom(processor) if rom is None or str(rom) == "" else Path(rom).resolve()
    command = [
        fceux or find_fceux(),
        "--no-config", "1",
        "--videoDriver", "1",  # accepted though --help omits it; without it the offscreen mode crashes
        "--sound", "0",
        *[_literal(a) for a in extra_args],
        "--loadlua", "{launchers}/lua/processor.lua",
        _literal(rom_path),
    ]
    if sys.platform != "win32":
        command = ["/bin/sh", "-c", _literal(PRELUDE), "fceux-launch", _literal(rom_path), FCEUX_LOG, *command]
    return LaunchSpec(
        command=command,
        env={
            "QT_QPA_PLATFORM": "offscreen",
            "SDL_AUDIODRIVER": "dummy",
            "LUA_PATH": "{launchers}/lua/?.lua;;",  # FCEUX reads LUA_PATH: require('bizhawk') finds ours
        },
        framing="binary",
        config={"processor": processor, "rom": str(rom_path), **config},
        name=name or Path(processor).stem,
        startup_timeout=startup_timeout,
        step_timeout=step_timeout,
        close_grace=close_grace,
        fatal_log_lines=FATAL_LOG_LINES,
    )


def escape_from_pong_spec(rom: str | os.PathLike = EFP_ROM, **config: Any) -> LaunchSpec:
    """Escape from Pong (``efp.nes``) with launchers/lua/processors/escape_from_pong.lua.

    Defaults: the screen as observation (uint8 240x256x3), 4 frames per step, 0..30 idle
    frames after each reset picked by the seed, 3 lives per episode. See
    docs/games/escape-from-pong.md.
    """
    options = {"observation_type": "image", "frameskip": 4, "noop_max": 30, "lives": 3, **config}
    spec = fceux_spec("escape_from_pong", rom, name="EscapeFromPong", **options)
    return replace(spec, known_options={**PROCESSOR_OPTIONS, "lives": 1, "max_steps": 0})  # what the processor reads

"""A fake ``EmuHawk.exe`` for tests: takes EmuHawk's command line, checks it the way
EmuHawk would read it (BizHawk 2.9's ArgParser, or 2.10's when FAKE_EMUHAWK_PARSER=2.10), and
runs the Lua script under lua5.4 with the BizHawk stand-in (comm socket, userdata) and
fake_bizhawk_emu.lua (the emulator API).

    fake_emuhawk.py --config=PATH --socket_ip=IP --socket_port=PORT --lua=SCRIPT
                    --userdata=k:v;k2:v2 --chromeless ROM

Writes what it parsed to ``$FAKE_EMUHAWK_ARGS_OUT`` (JSON) when that is set.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


# BizHawk 2.10's flags (ArgParser.cs on System.CommandLine): name -> takes a value
FLAGS_2_10 = {
    "--audiosync": True, "--chromeless": False, "--config": True, "--dump-close": False, "--dump-frames": True,
    "--dump-length": True, "--dump-name": True, "--dump-type": True, "--fullscreen": False, "--load-slot": True,
    "--load-state": True, "--lua": True, "--luaconsole": False, "--mmf": True, "--movie": True,
    "--open-ext-tool-dll": True, "--socket_ip": True, "--socket_port": True, "--socket_udp": False, "--url_get": True,
    "--url_post": True, "--userdata": True, "--version": False,
}


def parse_2_10(argv: list[str]) -> dict:
    """As System.CommandLine reads EmuHawk 2.10's options: case-sensitive names, ``--name=value``,
    ``--name:value`` or ``--name value``; one positional (the ROM); anything else is an error
    (EmuHawk shows it in a modal dialog and does not start)."""
    values: dict = {}
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, value = arg, None
        if arg not in FLAGS_2_10 and arg.startswith("-"):
            cut = min((k for k in (arg.find("="), arg.find(":")) if k > 0), default=-1)
            if cut > 0:
                name, value = arg[:cut], arg[cut + 1:]
        if name in FLAGS_2_10:
            if FLAGS_2_10[name]:
                if value is None:
                    i += 1
                    if i >= len(argv):
                        raise SystemExit(f"failed to parse command-line arguments: Required argument missing for option: '{name}'.")
                    value = argv[i]
                if name in values:
                    raise SystemExit(f"failed to parse command-line arguments: Option '{name}' expects a single argument but 2 were provided.")
                values[name] = value
            else:
                values[name] = True
        elif arg.startswith("-"):
            raise SystemExit(f"failed to parse command-line arguments: Unrecognized command or argument '{arg}'.")
        else:
            positional.append(arg)
        i += 1
    if len(positional) > 1:
        raise SystemExit(f"failed to parse command-line arguments: Unrecognized command or argument '{positional[1]}'.")
    if ("--socket_ip" in values) != ("--socket_port" in values):
        raise SystemExit("Socket server needs both --socket_ip and --socket_port. Socket server was not started")
    out = {k.lstrip("-"): v for k, v in values.items()}
    out.setdefault("chromeless", False)
    out.setdefault("userdata", None)
    out["rom"] = positional[0] if positional else None
    return out


def parse(argv: list[str]) -> dict:
    if os.environ.get("FAKE_EMUHAWK_PARSER") == "2.10":
        return parse_2_10(argv)
    # 2.9's ArgParser.cs: flags are case-insensitive prefixes; anything else is the ROM (the last one wins)
    out: dict = {"rom": None, "userdata": None, "chromeless": False}
    for arg in argv:
        low = arg.lower()
        if low.startswith("--config="):
            out["config"] = arg.split("=", 1)[1]
        elif low.startswith("--socket_ip="):
            out["socket_ip"] = low.split("=", 1)[1]
        elif low.startswith("--socket_port="):
            out["socket_port"] = arg[14:]
        elif low.startswith("--lua="):
            out["lua"] = arg.split("=", 1)[1]
        elif low.startswith("--userdata="):
            out["userdata"] = arg[11:]
        elif low.startswith("--chromeless"):
            out["chromeless"] = True
        elif low.startswith("--audiosync="):
            out["audiosync"] = low.split("=", 1)[1]
        else:
            out["rom"] = arg
    if ("socket_ip" in out) != ("socket_port" in out):
        raise SystemExit("Socket server needs both --socket_ip and --socket_port. Socket server was not started")
    return out


def main() -> int:
    args = parse(sys.argv[1:])
    config = json.loads(Path(args["config"]).read_text(encoding="utf-8-sig"))
    if config.get("SingleInstanceMode") is not False:
        print("fake EmuHawk: SingleInstanceMode is on: this launch would be handed to the first instance", file=sys.stderr)
        return 3
    report = os.environ.get("FAKE_EMUHAWK_ARGS_OUT")
    if report:
        Path(report).write_text(json.dumps({"args": args, "config": config}))
    env = dict(os.environ)
    env["BIZHAWK_SOCKET_IP"] = args["socket_ip"]
    env["BIZHAWK_SOCKET_PORT"] = args["socket_port"]
    env["BIZHAWK_USERDATA"] = args["userdata"] or ""
    if args["rom"]:
        env["FAKE_ROM"] = args["rom"]
    launchers = env.get("VECBRIDGE_LAUNCHERS", "")
    env["LUA_PATH"] = f"{HERE}/?.lua;{launchers}/lua/?.lua;;"
    argv = ["lua5.4", "-l", "bizhawk_standin", "-l", "fake_bizhawk_emu", args["lua"]]
    os.execvpe(argv[0], argv, env)
    return 0


if __name__ == "__main__":
    sys.exit(main())

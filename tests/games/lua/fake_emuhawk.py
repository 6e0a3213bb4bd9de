"""A fake ``EmuHawk.exe`` for tests: takes EmuHawk's command line, checks it the way
EmuHawk would read it, and runs the Lua script under lua5.4 with the BizHawk stand-in
(comm socket, userdata) and fake_bizhawk_emu.lua (the emulator API).

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


def parse(argv: list[str]) -> dict:
    # ArgParser.cs: flags are case-insensitive prefixes; anything else is the ROM (the last one wins)
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

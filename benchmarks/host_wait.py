"""What waiting for its host costs an emulator: the ceiling of any lockstep design at N = 1.

    python benchmarks/host_wait.py                   # ~3 min: RAM and screen, waits of 0-400 µs
    python benchmarks/host_wait.py --obs ram --waits 0,150 --blocks 40

One FCEUX on Escape from Pong runs `raw`'s loop (4 frames with the processor's reads, then
the RAM or the screenshot), but with one round trip per step, as every out-of-process
environment has: it waits for one byte from this process, steps, and answers with the time
its step took (Lua's clock, from the byte received to the answer). This process answers at
once or after a busy wait of D µs, standing for the host's work between two steps (receive,
convert, return from ``step()``, the caller, send). Waits alternate in blocks of steps in the
same process, so each block pair saw the same machine; medians over blocks.

If the emulator were indifferent to waiting, a step with a wait of D would take D longer.
It is not: blocked in ``receive``, its thread leaves the CPU, and its own work (the same
frames, the same code) runs slower after each wait. ``--spin`` makes the emulator poll its
socket instead of blocking (``socket.select`` with no timeout), to tell the two apart.
The ratio column is the best a host that answers in D µs can reach against the free-running
loop (``raw``): steps/s with the wait divided by steps/s without it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vecbridge.backends.fceux import EFP_ROM, find_fceux

LOOP = r"""
local socket = require("socket")
local now, select_ = socket.gettime, socket.select
local obs_type, spin = os.getenv("WAIT_OBS"), os.getenv("WAIT_SPIN") == "1"
emu.speedmode("maximum")
emu.frameadvance()
local DIRS = { [0] = {}, { up = true }, { down = true }, { left = true }, { right = true } }
local read, sink = memory.readbyte, 0
local sock = assert(socket.connect("127.0.0.1", tonumber(os.getenv("WAIT_PORT"))))
sock:setoption("tcp-nodelay", true)
sock:send("r")
local watched = { sock }
while true do
  if spin then repeat until select_(watched, nil, 0)[1] end
  if sock:receive(1) ~= "g" then break end
  local t0 = now()
  local buttons = DIRS[math.random(0, 4)]
  for _ = 1, 4 do  -- as raw: the buttons, a frame, the processor's reads
    joypad.set(1, buttons)
    emu.frameadvance()
    sink = read(0x31) + read(0x32) + read(0x02) + read(0x16) + read(0x18)
  end
  if obs_type == "image" then local _ = gui.gdscreenshot(true) else local _ = memory.readbyterange(0, 2048) end
  sock:send(string.format("%08d", math.floor(1e6 * (now() - t0) + 0.5)))
end
emu.exit()
"""


def measure(obs: str, waits: list[int], blocks: int, block: int, spin: bool) -> dict[int, list[tuple[float, float]]]:
    """Per wait: (wall µs per step, the emulator's own µs per step) for each block."""
    home = Path(tempfile.mkdtemp(prefix="vecbridge-host-wait-"))
    (home / "loop.lua").write_text(LOOP)
    listener = socket.create_server(("127.0.0.1", 0))
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(home), "QT_QPA_PLATFORM": "offscreen",
           "SDL_AUDIODRIVER": "dummy", "WAIT_PORT": str(listener.getsockname()[1]), "WAIT_OBS": obs,
           "WAIT_SPIN": "1" if spin else "0"}  # fmt: skip
    command = [find_fceux(), "--no-config", "1", "--videoDriver", "1", "--sound", "0", "--loadlua",
               str(home / "loop.lua"), str(EFP_ROM)]  # fmt: skip
    proc = subprocess.Popen(command, env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        listener.settimeout(60)
        sock, _ = listener.accept()
        sock.settimeout(30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if sock.recv(1) != b"r":
            raise RuntimeError("FCEUX did not start the loop")

        def steps(n: int, wait_us: int) -> tuple[float, float]:
            own = 0
            t0 = time.perf_counter()
            for _ in range(n):
                sock.sendall(b"g")
                got = b""
                while len(got) < 8:
                    got += sock.recv(8 - len(got))
                own += int(got)
                if wait_us:
                    until = time.perf_counter() + wait_us / 1e6
                    while time.perf_counter() < until:
                        pass
            return (time.perf_counter() - t0) * 1e6 / n, own / n

        steps(300, 0)  # warm up: the game past its title, the JIT-less Lua settled
        results: dict[int, list[tuple[float, float]]] = {w: [] for w in waits}
        for k in range(blocks):
            for w in waits if k % 2 == 0 else reversed(waits):  # ABBA: no wait always first or last
                results[w].append(steps(block, w))
        return results
    finally:
        proc.kill()
        proc.wait()
        listener.close()
        shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obs", default="ram,image", help="ram, image or both (comma-separated)")
    parser.add_argument("--waits", default="0,150,400", help="the host's answer times to compare, µs")
    parser.add_argument("--blocks", type=int, default=30, help="blocks of steps per wait")
    parser.add_argument("--block", type=int, default=100, help="steps per block")
    args = parser.parse_args(argv)
    waits = sorted({int(w) for w in args.waits.split(",")} | {0})
    print(
        "| observation | emulator waits by | host's wait µs | µs per step | emulator's own µs per step | "
        "own work added by the wait | ceiling (steps/s against no wait) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for obs in args.obs.split(","):
        for spin in (False, True):
            res = measure(obs, waits, args.blocks, args.block, spin)
            base = res[0]
            for w in waits:
                wall = statistics.median(r[0] for r in res[w])
                own = statistics.median(r[1] for r in res[w])
                added = statistics.median(r[1] - b[1] for r, b in zip(res[w], base))  # paired by block
                ceiling = statistics.median(b[0] / r[0] for r, b in zip(res[w], base))
                print(
                    f"| {obs} | {'polling' if spin else 'blocking'} | {w} | {wall:,.0f} | {own:,.0f} | "
                    f"{added:+,.0f} | {ceiling:.2f}x |",
                    flush=True,
                )
    print(f"\nload average at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

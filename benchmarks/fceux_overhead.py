"""What vecbridge costs on top of FCEUX: Escape from Pong through vecbridge vs FCEUX alone.

    python benchmarks/fceux_overhead.py                 # about a minute on a quiet 2-core machine
    python benchmarks/fceux_overhead.py --steps 1000 --repeats 3 --json out.json

Measured in one run, in rounds that measure every variant back to back, so that both sides
see about the same machine load (the ratios are medians of the per-round ratios):

* raw: FCEUX with a Lua script that presses the same buttons, advances frames and reads
  the same RAM as the processor's getObservation (8 values), with no socket: the
  emulator's own speed (frames/s, timed inside Lua with LuaSocket's gettime);
* vecbridge: ``vecbridge/EscapeFromPong-v0`` as one GameEnv (observation_type "value",
  frameskip 4): env steps/s, times 4 = frames/s, including the processor runtime,
  the protocol and Python;
* the same with the screen as observation (uint8 240x256x3), and a 2-instance vector env.

The ratio vecbridge/raw (frames/s) is the fraction of FCEUX's speed that reaches Python.
Numbers vary with other load on the machine: compare ratios, not absolute speeds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

import vecbridge
from vecbridge.backends.fceux import EFP_ROM, escape_from_pong_spec, find_fceux

RAW_SCRIPT = r"""
local socket = require("socket")
local frames = tonumber(os.getenv("BENCH_FRAMES"))
local out = os.getenv("BENCH_OUT")
emu.speedmode("maximum")
emu.frameadvance()
local dirs = { {}, {up=true}, {down=true}, {left=true}, {right=true} }
local sum = 0
local t0, c0 = socket.gettime(), os.clock()
for i = 1, frames do
  joypad.set(1, dirs[(math.floor(i / 4) % 5) + 1])
  emu.frameadvance()
  -- the same reads as the processor's getObservation (8 values)
  sum = sum + memory.readbyte(0x16) + memory.readbyte(0x15) / 256 + memory.readbyte(0x18)
      + memory.readbyte(0x17) / 256 + memory.readbyte(0x19) + memory.readbyte(0x1A) + memory.readbyte(0x1B)
      + memory.readbyte(0x1C) + memory.readbyte(0x1E) + memory.readbyte(0x1F) + memory.readbyte(0x1D)
end
local dt, cpu = socket.gettime() - t0, os.clock() - c0
local f = io.open(out, "w"); f:write(string.format("%d %.6f %.6f %f\n", frames, dt, cpu, sum)); f:close()
emu.exit()
"""


def raw_fps(frames: int, workdir: Path) -> tuple[float, float]:
    """FCEUX alone: frames/s (wall clock) and CPU seconds per frame."""
    script = workdir / "raw.lua"
    script.write_text(RAW_SCRIPT)
    out = workdir / "raw.out"
    out.unlink(missing_ok=True)
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               QT_QPA_PLATFORM="offscreen", SDL_AUDIODRIVER="dummy", BENCH_FRAMES=str(frames), BENCH_OUT=str(out))
    proc = subprocess.Popen([find_fceux(), "--no-config", "1", "--videoDriver", "1", "--sound", "0",
                             "--loadlua", str(script), str(EFP_ROM)], env=env, cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not out.exists() or not out.read_text().endswith("\n"):
            if proc.poll() is not None and not out.exists():
                raise RuntimeError("FCEUX exited without a result")
            if time.monotonic() > deadline:
                raise TimeoutError("raw FCEUX run took too long")
            time.sleep(0.05)
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    n, dt, cpu, _ = out.read_text().split()
    return int(n) / float(dt), float(cpu) / int(n)


def vecbridge_steps(steps: int, observation_type: str) -> tuple[float, float, float]:
    """One GameEnv: steps/s (wall clock), and CPU seconds per step in FCEUX and in this Python process."""
    env = vecbridge.GameEnv(escape_from_pong_spec(observation_type=observation_type, frameskip=4, noop_max=0))
    try:
        emulator = psutil.Process(env.pid)
        rng = np.random.default_rng(0)
        actions = rng.integers(0, 9, size=steps)
        env.reset(seed=0)
        c0, p0, t0 = sum(emulator.cpu_times()[:2]), time.process_time(), time.perf_counter()
        for a in actions:
            _, _, terminated, truncated, _ = env.step(int(a))
            if terminated or truncated:
                env.reset()
        dt = time.perf_counter() - t0
        return steps / dt, (sum(emulator.cpu_times()[:2]) - c0) / steps, (time.process_time() - p0) / steps
    finally:
        env.close()


def vector_steps(steps: int, num_envs: int) -> float:
    envs = vecbridge.make(escape_from_pong_spec(observation_type="value", frameskip=4, noop_max=0), num_envs=num_envs)
    try:
        rng = np.random.default_rng(0)
        envs.reset(seed=0)
        t0 = time.perf_counter()
        for _ in range(steps):
            envs.step(rng.integers(0, 9, size=num_envs))
        return steps * num_envs / (time.perf_counter() - t0)
    finally:
        envs.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="env steps per vecbridge measurement (4 frames each)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds; each round measures every variant once")
    parser.add_argument("--image-steps", type=int, default=150)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    raw, value, image, vector = [], [], [], []
    cpu_raw, cpu_emu, cpu_py = [], [], []
    with tempfile.TemporaryDirectory(prefix="vb-fceux-bench-") as tmp:
        for r in range(args.repeats):
            # back to back, so that each round's ratios see about the same machine load
            fps, cpu = raw_fps(args.steps * 4, Path(tmp))
            raw.append(fps)
            cpu_raw.append(cpu)
            sps, emu_cpu, py_cpu = vecbridge_steps(args.steps, "value")
            value.append(sps * 4)
            cpu_emu.append(emu_cpu)
            cpu_py.append(py_cpu)
            image.append(vecbridge_steps(args.image_steps, "image")[0] * 4)
            vector.append(vector_steps(args.steps // 2, 2) * 4)
            print(f"round {r + 1}: FCEUX alone {raw[-1]:.0f} frames/s | vecbridge value {value[-1] / 4:.0f} steps/s "
                  f"({value[-1] / raw[-1]:.2f}) | image {image[-1] / 4:.0f} steps/s ({image[-1] / raw[-1]:.2f}) | "
                  f"2 instances {vector[-1] / 4:.0f} steps/s in total ({vector[-1] / raw[-1]:.2f})", flush=True)
    ratio = {k: statistics.median(a / b for a, b in zip(v, raw)) for k, v in
             dict(value=value, image=image, vector=vector).items()}
    med = {k: statistics.median(v) for k, v in dict(raw=raw, value=value, image=image, vector=vector).items()}
    result = {
        "cpus": os.cpu_count(),
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "raw_fps": med["raw"],
        "vecbridge_value_steps_per_s": med["value"] / 4,
        "vecbridge_value_fps": med["value"],
        "ratio_value": ratio["value"],
        "vecbridge_image_steps_per_s": med["image"] / 4,
        "ratio_image": ratio["image"],
        "vector2_steps_per_s": med["vector"] / 4,
        "ratio_vector2_vs_one_raw": ratio["vector"],
        "runs_fps": dict(raw=raw, value=value, image=image, vector=vector),
        # CPU time: robust to other load on the machine
        "cpu_us_per_frame_fceux_alone": statistics.median(cpu_raw) * 1e6,
        "cpu_us_per_step_fceux_behind_vecbridge": statistics.median(cpu_emu) * 1e6,
        "cpu_us_per_step_python": statistics.median(cpu_py) * 1e6,
    }
    print(f"\nmedians over {args.repeats} rounds (load average {load_before} before, {result['load_avg_after']} after)")
    print(f"FCEUX alone: {med['raw']:.0f} frames/s")
    print(f"through vecbridge (value obs, frameskip 4): {med['value'] / 4:.0f} steps/s = {med['value']:.0f} frames/s; "
          f"ratio to FCEUX alone {ratio['value']:.2f}")
    print(f"screen obs (240x256x3): {med['image'] / 4:.0f} steps/s; ratio {ratio['image']:.2f}")
    print(f"2 instances (vector env): {med['vector'] / 4:.0f} steps/s in total; {ratio['vector']:.2f}x one FCEUX alone")
    emu_extra = result["cpu_us_per_step_fceux_behind_vecbridge"] - 4 * result["cpu_us_per_frame_fceux_alone"]
    print(f"CPU time: FCEUX alone {result['cpu_us_per_frame_fceux_alone']:.0f} us/frame; behind vecbridge FCEUX uses "
          f"{result['cpu_us_per_step_fceux_behind_vecbridge']:.0f} us/step (4 frames; {emu_extra:.0f} us more: the Lua "
          f"runtime, processor and socket), Python {result['cpu_us_per_step_python']:.0f} us/step")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

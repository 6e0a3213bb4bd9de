"""What vecbridge costs on top of Node + jsnes: Escape from Pong through vecbridge vs the same game alone.

    python benchmarks/node_overhead.py                  # about a minute on a quiet 2-core machine
    python benchmarks/node_overhead.py --steps 1000 --repeats 3 --json out.json

Measured in one run, in rounds that measure every variant back to back, so that both sides
see about the same machine load (ratios are medians of the per-round ratios):

* jsnes bare: a Node script that loads efp.nes in jsnes 3.0.0 and calls ``nes.frame()`` in a
  loop: the emulator's own speed (frames/s, timed inside Node);
* game alone: the same Node script driving ``launchers/js/games/escape_from_pong.mjs``'s game
  object directly, no socket: ``game.step(action)`` with the same actions as below (4 frames per
  step, buttons, the processor's RAM reads and reward rules, the observation built);
* vecbridge: ``vecbridge/EscapeFromPongJS-v0`` as one GameEnv, the same actions: env steps/s,
  including the JavaScript client, the protocol and Python; with the value observation
  (8 floats) and with the screen (uint8 240x256x3), and a 2-instance vector env.

The ratio vecbridge / game alone is the fraction of the game's speed that reaches Python.
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
from vecbridge.backends.instance.npm import env_name
from vecbridge.backends.node import EFP_ROM, escape_from_pong_js_spec, fetch_jsnes, find_node

GAME_MODULE = vecbridge.launchers_dir() / "js" / "games" / "escape_from_pong.mjs"

RAW_SCRIPT = r"""
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
const { EscapeFromPong, EscapeFromPongCore, loadJsnes } = await import(pathToFileURL(process.env.BENCH_GAME).href);
const jsnes = await loadJsnes();
const mode = process.env.BENCH_MODE;
const actions = fs.readFileSync(process.env.BENCH_ACTIONS);
const warmup = Number(process.env.BENCH_WARMUP || 0);
let frames = 0, sum = 0;
let t0, c0;
if (mode === 'bare') {
  const core = new EscapeFromPongCore(jsnes, { rom: process.env.BENCH_ROM });
  const nes = core.nes;
  frames = actions.length * 4;
  for (let i = 0; i < warmup * 4; i++) nes.frame();
  t0 = process.hrtime.bigint(); c0 = process.cpuUsage();
  for (let i = 0; i < frames; i++) nes.frame();
  sum = nes.cpu.mem[0x16];
} else {
  const options = { observation_type: mode, frameskip: 4, noop_max: 0, rom: process.env.BENCH_ROM };
  const game = new EscapeFromPong(options, jsnes);
  game.reset(0, null);
  for (let i = 0; i < warmup; i++) game.step(actions[i % actions.length]);  // as the vecbridge run does
  game.reset(0, null);
  t0 = process.hrtime.bigint(); c0 = process.cpuUsage();
  for (let i = 0; i < actions.length; i++) {
    const r = game.step(actions[i]);
    sum += r.reward + (mode === 'value' ? r.observation[0] : r.observation[1000]);
    if (r.terminated || r.truncated) game.reset(null, null);
  }
  frames = actions.length * 4;
}
const dt = Number(process.hrtime.bigint() - t0) / 1e9;
const c = process.cpuUsage(c0);
console.log(JSON.stringify({ frames, seconds: dt, cpu_seconds: (c.user + c.system) / 1e6, sum }));
"""


def node_alone(mode: str, actions: np.ndarray, workdir: Path, jsnes: Path, warmup: int) -> tuple[float, float]:
    """frames/s (wall clock, timed inside Node) and CPU seconds per frame, without vecbridge."""
    script = workdir / "raw.mjs"
    script.write_text(RAW_SCRIPT)
    action_file = workdir / "actions.bin"
    action_file.write_bytes(actions.astype(np.uint8).tobytes())
    env = dict(os.environ, BENCH_GAME=str(GAME_MODULE), BENCH_MODE=mode, BENCH_ACTIONS=str(action_file),
               BENCH_ROM=str(EFP_ROM), BENCH_WARMUP=str(warmup), **{env_name("jsnes"): str(jsnes)})
    done = subprocess.run([find_node(), str(script)], env=env, cwd=workdir, capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"the Node script failed: {done.stderr.strip()[-2000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["frames"] / out["seconds"], out["cpu_seconds"] / out["frames"]


def vecbridge_steps(actions: np.ndarray, observation_type: str, warmup: int) -> tuple[float, float, float]:
    """One GameEnv: steps/s (wall clock), and CPU seconds per step in Node and in this Python process."""
    env = vecbridge.GameEnv(escape_from_pong_js_spec(observation_type=observation_type, frameskip=4, noop_max=0))
    try:
        game = psutil.Process(env.pid)
        env.reset(seed=0)
        for i in range(warmup):  # Node's JIT warms up on the same code as in the run alone
            env.step(int(actions[i % len(actions)]))
        env.reset(seed=0)
        c0, p0, t0 = sum(game.cpu_times()[:2]), time.process_time(), time.perf_counter()
        for a in actions:
            _, _, terminated, truncated, _ = env.step(int(a))
            if terminated or truncated:
                env.reset()
        dt = time.perf_counter() - t0
        n = len(actions)
        return n / dt, (sum(game.cpu_times()[:2]) - c0) / n, (time.process_time() - p0) / n
    finally:
        env.close()


def vector_steps(actions: np.ndarray, num_envs: int, warmup: int) -> float:
    envs = vecbridge.make(escape_from_pong_js_spec(observation_type="value", frameskip=4, noop_max=0),
                          num_envs=num_envs)
    try:
        envs.reset(seed=0)
        for i in range(warmup):
            envs.step(np.full(num_envs, actions[i % len(actions)]))
        t0 = time.perf_counter()
        for a in actions:
            envs.step(np.full(num_envs, a))
        return len(actions) * num_envs / (time.perf_counter() - t0)
    finally:
        envs.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500, help="env steps per measurement (4 frames each)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds; each round measures every variant once")
    parser.add_argument("--image-steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=100, help="untimed steps first, in every variant (Node's JIT)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    jsnes = fetch_jsnes()
    actions = np.random.default_rng(0).integers(0, 9, size=args.steps)
    image_actions = actions[: args.image_steps]
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    runs: dict[str, list[float]] = {k: [] for k in ("bare", "alone", "value", "alone_image", "image", "vector")}
    cpu: dict[str, list[float]] = {k: [] for k in ("alone", "node", "python")}
    with tempfile.TemporaryDirectory(prefix="vb-node-bench-") as tmp:
        for r in range(args.repeats):
            # back to back, so that each round's ratios see about the same machine load
            runs["bare"].append(node_alone("bare", actions, Path(tmp), jsnes, args.warmup)[0])
            fps, cpu_frame = node_alone("value", actions, Path(tmp), jsnes, args.warmup)
            runs["alone"].append(fps)
            cpu["alone"].append(cpu_frame)
            sps, node_cpu, py_cpu = vecbridge_steps(actions, "value", args.warmup)
            runs["value"].append(sps * 4)
            cpu["node"].append(node_cpu)
            cpu["python"].append(py_cpu)
            runs["alone_image"].append(node_alone("image", image_actions, Path(tmp), jsnes, args.warmup)[0])
            runs["image"].append(vecbridge_steps(image_actions, "image", args.warmup)[0] * 4)
            runs["vector"].append(vector_steps(actions[: args.steps // 2], 2, args.warmup) * 4)
            print(f"round {r + 1}: jsnes bare {runs['bare'][-1]:.0f} frames/s | game alone {runs['alone'][-1]:.0f} "
                  f"frames/s | vecbridge value {runs['value'][-1] / 4:.0f} steps/s "
                  f"({runs['value'][-1] / runs['alone'][-1]:.2f}) | image {runs['image'][-1] / 4:.0f} steps/s "
                  f"({runs['image'][-1] / runs['alone_image'][-1]:.2f} of the game alone with the screen) | "
                  f"2 instances {runs['vector'][-1] / 4:.0f} steps/s in total", flush=True)

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(runs[a], runs[b]))

    med = {k: statistics.median(v) for k, v in runs.items()}
    result = {
        "cpus": os.cpu_count(),
        "node": subprocess.run([find_node(), "--version"], capture_output=True, text=True).stdout.strip(),
        "jsnes": "3.0.0",
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "jsnes_bare_fps": med["bare"],
        "game_alone_value_fps": med["alone"],
        "vecbridge_value_steps_per_s": med["value"] / 4,
        "vecbridge_value_fps": med["value"],
        "ratio_value": ratio("value", "alone"),
        "ratio_value_to_bare_jsnes": ratio("value", "bare"),
        "game_alone_image_fps": med["alone_image"],
        "vecbridge_image_steps_per_s": med["image"] / 4,
        "ratio_image": ratio("image", "alone_image"),
        "vector2_steps_per_s": med["vector"] / 4,
        "ratio_vector2_vs_one_game_alone": ratio("vector", "alone"),
        "runs_fps": runs,
        # CPU time: robust to other load on the machine
        "cpu_us_per_frame_game_alone": statistics.median(cpu["alone"]) * 1e6,
        "cpu_us_per_step_node_behind_vecbridge": statistics.median(cpu["node"]) * 1e6,
        "cpu_us_per_step_python": statistics.median(cpu["python"]) * 1e6,
    }
    print(f"\nmedians over {args.repeats} rounds (load average {load_before} before, {result['load_avg_after']} after)")
    print(f"jsnes bare (nes.frame() only): {med['bare']:.0f} frames/s")
    print(f"the game alone (value obs, frameskip 4, no socket): {med['alone']:.0f} frames/s")
    print(f"through vecbridge (value obs): {med['value'] / 4:.0f} steps/s = {med['value']:.0f} frames/s; "
          f"ratio to the game alone {result['ratio_value']:.2f}, "
          f"to bare jsnes {result['ratio_value_to_bare_jsnes']:.2f}")
    print(f"screen obs (240x256x3): {med['image'] / 4:.0f} steps/s; ratio to the game alone with the screen "
          f"{result['ratio_image']:.2f}")
    print(f"2 instances (vector env): {med['vector'] / 4:.0f} steps/s in total; "
          f"{result['ratio_vector2_vs_one_game_alone']:.2f}x one game alone")
    extra = result["cpu_us_per_step_node_behind_vecbridge"] - 4 * result["cpu_us_per_frame_game_alone"]
    print(f"CPU time: the game alone {result['cpu_us_per_frame_game_alone']:.0f} us/frame; behind vecbridge Node uses "
          f"{result['cpu_us_per_step_node_behind_vecbridge']:.0f} us/step (4 frames; {extra:.0f} us more: the "
          f"JavaScript client and the socket), Python {result['cpu_us_per_step_python']:.0f} us/step")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

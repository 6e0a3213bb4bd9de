"""CPU cost of the protocol's per-step paths, side by side for two source trees (no I/O).

    python benchmarks/protocol_paths.py --baseline /work/main          # about a minute
    python benchmarks/protocol_paths.py --baseline /work/main --rounds 9 --reps 20000

Each round runs every path once in a fresh interpreter per tree, alternating the trees
(interleaved, so drift in machine load hits both alike); the report gives the median
CPU µs (the thread's CPU time, which a loaded machine disturbs less than wall time) per
call of each path and the ratio this tree / baseline. The paths:

- ``fast``: a Discrete step request and a float32[4] step_result whose header repeats
  (both ends' caches in protocol/fastpath.py), as Echo's steady state;
- ``image``: the same with an 84x84x3 uint8 observation (EchoImage);
- ``reward``: a step_result whose reward changes every step (the general decode path);
- ``info``: a step_result with a small info (the general path with an object to check);
- ``hello``: a whole hello (token check, spaces) read by a fresh HostConnection.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import numpy as np
from gymnasium import spaces
from vecbridge.protocol.connection import GameConnection, HostConnection
from vecbridge.protocol.values import encode_value

reps = int(sys.argv[1])

def pair(obs_space):
    game, host = GameConnection("binary"), HostConnection("tok", None, "auto")
    host.receive_data(game.send_hello(0, "tok", obs_space, spaces.Discrete(2), "Echo", {}))
    host.next_event()
    game.receive_data(host.send_welcome({}))
    game.next_event()
    return game, host

def loop(obs_space, obs, reward, info):
    game, host = pair(obs_space)
    for k in range(200):  # warm the caches
        game.receive_data(host.send_step(k & 1)); game.next_event()
        host.receive_data(game.send_step_result(encode_value(obs_space, obs), reward(k), False, False, info(k))); host.next_event()
    t0 = time.thread_time()
    for k in range(reps):
        game.receive_data(host.send_step(k & 1))
        game.next_event()
        host.receive_data(game.send_step_result(encode_value(obs_space, obs), reward(k), False, False, info(k)))
        host.next_event()
    return (time.thread_time() - t0) / reps * 1e6

def hello_cost():
    game = GameConnection("binary")
    data = game.send_hello(0, "tok", spaces.Box(0, 255, (84, 84, 3), np.uint8), spaces.Discrete(4), "Echo", {})
    n = max(1, reps // 10)
    t0 = time.thread_time()
    for _ in range(n):
        host = HostConnection("tok", None, "auto")
        host.receive_data(data)
        host.next_event()
    return (time.thread_time() - t0) / n * 1e6

box = spaces.Box(-1.0, 1e6, (4,), np.float32)
img = spaces.Box(0, 255, (84, 84, 3), np.uint8)
out = {
    "fast": loop(box, np.zeros(4, np.float32), lambda k: 1.0, lambda k: {}),
    "image": loop(img, np.zeros((84, 84, 3), np.uint8), lambda k: 1.0, lambda k: {}),
    "reward": loop(box, np.zeros(4, np.float32), lambda k: k * 0.001, lambda k: {}),
    "info": loop(box, np.zeros(4, np.float32), lambda k: 1.0, lambda k: {"score": k, "lives": 3, "stage": [1, 2]}),
    "hello": hello_cost(),
}
print(json.dumps(out))
"""


def run_tree(tree: Path, reps: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", CHILD, str(reps)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", required=True, help="another checkout of vecbridge (e.g. /work/main)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=10000)
    args = ap.parse_args()
    trees = {"baseline": Path(args.baseline).resolve(), "this": HERE}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for r in range(args.rounds):
        order = list(trees.items()) if r % 2 == 0 else list(reversed(trees.items()))
        for name, tree in order:
            results[name].append(run_tree(tree, args.reps))
    print(f"load average at the end: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores); "
          f"{args.rounds} rounds x {args.reps} reps, medians")  # fmt: skip
    print(f"{'path':8} {'baseline µs':>12} {'this µs':>9} {'this/baseline':>14}")
    for path in results["this"][0]:
        base = statistics.median(r[path] for r in results["baseline"])
        mine = statistics.median(r[path] for r in results["this"])
        print(f"{path:8} {base:12.2f} {mine:9.2f} {mine / base:14.3f}")


if __name__ == "__main__":
    t0 = time.time()
    main()
    print(f"({time.time() - t0:.0f} s)")

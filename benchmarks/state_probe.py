"""Do preprocessed screens carry the state a policy needs? Regress Escape from Pong's RAM values from them.

    python benchmarks/state_probe.py [VECTOR_STEPS] [--json out.json]     # default 1500 (x 8 instances)
    python benchmarks/state_probe.py -p gray,resize=84x84,stack=4 -p gray,resize=128x120,stack=4

Vector envs stepped in lockstep (same seeds, same random actions; the emulator is
deterministic): one per preprocessing spec (``-p``, as ``vecbridge train --preprocess`` takes
it; default ``gray,resize=84x84,stack=4``), and one giving the game's RAM values. A CNN (the
"small" extractor of vecbridge/sb3/cnn.py and a linear head) learns ball x, y, vx, vy and
paddle y from each spec's frames, supervised; printed: R^2 on the last 20 % of the steps,
held out. An 84x84 spec is also tried at 42x42 (2x2 means of its frames). A pixel policy
whose frames a supervised network, with the answers at hand, cannot tell apart will not
find the difference from PPO's rewards either.
Not a speed benchmark: it lives here because it measures the observation pipeline.
"""

import argparse
import json
import time

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

import vecbridge
from vecbridge.sb3.cnn import SmallCNN

GAME = "vecbridge/EscapeFromPong-v0"
NAMES = ["ball_x", "ball_y", "ball_vx", "ball_vy", "paddle_y"]
COLUMNS = [0, 1, 2, 3, 5]  # of the 8 RAM values; paddle x never changes in this game
EPOCHS = 15


def collect(specs: list[str], num_envs: int, steps: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Frames per spec and the RAM values, from envs stepped with the same seeds and actions."""
    envs = {}
    try:
        for spec in specs:
            envs[spec] = vecbridge.make(GAME, num_envs=num_envs, preprocess=spec, max_episode_steps=1000)
        values = vecbridge.make(GAME, num_envs=num_envs, observation_type="value", max_episode_steps=1000)
        envs["value"] = values
        for env in envs.values():
            env.reset(seed=0)
        rng = np.random.default_rng(0)
        frames: dict[str, list] = {spec: [] for spec in specs}
        ram = []
        for _ in range(steps):
            action = rng.integers(0, 9, size=num_envs)
            obs, _, term, trunc, _ = values.step(action)
            ram.append(obs[:, COLUMNS].astype(np.float32))
            for spec in specs:
                o, _, t2, tr2, _ = envs[spec].step(action)
                assert (t2 == term).all() and (tr2 == trunc).all(), f"{spec}: the envs diverged"
                frames[spec].append(o.copy())
    finally:
        for env in envs.values():
            env.close()
    return {spec: np.concatenate(f) for spec, f in frames.items()}, np.concatenate(ram)


def probe(frames: np.ndarray, targets: np.ndarray, cut: int) -> dict[str, float]:
    """Held-out R^2 per target of a small CNN trained on frames[:cut]."""
    h, w, c = frames.shape[1:]
    x = torch.tensor(np.ascontiguousarray(frames.transpose(0, 3, 1, 2)), dtype=torch.float32) / 255
    y = torch.tensor(targets)
    torch.manual_seed(0)
    net = nn.Sequential(SmallCNN(spaces.Box(0, 255, (c, h, w), np.uint8)), nn.Linear(256, len(NAMES)))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(EPOCHS):
        perm = torch.randperm(cut)
        for i in range(0, cut, 128):
            b = perm[i : i + 128]
            loss = ((net(x[b]) - y[b]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        pred = net(x[cut:]).numpy()
    r2 = 1 - ((pred - targets[cut:]) ** 2).mean(0) / targets[cut:].var(0)
    return {name: round(float(v), 3) for name, v in zip(NAMES, r2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("steps", nargs="?", type=int, default=1500, help="vector steps (default 1500)")
    ap.add_argument("--preprocess", "-p", action="append", help="a preprocessing spec (repeatable)")
    ap.add_argument("--num-envs", "-n", type=int, default=8)
    ap.add_argument("--json")
    args = ap.parse_args()
    specs = args.preprocess or ["gray,resize=84x84,stack=4"]
    torch.set_num_threads(2)

    t0 = time.time()
    frames, ram = collect(specs, args.num_envs, args.steps)
    print(f"{len(ram)} steps of {len(specs)} spec(s) in {time.time() - t0:.0f} s", flush=True)
    targets = (ram - ram.mean(0)) / (ram.std(0) + 1e-6)
    cut = int(0.8 * len(ram))  # the last 20 % of the steps are held out (in time order)
    out = {}
    for spec, x in frames.items():
        variants = {spec: x}
        if x.shape[1:3] == (84, 84):
            variants[f"{spec} then 2x2 means (42x42)"] = x.reshape(len(x), 42, 2, 42, 2, -1).mean((2, 4))
        for name, xs in variants.items():
            t1 = time.time()
            out[name] = probe(xs, targets, cut)
            print(f"{name}: held-out R^2 {out[name]}  ({time.time() - t1:.0f} s of training)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"game": GAME, "steps": len(ram), "held_out": len(ram) - cut, "epochs": EPOCHS, "r2": out}, f, indent=1)


if __name__ == "__main__":
    main()

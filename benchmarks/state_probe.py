"""Do preprocessed screens carry the state a policy needs? Regress Escape from Pong's RAM values from them.

    python benchmarks/state_probe.py [VECTOR_STEPS] [--json out.json]     # default 1500 (x 8 instances)

Two FCEUX vector envs stepped in lockstep (same seeds, same random actions; the emulator is
deterministic): one gives the screen preprocessed as `vecbridge train` does (gray, 84x84, 4
frames stacked), the other the game's RAM values. A CNN (the "small" extractor of
vecbridge/sb3/cnn.py and a linear head) learns ball x, y, vx, vy and paddle y from the frames,
supervised; printed: R^2 on the last 20 % of the steps, held out, at 84x84 and at 42x42 (2x2
means of the 84x84 frames). A pixel policy that cannot be told these apart by a supervised
network with the answers at hand will not find them from PPO's rewards either.
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

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("steps", nargs="?", type=int, default=1500)
ap.add_argument("--json")
args = ap.parse_args()

N, STEPS = 8, args.steps
t0 = time.time()
img = vecbridge.make("vecbridge/EscapeFromPong-v0", num_envs=N, preprocess="gray,resize=84x84,stack=4", max_episode_steps=1000)
val = vecbridge.make("vecbridge/EscapeFromPong-v0", num_envs=N, observation_type="value", max_episode_steps=1000)
try:
    img.reset(seed=0)
    val.reset(seed=0)
    rng = np.random.default_rng(0)
    X, Y = [], []
    for _ in range(STEPS):
        a = rng.integers(0, 9, size=N)
        oi, _, te, tr, _ = img.step(a)
        ov, _, te2, tr2, _ = val.step(a)
        assert (te == te2).all() and (tr == tr2).all(), "the two envs diverged"
        X.append(oi.copy())
        Y.append(ov.copy())
finally:
    img.close()
    val.close()
X = np.concatenate(X)
NAMES = ["ball_x", "ball_y", "ball_vx", "ball_vy", "paddle_y"]
Y = np.concatenate(Y)[:, [0, 1, 2, 3, 5]].astype(np.float32)  # paddle x never changes in this game
print(f"{len(X)} pairs in {time.time() - t0:.0f} s")
mu, sd = Y.mean(0), Y.std(0) + 1e-6
Yn = (Y - mu) / sd
cut = int(0.8 * len(X))  # the last 20 % of the steps are held out (in time order)
torch.set_num_threads(2)
torch.manual_seed(0)
out = {}
for size in (84, 42):
    Xs = X if size == 84 else X.reshape(len(X), 42, 2, 42, 2, 4).mean((2, 4))
    Xt = torch.tensor(np.ascontiguousarray(Xs.transpose(0, 3, 1, 2)), dtype=torch.float32) / 255
    Yt = torch.tensor(Yn)
    net = nn.Sequential(SmallCNN(spaces.Box(0, 255, (4, size, size), np.uint8)), nn.Linear(256, len(NAMES)))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    t1 = time.time()
    for _ in range(15):
        perm = torch.randperm(cut)
        for i in range(0, cut, 128):
            b = perm[i : i + 128]
            loss = ((net(Xt[b]) - Yt[b]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        pred = net(Xt[cut:]).numpy()
    r2 = 1 - ((pred - Yn[cut:]) ** 2).mean(0) / Yn[cut:].var(0)
    out[size] = {name: round(float(v), 3) for name, v in zip(NAMES, r2)}
    print(f"{size}x{size}: held-out R^2 {out[size]}  ({time.time() - t1:.0f} s of training)", flush=True)
if args.json:
    with open(args.json, "w") as f:
        json.dump({"pairs": len(X), "held_out": len(X) - cut, "epochs": 15, "r2": out}, f, indent=1)

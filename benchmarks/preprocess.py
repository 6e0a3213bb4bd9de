"""Which library should do grayscale + resize of emulator screens: OpenCV, numpy or Pillow?

    python benchmarks/preprocess.py                    # 240x256x3 -> 84x84 gray, batches of 1/8/32, 15 rounds
    python benchmarks/preprocess.py --rounds 31 --json out.json

Each method turns a batch of uint8 [k, 240, 256, 3] frames (a NES screen) into uint8
[k, 84, 84] grayscale frames with area interpolation, as Gymnasium's AtariPreprocessing
does (``cv2.INTER_AREA``):

- ``opencv``: ``cv2.cvtColor(RGB2GRAY)`` then ``cv2.resize(INTER_AREA)``, one frame at a time,
  written straight into the output rows (what ``vecbridge.transforms`` does);
- ``numpy``: the whole batch at once: gray as an integer weighted sum (ITU-R 601 weights),
  then area resampling as two matrix products with precomputed overlap weights (float32);
- ``pillow``: ``Image.fromarray(frame).convert("L").resize((84, 84), Image.BOX)`` per frame
  (BOX is the nearest Pillow has to an area filter; see below).

The methods take turns (one timed batch each, round robin, order rotated every round),
so a busy machine slows them alike; the table gives the median over the rounds of the
time per frame, and each method's ratio to OpenCV (paired round by round, then the
median). Before timing, the largest difference of each method's result to OpenCV's is
printed: numpy's is at most 1 grey level (rounding); Pillow's BOX filter differs by tens of
levels at edges, because it weighs each source pixel by whether its centre falls in the
output pixel's box (0 or 1), not by the area it covers, when the ratio is not an integer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from typing import Callable

# Every method on one thread, as in a worker process that shares the cores with the games
# (numpy's BLAS would otherwise spin threads that fight the games, and each other).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

SHAPE = (240, 256, 3)
OUT_W, OUT_H = 84, 84


def frames(k: int, seed: int = 0) -> np.ndarray:
    """Screen-like frames: flat colour areas and edges (an emulator screen), plus some noise."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, size=(16, 3), dtype=np.uint8)
    tiles = rng.integers(0, 16, size=(k, SHAPE[0] // 8, SHAPE[1] // 8))
    img = palette[np.repeat(np.repeat(tiles, 8, axis=1), 8, axis=2)]
    noise = rng.integers(0, 4, size=img.shape, dtype=np.uint8)
    return np.ascontiguousarray(img + noise)


def opencv_method() -> Callable[[np.ndarray, np.ndarray], None]:
    import cv2

    cv2.setNumThreads(1)  # one thread per worker: the games need the other cores

    def run(batch: np.ndarray, out: np.ndarray) -> None:
        gray = np.empty(batch.shape[1:3], dtype=np.uint8)
        for j in range(len(batch)):
            cv2.cvtColor(batch[j], cv2.COLOR_RGB2GRAY, dst=gray)
            cv2.resize(gray, (OUT_W, OUT_H), dst=out[j], interpolation=cv2.INTER_AREA)

    return run


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in]: the share of input pixel y in output pixel i (area interpolation)."""
    scale = n_in / n_out
    lo = np.arange(n_out)[:, None] * scale
    hi = lo + scale
    y = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, y + 1) - np.maximum(lo, y), 0, None)
    return (overlap / scale).astype(np.float32)


def numpy_method() -> Callable[[np.ndarray, np.ndarray], None]:
    wy = _area_weights(SHAPE[0], OUT_H)
    wxt = _area_weights(SHAPE[1], OUT_W).T.copy()
    weights = np.array([4899, 9617, 1868], dtype=np.uint32)  # 0.299, 0.587, 0.114 in 14-bit fixed point

    def run(batch: np.ndarray, out: np.ndarray) -> None:
        gray = ((batch @ weights + 8192) >> 14).astype(np.float32)  # [k, H, W]
        small = wy @ gray @ wxt  # [k, 84, 84]
        np.rint(small, out=small)
        out[...] = small

    return run


def pillow_method() -> Callable[[np.ndarray, np.ndarray], None]:
    from PIL import Image

    def run(batch: np.ndarray, out: np.ndarray) -> None:
        for j in range(len(batch)):
            img = Image.fromarray(batch[j]).convert("L").resize((OUT_W, OUT_H), Image.Resampling.BOX)
            out[j] = np.asarray(img)

    return run


METHODS = {"opencv": opencv_method, "numpy": numpy_method, "pillow": pillow_method}


def check_agreement(methods: dict[str, Callable], batch: np.ndarray) -> dict[str, int]:
    outs = {}
    for name, run in methods.items():
        out = np.empty((len(batch), OUT_H, OUT_W), dtype=np.uint8)
        run(batch, out)
        outs[name] = out
    ref = outs["opencv"].astype(np.int16)
    return {name: int(np.abs(o.astype(np.int16) - ref).max()) for name, o in outs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (each method once per batch per round)")
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds per timed sample (repeats the batch)")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    methods = {name: make() for name, make in METHODS.items()}
    batch_sizes = [int(b) for b in args.batches.split(",")]
    diffs = check_agreement(methods, frames(8, seed=1))
    print(f"largest difference to opencv (grey levels): {diffs}")
    samples: dict[tuple[str, int], list[float]] = {(m, k): [] for m in methods for k in batch_sizes}
    names = list(methods)
    for r in range(args.rounds):
        for k in batch_sizes:
            batch, out = frames(k, seed=r), np.empty((k, OUT_H, OUT_W), dtype=np.uint8)
            order = names[r % len(names):] + names[: r % len(names)]
            for name in order:
                run, reps, t0 = methods[name], 0, time.perf_counter()
                while True:
                    run(batch, out)
                    reps += 1
                    elapsed = time.perf_counter() - t0
                    if elapsed >= args.min_time:
                        break
                samples[(name, k)].append(elapsed / (reps * k) * 1e6)  # microseconds per frame
    rows = []
    print(f"\n{'method':8s} {'batch':>5s} {'us/frame':>10s} {'x opencv':>9s}")
    for k in batch_sizes:
        for name in names:
            med = statistics.median(samples[(name, k)])
            ratio = statistics.median(a / b for a, b in zip(samples[(name, k)], samples[("opencv", k)]))
            rows.append({"method": name, "batch": k, "us_per_frame": med, "ratio_to_opencv": ratio})
            print(f"{name:8s} {k:5d} {med:10.1f} {ratio:9.2f}")
    if args.json:
        import cv2
        import PIL

        meta = {"cpus": os.cpu_count(), "load": os.getloadavg(), "python": platform.python_version(),
                "numpy": np.__version__, "opencv": cv2.__version__, "pillow": PIL.__version__,
                "rounds": args.rounds, "largest_difference": diffs}  # fmt: skip
        with open(args.json, "w") as f:
            json.dump({"machine": meta, "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()

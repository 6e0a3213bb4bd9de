"""Training progress: a live tqdm bar (steps/s, recent episode return), a per-episode CSV, the learning curve."""

from __future__ import annotations

import csv
import math
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

CSV_FIELDS = ("timesteps", "episode_return", "episode_length", "wall_time_s")


class ProgressCallback(BaseCallback):
    """Shows a progress bar and appends one row per finished episode to ``csv_path``.

    Episodes are read from ``info["episode"]`` (SB3's ``VecMonitor``), so the returns are
    the game's own rewards even under ``VecNormalize``. An episode that an instance's failure
    cut short (``info["vecbridge_error"]``: a crash, a hang) is no result of the policy: it is
    counted in ``cut_short``, not in the CSV or the returns (as ``vecbridge run`` leaves it out). The bar shows the steps per second
    over the last few seconds and the mean return of the last ``window`` episodes.
    """

    def __init__(self, csv_path: str | Path | None = None, *, show: bool = True, window: int = 20, file: Any = None) -> None:
        super().__init__()
        self.csv_path = Path(csv_path) if csv_path else None
        self.show = show
        self.returns: deque[float] = deque(maxlen=window)
        self.episodes = 0
        self.cut_short = 0
        self.file = file
        self._bar: Any = None
        self._csv: Any = None
        self._writer: Any = None
        self._rate: deque[tuple[float, int]] = deque()
        self._last_postfix = 0.0
        self._t0 = 0.0

    def _on_training_start(self) -> None:
        self._t0 = time.monotonic()
        self._rate.clear()
        self._rate.append((self._t0, self.model.num_timesteps))
        if self.csv_path is not None:
            fresh = not self.csv_path.exists() or self.csv_path.stat().st_size == 0
            if not fresh:  # a resumed run: its wall time goes on from the last row
                self._t0 -= _last_wall_time(self.csv_path)
            self._csv = open(self.csv_path, "a", newline="")
            self._writer = csv.writer(self._csv)
            if fresh:
                self._writer.writerow(CSV_FIELDS)
        if self.show:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                print("no progress bar: tqdm is not installed (pip install tqdm)", file=self.file or sys.stderr)
                return
            total = int(self.locals.get("total_timesteps", 0))
            self._bar = tqdm(
                total=total, initial=self.model.num_timesteps, unit="step", unit_scale=True,
                dynamic_ncols=True, mininterval=0.5, file=self.file or sys.stderr,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}] {postfix}",
            )  # fmt: skip

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            episode = info.get("episode")
            if episode is None:
                continue
            if "vecbridge_error" in info:
                self.cut_short += 1
                continue
            ret, length = float(episode["r"]), int(episode["l"])
            self.returns.append(ret)
            self.episodes += 1
            if self._writer is not None:
                self._writer.writerow((self.model.num_timesteps, f"{ret:.6g}", length, f"{time.monotonic() - self._t0:.3f}"))
        if self._bar is not None:
            if self.model.num_timesteps > (self._bar.total or 0):  # PPO ends on a whole rollout, past the target
                self._bar.total = self.model.num_timesteps
            self._bar.update(self.model.num_timesteps - self._bar.n)
            now = time.monotonic()
            if now - self._last_postfix >= 0.5:
                self._last_postfix = now
                self._bar.set_postfix_str(self.postfix(now), refresh=False)
        return True

    def steps_per_second(self, now: float | None = None) -> float:
        """Steps per second over (about) the last 5 seconds."""
        now = time.monotonic() if now is None else now
        self._rate.append((now, self.model.num_timesteps))
        while len(self._rate) > 2 and now - self._rate[1][0] >= 5.0:
            self._rate.popleft()
        (t0, n0), (t1, n1) = self._rate[0], self._rate[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def summary(self) -> str:
        """"130 episodes, recent return 1.05", and the episodes failures cut short, if any."""
        n = self.episodes
        text = f"{n} episode{'s' if n != 1 else ''}, recent return {self.mean_return():.3g}" if n else "no episode finished"
        if self.cut_short:
            text += f" ({self.cut_short} more cut short by an instance's failure, not counted)"
        return text

    def mean_return(self) -> float:
        return sum(self.returns) / len(self.returns) if self.returns else math.nan

    def postfix(self, now: float | None = None) -> str:
        ret = self.mean_return()
        recent = "n/a" if math.isnan(ret) else f"{ret:.3g}"
        return f"{self.steps_per_second(now):,.0f} steps/s, return {recent} (last {len(self.returns)} of {self.episodes} episodes)"

    def _on_rollout_end(self) -> None:
        if self._csv is not None:
            self._csv.flush()

    def _on_training_end(self) -> None:
        self.close()

    def close(self) -> None:
        """Close the bar and the CSV file (training ended, or was interrupted)."""
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix(), refresh=False)
            self._bar.close()
            self._bar = None
        if self._csv is not None:
            self._csv.close()
            self._csv = self._writer = None


def _last_wall_time(csv_path: Path) -> float:
    last = 0.0
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                last = float(row["wall_time_s"])
            except (KeyError, TypeError, ValueError):
                continue
    return last


def rewind(run: Path, steps: int) -> list[str]:
    """Resuming at ``steps`` in ``run``: drop the later rows of its progress.csv and move its later
    checkpoints aside; notes to print.

    A resume from an earlier checkpoint used to append its episodes after the later ones, so
    the CSV's timesteps went back and the learning curve looped over itself.
    """
    notes = []
    csv_path = run / "progress.csv"
    if csv_path.exists():
        with open(csv_path, newline="") as f:
            rows = list(csv.reader(f))
        keep = [rows[0]] + [r for r in rows[1:] if r and _steps(r[0]) <= steps] if rows else []
        if len(keep) < len(rows):
            with open(csv_path, "w", newline="") as f:
                csv.writer(f).writerows(keep)
            notes.append(f"note: progress.csv had {len(rows) - len(keep)} episode(s) past step {steps}, from before "
                         f"the resume; they are dropped")  # fmt: skip
    # Checkpoints past ``steps`` belong to the abandoned branch; left beside the resumed run's, they
    # looked like its own (a user's trial: the resumed run saved no checkpoint at their steps).
    folder = run / "checkpoints"
    saved = sorted((_steps(p.stem.split("_")[-2]), p) for p in folder.glob("*_steps.*") if p.suffix in (".zip", ".pkl"))
    later = [path for at, path in saved if at > steps]
    if later:
        aside = folder / f"before-resume-at-{steps}"
        k = 1
        while aside.exists():
            k += 1
            aside = folder / f"before-resume-at-{steps}-{k}"
        aside.mkdir()
        for path in later:
            path.rename(aside / path.name)
        models = [p.name for p in later if p.suffix == ".zip"]
        notes.append(f"note: checkpoints past step {steps} ({', '.join(models)}) are from before the resume; they are "
                     f"moved to {aside.relative_to(run)}/")  # fmt: skip
    return notes


def _steps(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return -1.0


def read_progress(csv_path: str | Path) -> tuple[list[int], list[float]]:
    steps: list[int] = []
    returns: list[float] = []
    path = Path(csv_path)
    if not path.exists():
        return steps, returns
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                steps.append(int(float(row["timesteps"])))
                returns.append(float(row["episode_return"]))
            except (KeyError, TypeError, ValueError):
                continue
    return steps, returns


def plot_learning_curve(csv_path: str | Path, png_path: str | Path, title: str = "") -> Path:
    """Episode return against timesteps: every episode as a dot, and a rolling mean."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    steps, returns = read_progress(csv_path)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        if returns:
            x, y = np.asarray(steps), np.asarray(returns)
            ax.scatter(x, y, s=6, alpha=0.25, label="episode return")
            window = max(1, min(100, len(y) // 10))
            kernel = np.ones(window) / window
            if len(y) >= window:
                smooth = np.convolve(y, kernel, mode="valid")
                ax.plot(x[window - 1 :], smooth, linewidth=2, label=f"mean of {window} episodes")
            ax.legend(loc="lower right")
        else:
            ax.text(0.5, 0.5, "no episode finished yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("timesteps")
        ax.set_ylabel("episode return")
        ax.set_title(title or "learning curve")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(png_path)
    finally:
        plt.close(fig)
    return Path(png_path)

"""Showing results: a one-line progress bar, tables (plain or Markdown), the JSON file and the plot."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Any, Iterable, TextIO

MIB = 1024 * 1024


# ---------------------------------------------------------------- progress
class Progress:
    """A one-line bar on a terminal; on anything else (a log, a pipe) one line per finished case."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True, width: int = 24) -> None:
        self.total = max(1, total)
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.width = width
        self.done = 0
        self.label = ""
        self.started = time.monotonic()
        self._drawn = False

    def advance(self, units: int = 1, label: str | None = None) -> None:
        self.done = min(self.total, self.done + units)
        if label is not None:
            self.label = label
        self._draw()

    def set(self, done: int, label: str | None = None) -> None:
        self.done = min(self.total, max(self.done, done))
        if label is not None:
            self.label = label
        self._draw()

    def _bar(self) -> str:
        frac = self.done / self.total
        filled = int(round(frac * self.width))
        elapsed = time.monotonic() - self.started
        eta = elapsed / frac - elapsed if frac > 0 else None
        eta_s = f" eta {_clock(eta)}" if eta is not None and self.done < self.total else ""
        return f"[{'#' * filled}{'.' * (self.width - filled)}] {frac * 100:3.0f}% {_clock(elapsed)}{eta_s}  {self.label}"

    def _draw(self) -> None:
        if not self.tty:
            return
        cols = _columns()
        line = self._bar()[: cols - 1]
        self.stream.write("\r\x1b[2K" + line)
        self.stream.flush()
        self._drawn = True

    def message(self, text: str) -> None:
        """A permanent line above the bar (or just a line, off a terminal)."""
        if not self.enabled:
            return
        if self.tty and self._drawn:
            self.stream.write("\r\x1b[2K")
        self.stream.write(text + "\n")
        self.stream.flush()
        self._draw()

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
        self._drawn = False


def _columns() -> int:
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        return 100


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


# ---------------------------------------------------------------- tables
def _fmt_rate(r: dict[str, Any]) -> str:
    return "—" if r.get("steps_per_s") is None else f"{r['steps_per_s']:,.0f}"


def _fmt_spread(r: dict[str, Any]) -> str:
    runs = r.get("runs") or []
    if r.get("steps_per_s") is None or len(runs) < 2:
        return _fmt_rate(r)
    lo, hi = min(runs), max(runs)
    return f"{r['steps_per_s']:,.0f} ({lo:,.0f}–{hi:,.0f})"


def _fmt_us(key: str):
    def fmt(r: dict[str, Any]) -> str:
        v = r.get(key)
        return "—" if v is None else f"{v * 1e6:,.1f}"

    return fmt


def _fmt_mib(key: str):
    def fmt(r: dict[str, Any]) -> str:
        v = r.get(key)
        return "—" if v is None else f"{v / MIB:,.0f}"

    return fmt


def _fmt_procs(r: dict[str, Any]) -> str:
    v = r.get("num_own_processes")
    return "—" if v is None else str(v)


TABLES = [
    ("env steps per second, total over all instances (median of runs)", _fmt_rate),
    ("CPU µs per env step, runner's own processes (parent + workers, not the games)", _fmt_us("cpu_s_per_step")),
    ("CPU µs per env step, the games", _fmt_us("game_cpu_s_per_step")),
    ("resident memory MiB (RSS), runner's own processes", _fmt_mib("rss_bytes")),
    ("runner's own processes", _fmt_procs),
]


def _ordered(values: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def format_tables(results: list[dict[str, Any]], markdown: bool = False, tables=None, spread: bool = False) -> str:
    """One table per (env, quantity): runners as rows, instance counts as columns."""
    tables = tables if tables is not None else TABLES
    out: list[str] = []
    for env in _ordered(r["env"] for r in results):
        rows = [r for r in results if r["env"] == env]
        runners = _ordered(r["runner"] for r in rows)
        counts = sorted({r["num_envs"] for r in rows})
        cell = {(r["runner"], r["num_envs"]): r for r in rows}
        for title, fmt in tables:
            if spread and fmt is _fmt_rate:
                fmt = _fmt_spread
            header = ["runner"] + [f"N={n}" for n in counts]
            body = [[name] + [fmt(cell[(name, n)]) if (name, n) in cell else "" for n in counts] for name in runners]
            out.append(f"{env}: {title}" if not markdown else f"**{env}**: {title}\n")
            out.append(_render(header, body, markdown))
            out.append("")
            if fmt in (_fmt_rate, _fmt_spread) and REFERENCE in runners and len(runners) > 1:
                ratios = {(x["runner"], x["num_envs"]): x["ratio"] for x in ratio_rows(rows)}
                body = [[f"{REFERENCE} / {name}"] + [f"{ratios[(name, n)]:.2f}x" if (name, n) in ratios else ""
                                                     for n in counts] for name in runners if name != REFERENCE]  # fmt: skip
                out.append(f"{env}: {RATIO_TITLE}" if not markdown else f"**{env}**: {RATIO_TITLE}\n")
                out.append(_render(["ratio"] + header[1:], body, markdown))
                out.append("")
        errors = [r for r in rows if r.get("error")]
        for r in errors:
            first = str(r["error"]).strip().splitlines()[0] if str(r["error"]).strip() else "error"
            out.append(f"{'- ' if markdown else '  '}{r['runner']} N={r['num_envs']}: {first}")
        if errors:
            out.append("")
    return "\n".join(out).rstrip() + "\n"


REFERENCE = "vecbridge"
RATIO_TITLE = (
    "vecbridge's steps/s divided by each runner's (median of the per-run ratios, runs paired in time "
    "when interleaved)"
)


def ratio(a: dict[str, Any], b: dict[str, Any]) -> tuple[float, bool] | None:
    """``a``'s throughput over ``b``'s, and whether it pairs their runs (both interleaved, same count)."""
    if not a.get("steps_per_s") or not b.get("steps_per_s"):
        return None
    runs_a, runs_b = a.get("runs") or [], b.get("runs") or []
    if a.get("interleaved") and b.get("interleaved") and runs_a and len(runs_a) == len(runs_b) and all(runs_b):
        return statistics.median(x / y for x, y in zip(runs_a, runs_b)), True
    return a["steps_per_s"] / b["steps_per_s"], False


def ratio_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """vecbridge against every other runner, per game and instance count."""
    cell = {(r["env"], r["runner"], r["num_envs"]): r for r in results}
    rows = []
    for (env, runner, n), r in cell.items():
        ref = cell.get((env, REFERENCE, n))
        if runner == REFERENCE or ref is None:
            continue
        found = ratio(ref, r)
        if found is not None:
            rows.append({"env": env, "num_envs": n, "runner": runner, "ratio": round(found[0], 4), "paired": found[1]})
    return rows


def _render(header: list[str], body: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = []
    for k, row in enumerate([header, *body]):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---------------------------------------------------------------- JSON
def write_json(path: str, report: dict[str, Any]) -> None:
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(report, f, indent=2, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------- plot
def plot(results: list[dict[str, Any]], path: str, title: str | None = None) -> None:
    """steps/s against instance count, one line per runner (and per game, if several)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    envs = _ordered(r["env"] for r in results)
    fig, (ax, ax_cpu) = plt.subplots(1, 2, figsize=(13, 5))
    markers = "osD^v<>xP*"
    for k, (env, runner) in enumerate(_ordered((r["env"], r["runner"]) for r in results)):
        points = sorted((r["num_envs"], r) for r in results if r["env"] == env and r["runner"] == runner and r["steps_per_s"] is not None)
        label = runner if len(envs) == 1 else f"{runner} ({env})"
        if not points:
            ax.plot([], [], label=f"{label}: unavailable")
            continue
        xs = [n for n, _ in points]
        ax.plot(xs, [r["steps_per_s"] for _, r in points], marker=markers[k % len(markers)], label=label)
        lo = [min(r["runs"]) if r["runs"] else r["steps_per_s"] for _, r in points]
        hi = [max(r["runs"]) if r["runs"] else r["steps_per_s"] for _, r in points]
        ax.fill_between(xs, lo, hi, alpha=0.15)
        cpu = [(n, r["cpu_s_per_step"]) for n, r in points if r.get("cpu_s_per_step") is not None]
        if cpu:
            ax_cpu.plot([n for n, _ in cpu], [c * 1e6 for _, c in cpu], marker=markers[k % len(markers)], label=label)
    counts = sorted({r["num_envs"] for r in results})
    for a in (ax, ax_cpu):
        a.set_xscale("log", base=2)
        a.set_xticks(counts, [str(c) for c in counts])
        a.set_xlabel("instances (num_envs)")
        a.grid(True, which="both", alpha=0.3)
    ax.set_ylabel("env steps / s (total, median of runs)")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "throughput: " + ", ".join(envs))
    ax.legend(fontsize=8)
    ax_cpu.set_ylabel("CPU µs per env step (runner's own processes)")
    ax_cpu.set_ylim(bottom=0)
    ax_cpu.set_title("framework CPU cost per step (lower is better)")
    fig.tight_layout()
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""The end of a training run: the trained policy against the random policy, evaluated the same way; where things are.

    vecbridge train vecbridge/EscapeFromPong-v0 -n 8 ... --eval-episodes 16

plays K episodes with uniformly random actions, then K with the trained policy taking its
most likely action (deterministic) and K sampling from it (stochastic). All three go
through :func:`vecbridge.sb3.evaluate.evaluate` with the run's own game options, episode
step limit, preprocessing and VecNormalize statistics (from its ``config.json``), on the
same number of instances and the same seeds, so they start from the same states. The
result is printed as a table and written to the run folder as ``eval.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vecbridge.sb3.evaluate import EvalResult, evaluate

#: the policies compared, in the order they are played and printed
POLICIES = ("random", "deterministic", "stochastic")


@dataclass
class Comparison:
    """Each policy's :class:`EvalResult` and the seconds its evaluation took."""

    results: dict[str, EvalResult]
    seconds: dict[str, float] = field(default_factory=dict)

    def margin(self, policy: str) -> float:
        """How far ``policy``'s mean return is above the random policy's."""
        return self.results[policy].mean - self.results["random"].mean

    def lines(self) -> list[str]:
        first = next(iter(self.results.values()))
        limit = f"step limit {first.max_episode_steps}" if first.max_episode_steps else "no step limit"
        out = [f"evaluation: {len(first.returns)} episodes per policy, the same seeds and game options, {limit}",
               f"  {'policy':<22} {'return mean ± std':>20} {'min':>7} {'max':>7} {'length':>8} {'vs random':>10}"]  # fmt: skip
        for name, r in self.results.items():
            label = "random" if name == "random" else f"trained, {name}"
            if not r.returns:
                out.append(f"  {label:<22} no episode finished")
                continue
            versus = "" if name == "random" else f"{self.margin(name):+.3g}"
            mean = sum(r.lengths) / len(r.lengths)
            out.append(f"  {label:<22} {f'{r.mean:.3g} ± {r.std:.3g}':>20} {min(r.returns):>7.4g} {max(r.returns):>7.4g} "
                       f"{mean:>8.1f} {versus:>10}")  # fmt: skip
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            name: {"returns": r.returns, "lengths": r.lengths, "mean": r.mean, "std": r.std,
                   "truncated_by_limit": r.truncated, "max_episode_steps": r.max_episode_steps,
                   "seconds": round(self.seconds.get(name, 0.0), 3),
                   **({} if name == "random" else {"margin_over_random": self.margin(name)})}
            for name, r in self.results.items()
        }  # fmt: skip


def compare_with_random(
    game: Any,
    model_path: str | Path,
    *,
    episodes: int,
    num_envs: int,
    seed: int | None = 0,
    num_workers: int | None = None,
    out: Any = None,
) -> Comparison:
    """Evaluate the random policy and the model at ``model_path`` (deterministic, then stochastic),
    ``episodes`` episodes each on ``num_envs`` instances, with the settings of the model's run
    (its ``config.json``); print the table to ``out`` and write ``eval.json`` beside the model."""
    model_path = Path(model_path)
    config_path = model_path.parent / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    common = dict(episodes=episodes, num_envs=num_envs, seed=seed, run_config=config, num_workers=num_workers,
                  game_options=dict(config.get("game_options") or {}))  # fmt: skip
    results: dict[str, EvalResult] = {}
    seconds: dict[str, float] = {}
    for name in POLICIES:
        started = time.monotonic()
        if name == "random":
            results[name] = evaluate(game, random=True, **common)
        else:
            results[name] = evaluate(game, model=str(model_path), deterministic=name == "deterministic", **common)
        seconds[name] = time.monotonic() - started
        if out is not None:
            print(f"evaluated the {name} policy: {results[name].mean:.3g} in {seconds[name]:.0f} s", file=out, flush=True)
    comparison = Comparison(results, seconds)
    (model_path.parent / "eval.json").write_text(json.dumps(comparison.to_json(), indent=2) + "\n")
    if out is not None:
        print("\n".join(comparison.lines()), file=out, flush=True)
    return comparison


def print_where(result: Any, out: Any) -> None:
    """The last lines of ``vecbridge train``: the score against random (with an evaluation), the
    throughput, and where the model, TensorBoard logs and learning curve are."""
    files, c = result.files, result.comparison
    if c is not None:
        r = c.results
        print(f"score (mean return): trained {r['deterministic'].mean:.3g} deterministic, {r['stochastic'].mean:.3g} "
              f"stochastic; random {r['random'].mean:.3g}", file=out)  # fmt: skip
    print(f"throughput: {result.steps_per_second:,.0f} steps/s while training (games, policy and PPO updates)", file=out)
    print(f"model: {files['model']}", file=out)
    if "vecnormalize" in files:
        print(f"VecNormalize statistics: {files['vecnormalize']}", file=out)
    if files["tensorboard"].exists():
        print(f"TensorBoard logs: {files['tensorboard']} (tensorboard --logdir {files['tensorboard']})", file=out)
    print(f"learning curve: {files['learning_curve']} (every episode: {files['progress']})", file=out)
    if c is not None:
        print(f"evaluation: {result.run_dir / 'eval.json'}", file=out)

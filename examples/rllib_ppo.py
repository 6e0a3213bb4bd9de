"""RLlib PPO on a vecbridge game, its env runners spread over local Ray nodes: a learning curve.

    python examples/rllib_ppo.py vecbridge/Catch-v0 --minutes 3
    python examples/rllib_ppo.py vecbridge/EscapeFromPong-v0 -o observation_type='"value"' -o max_steps=4000 \\
        --normalize --nodes 2 --envs-per-runner 4 --timesteps 120000 --minutes 20 --eval-episodes 8 \\
        --out docs/results/rllib-escape-from-pong-normalized

(``max_steps`` counts the processor's frames: 4,000 frames are 1,000 env steps of 4 frames.)

Starts ``--nodes`` Ray nodes on this machine (vecbridge.ray_local.LocalCluster), each with
one unit of the custom resource ``game``, and one env runner per node asking for it: the
runners (each with its own vecbridge vector env of ``--envs-per-runner`` instances) land
one per node. The learner runs in this process. Trains for ``--minutes`` (or
``--timesteps``), then evaluates the greedy policy with RLlib's evaluation (``explore=False``).
Writes ``OUT.csv`` (one row per iteration), ``OUT.png`` (the curve) and ``OUT.json``
(settings, evaluation, machine load). On a cluster, use vecbridge.rllib.ppo_config directly
(docs/scaling.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time

from vecbridge.keyvalue import parse_pairs


def _plain(value):
    """RLlib's metrics may be numpy scalars: as JSON numbers."""
    return value.item() if hasattr(value, "item") else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("game")
    parser.add_argument("--option", "-o", action="append", metavar="KEY=VALUE", help="a game option (JSON value)")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--envs-per-runner", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--timesteps", type=int, default=0, help="stop at this many env steps (0: only --minutes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--lambda", dest="lambda_", type=float, default=0.95, help="GAE lambda (RLlib's default: 1.0)")
    parser.add_argument("--normalize", action="store_true",
                        help="normalize observations (RLlib's MeanStdFilter; raw RAM values need it)")
    parser.add_argument("--entropy", type=float, default=0.01)
    parser.add_argument("--batch", type=int, default=2048, help="env steps per training iteration")
    parser.add_argument("--minibatch", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--out", default="rllib-run", help="path prefix of the .csv, .png and .json written")
    args = parser.parse_args(argv)
    options = parse_pairs(args.option, "--option")

    import torch

    torch.set_num_threads(1)  # the learner is a small MLP in this process; the games need the cores
    from vecbridge.ray_local import LocalCluster
    from vecbridge.rllib import ppo_config

    load_before = os.getloadavg()
    rows: list[dict] = []
    with LocalCluster(nodes=args.nodes, cpus_per_node=max(1, (os.cpu_count() or 1) // args.nodes),
                      resources=[{"game": 1} for _ in range(args.nodes)]) as cluster:  # fmt: skip
        print(f"{args.nodes} Ray node(s) up in {cluster.start_s:.0f} s", flush=True)
        config = (
            ppo_config(args.game, num_env_runners=args.nodes, num_envs_per_env_runner=args.envs_per_runner,
                       num_cpus_per_env_runner=0.5, runner_resources={"game": 1}, seed=args.seed,
                       normalize_observations=args.normalize, **options)
            .training(lr=args.lr, gamma=args.gamma, lambda_=args.lambda_, entropy_coeff=args.entropy,
                      train_batch_size_per_learner=args.batch, minibatch_size=args.minibatch, num_epochs=args.epochs)
            # the greedy evaluation runs in this process's own env runner: give it a vector env of its own
            # (the training runners hold the nodes' "game" resource; without an env RLlib's evaluate() fails)
            .env_runners(create_env_on_local_worker=True)
            .evaluation(evaluation_interval=None, evaluation_num_env_runners=0, evaluation_duration=args.eval_episodes,
                        evaluation_duration_unit="episodes", evaluation_config={"explore": False})
        )  # fmt: skip
        algo = config.build_algo()
        try:
            import ray

            where = algo.env_runner_group.foreach_env_runner(
                lambda r: ray.get_runtime_context().get_node_id()[:8], local_env_runner=False
            )
            print(f"env runners on nodes {where}", flush=True)
            started = time.monotonic()
            while time.monotonic() - started < args.minutes * 60:
                result = algo.train()
                runners = result["env_runners"]
                steps = result.get("num_env_steps_sampled_lifetime") or runners.get("num_env_steps_sampled_lifetime")
                rows.append({
                    "iteration": len(rows) + 1, "timesteps": int(steps), "seconds": round(time.monotonic() - started, 1),
                    "episode_return_mean": runners.get("episode_return_mean"),
                    "episode_len_mean": runners.get("episode_len_mean"), "episodes": runners.get("num_episodes"),
                })  # fmt: skip
                print(json.dumps(rows[-1], default=_plain), flush=True)
                if args.timesteps and steps >= args.timesteps:
                    break
            trained_s = time.monotonic() - started
            evaluation = algo.evaluate()["env_runners"]
        finally:
            algo.stop()
    summary = {
        "game": args.game, "options": options, "settings": vars(args), "trained_s": round(trained_s, 1),
        "timesteps": rows[-1]["timesteps"] if rows else 0,
        "steps_per_s": round(rows[-1]["timesteps"] / trained_s, 1) if rows else 0,
        "evaluation_greedy": {k: evaluation.get(k) for k in ("episode_return_mean", "episode_return_min",
                                                             "episode_return_max", "episode_len_mean", "num_episodes")},
        "load_before": load_before, "load_after": os.getloadavg(),
    }  # fmt: skip
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(f"{args.out}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["iteration"])
        writer.writeheader()
        writer.writerows(rows)
    with open(f"{args.out}.json", "w") as f:
        json.dump(summary, f, indent=2, default=_plain)
    plot(rows, f"{args.out}.png", f"RLlib PPO on {args.game}, {args.nodes} Ray nodes x {args.envs_per_runner} instances")
    print(json.dumps(summary, indent=2, default=_plain))
    return 0


def plot(rows: list[dict], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    points = [(int(r["timesteps"]), float(r["episode_return_mean"]), int(r["episodes"] or 0)) for r in rows
              if r["episode_return_mean"] not in (None, "") and int(r["episodes"] or 0) > 0
              and float(r["episode_return_mean"]) == float(r["episode_return_mean"])]  # fmt: skip
    if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], ".", alpha=0.35, label="one iteration's episodes")
        # a few episodes an iteration are noisy: the mean over the last `window` iterations, weighted by episodes
        window, smooth = 10, []
        for i in range(len(points)):
            part = points[max(0, i - window + 1) : i + 1]
            smooth.append(sum(p[1] * p[2] for p in part) / sum(p[2] for p in part))
        ax.plot([p[0] for p in points], smooth, "-", label=f"mean over the last {window} iterations")
        ax.legend(fontsize=8)
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

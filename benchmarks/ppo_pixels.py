"""Where PPO's time goes when a CNN learns from emulator screens on a small machine.

    python benchmarks/ppo_pixels.py                      # Escape from Pong, 8 FCEUX instances, 84x84x4 gray
    python benchmarks/ppo_pixels.py --rounds 5 --json out.json
    python benchmarks/ppo_pixels.py --preprocess gray,resize=42x42,stack=4 --extractor small --n-steps 256

Three measurements, each printed with the load average around it:

1. **The games alone**: random actions through the vector env with the preprocessing, no
   policy: wall time per vector step, and the CPU time the game processes and this
   process spend per environment step.
2. **The policy alone** (SB3's ``CnnPolicy``, NatureCNN or ``--extractor``) on the same observation shape:
   inference on a batch of ``num_envs`` observations (one vector step) and one PPO minibatch
   update (forward, backward, Adam step) per sample, each with 1 and 2 torch threads.
   Per environment step PPO pays one inference share plus ``n_epochs`` updates.
3. **End to end**: ``PPO.learn`` for a few rollouts with torch threads (collect, update) =
   (1, 1), (2, 2) and (1, 2) (:class:`vecbridge.sb3.threads.PhaseThreads`: one thread while
   the games step, two while PPO updates and the games wait), taking turns round by round
   on the same game processes; the table gives the median steps/s and the median share
   of the time spent in collecting rollouts vs updating.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import psutil


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def children_cpu() -> float:
    total = 0.0
    for p in psutil.Process().children(recursive=True):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def own_cpu() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


def games_alone(envs, steps: int) -> dict:
    """Random actions, no policy: the games' cost per step."""
    envs.reset()
    rng = np.random.default_rng(0)
    n = envs.num_envs
    actions = [rng.integers(0, envs.single_action_space.n, size=n) for _ in range(steps)]
    c0, o0, t0 = children_cpu(), own_cpu(), time.perf_counter()
    for a in actions:
        envs.step(a)
    wall = time.perf_counter() - t0
    return {"ms_per_vector_step": 1e3 * wall / steps, "env_steps_per_s": n * steps / wall,
            "game_cpu_ms_per_env_step": 1e3 * (children_cpu() - c0) / (n * steps),
            "host_cpu_ms_per_env_step": 1e3 * (own_cpu() - o0) / (n * steps)}  # fmt: skip


def policy_alone(obs_shape: tuple[int, ...], num_envs: int, batch: int, repeats: int, policy_kwargs: dict) -> dict:
    """CPU and wall ms of inference (a batch of num_envs) and of a minibatch update, per sample."""
    import torch
    from gymnasium import spaces
    from stable_baselines3.common.policies import ActorCriticCnnPolicy

    policy = ActorCriticCnnPolicy(spaces.Box(0, 255, obs_shape, np.uint8), spaces.Discrete(9), lambda _: 2.5e-4,
                                  **policy_kwargs)  # fmt: skip
    out = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for what, size in (("inference", num_envs), ("update", batch)):
            x = torch.randint(0, 256, (size, *obs_shape), dtype=torch.uint8).float()
            actions = torch.randint(0, 9, (size,))

            def once() -> None:
                if what == "inference":
                    with torch.no_grad():
                        policy(x)
                else:
                    values, log_prob, entropy = policy.evaluate_actions(x, actions)
                    loss = -log_prob.mean() + values.pow(2).mean() - 0.01 * entropy.mean()
                    policy.optimizer.zero_grad()
                    loss.backward()
                    policy.optimizer.step()

            once()
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(repeats):
                once()
            out[f"{what}_threads{threads}"] = {
                "wall_ms_per_sample": 1e3 * (time.perf_counter() - t0) / (repeats * size),
                "cpu_ms_per_sample": 1e3 * (time.process_time() - c0) / (repeats * size),
            }
    return out


def end_to_end(envs_sb3, rounds: int, rollouts: int, ppo: dict) -> dict:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList

    from vecbridge.sb3.threads import PhaseThreads

    class Phases(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.collect = self.update = 0.0
            self._mark = 0.0

        def _on_rollout_start(self) -> None:
            now = time.perf_counter()
            if self._mark:
                self.update += now - self._mark
            self._mark = now

        def _on_rollout_end(self) -> None:
            now = time.perf_counter()
            self.collect += now - self._mark
            self._mark = now

        def _on_training_end(self) -> None:
            self.update += time.perf_counter() - self._mark

        def _on_step(self) -> bool:
            return True

    configs = {"threads 1/1": (1, 1), "threads 2/2": (2, 2), "threads 1 collect / 2 update": (1, 2)}
    model = PPO("CnnPolicy", envs_sb3, device="cpu", verbose=0, seed=0, **ppo)  # ppo: with policy_kwargs
    steps = rollouts * model.n_steps * envs_sb3.num_envs
    results: dict[str, list] = {name: [] for name in configs}
    for r in range(rounds):
        names = list(configs)
        names = names[r % len(names):] + names[: r % len(names)]  # rotate the order every round
        for name in names:
            collect, update = configs[name]
            torch.set_num_threads(collect)
            phases = Phases()
            t0 = time.perf_counter()
            model.learn(steps, callback=CallbackList([PhaseThreads(collect, update), phases]), reset_num_timesteps=False)
            wall = time.perf_counter() - t0
            results[name].append((steps / wall, phases.collect / wall, phases.update / wall))
        print(f"round {r + 1}/{rounds}: " + ", ".join(f"{n} {results[n][-1][0]:.0f} steps/s" for n in configs)
              + f" ({load()})", flush=True)  # fmt: skip
    return {name: {"steps_per_s": statistics.median(v[0] for v in vals),
                   "collect_share": statistics.median(v[1] for v in vals),
                   "update_share": statistics.median(v[2] for v in vals),
                   "all_steps_per_s": [round(v[0], 1) for v in vals]}
            for name, vals in results.items()}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--game", default="vecbridge/EscapeFromPong-v0")
    ap.add_argument("--num-envs", type=int, default=8)
    ap.add_argument("--preprocess", default="gray,resize=84x84,stack=4")
    ap.add_argument("--game-steps", type=int, default=300, help="vector steps for the games-alone measurement")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rollouts", type=int, default=2, help="rollouts per configuration and round")
    ap.add_argument("--n-steps", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--n-epochs", type=int, default=4)
    ap.add_argument("--extractor", default="nature", help="the CNN, as `vecbridge train` names it: nature, small, "
                    "MODULE:CLASS (vecbridge/sb3/cnn.py; default nature)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    from vecbridge.sb3.cnn import extractor_class

    policy_kwargs = {"features_extractor_class": extractor_class(args.extractor)}

    import vecbridge
    from vecbridge.sb3.adapter import make_sb3_env
    from vecbridge.sb3.common import wrap

    report: dict = {"game": args.game, "num_envs": args.num_envs, "preprocess": args.preprocess, "extractor": args.extractor,
                    "cpus": os.cpu_count(), "load_before": os.getloadavg()}  # fmt: skip
    print(f"{args.game} x {args.num_envs}, preprocessing {args.preprocess}, CNN {args.extractor}; {load()}")
    envs = vecbridge.make(args.game, num_envs=args.num_envs, preprocess=args.preprocess)
    try:
        report["games_alone"] = games = games_alone(envs, args.game_steps)
        shape = envs.single_observation_space.shape
    finally:
        envs.close()
    print(f"games alone: {games['env_steps_per_s']:.0f} env steps/s; CPU per env step: games "
          f"{games['game_cpu_ms_per_env_step']:.2f} ms, this process {games['host_cpu_ms_per_env_step']:.2f} ms ({load()})")
    chw = (shape[-1], *shape[:-1])  # what the CNN sees after VecTransposeImage
    report["policy_alone"] = pol = policy_alone(chw, args.num_envs, args.batch_size, 10, policy_kwargs)
    for key, v in pol.items():
        print(f"policy {key}: {v['wall_ms_per_sample']:.2f} ms wall, {v['cpu_ms_per_sample']:.2f} ms CPU per sample")
    per_step = {t: pol[f"inference_threads{t}"]["cpu_ms_per_sample"] + args.n_epochs * pol[f"update_threads{t}"]["cpu_ms_per_sample"]
                for t in (1, 2)}  # fmt: skip
    report["policy_cpu_ms_per_env_step"] = per_step
    print(f"policy CPU per env step (inference + {args.n_epochs} epochs of updates): "
          + ", ".join(f"{v:.2f} ms with {t} thread(s)" for t, v in per_step.items()) + f" ({load()})")  # fmt: skip
    ppo = {"n_steps": args.n_steps, "batch_size": args.batch_size, "n_epochs": args.n_epochs, "policy_kwargs": policy_kwargs}
    venv = make_sb3_env(args.game, args.num_envs, preprocess=args.preprocess)
    try:
        report["end_to_end"] = e2e = end_to_end(wrap(venv, frame_stack=1), args.rounds, args.rollouts, ppo)
    finally:
        venv.close()
    for name, v in e2e.items():
        print(f"{name:30s} {v['steps_per_s']:6.0f} steps/s  collecting {100 * v['collect_share']:.0f} %, "
              f"updating {100 * v['update_share']:.0f} %")  # fmt: skip
    report["load_after"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()

"""CleanRL-style PPO in plain PyTorch on vecbridge's Gymnasium vector env (no stable-baselines3).

    python examples/cleanrl_ppo.py                                  # Catch, 8 instances, 100k steps
    python examples/cleanrl_ppo.py --env-id vecbridge/Catch-v0 --num-envs 16 --total-timesteps 200000

The vector env is used exactly as Gymnasium 1.x defines it, with its default
NEXT_STEP autoreset. That mode needs care in the learner:

* When step ``t`` ends an episode (terminated or truncated), ``envs.step`` returns the
  episode's *final* observation. The next ``step`` ignores the action it is given, resets
  that instance and returns the first observation of a new episode, with reward 0 and
  no termination. That step is no transition of the game: (final obs, ignored action,
  first obs). Each step therefore carries ``valid = not done_at_previous_step``, and
  invalid steps are left out of the losses and of the advantage normalization.
* GAE stops at ``dones[t]`` (terminated or truncated), so nothing of the reset step leaks
  into the advantage of the last real step.
* A truncated episode is bootstrapped with V(final observation). In NEXT_STEP mode that
  observation is the one stored at ``t + 1`` (or the rollout's last ``next_obs``), so the
  value the rollout computed there is exactly the bootstrap value; only ``terminated``
  zeroes it.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from torch.distributions import Categorical

import vecbridge


@dataclass
class Args:
    env_id: str = "vecbridge/Catch-v0"
    num_envs: int = 8
    total_timesteps: int = 100_000
    num_steps: int = 64  # steps per instance per rollout
    learning_rate: float = 2.5e-3
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    num_minibatches: int = 2
    update_epochs: int = 4
    clip_coef: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    seed: int = 0
    torch_threads: int = 1
    log_every: int = 1  # iterations between progress lines


def parse_args(argv: list[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in dataclasses.fields(Args):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=f.default)
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default)
    return Args(**vars(parser.parse_args(argv)))


def layer(in_dim: int, out_dim: int, std: float = np.sqrt(2)) -> nn.Linear:
    lin = nn.Linear(in_dim, out_dim)
    nn.init.orthogonal_(lin.weight, std)
    nn.init.constant_(lin.bias, 0.0)
    return lin


class Agent(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int) -> None:
        super().__init__()
        self.critic = nn.Sequential(layer(obs_dim, 64), nn.Tanh(), layer(64, 64), nn.Tanh(), layer(64, 1, 1.0))
        self.actor = nn.Sequential(layer(obs_dim, 64), nn.Tanh(), layer(64, 64), nn.Tanh(), layer(64, n_actions, 0.01))

    def value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x).squeeze(-1)

    def act(self, x: torch.Tensor, action: torch.Tensor | None = None):
        dist = Categorical(logits=self.actor(x))
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action), dist.entropy(), self.value(x)


def compute_gae(rewards, values, terminations, dones, next_value, gamma: float, lam: float):
    """Advantages and returns for a rollout of shape (steps, envs) from a NEXT_STEP vector env.

    ``values[t + 1]`` is V(the observation step ``t`` returned), so for a truncated step it is
    V(final observation): the right bootstrap. ``terminations`` zero the bootstrap; ``dones``
    (terminated or truncated) cut the GAE recursion, so the reset step after an episode end
    never feeds the advantage of the episode's last step.
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(steps)):
        following = next_value if t == steps - 1 else values[t + 1]
        delta = rewards[t] + gamma * following * (1.0 - terminations[t]) - values[t]
        last = delta + gamma * lam * (1.0 - dones[t]) * last
        advantages[t] = last
    return advantages, advantages + values


def train(args: Args) -> dict:
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.torch_threads)
    envs = vecbridge.make(args.env_id, num_envs=args.num_envs)  # NEXT_STEP autoreset (Gymnasium's default)
    try:
        assert envs.single_action_space.__class__.__name__ == "Discrete", "this example handles Discrete actions"
        obs_dim = int(np.prod(envs.single_observation_space.shape))
        agent = Agent(obs_dim, int(envs.single_action_space.n))
        optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)
        n, steps = args.num_envs, args.num_steps
        obs = torch.zeros((steps, n, obs_dim))
        actions = torch.zeros((steps, n), dtype=torch.long)
        logprobs, rewards, values = torch.zeros((steps, n)), torch.zeros((steps, n)), torch.zeros((steps, n))
        terminations, dones, valid = torch.zeros((steps, n)), torch.zeros((steps, n)), torch.zeros((steps, n), dtype=torch.bool)

        next_obs_np, _ = envs.reset(seed=args.seed)
        next_obs = torch.as_tensor(next_obs_np, dtype=torch.float32).reshape(n, -1)
        prev_done = np.zeros(n, dtype=bool)  # the last step ended an episode: this step is a reset step
        running = np.zeros(n)
        recent: deque[float] = deque(maxlen=20)
        episodes, skipped, global_step, start = 0, 0, 0, time.monotonic()
        iterations = max(1, args.total_timesteps // (n * steps))
        for iteration in range(1, iterations + 1):
            if args.anneal_lr:
                optimizer.param_groups[0]["lr"] = args.learning_rate * (1.0 - (iteration - 1) / iterations)
            for t in range(steps):
                global_step += n
                obs[t] = next_obs
                valid[t] = torch.as_tensor(~prev_done)
                with torch.no_grad():
                    action, logprob, _, value = agent.act(next_obs)
                actions[t], logprobs[t], values[t] = action, logprob, value
                next_obs_np, reward, term, trunc, _ = envs.step(action.numpy())
                rewards[t] = torch.as_tensor(reward, dtype=torch.float32)
                terminations[t] = torch.as_tensor(term, dtype=torch.float32)
                done = np.logical_or(term, trunc)
                dones[t] = torch.as_tensor(done, dtype=torch.float32)
                running += reward  # a reset step's reward is 0
                for i in np.flatnonzero(done):
                    recent.append(float(running[i]))
                    running[i] = 0.0
                    episodes += 1
                prev_done = done
                next_obs = torch.as_tensor(next_obs_np, dtype=torch.float32).reshape(n, -1)

            with torch.no_grad():
                advantages, returns = compute_gae(rewards, values, terminations, dones, agent.value(next_obs), args.gamma, args.gae_lambda)

            keep = valid.reshape(-1)  # drop the reset steps
            b_obs, b_actions = obs.reshape(-1, obs_dim)[keep], actions.reshape(-1)[keep]
            b_logprobs, b_adv = logprobs.reshape(-1)[keep], advantages.reshape(-1)[keep]
            b_returns = returns.reshape(-1)[keep]
            size = b_obs.shape[0]
            skipped += n * steps - size
            minibatch = max(1, size // args.num_minibatches)
            for _ in range(args.update_epochs):
                order = torch.randperm(size)
                for lo in range(0, size, minibatch):
                    mb = order[lo : lo + minibatch]
                    _, newlogprob, entropy, newvalue = agent.act(b_obs[mb], b_actions[mb])
                    ratio = (newlogprob - b_logprobs[mb]).exp()
                    adv = b_adv[mb]
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8) if len(mb) > 1 else adv
                    pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)).mean()
                    v_loss = 0.5 * ((newvalue - b_returns[mb]) ** 2).mean()
                    loss = pg_loss - args.ent_coef * entropy.mean() + args.vf_coef * v_loss
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                    optimizer.step()
            if iteration % args.log_every == 0 or iteration == iterations:
                mean = np.mean(recent) if recent else float("nan")
                sps = global_step / (time.monotonic() - start)
                print(f"step {global_step:>8d}  {sps:7.0f} steps/s  episodes {episodes:5d}  "
                      f"return(last {len(recent)}) {mean:7.2f}  valid {size}/{n * steps}", flush=True)  # fmt: skip
        mean = float(np.mean(recent)) if recent else float("nan")
        summary = {"steps": global_step, "episodes": episodes, "reset_steps_skipped": skipped, "mean_return": mean}
        print(f"done: {global_step} steps, {episodes} episodes, mean return of the last {len(recent)}: {mean:.2f}; "
              f"{skipped} reset steps left out of the updates")  # fmt: skip
        return summary
    finally:
        envs.close()


if __name__ == "__main__":
    train(parse_args())

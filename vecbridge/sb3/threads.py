"""Torch threads by phase: few while the games step, more while PPO updates and the games wait.

SB3's PPO alternates two phases: it collects a rollout (the games run, the policy only infers
a batch of actions per step) and then updates the policy on it (the games wait for their next
action). On a machine with few cores the phases want different thread counts: while the games
run, a second torch thread only competes with them for the cores; during the update nothing
else runs, and a CNN's backward passes use every core they get.

    model.learn(n, callback=PhaseThreads(collect=1, update=2))
"""

from __future__ import annotations

from stable_baselines3.common.callbacks import BaseCallback


class PhaseThreads(BaseCallback):
    """``torch.set_num_threads(collect)`` when a rollout starts, ``update`` when it ends (before
    ``train()``); ``collect`` again when learning ends."""

    def __init__(self, collect: int, update: int) -> None:
        super().__init__()
        if collect < 1 or update < 1:
            raise ValueError(f"torch threads must be at least 1, got collect={collect}, update={update}")
        self.collect, self.update = collect, update

    def _set(self, n: int) -> None:
        import torch

        torch.set_num_threads(n)

    def _on_rollout_start(self) -> None:
        self._set(self.collect)

    def _on_rollout_end(self) -> None:
        self._set(self.update)

    def _on_training_end(self) -> None:
        self._set(self.collect)

    def _on_step(self) -> bool:
        return True

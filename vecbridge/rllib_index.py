"""Which RLlib env runner a vecbridge vector env belongs to: the key that says so, and its seeds.

Shared by :mod:`vecbridge.rllib` (the env creator, no RLlib import) and
:mod:`vecbridge.rllib_runner` (the env runner, an RLlib subclass), which both need it.
"""

from __future__ import annotations

#: the key under which the env runner tells the env creator who it is (vecbridge.rllib_runner)
RUNNER_KEY = "vecbridge_runner"
#: evaluation runners' seeds are offset like RLlib's own (it adds 1e6 for them)
EVALUATION_SEED_OFFSET = 1_000_000


def runner_seed(seed: int, index: int, num_envs: int, evaluation: bool = False) -> int:
    """The first seed of runner ``index``'s instances: runners' seed ranges never overlap."""
    return seed + index * num_envs + (EVALUATION_SEED_OFFSET if evaluation else 0)

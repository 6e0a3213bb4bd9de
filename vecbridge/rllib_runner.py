"""RLlib's single-agent env runner, telling vecbridge's env creator which runner it is.

RLlib's vector entry point hands the env creator a plain dict (``EnvContext | {"num_envs": n}``
drops the context's ``worker_index``), so this runner puts its index into the env config
before RLlib makes the env, and seeds its instances from that index
(:func:`vecbridge.rllib_index.runner_seed`). Kept apart from :mod:`vecbridge.rllib` so that
importing that module does not import RLlib.
"""

from __future__ import annotations

from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

from vecbridge.rllib_index import RUNNER_KEY, runner_seed


class VecbridgeEnvRunner(SingleAgentEnvRunner):
    """A ``SingleAgentEnvRunner`` whose vecbridge env knows the runner's index."""

    def make_env(self) -> None:
        index = self.worker_index or 0
        evaluation = bool(self.config.in_evaluation)
        self.config.env_config = {**self.config.env_config, RUNNER_KEY: {"index": index, "evaluation": evaluation}}
        if self.config.seed is not None:  # RLlib's seed + index would make neighbouring runners' instances overlap
            self._seed = runner_seed(int(self.config.seed), index, self.config.num_envs_per_env_runner, evaluation)
        super().make_env()

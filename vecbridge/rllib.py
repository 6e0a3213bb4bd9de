"""RLlib on vecbridge games: an algorithm configured for a game in one call.

    from vecbridge.rllib import ppo_config

    config = ppo_config("vecbridge/Catch-v0", num_env_runners=2, num_envs_per_env_runner=4)
    algo = config.build_algo()
    for _ in range(10):
        print(algo.train()["env_runners"]["episode_return_mean"])
    algo.stop()

Needs the ``ray`` extra (``pip install 'vecbridge[ray]'``). What the configuration does,
and why:

* **The game is registered with Ray** (``tune.register_env``), so env runner actors on
  every node find it, whether a registered id or your own :class:`~vecbridge.LaunchSpec`.
* **One vecbridge vector env per env runner** (``gym_env_vectorize_mode="vector_entry_point"``):
  ``num_envs_per_env_runner`` instances behind one ``BridgeVectorEnv``, not RLlib's
  wrapping of single envs.
* **Worker processes from the CPUs Ray assigned to the runner** (``num_cpus_per_env_runner``),
  not ``os.cpu_count()``: a runner given 2 CPUs on a 64-core node must not start 16 workers.
* **Seeds and run folders from the runner's index**: RLlib seeds runner ``k`` with
  ``seed + k``, and a vector env gives instance ``i`` ``seed + i``, so the instances of
  neighbouring runners would replay each other's episodes; runner ``k`` uses
  ``seed + k * num_envs_per_env_runner`` instead. With ``run_dir``, runner ``k`` keeps
  its instances' folders and logs in ``run_dir/runner-k`` on its node.
* **Placement**: ``runner_resources={"fceux": 1}`` puts runners only on nodes started
  with that custom resource (``ray start --resources '{"fceux": 8}'``), the ones with the emulator.
* **Failures stay per instance**: vecbridge relaunches a crashed, hung or protocol-breaking
  instance and ends its step truncated (``info["vecbridge_error"]``), so RLlib keeps the
  other instances' samples. RLlib's ``restart_failed_sub_environments`` (rebuild the whole
  vector env, drop the samples) is turned off: only a spent restart budget
  (:class:`~vecbridge.errors.RestartBudgetExceeded`) escapes to RLlib, which then restarts
  the env runner (``restart_failed_env_runners``, RLlib's default).
* **Observation normalization**, when asked (``normalize_observations=True``): RLlib's
  ``MeanStdFilter`` connector, its running statistics merged across runners every
  iteration, as SB3's ``VecNormalize`` does for ``vecbridge train --normalize``. Raw RAM
  values (positions 0-255, velocities of a few units) do not train an MLP well without it:
  Escape from Pong did not learn in 100k steps without it (docs/results.md).
"""

from __future__ import annotations

import functools
import os
from typing import Any

from vecbridge.launch.spec import LaunchSpec
from vecbridge.registry import resolve_spec
from vecbridge.rllib_index import RUNNER_KEY, runner_seed  # noqa: F401  (runner_seed: part of this module's API)

def workers_for_cpus(cpus: float) -> int:
    """vecbridge's default worker count (vector/vector_env.py) for the CPUs a runner was given."""
    cores = max(1, int(cpus))
    return 0 if cores <= 4 else cores // 4


def assigned_cpus() -> float:
    """CPUs Ray assigned to this actor; ``os.cpu_count()`` outside an actor (a local env runner)."""
    try:
        import ray

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    except Exception:
        cpus = None
    return cpus or os.cpu_count() or 1


def _runner_env(spec: LaunchSpec, settings: dict[str, Any], env_config: dict[str, Any]):
    """The env creator, run in each env runner: its vector env of ``num_envs`` instances."""
    from vecbridge.factory import make

    options = dict(env_config)
    num_envs = int(options.pop("num_envs", 1))
    runner = options.pop(RUNNER_KEY, {"index": 0, "evaluation": False})
    kwargs = {k: v for k, v in settings.items() if k != "run_dir" and v is not None}
    if settings.get("run_dir"):
        prefix = "eval-runner" if runner["evaluation"] else "runner"
        kwargs["run_dir"] = os.path.join(settings["run_dir"], f"{prefix}-{runner['index']}")
    kwargs.setdefault("num_workers", workers_for_cpus(assigned_cpus()))
    return make(spec, num_envs=num_envs, **kwargs, **options)


def mean_std_filter(env: Any = None, spaces: Any = None, device: Any = None) -> Any:
    """RLlib's env-to-module connector factory for ``normalize_observations=True``."""
    from ray.rllib.connectors.env_to_module import MeanStdFilter

    return MeanStdFilter()


def register_game(game: LaunchSpec | str, *, name: str | None = None, **settings: Any) -> str:
    """Register ``game`` with Ray's env registry; the name to pass to ``config.environment``.

    ``settings`` are vecbridge's vector env settings for each runner (``restart_budget``,
    ``run_dir``, ``num_workers``, ``timeout``, ...); game options go in ``env_config``.
    """
    from ray.tune.registry import register_env

    spec = resolve_spec(game)
    name = name or f"vecbridge-rllib:{game if isinstance(game, str) else spec.name or 'game'}"
    register_env(name, functools.partial(_runner_env, spec, dict(settings)))
    return name


def configure(
    config: Any,
    game: LaunchSpec | str,
    *,
    num_env_runners: int = 2,
    num_envs_per_env_runner: int = 4,
    num_cpus_per_env_runner: float = 1,
    runner_resources: dict[str, float] | None = None,
    seed: int | None = 0,
    run_dir: str | None = None,
    restart_budget: Any = None,
    num_workers: int | None = None,
    normalize_observations: bool = False,
    **game_options: Any,
) -> Any:
    """Configure the RLlib ``AlgorithmConfig`` ``config`` for ``game``; returns it.

    ``game_options`` go to every instance (``observation_type="value"``, ``balls=20``, ...).
    ``num_workers`` overrides the worker count derived from ``num_cpus_per_env_runner``.
    ``normalize_observations`` adds RLlib's ``MeanStdFilter`` (running mean and standard
    deviation of Box observations, clipped to +-10) in front of the policy.
    """
    from vecbridge.rllib_runner import VecbridgeEnvRunner

    name = register_game(game, run_dir=run_dir, restart_budget=restart_budget, num_workers=num_workers)
    return (
        config.environment(name, env_config=dict(game_options))
        .env_runners(
            env_runner_cls=VecbridgeEnvRunner,
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=num_envs_per_env_runner,
            gym_env_vectorize_mode="vector_entry_point",
            num_cpus_per_env_runner=num_cpus_per_env_runner,
            custom_resources_per_env_runner=dict(runner_resources or {}),
            env_to_module_connector=mean_std_filter if normalize_observations else None,
        )
        .fault_tolerance(restart_failed_sub_environments=False)
        .debugging(seed=seed)
    )


def ppo_config(game: LaunchSpec | str, **kwargs: Any) -> Any:
    """An RLlib ``PPOConfig`` for ``game`` (see :func:`configure` for the arguments)."""
    from ray.rllib.algorithms.ppo import PPOConfig

    return configure(PPOConfig(), game, **kwargs)

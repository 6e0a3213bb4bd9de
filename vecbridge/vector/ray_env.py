"""``backend="ray"``: a vector env whose instances live in Ray actors (the factory's one entry).

Builds a :class:`~vecbridge.vector.ray_driver.RayDriver` and the vector env over it.
INTERIM: the vector env is :class:`~vecbridge.vector.interim_driver_env.DriverVectorEnv`
until the core issue's Driver-based ``BridgeVectorEnv`` is merged; then this function
hands the driver to that vector env instead, and nothing else changes for callers.
"""

from __future__ import annotations

from typing import Any

from gymnasium.vector import AutoresetMode

from vecbridge.launch.spec import LaunchSpec
from vecbridge.vector.restart import RestartBudget


def make_ray_env(
    spec: LaunchSpec,
    num_envs: int,
    *,
    ray_address: str | None = None,
    num_actors: int | None = None,
    ray_actor_options: dict[str, Any] | None = None,
    restart_budget: RestartBudget | None = None,
    run_dir: str | None = None,
    num_workers: int | None = None,
    autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    timeout: float | None = None,
    batch_size: int | None = None,
    copy: bool = True,
    render_mode: str | None = None,
):
    """``num_envs`` instances of ``spec`` in Ray actors, as a ``gymnasium.vector.VectorEnv``."""
    from vecbridge.vector.interim_driver_env import DriverVectorEnv
    from vecbridge.vector.ray_driver import RayDriver

    if num_workers:  # each actor drives its slice from its own process; spread with num_actors instead
        raise ValueError(f"backend='ray' takes num_actors (Ray actors, each driving its instances), not num_workers={num_workers}")
    mode = AutoresetMode(autoreset_mode)
    driver = RayDriver(
        spec, num_envs, same_step=mode == AutoresetMode.SAME_STEP, restart_budget=restart_budget,
        address=ray_address, num_actors=num_actors, actor_options=ray_actor_options, run_dir=run_dir,
    )  # fmt: skip
    return DriverVectorEnv(driver, autoreset_mode=mode, timeout=timeout, batch_size=batch_size, copy=copy,
                           render_mode=render_mode)  # fmt: skip

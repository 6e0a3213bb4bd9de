"""Runners of ``backend="ray"`` for ``vecbridge bench``: Ray actors on local nodes started for the case.

=====================  ==========================================================================
``ray``                ``backend="ray"``: actors on one local Ray node (or the cluster at ``RAY_ADDRESS``)
``ray-2nodes``         the same on two local Ray nodes (actors spread over both)
``ray-2nodes-async``   two local nodes, ``send``/``recv`` taking the first ready actors
=====================  ==========================================================================

Importing this module adds the runners to ``RUNNERS``.
"""

from __future__ import annotations

from typing import Any

from vecbridge.bench.runners import (
    RUNNERS,
    ActionPool,
    LockstepRunner,
    RunnerUnavailable,
    VecbridgeAsyncRunner,
    default_batch_size,
)


class RayRunner(LockstepRunner):
    """``backend="ray"`` on a Ray cluster of ``nodes`` local nodes started for the case (``--num-workers``: actors).

    ``ray`` joins the cluster at ``RAY_ADDRESS`` instead when that is set (measuring real machines).
    """

    name = "ray"
    takes_preprocess = True
    description = "backend='ray', actors on 1 local Ray node (or RAY_ADDRESS), lockstep step()"
    nodes = 1

    @classmethod
    def check_available(cls) -> None:
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise RunnerUnavailable(f"ray is not installed ({exc}); pip install 'vecbridge[ray]'") from None

    def _make(self, **extra: Any):
        import os

        import vecbridge
        from vecbridge.ray_local import LocalCluster

        self.cluster = None
        if self.nodes == 1 and os.environ.get("RAY_ADDRESS"):
            import ray

            ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
        else:  # the machine's cores shared out between the nodes (at least 1 logical CPU each)
            cpus = max(1, (os.cpu_count() or 1) // self.nodes)
            self.cluster = LocalCluster(nodes=self.nodes, cpus_per_node=cpus)
        kwargs = dict(self.options)
        if self.num_workers:
            kwargs["num_actors"] = self.num_workers
        return vecbridge.make(self.env_id, num_envs=self.num_envs, backend="ray", **kwargs, **extra)

    def start(self) -> None:
        self.envs = self._make()
        self.envs.reset(seed=self.seed)
        self.actions = ActionPool(self.envs.single_action_space, self.num_envs, self.seed)

    def close(self) -> None:
        try:
            super().close()
        finally:
            cluster = getattr(self, "cluster", None)
            if cluster is not None:
                cluster.shutdown()
            else:
                import ray

                ray.shutdown()

    def settings(self) -> dict[str, Any]:
        envs = getattr(self, "envs", None)
        actors = envs.driver.num_actors if envs is not None else None
        return {"nodes": self.nodes if getattr(self, "cluster", None) is not None else "RAY_ADDRESS", "actors": actors}


class Ray2NodesRunner(RayRunner):
    name = "ray-2nodes"
    description = "backend='ray', actors spread over 2 local Ray nodes, lockstep step()"
    nodes = 2


class Ray2NodesAsyncRunner(Ray2NodesRunner):
    name = "ray-2nodes-async"
    description = "backend='ray' on 2 local Ray nodes, send()/recv() of the first ready actors"

    def start(self) -> None:
        self.batch = min(self.num_envs, self.batch_size or default_batch_size(self.num_envs))
        self.envs = self._make(batch_size=self.batch)
        self.envs.async_reset(seed=self.seed)
        self.actions = ActionPool(self.envs.single_action_space, self.num_envs, self.seed)

    step = VecbridgeAsyncRunner.step

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "batch_size": getattr(self, "batch", None)}


RUNNERS.update({r.name: r for r in (RayRunner, Ray2NodesRunner, Ray2NodesAsyncRunner)})

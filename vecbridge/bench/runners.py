"""Ways to step N instances of one game, each over the same game processes launched the same way.

Every runner launches its instances through vecbridge's launcher (a listener bound
first, ``VECBRIDGE_*`` variables, the same command line), so the games, the wire
protocol and the sockets are identical; only what sits between the game sockets and
the caller differs:

=================  ==========================================================================
``vecbridge``      vecbridge's vector env, lockstep ``step()`` (worker processes multiplex sockets)
``vecbridge-async``  the same env through ``send``/``recv`` with ``batch_size`` (EnvPool style)
``gymnasium-async``  Gymnasium's AsyncVectorEnv (shared memory), one process per ``GameEnv``
``gymnasium-sync``   Gymnasium's SyncVectorEnv over ``GameEnv`` s, all in the caller's process
``sb3-subproc``      Stable-Baselines3's SubprocVecEnv over ``GameEnv`` s
``pufferlib``        PufferLib's Multiprocessing backend over ``GameEnv`` s (where it installs)
``floor``            one process, N sockets: send all N requests, then read all N replies
``ray``              ``backend="ray"``: actors on one local Ray node (or the cluster at ``RAY_ADDRESS``)
``ray-2nodes``       the same on two local Ray nodes (actors spread over both)
``ray-2nodes-async``  two local nodes, ``send``/``recv`` taking the first ready actors
=================  ==========================================================================

A runner's ``step()`` advances the instances by one round and returns how many env
steps that was. Actions come from a pool sampled once up front, so no runner pays
for sampling inside the measured loop.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

ACTION_POOL = 32


class RunnerUnavailable(Exception):
    """The runner's library is not installed (or cannot run this game)."""


class ActionPool:
    """``ACTION_POOL`` batches of random actions for ``num_envs`` instances, cycled."""

    def __init__(self, single_space, num_envs: int, seed: int) -> None:
        from gymnasium.vector.utils import batch_space, iterate

        space = batch_space(single_space, num_envs)
        space.seed(seed)
        self.batches = [space.sample() for _ in range(ACTION_POOL)]
        self.rows = [list(iterate(space, b)) for b in self.batches]
        self.k = 0

    def next(self) -> Any:
        self.k = (self.k + 1) % ACTION_POOL
        return self.batches[self.k]

    def next_rows(self) -> list[Any]:
        self.k = (self.k + 1) % ACTION_POOL
        return self.rows[self.k]


def take(batch: Any, ids: np.ndarray) -> Any:
    """Rows ``ids`` of a batched action (arrays, or dicts/tuples of them)."""
    if isinstance(batch, dict):
        return {k: take(v, ids) for k, v in batch.items()}
    if isinstance(batch, tuple):
        return tuple(take(v, ids) for v in batch)
    return batch[ids]


class Runner:
    name = ""
    description = ""

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        options: dict[str, Any] | None = None,
        *,
        batch_size: int | None = None,
        num_workers: int | None = None,
        seed: int = 0,
    ) -> None:
        self.env_id = env_id
        self.num_envs = num_envs
        self.options = dict(options or {})
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

    @classmethod
    def check_available(cls) -> None:
        """Raise :class:`RunnerUnavailable` if the runner's library is missing."""

    def start(self) -> None:
        """Launch the instances and reset them."""
        raise NotImplementedError

    def step(self) -> int:
        """One round of steps; returns the number of env steps taken."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the vector env in ``self.envs``, if it was built (the floor overrides this)."""
        envs = getattr(self, "envs", None)
        if envs is not None:
            envs.close()

    def settings(self) -> dict[str, Any]:
        """Extra settings worth recording with the result."""
        return {}


class LockstepRunner(Runner):
    """A vector env in ``self.envs`` stepped whole, with actions from ``self.actions``."""

    def step(self) -> int:
        self.envs.step(self.actions.next())
        return self.num_envs


# ---------------------------------------------------------------- vecbridge
class VecbridgeRunner(LockstepRunner):
    name = "vecbridge"
    description = "vecbridge vector env, lockstep step()"

    def _make(self, **extra: Any):
        import vecbridge

        kwargs = dict(self.options)
        if self.num_workers:
            kwargs["num_workers"] = self.num_workers
        return vecbridge.make(self.env_id, num_envs=self.num_envs, **kwargs, **extra)

    def start(self) -> None:
        self.envs = self._make()
        self.envs.reset(seed=self.seed)
        self.actions = ActionPool(self.envs.single_action_space, self.num_envs, self.seed)

    def settings(self) -> dict[str, Any]:
        envs = getattr(self, "envs", None)
        return {"num_workers": envs.num_workers} if envs is not None else {}


def default_batch_size(num_envs: int) -> int:
    return max(1, num_envs // 2)


class VecbridgeAsyncRunner(VecbridgeRunner):
    name = "vecbridge-async"
    description = "vecbridge vector env, send()/recv() with batch_size"

    def start(self) -> None:
        self.batch = min(self.num_envs, self.batch_size or default_batch_size(self.num_envs))
        self.envs = self._make(batch_size=self.batch)
        self.envs.async_reset(seed=self.seed)
        self.actions = ActionPool(self.envs.single_action_space, self.num_envs, self.seed)

    def step(self) -> int:
        envs = self.envs
        *_, ids = envs.recv()
        envs.send(take(self.actions.next(), ids), ids)
        return len(ids)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "batch_size": getattr(self, "batch", None)}


# ---------------------------------------------------------------- single-instance GameEnv factories
def _game_env(env_id: str, instance: int, options: dict[str, Any]):
    from vecbridge.env import GameEnv

    return GameEnv(env_id, instance=instance, **options)


def game_env_factories(env_id: str, num_envs: int, options: dict[str, Any]) -> list[Callable[[], Any]]:
    """One picklable factory per instance (instance ``i`` gets ``VECBRIDGE_INSTANCE=i``)."""
    return [functools.partial(_game_env, env_id, i, dict(options)) for i in range(num_envs)]


class GymnasiumAsyncRunner(LockstepRunner):
    name = "gymnasium-async"
    description = "gymnasium.vector.AsyncVectorEnv(shared_memory=True) over GameEnv"

    def start(self) -> None:
        import vecbridge

        self.envs = vecbridge.make(self.env_id, num_envs=self.num_envs, backend="gymnasium", **self.options)
        self.envs.reset(seed=self.seed)
        self.actions = ActionPool(self.envs.single_action_space, self.num_envs, self.seed)


class GymnasiumSyncRunner(GymnasiumAsyncRunner):
    name = "gymnasium-sync"
    description = "gymnasium.vector.SyncVectorEnv over GameEnv (one process)"

    def start(self) -> None:
        import gymnasium as gym

        self.envs = gym.vector.SyncVectorEnv(game_env_factories(self.env_id, self.num_envs, self.options))
        self.envs.reset(seed=self.seed)
        self.actions = ActionPool(self.envs.single_action_space, self.num_envs, self.seed)


class SB3SubprocRunner(LockstepRunner):
    name = "sb3-subproc"
    description = "stable_baselines3 SubprocVecEnv over GameEnv"

    @classmethod
    def check_available(cls) -> None:
        try:
            import stable_baselines3  # noqa: F401
        except ImportError as exc:
            raise RunnerUnavailable(f"stable-baselines3 is not installed ({exc}); pip install 'vecbridge[bench]'") from None

    def start(self) -> None:
        from stable_baselines3.common.vec_env import SubprocVecEnv

        self.envs = SubprocVecEnv(game_env_factories(self.env_id, self.num_envs, self.options))
        self.envs.seed(self.seed)
        self.envs.reset()
        self.actions = ActionPool(self.envs.action_space, self.num_envs, self.seed)


class PufferLibRunner(Runner):
    name = "pufferlib"
    description = "PufferLib Multiprocessing over GameEnv (1 worker unless --num-workers)"

    @classmethod
    def check_available(cls) -> None:
        try:
            import pufferlib.emulation  # noqa: F401
            import pufferlib.vector  # noqa: F401
        except Exception as exc:  # ImportError, or its own import-time failures
            raise RunnerUnavailable(
                f"pufferlib is not importable ({type(exc).__name__}: {exc}); its sdist build downloads "
                f"raylib/box2d and pins numpy<2, gymnasium<=0.29"
            ) from None

    def start(self) -> None:
        import pufferlib.emulation
        import pufferlib.vector

        creators = [
            functools.partial(pufferlib.emulation.GymnasiumPufferEnv, env_creator=f)
            for f in game_env_factories(self.env_id, self.num_envs, self.options)
        ]
        workers = self.num_workers or 1
        self.batch = self.batch_size or self.num_envs
        self.envs = pufferlib.vector.make(
            creators,
            env_args=[[] for _ in creators],
            env_kwargs=[{} for _ in creators],
            backend=pufferlib.vector.Multiprocessing,
            num_envs=self.num_envs,
            num_workers=workers,
            batch_size=self.batch,
        )
        self.envs.async_reset(self.seed)
        self.actions = ActionPool(self.envs.single_action_space, self.batch, self.seed)

    def step(self) -> int:
        self.envs.recv()
        self.envs.send(self.actions.next())
        return self.batch

    def settings(self) -> dict[str, Any]:
        return {"num_workers": self.num_workers or 1, "batch_size": getattr(self, "batch", None)}


# ---------------------------------------------------------------- Ray
class RayRunner(LockstepRunner):
    """``backend="ray"`` on a Ray cluster of ``nodes`` local nodes started for the case (``--num-workers``: actors).

    ``ray`` joins the cluster at ``RAY_ADDRESS`` instead when that is set (measuring real machines).
    """

    name = "ray"
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


# ---------------------------------------------------------------- the floor
class FloorRunner(Runner):
    """No framework: this process holds the N sockets, sends N requests, then reads N replies.

    It uses vecbridge's launcher and its sans-I/O protocol objects (the same bytes on the
    wire as every other runner), blocking sockets, and next-step autoreset: an instance
    whose episode ended gets a reset in place of its next step, as vecbridge does.
    """

    name = "floor"
    description = "one process, N sockets: send all N, then read all N"
    RECV = 1 << 17

    def start(self) -> None:
        from vecbridge.launch.instance import Listener
        from vecbridge.launch.run import RunContext
        from vecbridge.registry import resolve_spec

        self.spec = resolve_spec(self.env_id, self.options)
        self.run = RunContext()
        listener = Listener()
        try:
            launched = listener.launch(self.spec, range(self.num_envs), self.run.token, self.run.run_dir, self.run.reaper)
        except BaseException:
            self.run.close()
            self.run = None
            raise
        finally:
            listener.close()
        self.insts = [launched[i] for i in range(self.num_envs)]
        for inst in self.insts:
            inst.sock.settimeout(None)
        hello = self.insts[0].hello
        obs_space = hello.observation_space
        self.obs = np.zeros((self.num_envs, *obs_space.shape), dtype=obs_space.dtype)
        self.rewards = np.zeros(self.num_envs)
        self.done = [False] * self.num_envs
        for i, inst in enumerate(self.insts):
            inst.sock.sendall(inst.conn.send_reset(self.seed + i, None))
        for i, inst in enumerate(self.insts):
            self.obs[i] = self._read(inst).observation
        self.actions = ActionPool(hello.action_space, self.num_envs, self.seed)

    def _read(self, inst) -> Any:
        conn, sock = inst.conn, inst.sock
        while (event := conn.next_event()) is None:
            data = sock.recv(self.RECV)
            if not data:
                raise ConnectionError(f"instance {inst.index} closed its connection")
            conn.receive_data(data)
        return event

    def step(self) -> int:
        insts, done = self.insts, self.done
        for inst, action, d in zip(insts, self.actions.next_rows(), done):
            inst.sock.sendall(inst.conn.send_reset(None, None) if d else inst.conn.send_step(action))
        obs, rewards = self.obs, self.rewards
        for i, inst in enumerate(insts):
            event = self._read(inst)
            obs[i] = event.observation
            if done[i]:
                done[i] = False
                rewards[i] = 0.0
            else:
                rewards[i] = event.reward
                done[i] = event.terminated or event.truncated
        return self.num_envs

    def close(self) -> None:
        from vecbridge.launch.instance import close_instances

        insts, self.insts = getattr(self, "insts", []), []
        try:
            close_instances(insts, self.spec.close_grace)
        finally:
            run, self.run = getattr(self, "run", None), None
            if run is not None:
                run.close()


RUNNERS: dict[str, type[Runner]] = {
    r.name: r
    for r in (
        VecbridgeRunner,
        VecbridgeAsyncRunner,
        GymnasiumAsyncRunner,
        GymnasiumSyncRunner,
        SB3SubprocRunner,
        PufferLibRunner,
        FloorRunner,
        RayRunner,
        Ray2NodesRunner,
        Ray2NodesAsyncRunner,
    )
}
DEFAULT_RUNNERS = ["vecbridge", "vecbridge-async", "gymnasium-async", "gymnasium-sync", "sb3-subproc", "floor"]

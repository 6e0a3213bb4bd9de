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
``raw``              no vecbridge at all: the game's own loop, same frames and observation (bench/raw.py)
=================  ==========================================================================

A runner's ``step()`` advances the instances by one round and returns how many env
steps that was. Actions come from a pool sampled once up front, so no runner pays
for sampling inside the measured loop.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from vecbridge.bench.base import ACTION_POOL, ActionPool, LockstepRunner, Runner, RunnerUnavailable, take
from vecbridge.bench.raw import RawRunner

__all__ = ["ACTION_POOL", "ActionPool", "LockstepRunner", "RUNNERS", "RawRunner", "Runner", "RunnerUnavailable", "take"]


# ---------------------------------------------------------------- vecbridge
class VecbridgeRunner(LockstepRunner):
    name = "vecbridge"
    takes_preprocess = True
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


class VecbridgeTcpRunner(VecbridgeRunner):
    name = "vecbridge-tcp"
    description = "vecbridge vector env, lockstep step(), TCP only (no Unix-domain socket offered to the games)"

    def _make(self, **extra: Any):
        from dataclasses import replace

        import vecbridge
        from vecbridge.registry import resolve_spec

        options = dict(self.options)
        preprocess = options.pop("preprocess", None)
        spec = replace(resolve_spec(self.env_id, options), unix_socket=False)
        kwargs = {"num_workers": self.num_workers} if self.num_workers else {}
        return vecbridge.make(spec, num_envs=self.num_envs, preprocess=preprocess, **kwargs, **extra)


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
    from vecbridge.game_env import GameEnv

    return GameEnv(env_id, instance=instance, **options)


def game_env_factories(env_id: str, num_envs: int, options: dict[str, Any]) -> list[Callable[[], Any]]:
    """One picklable factory per instance (instance ``i`` gets ``VECBRIDGE_INSTANCE=i``)."""
    return [functools.partial(_game_env, env_id, i, dict(options)) for i in range(num_envs)]


class GymnasiumAsyncRunner(LockstepRunner):
    name = "gymnasium-async"
    takes_preprocess = True
    description = "gymnasium.vector.AsyncVectorEnv(shared_memory=True) over GameEnv"

    def start(self) -> None:
        import vecbridge

        self.envs = vecbridge.make(self.env_id, num_envs=self.num_envs, backend="gymnasium", **self.options)
        self.envs.reset(seed=self.seed)
        self.actions = ActionPool(self.envs.single_action_space, self.num_envs, self.seed)


class GymnasiumSyncRunner(GymnasiumAsyncRunner):
    name = "gymnasium-sync"
    takes_preprocess = False  # SyncVectorEnv over GameEnvs: nothing preprocesses
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
        from vecbridge.launch.listener import Listener
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
        if obs_space.shape is None:  # a Dict or Tuple: no single array to read it into
            raise RunnerUnavailable(f"floor reads one array per observation; this game's is {obs_space}")
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
        VecbridgeTcpRunner,
        VecbridgeAsyncRunner,
        GymnasiumAsyncRunner,
        GymnasiumSyncRunner,
        SB3SubprocRunner,
        PufferLibRunner,
        FloorRunner,
        RawRunner,
    )
}
DEFAULT_RUNNERS = ["vecbridge", "vecbridge-async", "gymnasium-async", "gymnasium-sync", "sb3-subproc", "floor"]

"""vecbridge's vector env as a stable-baselines3 ``VecEnv``.

SB3 and Gymnasium 1.x disagree on three things, and this module translates them:

* **Autoreset.** SB3 resets a finished instance within the same ``step`` and hands the
  last observation of the episode over in ``info["terminal_observation"]``. The adapter
  is built on vecbridge's vector env with ``autoreset_mode="SameStep"``: each worker
  then resets an instance right after its final step, in parallel with the others and
  without a round trip to this process, and reports ``final_obs``/``final_info`` in the
  infos. That maps one to one onto SB3's convention. (On NEXT_STEP the adapter would
  have to reset the finished instances itself after every step: an extra blocking
  round trip through every worker, or a step of latency hidden from SB3.)
* **Infos.** Gymnasium batches infos as a dict of arrays with ``_key`` masks; SB3 wants a
  list with one dict per instance. :func:`split_infos` converts. For an instance whose
  episode ended, ``infos[i]`` holds the *final step's* info (``final_info``) plus
  ``terminal_observation`` and ``TimeLimit.truncated``; the info of the reset that
  followed goes to ``reset_infos[i]``, as in SB3's own ``DummyVecEnv``/``SubprocVecEnv``.
  vecbridge's own notes (``vecbridge_error``, ``vecbridge_restarts``) describe the step
  that failed, so they go to ``infos[i]``.
* **Seeds and options.** ``seed(s)`` and ``set_options(...)`` only store values; the next
  ``reset()`` uses them once (SB3 2.x semantics). Per-instance options that differ are
  applied with one masked reset (``options["reset_mask"]``) per distinct set.

``env_is_wrapped`` answers ``False`` for every instance: the game runs in another
process (often not Python at all), so no Gymnasium wrapper of this process can wrap it.
Wrap the adapter with SB3's ``VecMonitor`` (not ``Monitor``) to get episode statistics.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

#: info keys that vecbridge adds about a failed step (they belong to the step, not to the reset after it)
STEP_NOTE_PREFIX = "vecbridge_"


def split_infos(infos: dict[str, Any], num_envs: int) -> list[dict[str, Any]]:
    """Gymnasium's batched infos (dict of arrays with ``_key`` masks) as one dict per instance.

    Nested dicts (such as ``final_info``) are split recursively. Numpy scalars become
    Python numbers, as a single env would have returned them; array-valued entries
    come back as the instance's row.
    """
    out: list[dict[str, Any]] = [{} for _ in range(num_envs)]
    if not infos:
        return out
    for key, value in infos.items():
        if key.startswith("_") and key[1:] in infos:
            continue  # a mask
        mask = infos.get(f"_{key}")
        rows: Iterable[int] = range(num_envs) if mask is None else np.flatnonzero(mask).tolist()
        if isinstance(value, dict):
            parts = split_infos(value, num_envs)
            for i in rows:
                out[i][key] = parts[i]
            continue
        if not isinstance(value, np.ndarray) or value.ndim == 0 or len(value) != num_envs:
            for i in rows:  # not batched (a key without a mask holding one value): give it to everyone
                out[i][key] = value
            continue
        for i in rows:
            item = value[i]
            if isinstance(item, np.generic):
                item = item.item()
            elif isinstance(item, np.ndarray) and value.dtype != object:
                item = item.copy()
            out[i][key] = item
    return out


def _same(a: Any, b: Any) -> bool:
    try:
        return json.dumps(a, sort_keys=True, default=repr) == json.dumps(b, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        return a is b


def _index_obs(obs: Any, i: int) -> Any:
    if isinstance(obs, dict):
        return {k: _index_obs(v, i) for k, v in obs.items()}
    if isinstance(obs, tuple):
        return tuple(_index_obs(v, i) for v in obs)
    return np.array(obs[i], copy=True)


def _assign_rows(dst: Any, src: Any, rows: np.ndarray) -> None:
    if isinstance(dst, dict):
        for k in dst:
            _assign_rows(dst[k], src[k], rows)
    elif isinstance(dst, tuple):
        for d, s in zip(dst, src):
            _assign_rows(d, s, rows)
    else:
        dst[rows] = src[rows]


# sb3-contrib's name for the allowed actions (sb3_contrib.common.maskable.utils)
ACTION_MASKS = "action_masks"

class VecBridgeSB3(VecEnv):
    """A ``stable_baselines3`` ``VecEnv`` over a vecbridge vector env.

    Args:
        venv: a vector env with ``metadata["autoreset_mode"] == AutoresetMode.SAME_STEP``,
            normally from ``vecbridge.make(game, num_envs, autoreset_mode="SameStep")``
            (:func:`make_sb3_env` does this). It is closed with the adapter.
        max_episode_steps: optional time limit applied here: an episode that reaches it
            ends truncated (``TimeLimit.truncated``), and the instance is reset with a
            masked reset. For games whose episodes can go on forever.

    ``env_method``/``set_attr`` on a subset of the instances need a vector env with
    ``call_at(env_ids, name, *args, **kwargs)``; without it they raise
    ``NotImplementedError`` rather than call every instance (``get_attr`` on a subset
    uses ``call_at`` when there is one, else reads all instances and returns the requested ones).
    """

    def __init__(self, venv: gym.vector.VectorEnv, max_episode_steps: int | None = None) -> None:
        mode = venv.metadata.get("autoreset_mode")
        if mode != AutoresetMode.SAME_STEP:
            raise ValueError(
                f"VecBridgeSB3 needs a vector env with autoreset_mode='SameStep' (SB3 resets in the same step), got "
                f"{mode}; create it with vecbridge.make(..., autoreset_mode='SameStep') or use vecbridge.sb3.make_sb3_env"
            )
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be at least 1, got {max_episode_steps}")
        self.venv = venv
        self.max_episode_steps = max_episode_steps
        self._elapsed = np.zeros(venv.num_envs, dtype=np.int64)
        self._closed = False
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self.metadata = {**self.metadata, "render_fps": venv.metadata.get("render_fps", 30)}

    # ------------------------------------------------------------ reset / step
    def reset(self) -> VecEnvObs:
        n = self.num_envs
        seeds = list(self._seeds)
        options = [dict(o or {}) for o in self._options]
        if not any(options):
            obs, infos = self.venv.reset(seed=seeds if any(s is not None for s in seeds) else None)
            reset_infos = split_infos(infos, n)
        else:
            groups: list[tuple[dict[str, Any], list[int]]] = []
            for i, opts in enumerate(options):
                for group_opts, members in groups:
                    if _same(group_opts, opts):
                        members.append(i)
                        break
                else:
                    groups.append((opts, [i]))
            reset_infos = [{} for _ in range(n)]
            for opts, members in groups:
                mask = np.zeros(n, dtype=bool)
                mask[members] = True
                if len(groups) == 1:
                    obs, infos = self.venv.reset(seed=seeds if any(s is not None for s in seeds) else None, options=opts)
                else:
                    obs, infos = self.venv.reset(seed=seeds, options={**opts, "reset_mask": mask})
                parts = split_infos(infos, n)
                for i in members:
                    reset_infos[i] = parts[i]
        self.reset_infos = reset_infos
        self._elapsed[:] = 0
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, terminated, truncated, batched = self.venv.step_wait()
        n = self.num_envs
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.asarray(truncated, dtype=bool).copy()
        dones = terminated | truncated
        parts = split_infos(batched, n)
        infos: list[dict[str, Any]] = []
        for i in range(n):
            info = parts[i]
            if dones[i]:
                reset_info = info
                step_info = reset_info.pop("final_info", None) or {}
                for key in [k for k in reset_info if k.startswith(STEP_NOTE_PREFIX)]:
                    step_info[key] = reset_info.pop(key)
                if "final_obs" in reset_info:
                    step_info["terminal_observation"] = reset_info.pop("final_obs")
                else:  # not expected from a SAME_STEP env: keep SB3's contract anyway
                    step_info["terminal_observation"] = _index_obs(obs, i)
                self.reset_infos[i] = reset_info
                info = step_info
            info["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            infos.append(info)
        self._elapsed += 1
        self._elapsed[dones] = 0
        if self.max_episode_steps is not None:
            expired = self._elapsed >= self.max_episode_steps
            if expired.any():
                obs = self._truncate(obs, expired, infos)
                truncated |= expired
                dones |= expired
        return obs, np.asarray(rewards, dtype=np.float32), dones, infos

    def _truncate(self, obs: Any, expired: np.ndarray, infos: list[dict[str, Any]]) -> Any:
        """End the episodes of ``expired`` instances (time limit): reset them, report them truncated."""
        for i in np.flatnonzero(expired).tolist():
            infos[i]["terminal_observation"] = _index_obs(obs, i)
            infos[i]["TimeLimit.truncated"] = True
        new_obs, batched = self.venv.reset(options={"reset_mask": expired})
        parts = split_infos(batched, self.num_envs)
        for i in np.flatnonzero(expired).tolist():
            self.reset_infos[i] = parts[i]
        _assign_rows(obs, new_obs, expired)
        self._elapsed[expired] = 0
        return obs

    # ------------------------------------------------------------ attributes and methods
    def _call_at(self, ids: list[int], name: str, *args: Any, **kwargs: Any) -> list[Any]:
        if ids == list(range(self.num_envs)):
            return list(self.venv.call(name, *args, **kwargs))
        call_at = getattr(self.venv, "call_at", None)
        if call_at is None:
            raise NotImplementedError(
                f"{type(self.venv).__name__} can only call every instance; calling {name!r} on instances {ids} "
                f"needs a vector env with call_at(env_ids, name, *args, **kwargs)"
            )
        return list(call_at(ids, name, *args, **kwargs))

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        ids = list(self._get_indices(indices))
        if attr_name == "render_mode":  # the vector env renders, whatever the game's own attribute says
            return [getattr(self.venv, "render_mode", None)] * len(ids)
        if attr_name == ACTION_MASKS:  # sb3-contrib's "is masking supported?": AttributeError if the game sends none
            self.venv.action_masks()
            return [self.action_masks] * len(ids)
        everyone = ids == list(range(self.num_envs))
        try:
            if everyone or getattr(self.venv, "call_at", None) is None:  # reading is harmless: read all, pick
                values = self.venv.get_attr(attr_name)
                return [values[i] for i in ids]
            return list(self.venv.call_at(ids, "__getattr__", attr_name))
        except AttributeError:
            raise
        except Exception as exc:
            if "AttributeError" in str(exc):
                raise AttributeError(f"the game instances have no attribute {attr_name!r}: {exc}") from exc
            raise

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        ids = list(self._get_indices(indices))
        if ids == list(range(self.num_envs)):
            self.venv.set_attr(attr_name, [value] * self.num_envs)  # a list value is one value, not one per instance
        else:
            self._call_at(ids, "__setattr__", attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any) -> list[Any]:
        if method_name == ACTION_MASKS and not method_args and not method_kwargs:
            masks = self.venv.action_masks()  # from the shared buffers: no round trip to the games
            return [masks[i] for i in self._get_indices(indices)]
        return self._call_at(list(self._get_indices(indices)), method_name, *method_args, **method_kwargs)

    def action_masks(self) -> np.ndarray:
        """``bool [num_envs, n]``: the actions each game allows with its current observation, in
        sb3-contrib's layout (``MaskablePPO`` reads them through ``env_method("action_masks")``)."""
        return self.venv.action_masks()

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """Always ``False``: the games run in other processes, where no wrapper of this process applies."""
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            warnings.warn(
                f"The render mode is {self.render_mode}, but get_images() needs render_mode='rgb_array' "
                f"(vecbridge.make(..., render_mode='rgb_array'))"
            )
            return [None for _ in range(self.num_envs)]
        return list(self.venv.render())

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.venv.close()

    def __enter__(self) -> "VecBridgeSB3":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VecBridgeSB3({self.venv!r})"


def make_sb3_env(
    game: Any,
    num_envs: int = 8,
    *,
    max_episode_steps: int | None = None,
    seed: int | None = None,
    **kwargs: Any,
) -> VecBridgeSB3:
    """``num_envs`` instances of ``game`` (a registered id or a ``LaunchSpec``) as an SB3 ``VecEnv``.

    Keyword arguments go to :func:`vecbridge.make` (vector env settings such as
    ``num_workers``, ``render_mode``, ``run_dir``; all others are game options).
    ``seed`` seeds the first reset (instance ``i`` gets ``seed + i``).
    """
    from vecbridge.factory import make

    mode = kwargs.pop("autoreset_mode", AutoresetMode.SAME_STEP)
    if AutoresetMode(mode) != AutoresetMode.SAME_STEP:
        raise ValueError("make_sb3_env always uses autoreset_mode='SameStep' (SB3 resets in the same step)")
    venv = make(game, num_envs=num_envs, autoreset_mode=AutoresetMode.SAME_STEP, **kwargs)
    try:
        env = VecBridgeSB3(venv, max_episode_steps=max_episode_steps)
    except BaseException:
        venv.close()
        raise
    if seed is not None:
        env.seed(seed)
    return env

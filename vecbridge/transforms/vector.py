"""A preprocessing pipeline applied to any Gymnasium vector env, in the caller's process.

``vecbridge.make(..., preprocess=...)`` uses it for ``backend="gymnasium"`` and, until the
instance groups run the pipeline themselves, for vecbridge's own vector env too. It is
also the reference for how episodes start under each autoreset mode:

- a ``reset`` starts an episode in every instance it resets (all, or ``reset_mask``);
- NEXT_STEP: the step after an instance's final step is its reset (its new first frame);
- SAME_STEP: the final frame (``info["final_obs"]``) is preprocessed first, continuing the
  old episode, then the new first frame in the same step starts the next one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space

from vecbridge.transforms.pipeline import Pipeline, PreprocessSpec


class PreprocessObservations(VectorWrapper):
    """``env`` with its image observations preprocessed by ``pipeline`` (see :mod:`vecbridge.transforms.pipeline`).

    Attributes of the wrapped env that this wrapper does not define (``call_at``,
    ``game_name``, ``send``/``recv`` ...) are the wrapped env's; ``send``/``recv`` return raw
    observations (use lockstep ``step`` with preprocessing).
    """

    def __init__(self, env: VectorEnv, pipeline: PreprocessSpec) -> None:
        super().__init__(env)
        self.pipeline = Pipeline.of(pipeline)
        self.raw_observation_space = env.single_observation_space
        self.single_observation_space = self.pipeline.observation_space(env.single_observation_space)
        self.observation_space = batch_space(self.single_observation_space, env.num_envs)
        self._mode = AutoresetMode(env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP))
        self._obs = np.zeros(self.observation_space.shape, dtype=np.uint8)
        self._ids = np.arange(env.num_envs)
        self._starts_next = np.zeros(env.num_envs, dtype=bool)  # NEXT_STEP: these instances reset at the next step
        self.raw_obs: np.ndarray | None = None  # the last raw observations, as the game sent them

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        mask = (options or {}).get("reset_mask")  # read first: Gymnasium's own envs pop it from options
        obs, info = self.env.reset(seed=seed, options=options)
        ids = self._ids if mask is None else np.flatnonzero(mask)
        self.raw_obs = obs
        self.pipeline.write(np.asarray(obs)[ids], ids, True, self._obs)
        self._starts_next[ids] = False
        return self._obs.copy(), info

    def step(self, actions: Any) -> tuple[Any, ...]:
        self.step_async(actions)
        return self.step_wait()

    def step_async(self, actions: Any) -> None:
        if hasattr(self.env, "step_async"):
            self.env.step_async(actions)
        else:
            self._stepped = self.env.step(actions)

    def step_wait(self, **kwargs: Any) -> tuple[Any, ...]:
        if hasattr(self.env, "step_wait"):
            obs, rewards, terminations, truncations, infos = self.env.step_wait(**kwargs)
        else:
            obs, rewards, terminations, truncations, infos = self._stepped
            del self._stepped
        self.raw_obs = obs
        done = np.asarray(terminations) | np.asarray(truncations)
        if self._mode == AutoresetMode.SAME_STEP and done.any():
            finished = np.flatnonzero(done)
            if "final_obs" in infos:
                infos = dict(infos)
                finals = np.asarray(infos["final_obs"]).copy()
                raw = np.stack([np.asarray(finals[i]) for i in finished])
                for i, row in zip(finished, self.pipeline(raw, finished, False)):
                    finals[i] = row
                infos["final_obs"] = finals
            starts = done
        elif self._mode == AutoresetMode.NEXT_STEP:
            starts, self._starts_next = self._starts_next, done.copy()
        else:  # DISABLED: episodes start only at reset()
            starts = np.zeros_like(done)
        self.pipeline.write(np.asarray(obs), self._ids, starts, self._obs)
        return self._obs.copy(), rewards, terminations, truncations, infos

    def __enter__(self) -> "PreprocessObservations":  # `with vecbridge.make(..., backend="gymnasium", preprocess=...)`
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.env, name)

    def __repr__(self) -> str:
        return f"PreprocessObservations({self.env!r}, {str(self.pipeline)!r})"

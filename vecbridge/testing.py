"""Conformance checks for a game over the protocol and for a vector env.

Neither Gymnasium nor SB3 ships a vector env checker; this is vecbridge's::

    from vecbridge.testing import check_game, check_vector_env
    check_game("vecbridge/Echo-v0").raise_if_failed()
    check_game(vecbridge.LaunchSpec(command=["lua5.4", "mygame.lua"]))

``vecbridge check <id or -- command>`` runs both from the shell.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from gymnasium.vector.utils import batch_space

from vecbridge.errors import VecBridgeError
from vecbridge.launch.spec import LaunchSpec


class ConformanceError(VecBridgeError, AssertionError):
    """A game or vector env failed a conformance check."""


class NotChecked(Exception):
    """Raised by a check that could not look at what it checks (e.g. no episode ended): neither a pass nor a failure."""


@dataclass
class CheckResult:
    name: str
    passed: bool
    detail: str = ""
    checked: bool = True  # False: the check could not run (its detail says why); it does not fail the report


@dataclass(repr=False)
class CheckReport:
    """The results of a check, printed as the ``vecbridge check`` report (``print(report)``, or in a REPL)."""

    subject: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.passed for r in self.results)

    def run(self, name: str, fn: Callable[[], str | None]) -> bool:
        try:
            detail = fn() or ""
            self.results.append(CheckResult(name, True, detail))
            return True
        except NotChecked as exc:
            self.results.append(CheckResult(name, True, str(exc), checked=False))
            return True
        except Exception as exc:  # a failed check is a finding, not a crash of the checker
            tb = traceback.format_exc(limit=3) if not isinstance(exc, (AssertionError, VecBridgeError)) else ""
            self.results.append(CheckResult(name, False, f"{type(exc).__name__}: {exc}\n{tb}".strip()))
            return False

    def format(self) -> str:
        lines = [f"vecbridge check: {self.subject}"]
        for r in self.results:
            mark = "SKIP" if not r.checked else "PASS" if r.passed else "FAIL"
            detail = f"  ({r.detail.splitlines()[0]})" if r.passed and r.detail else ""
            lines.append(f"  [{mark}] {r.name}{detail}")
            if not r.passed:
                lines.extend("         " + line for line in r.detail.splitlines())
        failed = sum(not r.passed for r in self.results)
        unchecked = sum(not r.checked for r in self.results)
        lines.append(f"{len(self.results) - failed - unchecked} passed, {failed} failed"
                     + (f", {unchecked} not checked" if unchecked else ""))  # fmt: skip
        return "\n".join(lines)

    __str__ = format

    def __repr__(self) -> str:
        return self.format()

    def raise_if_failed(self) -> "CheckReport":
        if not self.ok:
            raise ConformanceError(self.format())
        return self


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise AssertionError(message)


def _rollout(env: Any, seed: int, actions: list[Any]) -> list[Any]:
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for a in actions:
        obs, _, term, trunc, _ = env.step(a)
        out.append(obs)
        if term or trunc:
            obs, _ = env.reset()
            out.append(obs)
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":  # NaN where the other run has NaN too: the same
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _nan_where(obs: Any) -> str:
    """Where an observation holds NaN ("" if nowhere), e.g. "at index (3,)" or "in 'pos' at index (0, 1)"."""
    if isinstance(obs, dict):
        return next((f"in {k!r} {w}" for k, v in obs.items() if (w := _nan_where(v))), "")
    if isinstance(obs, tuple):
        return next((f"in item {i} {w}" for i, v in enumerate(obs) if (w := _nan_where(v))), "")
    arr = np.asarray(obs)
    if arr.dtype.kind not in "fc" or not np.isnan(arr).any():
        return ""
    return f"at index {tuple(int(i) for i in np.argwhere(np.isnan(arr))[0])}"


def check_game(spec: LaunchSpec | str, *, steps: int = 100, seed: int = 0, deterministic: bool = True, **config: Any) -> CheckReport:
    """Launch one instance of a game and check it against the protocol and Gymnasium's rules."""
    from gymnasium.utils.env_checker import check_env

    from vecbridge.game_env import GameEnv

    report = CheckReport(spec if isinstance(spec, str) else spec.name or " ".join(spec.shown_argv()))
    holder: dict[str, Any] = {}

    def launch() -> str:
        started = time.monotonic()
        holder["env"] = GameEnv(spec, render_mode=None, **config)
        env = holder["env"]
        return f"{env.game_name or 'unnamed'}: observation {env.observation_space}, action {env.action_space}, {time.monotonic() - started:.2f} s"

    if not report.run("launch, connect and handshake", launch):
        return report
    env = holder["env"]

    def run(name: str, fn: Callable[[], str | None]) -> None:
        """Run a check; after a check in which the game failed, on a new instance (the checks read ``env``)."""
        nonlocal env
        fresh = env.failed
        if fresh:
            env.close()
            try:
                env = GameEnv(spec, render_mode=None, **config)
            except VecBridgeError as exc:
                report.results.append(CheckResult(name, False, f"the game failed earlier ({fresh}), and its relaunch "
                                                               f"failed: {type(exc).__name__}: {exc}"))  # fmt: skip
                return
        if report.run(name, fn) and fresh:
            last = report.results[-1]
            last.detail = (f"{last.detail}; " if last.detail else "") + "on a new instance: the game failed in an earlier check"

    try:
        rng = np.random.default_rng(seed)
        env.action_space.seed(int(rng.integers(2**31)))
        actions = [env.action_space.sample() for _ in range(steps)]

        def observations_in_space() -> str:
            obs, info = env.reset(seed=seed)
            _require(isinstance(info, dict), f"reset info must be a dict, got {type(info).__name__}")
            _require(not (nan := _nan_where(obs)), f"reset observation holds NaN {nan}")
            _require(env.observation_space.contains(obs), f"reset observation {obs!r} is outside {env.observation_space}")
            episodes = 0
            for k, a in enumerate(actions):
                obs, reward, term, trunc, info = env.step(a)
                _require(not (nan := _nan_where(obs)), f"step {k}: observation holds NaN {nan}")
                _require(env.observation_space.contains(obs), f"step {k}: observation {obs!r} is outside {env.observation_space}")
                _require(np.isfinite(reward), f"step {k}: reward {reward!r} is not finite")
                if term or trunc:
                    episodes += 1
                    env.reset()
            return f"{steps} random steps, {episodes} episode end(s)"

        run("observations stay in the declared space", observations_in_space)
        if deterministic:

            def same_seed_same_observations() -> str:
                first, second = _rollout(env, seed, actions[:30]), _rollout(env, seed, actions[:30])
                for k, (a, b) in enumerate(zip(first, second)):
                    _require(_same(a, b), f"observation {k} differs between two runs with seed {seed}: {a!r} vs {b!r}")
                return f"{len(first)} observations compared"

            run("the same seed and actions give the same observations", same_seed_same_observations)
        run("gymnasium's env checker", lambda: check_env(env, skip_render_check=True) or "")

        def unknown_call_is_an_error_reply() -> str:
            from vecbridge.errors import GameError

            try:
                env.call("__vecbridge_no_such_method__")
            except GameError:
                env.reset(seed=seed)  # the game must keep serving after an error reply
                return "answered with an error and kept serving"
            raise AssertionError("calling an unknown method did not produce an error reply")

        run("an unknown call gets an error reply, not a crash", unknown_call_is_an_error_reply)
    finally:
        proc = env._inst.process if env._inst else None

        def closes_cleanly() -> str:
            if env.failed:
                env.close()
                raise NotChecked(f"the game failed in the last check ({env.failed.splitlines()[0][:200]})")
            env.close()
            _require(proc is None or proc.popen.returncode is not None, "the game did not exit")
            code = proc.popen.returncode if proc else 0
            _require(code is not None and code >= 0, f"the game did not exit by itself after 'close'; it {proc.describe_exit()}")
            return f"exited with status {code}"

        report.run("exits on close", closes_cleanly)
    return report


def check_vector_env(envs: Any, *, steps: int = 50, seed: int = 0, subject: str = "") -> CheckReport:
    """Check a Gymnasium vector env's contract: spaces, shapes, dtypes, autoreset, seeding, infos."""
    report = CheckReport(subject or repr(envs))
    n = envs.num_envs

    def spaces_are_batched() -> str:
        _require(envs.observation_space == batch_space(envs.single_observation_space, n),
                 "observation_space is not batch_space(single_observation_space, num_envs)")  # fmt: skip
        _require(envs.action_space == batch_space(envs.single_action_space, n),
                 "action_space is not batch_space(single_action_space, num_envs)")  # fmt: skip
        return f"{n} x {envs.single_observation_space}"

    report.run("spaces are the batched single spaces", spaces_are_batched)

    def reset_and_step_shapes() -> str:
        obs, info = envs.reset(seed=seed)
        _require(envs.observation_space.contains(obs), "reset observations are outside observation_space")
        _require(isinstance(info, dict), "reset infos must be a dict")
        envs.action_space.seed(seed)
        for k in range(steps):
            obs, rew, term, trunc, info = envs.step(envs.action_space.sample())
            _require(envs.observation_space.contains(obs), f"step {k}: observations outside observation_space")
            for name, arr, dtype in (("rewards", rew, np.floating), ("terminations", term, np.bool_), ("truncations", trunc, np.bool_)):
                _require(isinstance(arr, np.ndarray) and arr.shape == (n,) and np.issubdtype(arr.dtype, dtype),
                         f"step {k}: {name} must be a ({n},) array of {dtype.__name__}, got {getattr(arr, 'dtype', type(arr))} {getattr(arr, 'shape', '')}")  # fmt: skip
            _require(isinstance(info, dict), f"step {k}: infos must be a dict")
            for key, value in info.items():
                if not key.startswith("_") and f"_{key}" not in info and key != "env_id":
                    raise AssertionError(f"step {k}: info key {key!r} has no '_{key}' mask")
        return f"{steps} steps"

    report.run("reset/step shapes, dtypes and info masks", reset_and_step_shapes)

    def seeding() -> str:
        a, _ = envs.reset(seed=seed)
        b, _ = envs.reset(seed=seed)
        _require(_same(a, b), "reset(seed=s) twice gave different observations")
        return "reset(seed) is reproducible"

    report.run("seeding", seeding)

    def autoreset() -> str:
        mode = envs.metadata.get("autoreset_mode")
        _require(mode is not None, "metadata['autoreset_mode'] is missing")
        envs.reset(seed=seed)
        ended = np.zeros(n, dtype=bool)
        for _ in range(steps * 10):
            _, rew, term, trunc, info = envs.step(envs.action_space.sample())
            if getattr(mode, "value", mode) == "NextStep" and ended.any():
                _require((rew[ended] == 0).all() and not term[ended].any(),
                         "NEXT_STEP: the step after an episode end must be a reset (reward 0, not terminated)")  # fmt: skip
                return "NEXT_STEP: the step after an end is a reset"
            if getattr(mode, "value", mode) == "SameStep" and (term | trunc).any():
                _require("final_obs" in info, "SAME_STEP: an episode end must carry info['final_obs']")
                return "SAME_STEP: final_obs present"
            ended = term | trunc
        raise NotChecked(f"no episode ended within {steps * 10} steps")

    report.run("autoreset", autoreset)
    return report
